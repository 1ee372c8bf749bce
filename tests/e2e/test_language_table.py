"""The bpftrace language, table-driven: each program runs for real in this kernel through the
CLI, once as text and once with `-f json`, and both outputs are compared byte for byte.

Expected outputs come from bpftrace 0.26's documentation (docs/language.md, tests/runtime/
record, for, pointers, btf) and from what the test's own workloads do: `wl N` calls
getppid() N times; `writer` writes one known C struct to /dev/null.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import bpfscope, build_c, needs_root

pytestmark = needs_root

WRITER_C = r"""
#include <fcntl.h>
#include <unistd.h>
struct inner { short x; short y; };
struct S {
  int a;
  unsigned char flags:3, mode:5;
  char name[8];
  struct inner in;
  union { int i; char c[4]; } u;
  long arr[2];
};
int main(void) {
  struct S s = { .a = -7, .flags = 5, .mode = 17, .name = "bpf", .in = { 3, -4 },
                 .u = { .i = 0x00434241 }, .arr = { 10, 20 } };
  int fd = open("/dev/null", O_WRONLY);
  write(fd, &s, sizeof s);
  return 0;
}
"""

S_DEFS = ("struct inner { short x; short y; }\n"
          "struct S { int a; unsigned char flags:3, mode:5; char name[8]; struct inner in;\n"
          "           union { int i; char c[4]; } u; long arr[2]; }\n")


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_c(tmp_path_factory.mktemp("writer"), "writer", WRITER_C, "-O0")


@dataclass
class Case:
    id: str
    prog: str
    text: str
    json: list[object]
    cmd: str = ""            # "wl N", "writer" or "" (no -c)
    env: dict[str, str] = field(default_factory=dict)
    stderr_has: str = ""


CASES = [
    # ---------------------------------------------------------------- BTF structs
    Case("curtask-fields",
         'begin { printf("%d %d\\n", curtask->tgid == pid, ((struct task_struct *)curtask)->mm != 0); exit(); }',
         "1 1\n\n\n", [{"type": "printf", "data": "1 1\n"}]),
    Case("curtask-comm-key",
         "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[curtask->comm] = count(); }",
         "\n\n@[wl]: 40\n", [{"type": "map", "data": {"@": {"wl": 40}}}], cmd="wl 40"),
    Case("real-parent-is-getppid",
         "tracepoint:syscalls:sys_exit_getppid /pid == cpid/ { @[args.ret == curtask->real_parent->tgid] = count(); }",
         "\n\n@[true]: 30\n", [{"type": "map", "data": {"@": {"true": 30}}}], cmd="wl 30"),
    # begin runs in the tracer, a direct child of this test process: its grandparent is our parent
    Case("auto-deref-dot",
         'begin { printf("%d\\n", curtask.real_parent.real_parent.pid); exit(); }',
         f"{os.getppid()}\n\n\n", [{"type": "printf", "data": f"{os.getppid()}\n"}]),
    Case("tp-btf-pointer-args",
         'rawtracepoint:sched_process_exec /args.p->tgid == cpid/ { printf("%s %d\\n", args.p->comm, '
         'args.bprm->argc); exit(); }',
         "wl 2\n\n\n", [{"type": "printf", "data": "wl 2\n"}], cmd="wl 1"),
    Case("tracepoint-struct-pointer-arg",
         "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { "
         'printf("%d %d\\n", args->rqtp->tv_sec, args.rqtp.tv_nsec); print(*args.rqtp); exit(); }',
         "0 250000000\n{ .tv_sec = 0, .tv_nsec = 250000000 }\n\n\n",
         [{"type": "printf", "data": "0 250000000\n"}, {"type": "value", "data": {"tv_sec": 0, "tv_nsec": 250000000}}],
         cmd="sleep 0.25"),
    Case("args-as-a-value",
         "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { print(args); $a = args; "
         'printf("%d\\n", $a.__syscall_nr); exit(); }',
         "{ .__syscall_nr = 110 }\n110\n\n\n",
         [{"type": "value", "data": {"__syscall_nr": 110}}, {"type": "printf", "data": "110\n"}], cmd="wl 1"),
    Case("string-index",
         'begin { $s = "hey"; printf("%c%c%c %d\\n", $s[0], $s[1], $s[2], $s[3]); exit(); }',
         "hey 0\n\n\n", [{"type": "printf", "data": "hey 0\n"}]),
    # ---------------------------------------------------------------- C definitions
    Case("struct-from-user-memory",
         S_DEFS + 'tracepoint:syscalls:sys_enter_write /pid == cpid/ { $s = (struct S *)args.buf; '
         'printf("%d %d %d %s %d %d %d\\n", $s->a, $s->flags, $s.mode, $s->name, $s->in.y, $s->arr[1], args.count); '
         'print(*$s); exit(); }',
         "-7 5 17 bpf -4 20 40\n"
         "{ .a = -7, .flags = 5, .mode = 17, .name = bpf, .in = { .x = 3, .y = -4 }, "
         ".u = { .i = 4407873, .c = ABC }, .arr = [10,20] }\n\n\n",
         [{"type": "printf", "data": "-7 5 17 bpf -4 20 40\n"},
          {"type": "value", "data": {"a": -7, "flags": 5, "mode": 17, "name": "bpf", "in": {"x": 3, "y": -4},
                                     "u": {"i": 4407873, "c": "ABC"}, "arr": [10, 20]}}],
         cmd="writer"),
    Case("pointer-arithmetic",
         'tracepoint:syscalls:sys_enter_write /pid == cpid/ { $q = (int32 *)args.buf; '
         'printf("%d %d %d %d\\n", *$q, ((int8 *)args.buf)[0], ($q + 5) - $q, *($q + 5)); exit(); }',
         "-7 -7 5 4407873\n\n\n", [{"type": "printf", "data": "-7 -7 5 4407873\n"}], cmd="writer"),
    Case("sizeof-offsetof",
         "struct Foo { int a; char b[3]; unsigned short c; long d; }\n"
         'begin { printf("%d %d %d %d %d\\n", sizeof(struct Foo), offsetof(struct Foo, c), '
         "offsetof(struct Foo, d), sizeof(int32), sizeof(struct task_struct) > 1000); exit(); }",
         "24 8 16 4 1\n\n\n", [{"type": "printf", "data": "24 8 16 4 1\n"}]),
    Case("enums",
         "enum Color { RED = 1, GREEN = 2, BLUE = 4 }\n"
         'begin { printf("%d %s %s\\n", GREEN, BLUE, (enum Color)1); @[(enum Color)2] = 3; exit(); }',
         "2 BLUE RED\n\n\n@[GREEN]: 3\n",
         [{"type": "printf", "data": "2 BLUE RED\n"}, {"type": "map", "data": {"@": {"GREEN": 3}}}]),
    Case("defines",
         '#define LIMIT 3\n#define GREETING "hi"\n#define TWICE(x) ((x) * 2)\n'
         '#ifdef BPFTRACE_HAVE_BTF\n#define KIND "btf"\n#else\n#define KIND "none"\n#endif\n'
         'begin { printf("%s %d %s\\n", GREETING, LIMIT * 2, KIND); exit(); }',
         "hi 6 btf\n\n\n", [{"type": "printf", "data": "hi 6 btf\n"}]),
    Case("array-cast",
         'begin { $a = (int8[8])12345; printf("%x %x %d\\n", $a[0], $a[1], (uint64)$a); exit(); }',
         "39 30 12345\n\n\n", [{"type": "printf", "data": "39 30 12345\n"}]),
    # ---------------------------------------------------------------- loops
    Case("for-map-sum",
         "begin { @m[1] = 10; @m[2] = 20; @m[3] = 30; $sum = 0; "
         'for ($kv : @m) { $sum += $kv.0 * $kv.1; } printf("%d\\n", $sum); clear(@m); exit(); }',
         "140\n\n\n", [{"type": "printf", "data": "140\n"}]),
    Case("for-map-percpu-multikey",
         "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c[comm, 7] = count(); } "
         'end { for ($kv : @c) { printf("%s %d %d\\n", $kv.0.0, $kv.0.1, $kv.1); } clear(@c); }',
         "wl 7 25\n\n\n", [{"type": "printf", "data": "wl 7 25\n"}], cmd="wl 25"),
    Case("for-map-continue-break",
         'begin { @m["a"] = 1; @m["b"] = 2; @m["c"] = 3; $n = 0; '
         "for ($kv : @m) { if ($kv.1 == 2) { continue; } $n += $kv.1; } "
         "for ($kv : @m) { $n += 100; break; } "
         'printf("%d\\n", $n); clear(@m); exit(); }',
         "104\n\n\n", [{"type": "printf", "data": "104\n"}]),
    Case("for-map-print-tuple",
         "begin { @map[16] = 32; for ($kv : @map) { print($kv); } clear(@map); exit(); }",
         "(16, 32)\n\n\n", [{"type": "value", "data": [16, 32]}]),
    Case("for-range",
         'begin { $end = 5; for ($i : 2..$end) { printf("%d ", $i); $end--; } printf("\\n"); exit(); }',
         "2 3 4 \n\n\n", [{"type": "printf", "data": "2 "}, {"type": "printf", "data": "3 "},
                         {"type": "printf", "data": "4 "}, {"type": "printf", "data": "\n"}]),
    # ---------------------------------------------------------------- records and tuples
    Case("record-print",
         'begin { $v = (x=1, y=2); $t = (a=0, b=1, c="str", d=(5, 6), e=$v); print($t); '
         'printf("%d %s %d\\n", $t.e.y, $t.c, $t.d.1); exit(); }',
         "{ .a = 0, .b = 1, .c = str, .d = (5, 6), .e = { .x = 1, .y = 2 } }\n2 str 6\n\n\n",
         [{"type": "value", "data": {"a": 0, "b": 1, "c": "str", "d": [5, 6], "e": {"x": 1, "y": 2}}},
          {"type": "printf", "data": "2 str 6\n"}]),
    Case("record-field-order",
         "begin { $a = (foo=1, bar=2); $a = (bar=3, foo=4); print($a); exit(); }",
         "{ .foo = 4, .bar = 3 }\n\n\n", [{"type": "value", "data": {"foo": 4, "bar": 3}}]),
    Case("record-map-value",
         'begin { @r[1] = (name="x", n=5); exit(); }',
         "\n\n@r[1]: { .name = x, .n = 5 }\n",
         [{"type": "map", "data": {"@r": {"1": {"name": "x", "n": 5}}}}]),
    Case("tuples",
         'begin { $a = (1, "hello"); $b = (3, 4, $a); print($a); print($b); print($b.0); print($a[1]); '
         'print((1, "hello")[1 - 1]); exit(); }',
         "(1, hello)\n(3, 4, (1, hello))\n3\nhello\n1\n\n\n",
         [{"type": "value", "data": [1, "hello"]}, {"type": "value", "data": [3, 4, [1, "hello"]]},
          {"type": "value", "data": 3}, {"type": "value", "data": "hello"}, {"type": "value", "data": 1}]),
    # ---------------------------------------------------------------- declarations, config
    Case("let-scopes-and-types",
         "begin { let $a: uint8 = 300; let $b; $c = 5; if ($c > 1) { let $d = $c * 2; $b = $d; } "
         '{ $d = "shadow-free"; } printf("%d %d\\n", $a, $b); exit(); }',
         "44 10\n\n\n", [{"type": "printf", "data": "44 10\n"}]),
    Case("literals",
         'begin { printf("%d %d %d %d\\n", 1_000, 10ms, 2s / 1000000, true); $b = false; print($b); exit(); }',
         "1000 10000000 2000 1\nfalse\n\n\n",
         [{"type": "printf", "data": "1000 10000000 2000 1\n"}, {"type": "value", "data": False}]),
    Case("macros",
         "macro add_one(x) { x + 1 } macro inc($a, @b) { $a += 1; @b += 1; } macro one() { 1 }\n"
         'begin { $a = 10; @b = 5; inc($a, @b); printf("%d %d %d\\n", add_one($a), @b, one); clear(@b); exit(); }',
         "12 6 1\n\n\n", [{"type": "printf", "data": "12 6 1\n"}]),
    Case("block-expression",
         "begin { let $a = { let $b = 1; $b + 2 }; print($a); exit(); }",
         "3\n\n\n", [{"type": "value", "data": 3}]),
    Case("map-decl-full",
         "config = { unstable_map_decl = enable } let @a = hash(2); "
         "begin { @a[1] = 1; @a[2] = 2; @a[3] = 3; exit(); }",
         "\n\n@a[1]: 1\n@a[2]: 2\n", [{"type": "map", "data": {"@a": {"1": 1, "2": 2}}}],
         stderr_has="WARNING: Map full; can't update element.\nTry increasing max_map_keys config"),
    Case("config-max-map-keys-env-wins",
         "config = { max_map_keys = 1 } begin { @a[1] = 1; @a[2] = 2; exit(); }",
         "\n\n@a[1]: 1\n@a[2]: 2\n", [{"type": "map", "data": {"@a": {"1": 1, "2": 2}}}],
         env={"BPFTRACE_MAX_MAP_KEYS": "2"}),
    Case("config-print-maps-off",
         'config = { print_maps_on_exit = false } begin { @a = 1; printf("x\\n"); exit(); }',
         "x\n\n\n", [{"type": "printf", "data": "x\n"}]),
]


def _run(case: Case, fmt: str, wl: Path, writer_exe: Path | None) -> subprocess.CompletedProcess[str]:
    args = ["-q", "-e", case.prog]
    if fmt == "json":
        args = ["-f", "json", *args]
    if case.cmd.startswith("wl"):
        args += ["-c", f"{wl} {case.cmd.split()[1]}"]
    elif case.cmd == "writer":
        assert writer_exe is not None
        args += ["-c", str(writer_exe)]
    elif case.cmd:
        args += ["-c", case.cmd]
    return bpfscope(*args, env=case.env or None)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_language_table(case: Case, workload: Path, request: pytest.FixtureRequest) -> None:
    writer_exe = request.getfixturevalue("writer") if case.cmd == "writer" else None
    r = _run(case, "text", workload, writer_exe)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == case.text
    if case.stderr_has:
        assert case.stderr_has in r.stderr
    rj = _run(case, "json", workload, writer_exe)
    assert rj.returncode == 0, rj.stderr
    got = [json.loads(line) for line in rj.stdout.splitlines() if line.strip()]
    assert got == case.json


ERRORS = [
    ("begin { print(curtask->nosuchfield); }",
     "stdin:1:15-35: ERROR: Struct/union of type 'struct task_struct' does not contain a field named "
     "'nosuchfield'\nbegin { print(curtask->nosuchfield); }\n              ~~~~~~~~~~~~~~~~~~~~\n"),
    ("begin { if (1) { $b = 1; } } end { print($b); }",
     "stdin:1:42-44: ERROR: Undefined or undeclared variable: $b\n"
     "begin { if (1) { $b = 1; } } end { print($b); }\n                                         ~~\n"),
    ("macro m() { @x } begin { m(); }",
     "stdin:1:13-15: ERROR: Unhygienic access to map: @x. Maps must be passed into the macro as arguments\n"
     "macro m() { @x } begin { m(); }\n            ~~\n"
     "stdin:1:26-29: ERROR: expanded from\nmacro m() { @x } begin { m(); }\n                         ~~~\n"),
    ("begin { print(sizeof(struct nosuch)); }",
     'stdin:1:22-35: ERROR: Cannot resolve unknown type "struct nosuch"\n'
     "begin { print(sizeof(struct nosuch)); }\n                     ~~~~~~~~~~~~~\n"),
    ("config = { foo = 1 } begin { }",
     "stdin:1:12-19: ERROR: foo: not a known configuration option\nconfig = { foo = 1 } begin { }\n"
     "           ~~~~~~~\n"),
    ("let @q = foo(2); begin { exit(); }",
     "stdin:1:1-17: ERROR: Invalid bpf map type: foo. Valid types: hash, lruhash, percpuhash, percpulruhash\n"
     "let @q = foo(2); begin { exit(); }\n~~~~~~~~~~~~~~~~\n"),
    ("struct S { int x y; } begin { }",   # (a last member without ';' is accepted, as clang warns)
     "stdin:1:18-19: ERROR: C definition: expected ';', got 'y'\nstruct S { int x y; } begin { }\n"
     "                 ~\n"),
    ("begin { let $a; let $a = 1; }",
     "stdin:1:21-23: ERROR: Variable $a was already declared. Variable shadowing is not allowed.\n"
     "begin { let $a; let $a = 1; }\n                    ~~\n"),
    ("begin { @m = 1; for ($kv : @m) { } }",
     "stdin:1:28-30: ERROR: @m has no keys: only maps with keys can be iterated over\n"
     "begin { @m = 1; for ($kv : @m) { } }\n                           ~~\n"),
    ("begin { $a = (int8[4])12345; }",
     'stdin:1:14-28: ERROR: Cannot cast from "int64" to "int8[4]": sizes differ (8 vs 4 bytes)\n'
     "begin { $a = (int8[4])12345; }\n             ~~~~~~~~~~~~~~\n"),
]


@pytest.mark.parametrize("prog,stderr", ERRORS, ids=[e[1].split("ERROR: ")[1][:30] for e in ERRORS])
def test_language_errors_are_located(prog: str, stderr: str) -> None:
    r = bpfscope("-q", "-e", prog)
    assert r.returncode == 1
    assert r.stderr == stderr


def test_unstable_map_decl_warns_once(workload: Path) -> None:
    r = bpfscope("-q", "-e", "let @a = lruhash(2); let @b = percpulruhash(4); "
                 "begin { @a[1] = 1; @a[2] = 2; @a[3] = 3; @b[1] = count(); exit(); }")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("WARNING: Script is using an unstable feature: map declarations.") == 1
    assert "Map full" not in r.stderr  # an LRU map evicts instead of failing
    assert "@a[3]: 3\n" in r.stdout and "@b[1]: 1\n" in r.stdout


def test_debug_output_shows_ast_types_and_instructions() -> None:
    r = bpfscope("-d", "--dry-run", "-e", "begin { $x = curtask->pid; @m[comm] = count(); }")
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert "  probe begin\n    assign =\n      variable $x (int32)\n      field pid (int32)\n" \
           "        builtin curtask (struct task_struct *)\n" in err
    assert "Types\n  begin\n    $x: int32\n  map @m: key string[16], value count_t" in err
    assert "Instructions begin (" in err
    assert "call probe_read_kernel#113" in err and "call get_current_task#35" in err
    v = bpfscope("-v", "--dry-run", "-e", "begin { @m[1] = 1; for ($kv : @m) { print($kv); } }")
    assert v.returncode == 0, v.stderr
    assert "    $kv: (int64,int64)\n" in v.stderr
    assert re.search(r"^Program begin: \d+ instructions, 1 loop callback\(s\)$", v.stderr, re.M)


def test_imports_merge_macros_and_probes(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.bt").write_text('macro twice(x) { x * 2 }\nbegin { printf("lib\\n"); }\n')
    (tmp_path / "lib" / "broken.bt").write_text("macro bad() {\n  @x\n}\n")
    main = tmp_path / "main.bt"
    main.write_text('config = { unstable_import = enable }\nimport "lib/util.bt";\n'
                    'begin { printf("%d\\n", twice(21)); exit(); }\n')
    r = bpfscope("-q", str(main))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "lib\n42\n\n\n"
    assert r.stderr == ""
    bad = tmp_path / "bad.bt"
    bad.write_text('import "lib/broken.bt";\nbegin { bad(); exit(); }\n')
    r = bpfscope("-q", str(bad))
    assert r.returncode == 1
    assert r.stderr.endswith(f"{tmp_path}/lib/broken.bt:2:3-5: ERROR: Unhygienic access to map: @x. Maps must "
                             "be passed into the macro as arguments\n  @x\n  ~~\n")
