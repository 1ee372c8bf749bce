"""bpftrace 0.26 runtime rows of issue 20 (output, probes, run loop), table-driven where the
output is exact: firing order of probes on one event, watchpoints (PERF_TYPE_BREAKPOINT),
pid/tid inside a PID namespace, JSON of zeroed histograms and complex values, stack modes
with sizes (also of programs that exited), `-o FILE`, and tseries charts.

Expected texts are bpftrace 0.26's: tests/runtime/{scripts/*_order.bt, watchpoint,
pid_namespace, json-output, file-output} and outputs/tseries_*.txt, src/output/{text,json}.cpp.
The rows reuse the Case runner of test_language_026.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root
from tests.e2e.test_language_026 import Case, _run

pytestmark = needs_root

END = "\n\n"


@pytest.fixture(scope="module")
def progs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fn: calls target() N times (a uprobe fires N times; stacks target <- main).
    wp: a non-PIE program writing `counter` N times and reading it N times, so the watched
    address is known before it runs; with a 2nd argument it first waits for a line on stdin."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    d = tmp_path_factory.mktemp("rt026")
    (d / "fn.c").write_text(
        "#include <stdlib.h>\n"
        "__attribute__((noinline)) int target(int x) { __asm__ volatile(\"\"); return x + 1; }\n"
        "int main(int argc, char **argv) { int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;\n"
        "  for (int i = 0; i < n; i++) s += target(i);\n  return s == -1; }\n")
    (d / "wp.c").write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n"
        "volatile long counter;\nvolatile long other;\n"
        "int main(int argc, char **argv) { long n = argc > 1 ? atol(argv[1]) : 1;\n"
        "  if (argc > 2) { char b[8]; printf(\"ready\\n\"); fflush(stdout); if (!fgets(b, 8, stdin)) return 1; }\n"
        "  for (long i = 0; i < n; i++) { counter = i + 1; other = counter; }\n  return 0; }\n")
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", str(d / "fn"), str(d / "fn.c")], check=True)
    subprocess.run(["gcc", "-O1", "-no-pie", "-o", str(d / "wp"), str(d / "wp.c")], check=True)
    return {"fn": d / "fn", "wp": d / "wp"}


def _symbol(exe: Path, name: str) -> int:
    out = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    return next(int(a, 16) for a, _t, n in (ln.split() for ln in out.splitlines() if len(ln.split()) == 3)
                if n == name)


def _check(case: Case) -> None:
    """One row: the text run, then (when the row has one) the JSON run, compared exactly."""
    rc, out, err = _run(case, "text", Path("/nonexistent"))
    assert "Traceback" not in err
    assert rc == 0, err
    assert out == case.text
    if case.stderr is not None:
        assert err == case.stderr
    if case.json is not None:
        rc, out, err = _run(case, "json", Path("/nonexistent"))
        assert rc == 0, err
        assert [json.loads(line) for line in out.splitlines() if line.strip()] == case.json


# ---------------------------------------------------------------- firing order (scripts/*_order.bt)
def _order_cases(fn: Path) -> list[Case]:
    up = f"uprobe:{fn}:target"
    ur = f"uretprobe:{fn}:target"
    return [
        Case("uprobe-order", f'{up} {{ printf("first"); }} {up} {{ printf(" second"); }} '
                             f'{up} {{ printf(" third\\n"); }}', "first second third\n" + END, cmd=f"{fn} 1"),
        Case("uretprobe-order", f'{ur} {{ printf("first"); }} {ur} {{ printf(" second\\n"); }}',
             "first second\n" + END, cmd=f"{fn} 1"),
        Case("uprobe-uretprobe-interleaved",
             f'{up} {{ printf("a"); }} {ur} {{ printf("r1"); }} {up} {{ printf("b"); }} '
             f'{ur} {{ printf("r2\\n"); }} {up} {{ printf("c"); }}', "abcr1r2\n" * 2 + END, cmd=f"{fn} 2"),
        # exit() takes effect in user space: the child's next event may fire both probes again
        # before that (in bpftrace too), so @done lets only the first event through
        Case("software-order",
             'software:cs:1 /pid == cpid && @done == 0/ { printf("first"); } '
             'software:cs:1 /pid == cpid && @done == 0/ { printf(" second\\n"); @done = 1; exit(); }',
             "first second\n" + END + "@done: 1\n", cmd="/bin/sleep 0.01"),
        Case("software-order-faults",
             'software:page-faults:1 /pid == cpid && @done == 0/ { printf("first"); } '
             'software:page-faults:1 /pid == cpid && @done == 0/ { printf(" second\\n"); @done = 1; exit(); }',
             "first second\n" + END + "@done: 1\n", cmd=f"{fn} 1"),
        Case("self-signal-order",
             'self:signal:SIGUSR1 { printf("first"); } self:signal:SIGUSR1 { printf(" second\\n"); exit(); } '
             'begin { system("kill -USR1 %d", pid); }',
             "\nfirst second\n" + END, args=["--unsafe"]),   # system() prints kill's empty output + newline
    ]


@pytest.mark.parametrize("idx", range(6), ids=["uprobe", "uretprobe", "interleaved", "software-cs",
                                                "software-faults", "self-signal"])
def test_firing_order(idx: int, progs: dict[str, Path]) -> None:
    _check(_order_cases(progs["fn"])[idx])


def test_software_count_in_e_notation() -> None:
    """software:cpu:1e6 (bpftrace's own order test) takes 1e6 as a count."""
    r = bpfscope("-q", "-e", 'software:cpu:1e6 { @ = count(); exit(); }')
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"\n\n@: [1-9]\d*\n", r.stdout)


def test_end_runs_once_every_probe_is_detached() -> None:
    """bpftrace detaches before the end probes run, so a map they clear prints empty, although
    the tracer's own syscalls (detaching, reading maps) would hit a probe still attached. The
    probes before the counting one make its detach come last (seen with opensnoop.bt's @paths)."""
    tps = ", ".join(f"tracepoint:syscalls:sys_{d}_{f}" for f in ("getppid", "getpgid") for d in ("enter", "exit"))
    _check(Case("end-after-detach",
                f"{tps} {{ }} tracepoint:raw_syscalls:sys_enter /pid != cpid/ {{ @[tid] = count(); }} "
                "end { clear(@); }", END, cmd="/bin/true"))


# ---------------------------------------------------------------- watchpoints
def _has_breakpoints() -> bool:
    return Path("/sys/bus/event_source/devices/breakpoint").is_dir()


needs_bp = pytest.mark.skipif(not _has_breakpoints(), reason="kernel offers no hardware breakpoints")


@needs_bp
def test_watchpoint_rows(progs: dict[str, Path]) -> None:
    """-c: armed at the child's exec; every user write (w) or access (rw) of `counter` counts.
    The loader's own kernel-mode writes to the page are filtered out with `usermode`."""
    wp = progs["wp"]
    addr = _symbol(wp, "counter")
    rows = [
        Case("watchpoint-w", f"watchpoint:{addr:#x}:8:w /usermode/ {{ @n = count(); }}", END + "@n: 5\n",
             [{"type": "map", "data": {"@n": 5}}], cmd=f"{wp} 5"),
        Case("watchpoint-rw", f"watchpoint:{addr:#x}:8:rw /usermode/ {{ @n = count(); }}", END + "@n: 10\n",
             [{"type": "map", "data": {"@n": 10}}], cmd=f"{wp} 5"),
        Case("asyncwatchpoint-w", f"asyncwatchpoint:{addr:#x}:8:w /usermode/ {{ @n = count(); }}",
             END + "@n: 3\n", [{"type": "map", "data": {"@n": 3}}], cmd=f"{wp} 3"),
        Case("watchpoint-probe-name", f'w:{addr:#x}:4:w /usermode/ {{ printf("%s\\n", probe); exit(); }}',
             f"watchpoint:{addr:#x}:4:w\n" + END, cmd=f"{wp} 3"),
        Case("watchpoint-other-address", f"watchpoint:{_symbol(wp, 'other'):#x}:8:w /usermode/ "
                                         "{ @n = count(); }", END + "@n: 4\n", cmd=f"{wp} 4"),
    ]
    for case in rows:
        _check(case)


@needs_bp
def test_watchpoint_on_a_running_process(progs: dict[str, Path]) -> None:
    """tests/runtime/watchpoint 'absolute address' with -p: hit, exit."""
    wp = progs["wp"]
    addr = _symbol(wp, "counter")
    child = subprocess.Popen([str(wp), "3", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        tracer = subprocess.Popen([sys.executable, "-m", "bpfscope", "-p", str(child.pid), "-e",
                                   f'watchpoint:{addr:#x}:8:w {{ printf("hit!\\n"); exit(); }}'],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert tracer.stderr is not None
        assert tracer.stderr.readline() == "Attached 1 probe\n"
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = tracer.communicate(timeout=30)
        assert (tracer.returncode, out) == (0, "hit!\n" + END), err
    finally:
        child.kill()
        child.wait()


@needs_bp
def test_write_user_with_unsafe(progs: dict[str, Path]) -> None:
    """write_user(dst, src, len) under --unsafe: bpf_probe_write_user into the traced program's
    `counter`, true on success. Kernels under lockdown refuse the helper; that is reported."""
    wp = progs["wp"]
    prog = (f'uprobe:{wp}:main {{ $s = "abcdefg"; print(write_user({_symbol(wp, "counter"):#x}, $s, 8)); '
            'print(write_user(0, $s, 8)); exit(); }')
    r = bpfscope("-q", "--unsafe", "-e", prog, "-c", f"{wp} 1")
    if "bpf_probe_write_user" in r.stderr:   # refused by this kernel: a located error, nothing run
        at = prog.index("print(write_user(")   # located at its statement
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr.startswith(f"stdin:1:{at + 1}-")
        assert "does not provide the BPF helper bpf_probe_write_user" in r.stderr.splitlines()[0]
        return
    assert (r.returncode, r.stdout) == (0, "true\nfalse\n" + END), r.stderr


def test_watchpoint_on_a_kernel_address() -> None:
    """kwatchpoint: no -p/-c, a kernel address watched on every CPU. This kernel lists no data
    symbols (jiffies) in kallsyms, so the address is a sleeper's task_struct.nvcsw, which the
    scheduler writes at each of its voluntary switches."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.005)"])
    try:
        r = bpfscope("-q", "-e", f"tracepoint:syscalls:sys_enter_clock_nanosleep /pid == {sleeper.pid}/ {{ "
                                 'printf("0x%lx\\n", (uint64)curtask + offsetof(struct task_struct, nvcsw)); '
                                 "exit(); }")
        assert r.returncode == 0, r.stderr
        addr = r.stdout.split()[0]
        # @done stops the count at 3 (the sleeper may switch again before exit() detaches)
        w = bpfscope("-q", "-e", f"watchpoint:{addr}:8:w /@done == 0/ {{ @[pid == {sleeper.pid}, usermode] = "
                                 "count(); if (@[1, 0] == 3) { @done = 1; exit(); } }")
        assert (w.returncode, w.stdout) == (0, END + "@[1, 0]: 3\n@done: 1\n"), w.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("probe,msg", [
    ("watchpoint:0x1234:3:w", "watchpoint length must be one of (1,2,4,8)"),
    ("watchpoint:0x1234:8:r", "watchpoint mode must be combination of (r,w,x) "
                              "(a read-only watchpoint needs hardware that x86 lacks)"),
    ("watchpoint:0x1234:8:rx", "watchpoint mode must be combination of (r,w,x)"),
    ("watchpoint:0x1234:8:ww", "watchpoint mode must be combination of (r,w,x)"),
    ("watchpoint:0x0:8:w", "watchpoint must not be at address 0"),
    ("asyncwatchpoint:increment+arg1:4:w", "asyncwatchpoint:FUNC+argN is not supported by bpfscope; watch an "
                                           "absolute address (watchpoint:0xADDR:LEN:MODE with -p PID or -c CMD)"),
])
def test_watchpoint_errors(probe: str, msg: str) -> None:
    prog = f"{probe} {{ exit(); }}"
    r = bpfscope("-e", prog)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"stdin:1:1-{len(probe) + 1}: ERROR: {msg}\n{prog}\n" + "~" * len(probe) + "\n"


# ---------------------------------------------------------------- PID namespaces (runtime/pid_namespace)
needs_unshare = pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is missing")


def _in_new_pidns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "--fork", "--pid", "--mount-proc", sys.executable, "-m", "bpfscope", *args],
                          capture_output=True, text=True, timeout=60)


@needs_unshare
def test_pid_tid_inside_a_namespace() -> None:
    """bpfscope is pid 1 of its new namespace: pid/tid say so; pid(init) is the host's view."""
    r = _in_new_pidns("-q", "-e", 'begin { printf("pid: %d, tid: %d\\n", pid, tid); '
                                  'printf("%d %d\\n", pid(curr_ns), pid(init) > 1); exit(); }')
    assert (r.returncode, r.stdout) == (0, "pid: 1, tid: 1\n1 1\n" + END), r.stderr


@needs_unshare
def test_namespace_child_pid_and_ustack(progs: dict[str, Path]) -> None:
    """The -c child as seen inside (== cpid), and its user stack symbolized through the
    namespace's /proc; outside a namespace the same program sees the host ids."""
    prog = (f'uprobe:{progs["fn"]}:target {{ printf("%d %d %d\\n", pid == cpid, tid == pid, pid > 1); '
            'print(ustack(2)); exit(); }')
    want = "1 1 1\n\n        target+0\n        main+{}\n\n" + END
    for run in (_in_new_pidns("-q", "-e", prog, "-c", f"{progs['fn']} 1"),
                bpfscope("-q", "-e", prog, "-c", f"{progs['fn']} 1")):
        assert run.returncode == 0, run.stderr
        assert re.sub(r"main\+\d+", "main+{}", run.stdout) == want


@needs_unshare
def test_host_tracer_sees_host_pids(progs: dict[str, Path]) -> None:
    """pid_tid_outside: the traced program in its own namespace, bpfscope outside: host ids."""
    fn = progs["fn"]
    r = bpfscope("-q", "-e", f'uprobe:{fn}:target {{ printf("%d %d\\n", pid == cpid, pid > 1); exit(); }}',
                 "-c", f"unshare --fork --pid --mount-proc {fn} 1")
    assert (r.returncode, r.stdout) == (0, "0 1\n" + END), r.stderr


# ---------------------------------------------------------------- JSON (runtime/json-output)
JSON_CASES = [
    Case("hist-zero", "begin { @hist = hist(2); zero(@hist); exit(); }", END + "@hist:\n\n",
         [{"type": "hist", "data": {"@hist": []}}]),
    Case("lhist-zero", "begin { @h = lhist(2, 0, 100, 10); zero(@h); exit(); }", END + "@h:\n\n",
         [{"type": "hist", "data": {"@h": []}}]),
    # outputs/tseries_zero.json; text: TextOutput::map gives "<no data>" its line, no blank after
    Case("tseries-zero", "config = { unstable_tseries = enable } begin { @a = tseries(5, 1s, 5); zero(@a); exit(); }",
         END + "@a:\n<no data>\n", [{"type": "tseries", "data": {"@a": []}}]),
    Case("complex-key", 'begin { @complex["x", 2] = 5; exit(); }', END + "@complex[x, 2]: 5\n",
         [{"type": "map", "data": {"@complex": {"x,2": 5}}}]),
    Case("tuple-map-value", 'begin { @ = (1, 2, "string", (4, 5)); exit(); }', END + "@: (1, 2, string, (4, 5))\n",
         [{"type": "map", "data": {"@": [1, 2, "string", [4, 5]]}}]),
    Case("tuple-values-under-keys", 'begin { @m[1] = (1, "a"); @m[2] = (3, "bb"); exit(); }',
         END + "@m[1]: (1, a)\n@m[2]: (3, bb)\n",
         [{"type": "map", "data": {"@m": {"1": [1, "a"], "2": [3, "bb"]}}}]),
    Case("tuple-escaped-string", 'begin { @ = (1, 2, "string with \\"quotes\\""); exit(); }',
         END + '@: (1, 2, string with "quotes")\n',
         [{"type": "map", "data": {"@": [1, 2, 'string with "quotes"']}}]),
    Case("bool-tuple", "begin { @ = (0, 1); print((1, true, false)); exit(); }",
         "(1, true, false)\n" + END + "@: (0, 1)\n",
         [{"type": "value", "data": [1, True, False]}, {"type": "map", "data": {"@": [0, 1]}}]),
    Case("strerror", "begin { print((strerror(7))); exit(); }", "Argument list too long\n" + END,
         [{"type": "value", "data": "Argument list too long"}]),
    Case("pointer-value", "begin { @ = (int16*)0x32; exit(); }", END + "@: 0x32\n",
         [{"type": "map", "data": {"@": 50}}]),
    Case("print-hist-top", "begin { @[1] = hist(10); @[2] = hist(20); @[2] = hist(21); @[3] = hist(30); "
                           "@[3] = hist(31); @[3] = hist(17); print(@, 2); clear(@); exit(); }",
         "@[2]:\n[16, 32)               2 |" + "@" * 52 + "|\n\n@[3]:\n[16, 32)               3 |" + "@" * 52
         + "|\n\n" + END,
         [{"type": "hist", "data": {"@": {"2": [{"min": 16, "max": 31, "count": 2}],
                                          "3": [{"min": 16, "max": 31, "count": 3}]}}}]),
    Case("print-avg-top-div", 'begin { @["a"] = avg(10); @["b"] = avg(20); @["c"] = avg(30); @["d"] = avg(40); '
                              "print(@, 2, 10); clear(@); exit(); }",
         "@[c]: 3\n@[d]: 4\n" + END,
         # at exit the cleared map is an empty stats object: JsonOutput::map skips only plain empty maps
         [{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}, {"type": "stats", "data": {"@": {}}}]),
]


@pytest.mark.parametrize("case", JSON_CASES, ids=[c.id for c in JSON_CASES])
def test_json_026(case: Case) -> None:
    _check(case)


def test_json_cgroup_path_and_bench() -> None:
    r = bpfscope("-q", "-f", "json", "-e", "begin { print(cgroup_path(cgroup)); exit(); }")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    assert first["type"] == "value" and isinstance(first["data"], str) and first["data"]
    # tests/runtime/json-output "bench multiple": one record, each bench's average in ns;
    # --test-mode bench is bpftrace's spelling of --bench
    for flag in (["--bench"], ["--test-mode", "bench"]):
        b = bpfscope("-q", "-f", "json", *flag, "-e", "bench:a { @a++; } bench:b { @b++; } bench:c { @c++; }",
                     timeout=120)
        assert b.returncode == 0, b.stderr
        recs = [json.loads(ln) for ln in b.stdout.splitlines() if "benchmark" in ln]
        assert len(recs) == 1 and recs[0]["type"] == "benchmark_results", b.stdout
        assert list(recs[0]["data"]) == ["a", "b", "c"]
        assert all(isinstance(v, int) and v > 0 for v in recs[0]["data"].values()), recs
    a = bpfscope("-f", "json", "-e", "i:ms:1 { exit(); }")
    assert a.stdout.splitlines()[0] == '{"type": "attached_probes", "count": 1, "data": {"probes": 1}}'


def test_json_helper_error_with_k() -> None:
    """A failed kernel read under -k: bpftrace's helper_error record. On this kernel a read of
    address 0 fails with -ERANGE (the user half is refused before any fault)."""
    r = bpfscope("-k", "-q", "-f", "json", "-e", "struct foo {int a;}; begin { $tmp = ((struct foo*) 0)->a; "
                                                  "exit(); }")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout.splitlines()[0])
    # located at the field access, not its statement (col 30); the access starts at the outer
    # parenthesis (col 37), as bpftrace's parser spans a postfix from its primary's `(`
    assert rec == {"type": "helper_error", "msg": "Numerical result out of range", "helper": "probe_read_kernel",
                   "retcode": -34, "filename": "stdin", "line": 1, "col": 37}


# ---------------------------------------------------------------- stacks: modes with sizes
def test_stack_modes_with_sizes(progs: dict[str, Path]) -> None:
    fn = progs["fn"]
    prog = (f"uprobe:{fn}:target {{ print(ustack(raw, 2)); print(ustack(perf, 2)); print(ustack(bpftrace, 1)); "
            "print(ustack(2)); print(kstack(perf, 3)); exit(); }")
    r = bpfscope("-q", "-e", prog, "-c", f"{fn} 1")
    assert r.returncode == 0, r.stderr
    norm = re.sub(r"main\+\d+", "main+N", re.sub(r"\b[0-9a-f]{6,16}\b", "ADDR", r.stdout))
    assert norm == ("\nADDR\nADDR\n\n"
                    f"\n\tADDR target+0 ({fn})\n\tADDR main+N ({fn})\n\n"
                    "\n        target+0\n\n"
                    "\n        target+0\n        main+N\n\n"
                    "\n\n" + END)


def test_ustack_build_id_mode(progs: dict[str, Path]) -> None:
    """ustack(build_id[, N]): frames from a BPF_F_STACK_BUILD_ID stack map, printed as 0.26's
    format_build_id_stack does (`<build id> 0x<file offset>`, unindented), also as a map key;
    kstack(build_id) warns and falls back to raw (tests/runtime/regression "stack modes and size")."""
    fn = progs["fn"]
    notes = subprocess.run(["readelf", "-n", str(fn)], capture_output=True, text=True, check=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]{40})", notes)
    if build_id is None:
        pytest.skip("the compiler wrote no build id")
    first = f"{build_id.group(1)} 0x{_symbol(fn, 'target'):02x}"
    r = bpfscope("-q", "-e", f"uprobe:{fn}:target {{ print(ustack(build_id, 1)); @[ustack(build_id, 1)] = count(); "
                             "$k = kstack(build_id); print(ustack(build_id, 2)); }", "-c", f"{fn} 2")
    assert r.returncode == 0, r.stderr
    # at the entry the unwind misses the caller: its return address is spliced in, inside main
    second = next((ln for ln in r.stdout.splitlines() if ln.startswith(build_id.group(1)) and ln != first), "")
    main = _symbol(fn, "main")
    assert second and main < int(second.split()[1], 16) < main + 0x100, r.stdout
    assert r.stdout == (f"\n{first}\n\n" + f"\n{first}\n{second}\n\n") * 2 + END + f"@[\n{first}\n]: 2\n"
    assert "WARNING: 'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode." in r.stderr
    r = bpfscope("-e", "begin { $a = (1, ustack); $b = (1, ustack(build_id)); $c = (1, ustack(build_id, 30)); "
                       "$d = (1, kstack); $e = (1, kstack(raw)); $f = (1, kstack(raw, 30)); exit(); }")
    assert r.returncode == 0 and "Attached 1 probe" in r.stderr, r.stderr


def test_stacks_of_an_exited_program(progs: dict[str, Path]) -> None:
    """Map keys printed at exit, after the traced program is gone: still symbolized, per mode."""
    fn = progs["fn"]
    prog = (f"uprobe:{fn}:target {{ @a[ustack(perf, 2)] = count(); @b[ustack(2)] = count(); "
            "@c[ustack(raw, 1)] = count(); @d[ustack(bpftrace, 1)] = count(); }")
    r = bpfscope("-q", "-e", prog, "-c", f"{fn} 3")
    assert r.returncode == 0, r.stderr
    norm = re.sub(r"main\+\d+", "main+N", re.sub(r"\b[0-9a-f]{6,16}\b", "ADDR", r.stdout))
    assert norm == (END + f"@a[\n\tADDR target+0 ({fn})\n\tADDR main+N ({fn})\n]: 3\n"
                    "@b[\n        target+0\n        main+N\n]: 3\n"
                    "@c[\nADDR\n]: 3\n"
                    "@d[\n        target+0\n]: 3\n")


# ---------------------------------------------------------------- -o FILE (runtime/file-output)
def test_output_file(tmp_path: Path) -> None:
    f = tmp_path / "out.txt"
    r = bpfscope("--unsafe", "-o", str(f), "-e", 'begin { printf("%s %d\\n", "SUCCESS", 1); cat("/proc/self/comm"); '
                                                 '@ = lhist(50, 0, 100, 10); exit(); }')
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert r.stderr == "Attached 1 probe\n"
    text = f.read_text()
    assert text.startswith("SUCCESS 1\n")
    assert text.endswith(END + "@:\n[50, 60)               1 |" + "@" * 52 + "|\n\n")
    j = tmp_path / "out.json"
    r = bpfscope("-q", "-f", "json", "-o", str(j), "-e", 'begin { printf("x %d\\n", 2); @x = 3; exit(); }')
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert j.read_text() == '{"type": "printf", "data": "x 2\\n"}\n{"type": "map", "data": {"@x": 3}}\n'
    bad = bpfscope("-q", "-o", str(tmp_path / "no" / "such" / "dir"), "-e", "begin { exit(); }")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"ERROR: failed to open output file '{tmp_path}/no/such/dir'" in bad.stderr


# ---------------------------------------------------------------- tseries charts (outputs/tseries_*.txt)
def _chart(points: list[int | None], step_ms: int = 100, bounds: tuple[int, int] | None = None) -> str:
    """The chart of one series whose intervals start at 00:00:00.100, 100ms apart (UTC)."""
    from bpfscope.runtime import tseries

    series = [((i + 1) * step_ms * 1_000_000, v) for i, v in enumerate(points)]
    old, tz = tseries._clock_offset, os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    import time

    time.tzset()
    tseries._clock_offset = lambda: 0   # type: ignore[assignment]
    try:
        return tseries.graph_text(series, bounds)
    finally:
        tseries._clock_offset = old   # type: ignore[assignment]
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()


def _bar(pos: int, zero: int = 0) -> str:
    line = [" "] * 53
    line[0] = line[52] = "|"
    if zero:
        line[zero] = "."
    line[pos] = "*"
    return "".join(line)


def test_tseries_zigzag_chart() -> None:
    """outputs/tseries_zigzag.txt: -5..5..-4, the zero column, points on both edges."""
    vals = list(range(-5, 6)) + list(range(4, -5, -1))
    got = _chart(vals)
    rows = []
    for i, v in enumerate(vals):
        ms = (i + 1) * 100
        stamp = f"00:00:{ms // 1000:02d}.{ms % 1000:03d}"
        rows.append(f"{stamp} {_bar(int(52 * (v + 5) / 10), 26)} {v}")
    want = ("             -5                                                  5\n"
            "hh:mm:ss.ms  |___________________________________________________|\n"
            + "\n".join(rows) + "\n"
            "             v___________________________________________________v\n"
            "             -5                                                  5\n")
    assert got == want
    # the expected file's own rows, verbatim (%H replaced)
    assert "00:00:00.100 *                         .                         | -5\n" in got
    assert "00:00:01.100 |                         .                         * 5\n" in got
    assert "00:00:00.700 |                         .    *                    | 1\n" in got


def test_tseries_constant_and_gaps() -> None:
    """outputs/tseries.txt and tseries_multiple.txt: a constant series sits mid-chart between
    value-1 and value+1; intervals with no value print '-'."""
    got = _chart([9, 9, 9])
    assert got.splitlines()[0] == " " * 13 + "8" + " " * 50 + "10"
    assert got.splitlines()[2] == "00:00:00.100 |                         *                         | 9"
    gaps = _chart([0, 5, 5, None, None])
    lines = gaps.splitlines()
    assert lines[0] == " " * 13 + "0" + " " * 51 + "5"
    assert lines[2] == "00:00:00.100 *                                                   | 0"
    assert lines[3] == "00:00:00.200 |                                                   * 5"
    assert lines[5] == "00:00:00.400 |                                                   | -"
    assert _chart([]) == "<no data>"


@contextlib.contextmanager
def _utc_clock() -> Iterator[None]:
    """tseries rendering with TAI == wall clock and TZ=UTC (0.26's expected files print %H:00:00.x)."""
    import time

    from bpfscope.runtime import tseries

    old, tz = tseries._clock_offset, os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    tseries._clock_offset = lambda: 0   # type: ignore[assignment]
    try:
        yield
    finally:
        tseries._clock_offset = old   # type: ignore[assignment]
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()


# outputs/tseries_multiple.{txt,json}: @a["one"] holds intervals 0-4 (0, 5, 5, 5, 5), @a["two"]
# intervals 5-9 (4 each), 100ms apart, 10 kept. A key's rows run from its oldest interval to the
# map's newest, so "one" ends with five '-' rows and "two" starts at 00:00:00.500.
MULTI_TXT = """\
@a[one]:
             0                                                   5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.000 *                                                   | 0
00:00:00.100 |                                                   * 5
00:00:00.200 |                                                   * 5
00:00:00.300 |                                                   * 5
00:00:00.400 |                                                   * 5
00:00:00.500 |                                                   | -
00:00:00.600 |                                                   | -
00:00:00.700 |                                                   | -
00:00:00.800 |                                                   | -
00:00:00.900 |                                                   | -
             v___________________________________________________v
             0                                                   5

@a[two]:
             3                                                   5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 |                         *                         | 4
00:00:00.600 |                         *                         | 4
00:00:00.700 |                         *                         | 4
00:00:00.800 |                         *                         | 4
00:00:00.900 |                         *                         | 4
             v___________________________________________________v
             3                                                   5

"""


def _iv(ms: int, v: int) -> dict[str, object]:
    return {"interval_start": f"1970-01-01 00:00:00.{ms:03d}000000", "value": v}


@pytest.mark.parametrize("name,key_type,items,text,js", [
    ("default", None, [(None, dict.fromkeys(range(5, 10), 9))],
     "@a:\n" + " " * 13 + "8" + " " * 50 + "10\nhh:mm:ss.ms  |" + "_" * 51 + "|\n"
     + "".join(f"00:00:00.{ms} |" + " " * 25 + "*" + " " * 25 + "| 9\n" for ms in (500, 600, 700, 800, 900))
     + " " * 13 + "v" + "_" * 51 + "v\n" + " " * 13 + "8" + " " * 50 + "10\n\n",
     {"@a": [_iv(ms, 9) for ms in (500, 600, 700, 800, 900)]}),
    ("multiple", "str", [("one", {0: 0, 1: 5, 2: 5, 3: 5, 4: 5}), ("two", dict.fromkeys(range(5, 10), 4))],
     MULTI_TXT, {"@a": {"one": [_iv(0, 0)] + [_iv(ms, 5) for ms in (100, 200, 300, 400)],
                        "two": [_iv(ms, 4) for ms in (500, 600, 700, 800, 900)]}}),
    ("zero", None, [(None, {})], "@a:\n<no data>\n", {"@a": []}),
    # outputs/tseries_min.txt: a flat unsigned 0 cannot go below 0, so the range is 0..1
    ("min-unsigned-zero", None, [(None, dict.fromkeys(range(5, 10), 0))],
     "@a:\n" + " " * 13 + "0" + " " * 51 + "1\nhh:mm:ss.ms  |" + "_" * 51 + "|\n"
     + "".join(f"00:00:00.{ms} *" + " " * 51 + "| 0\n" for ms in (500, 600, 700, 800, 900))
     + " " * 13 + "v" + "_" * 51 + "v\n" + " " * 13 + "0" + " " * 51 + "1\n\n",
     {"@a": [_iv(ms, 0) for ms in (500, 600, 700, 800, 900)]}),
])
def test_tseries_map_layouts(name: str, key_type: str | None, items: list[tuple[object, dict[int, int]]],
                             text: str, js: dict[str, object]) -> None:
    """outputs/tseries.{txt,json}, tseries_multiple.{txt,json}, tseries_zero.json: one map's text
    and JSON as print()/the exit dump lay them out (the interval values are set, the clock fixed)."""
    from bpfscope.lang.ctype.types import Kind, Type, string_type
    from bpfscope.runtime.output import format_tseries_map

    vt = Type(Kind.TSERIES, size=8, signed=not name.endswith("unsigned-zero"), params=(100_000_000, 10, 0))
    kt = string_type(4) if key_type else None
    with _utc_clock():
        assert format_tseries_map("@a", kt, vt, items, json=False) == text
        got = format_tseries_map("@a", kt, vt, items, json=True)
    assert json.loads(got) == {"type": "tseries", "data": js}


def test_tseries_chart_with_print_bounds() -> None:
    """outputs/print_tseries_zigzag_min_max_args.txt and print_tseries_avg_map_min_max_args.txt:
    print(@, min, max) fixes the chart's range."""
    vals = list(range(-5, 6)) + list(range(4, -5, -1))
    got = _chart(vals, bounds=(-10, 10)).splitlines()
    assert got[0] == " " * 13 + "-10" + " " * 48 + "10"
    for line in ("00:00:00.100 |            *            .                         | -5",
                 "00:00:00.700 |                         . *                       | 1",
                 "00:00:01.100 |                         .            *            | 5",
                 "00:00:01.600 |                         *                         | 0"):
        assert line in got
    avg = _chart([4] * 5, bounds=(0, 10)).splitlines()
    assert avg[0] == " " * 13 + "0" + " " * 50 + "10"
    assert avg[2] == "00:00:00.100 |                   *                               | 4"


def test_tseries_print_bounds_e2e() -> None:
    big = 1_000_000_000_000_000_000   # one interval for the whole run
    r = bpfscope("-q", "-e", f"config = {{ unstable_tseries = enable }} begin {{ @ = tseries(3, {big}, 3); "
                             "print(@, -10, 10); clear(@); exit(); }", env={"TZ": "UTC"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("@:\n" + " " * 19 + "-10" + " " * 48 + "10\nhh:mm:ss.ns        |" + "_" * 51 + "|\n"
                        "01:46:40.000000000 |" + " " * 25 + "." + " " * 6 + "*" + " " * 18 + "| 3\n"
                        + " " * 19 + "v" + "_" * 51 + "v\n" + " " * 19 + "-10" + " " * 48 + "10\n\n" + END)


def test_uprobe_target_relative_without_dot(progs: dict[str, Path]) -> None:
    """`uprobe:dir/prog:fn` (no leading ./) is a path relative to the working directory, as
    tests/runtime/aggregations writes it (`uprobe:testprogs/multithreaded_data:...`)."""
    d = progs["fn"].parent
    prog = (f"uprobe:{d.name}/fn:target {{ @n = count(); }} "
            f"uretprobe:{d.name}/fn:target /retval == 3/ {{ @r = count(); }}")
    r = subprocess.run([sys.executable, "-m", "bpfscope", "-q", "-e", prog, "-c", f"{d}/fn 3"],
                       cwd=d.parent, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "\n\n@n: 3\n@r: 1\n"


def test_begin_runs_before_other_probes_attach() -> None:
    """0.26: "begin is triggered before all other probes are attached" — an interval of 1 s
    therefore sees at least 1 s since begin (bpftrace's runtime row printf_llu)."""
    r = bpfscope("-e", 'begin { @start = nsecs; } i:s:1 { printf("Elapsed time: %llus\\n", '
                       "(nsecs - @start) / 1000000000); clear(@start); exit(); }")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Elapsed time: 1s\n" + END


def test_include_of_a_missing_header_is_clangs_fatal_error() -> None:
    r = bpfscope("-e", "#include <lol/no.h>\nbegin { exit(); }")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "definitions.h:2:10: fatal error: 'lol/no.h' file not found\n")
    ok = bpfscope("-q", "-e", "#include <linux/blkdev.h>\n#include <stdint.h>\nbegin { print(1); exit(); }")
    assert (ok.returncode, ok.stdout) == (0, "1\n" + END), ok.stderr


def test_errno_constants_from_errno_h_and_include_option() -> None:
    r = bpfscope("-q", "-e", "#include <errno.h>\nbegin { print((EPERM, ENOENT, EAGAIN, ENOSPC)); exit(); }")
    assert (r.returncode, r.stdout) == (0, "(1, 2, 11, 28)\n" + END), r.stderr
    r = bpfscope("-q", "--include", "errno.h", "-e", "begin { print(strerror(EPERM)); exit(); }")
    assert (r.returncode, r.stdout) == (0, "Operation not permitted\n" + END), r.stderr
    r = bpfscope("-q", "-e", "begin { print(EPERM); exit(); }")
    assert r.returncode == 1 and "Unknown identifier: 'EPERM'" in r.stderr


def test_uprobe_glob_target_covers_the_pid_objects() -> None:
    """`-p PID` with a glob as the uprobe target: every object mapped into PID that matches
    (bpftrace's runtime row "it lists uprobes in the program"), for listing and attaching."""
    w = subprocess.Popen([sys.executable, "-c", "import os, sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"
                          "for _ in range(5): os.getppid()\nprint('done', flush=True)\nsys.stdin.readline()\n"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdin is not None and w.stdout is not None
        assert w.stdout.readline() == "ready\n"
        libc = next(ln.split()[-1] for ln in Path(f"/proc/{w.pid}/maps").read_text().splitlines()
                    if "r-xp" in ln and "/libc.so" in ln)
        r = bpfscope("-l", "-e", "uretprobe:*:getppid { exit(); }", "-p", str(w.pid))
        assert (r.returncode, r.stdout) == (0, f"uretprobe:{libc}:getppid\n"), r.stderr
        r = bpfscope("-l", "uprobe:*libc*:getpp*", "-p", str(w.pid))
        assert (r.returncode, r.stdout) == (0, f"uprobe:{libc}:getppid\n"), r.stderr
        p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-p", str(w.pid), "-e",
                              "uprobe:*:getppid { @[probe] = count(); }"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
        assert p.stdout is not None
        assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
        w.stdin.write("go\n")
        w.stdin.flush()
        assert w.stdout.readline() == "done\n"
        p.send_signal(2)
        out, err = p.communicate(timeout=30)
        assert (p.returncode, out) == (0, f"\n\n@[uprobe:{libc}:getppid]: 5\n"), err
    finally:
        w.kill()
        w.wait()


def test_the_tracer_is_called_bpftrace() -> None:
    """`comm` in begin is the tracer's own name, as bpftrace's runtime rows expect (scripts
    leave the tracer out with /comm != "bpftrace"/)."""
    r = bpfscope("-q", "-e", 'begin { printf("SUCCESS %s\\n", comm); print(comm); exit(); }')
    assert (r.returncode, r.stdout) == (0, "SUCCESS bpftrace\nbpftrace\n" + END), r.stderr
    r = bpfscope("-q", "-f", "json", "-e", "begin { print(comm); exit(); }")
    assert r.stdout.splitlines()[0] == '{"type": "value", "data": "bpftrace"}', r.stdout


def test_func_of_a_process_gone_before_its_event_is_read(progs: dict[str, Path], tmp_path: Path) -> None:
    """The tracer is stopped while a short-lived process calls the probed function and exits:
    its maps are gone when the event is decoded, and `func` still names the function."""
    exe = tmp_path / "gone"
    shutil.copy(progs["fn"], exe)
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-q", "-e",
                          f'uprobe:{exe}:target {{ printf("func: %s\\n", func); }} '
                          f'uretprobe:{exe}:target {{ printf("ret: %s\\n", func); }}'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
    assert p.stdout is not None
    assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
    p.send_signal(19)   # SIGSTOP
    subprocess.run([str(exe), "2"], check=False)
    p.send_signal(18)   # SIGCONT
    p.send_signal(2)
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out) == (0, "func: target\nret: target\nfunc: target\nret: target\n" + END), err


def test_str_holds_max_strlen_characters_and_marks_truncation(tmp_path: Path) -> None:
    """0.26 (tests/runtime/regression "config max_strlen ..."): str() keeps up to max_strlen
    characters; a string that fills them is printed with the trailer (`..`, or
    str_trunc_trailer) in printf, print, tuples, map keys and JSON. str(p, n) is n - 1 characters
    and the NUL, with no trailer (0.26's runtime test "explicit string truncation": str(p, 5) is "zzte")."""
    child = tmp_path / "opens.py"
    child.write_text("import os\nfor p in ('/q/z1', '/q/z12', '/q/z123'):\n"
                     "    try:\n        os.open(p, os.O_RDONLY)\n    except OSError:\n        pass\n")
    pred = '/pid == cpid && strncmp(str(args.filename), "/q/z", 4) == 0/'
    r = bpfscope("-q", "-c", f"{sys.executable} {child}", "-e",
                 f"config = {{ max_strlen = 6 }} tracepoint:syscalls:sys_enter_openat {pred} {{ "
                 'printf("%s|%s|\\n", str(args.filename), str(args.filename, 4)); '
                 "print((str(args.filename), 1)); @[str(args.filename)] = count(); }")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("/q/z1|/q/|\n(/q/z1, 1)\n/q/z12..|/q/|\n(/q/z12.., 1)\n/q/z12..|/q/|\n(/q/z12.., 1)\n"
                        "\n\n@[/q/z1]: 1\n@[/q/z12..]: 2\n")
    r = bpfscope("-q", "-f", "json", "-c", f"{sys.executable} {child}", "-e",
                 f'config = {{ str_trunc_trailer = "_xxx" }} tracepoint:syscalls:sys_enter_openat {pred} '
                 "{ print(str(args.filename)); }", env={"BPFTRACE_MAX_STRLEN": "6"})
    assert r.returncode == 0, r.stderr
    assert [json.loads(ln)["data"] for ln in r.stdout.splitlines()] == ["/q/z1", "/q/z12_xxx", "/q/z12_xxx"]


def test_kprobe_on_a_function_the_kernel_lacks_is_a_missing_probe() -> None:
    """tests/runtime/regression async_id_invalid_probe_expansion: a kprobe on a name that
    kallsyms does not have is a missing probe, which missing_probes=warn prunes (on a kernel
    with or without kprobes), so the rest of the program runs; `error` stops at it."""
    prog = 'kprobe:zzzzz { probe; printf("asdf\\n") } begin { printf("_%s_\\n", "success"); exit() }'
    r = bpfscope("-e", "config = { missing_probes=warn } " + prog)
    assert (r.returncode, r.stdout) == (0, "_success_\n" + END), r.stderr
    assert "WARNING: No matches for kprobe zzzzz. Skipping." in r.stderr
    r = bpfscope("-e", "config = { missing_probes=error } " + prog)
    assert r.returncode == 1
    assert r.stderr.startswith("stdin:1:35-47: ERROR: No matches for kprobe zzzzz.\n"), r.stderr


def test_tseries_with_bpftrace_dummy_clock() -> None:
    """BPFTRACE_DUMMY_TS_MAP=@ts, the hook bpftrace's own tseries tests run with: the scalar map
    is the clock (no TAI offset), so the chart is the same on every run: 100 values at 10 ms
    steps from 0, in 100 ms intervals, the last five kept (tests/runtime/call tseries_max)."""
    r = bpfscope("-q", "-e", 'config = { unstable_tseries = enable } begin { @ts = (uint64)0; $i = (uint64)0; '
                 'while ($i < 100) { @a = tseries($i % 10, 100ms, 5, "max"); @ts += 10000000; $i++; } '
                 "clear(@ts); exit(); }", env={"BPFTRACE_DUMMY_TS_MAP": "@ts", "TZ": "UTC"})
    assert r.returncode == 0, r.stderr
    scale = " " * 13 + "8" + " " * 50 + "10"
    rows = [f"00:00:00.{ms} |" + " " * 25 + "*" + " " * 25 + "| 9" for ms in (500, 600, 700, 800, 900)]
    assert r.stdout == "\n".join(["", "", "@a:", scale, "hh:mm:ss.ms  |" + "_" * 51 + "|", *rows,
                                  " " * 13 + "v" + "_" * 51 + "v", scale, "", ""]), r.stdout


def test_enum_tracepoint_field_is_symbolized() -> None:
    """skb:kfree_skb's `enum skb_drop_reason reason` (0.26's printf_enum_symbolize_tracepoint):
    %d prints the number, %s and print() the kernel's name from BTF, through a variable too. A
    datagram to a closed local port is dropped with NO_SOCKET."""
    sender = ("import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "for _ in range(50):\n    s.sendto(b'x', ('127.0.0.1', 9))\n    time.sleep(0.05)\n")
    r = bpfscope("-q", "-e", 'tracepoint:skb:kfree_skb /args.reason == 3/ { $r = args.reason; '
                 'printf("%d %s\\n", args.reason, $r); print($r); exit(); }',
                 "-c", f"{sys.executable} -c \"{sender}\"", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("3 SKB_DROP_REASON_NO_SOCKET\nSKB_DROP_REASON_NO_SOCKET\n"), r.stdout
