"""bpftrace 0.26's standard library, table driven: each program runs for real through the CLI,
once for text and once for `-f json` (concurrently), and both outputs are compared byte for
byte with what bpftrace prints. Expectations come from bpftrace's docs/stdlib.md and its
runtime tests (tests/runtime/call, strcontains, json-output); several checks share one
program to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, bpfscope, needs_root, peer_failed

pytestmark = needs_root


@dataclass
class Case:
    name: str
    prog: str
    text: str
    json: str
    flags: tuple[str, ...] = ()
    rc: int = 0
    stderr: str | None = None       # exact text stderr, when it matters
    json_stderr: str | None = None
    extra: list[str] = field(default_factory=list)


def _run_both(args: list[str], timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], ...]:
    """Text and JSON runs of one program side by side (two fresh interpreters)."""
    cmd = [sys.executable, "-m", "bpfscope", "-q"]
    procs = [subprocess.Popen(cmd + extra + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for extra in ([], ["-f", "json"])]
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    return tuple(out)


END = "\n\n"  # TextOutput::end() before the exit-time map dump


def js(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


CASES = [
    Case(
        "strings",
        'begin { printf("%d %d %d\\n", strncmp("abc", "abd", 2), strncmp("abc", "abd", 3), '
        'strncmp("hello", "hello", 10)); '
        'print(strcontains("hello-test-world", "test")); print(strcontains("hello-test-world", "world")); '
        'print(strcontains("hello-test-world", "not-there")); print(strcontains("", "")); '
        'print(strcontains("hello", "")); print(strcontains("", "test")); '
        'print(strcontains("hello", "hello-longer")); print(strcontains("Hello World", "hello")); '
        'print(strcontains("ababac", "abac")); print(strcontains("hello\\tworld", "\\two")); '
        '$h = "hello\\0world"; print(strcontains($h, "world")); '
        '$n = "wo\\0rld"; print(strcontains("hello world", $n)); '
        '$a = "bar"; print(strcontains("foo", $a)); print(strcontains("foobar", $a)); '
        'printf("%d %d %d %d %d\\n", strstr("hello", "ll"), strstr("hello", "xyz"), strstr("abcabc", $a), '
        'strlen("hello"), strlen("")); '
        'printf("%d %d\\n", memcmp("abc", "abd", 3) < 0, memcmp("abc", "abd", 2)); exit(); }',
        text="0 1 0\ntrue\ntrue\nfalse\ntrue\ntrue\nfalse\nfalse\nfalse\ntrue\ntrue\nfalse\ntrue\nfalse\ntrue\n"
             "2 -1 -1 5 0\n1 0\n" + END,
        json=js('{"type": "printf", "data": "0 1 0\\n"}',
                *[f'{{"type": "value", "data": {v}}}' for v in
                  ("true", "true", "false", "true", "true", "false", "false", "false", "true", "true", "false",
                   "true", "false", "true")],
                '{"type": "printf", "data": "2 -1 -1 5 0\\n"}', '{"type": "printf", "data": "1 0\\n"}'),
    ),
    Case(
        "buffers",
        'begin { printf("%r|%rx|%rh\\n", buf("Hello\\0", 6), buf("Hello\\0", 6), buf("Hello\\0", 6)); '
        '@[buf("ok_key", 8), 1] = 1; @v = buf("ok_value", 8); $s = "\\xff\\x01A"; print(buf($s, 3)); exit(); }',
        text="Hello\\x00|\\x48\\x65\\x6c\\x6c\\x6f\\x00|48 65 6c 6c 6f 00\n\\xff\\x01A\n" + END
             + "@[ok_key\\x00\\x00, 1]: 1\n@v: ok_value\n",
        json=js('{"type": "printf", "data": '
                '"Hello\\\\x00|\\\\x48\\\\x65\\\\x6c\\\\x6c\\\\x6f\\\\x00|48 65 6c 6c 6f 00\\n"}',
                '{"type": "value", "data": [-1,1,65]}',
                '{"type": "map", "data": {"@": {"ok_key\\\\x00\\\\x00,1": 1}}}',
                '{"type": "map", "data": {"@v": [111,107,95,118,97,108,117,101]}}'),
    ),
    Case(
        "addresses",
        'begin { printf("IP: %s, %s, %s, %s\\n", ntop(1), ntop(0x0100007f), ntop(0xffff0000), ntop(0x0000ffff)); '
        'printf("IP: %s %s\\n", ntop(2, pton("127.0.0.1")), ntop(10, pton("::1"))); '
        'print(ntop(pton("fe80::1:2"))); print(pton("1.2.3.4")); '
        '$m = "\\x05\\x04\\x03\\x02\\x01\\x02"; printf("%s\\n", macaddr($m)); '
        '$k = "\\xaa\\xbb\\xcc\\xdd\\xee\\xff"; @[macaddr($k)] = 1; @ip[1] = ntop(0x0101a8c0); exit(); }',
        text="IP: 1.0.0.0, 127.0.0.1, 0.0.255.255, 255.255.0.0\nIP: 127.0.0.1 ::1\nfe80::1:2\n[1,2,3,4]\n"
             "05:04:03:02:01:02\n" + END + "@[AA:BB:CC:DD:EE:FF]: 1\n@ip[1]: 192.168.1.1\n",
        json=js('{"type": "printf", "data": "IP: 1.0.0.0, 127.0.0.1, 0.0.255.255, 255.255.0.0\\n"}',
                '{"type": "printf", "data": "IP: 127.0.0.1 ::1\\n"}',
                '{"type": "value", "data": "fe80::1:2"}', '{"type": "value", "data": [1,2,3,4]}',
                '{"type": "printf", "data": "05:04:03:02:01:02\\n"}',
                '{"type": "map", "data": {"@": {"AA:BB:CC:DD:EE:FF": 1}}}',
                '{"type": "map", "data": {"@ip": {"1": "192.168.1.1"}}}'),
    ),
    Case(
        "names",
        'begin { print(strerror(1)); print(signal_name(9)); print(syscall_name(110)); '
        'printf("%s|%s|%s|%s\\n", strerror(2), signal_name(99), syscall_name(257), signal_name(40)); '
        '@e[strerror(13)] = 1; exit(); }',
        text="Operation not permitted\nKilled\ngetppid\nNo such file or directory|N/A|openat|Real-time signal 6\n"
             + END + "@e[Permission denied]: 1\n",
        json=js('{"type": "value", "data": "Operation not permitted"}', '{"type": "value", "data": "Killed"}',
                '{"type": "value", "data": "getppid"}',
                '{"type": "printf", "data": "No such file or directory|N/A|openat|Real-time signal 6\\n"}',
                '{"type": "map", "data": {"@e": {"Permissiondenied": 1}}}'),  # keys lose spaces (json.cpp)
    ),
    Case(
        "maps",
        'begin { @c[1] = 1; @c[2] = 2; @c[3] = 5; printf("len=%d\\n", len(@c)); let $val; '
        'if (find(@c, 3, $val)) { printf("found %d\\n", $val); } '
        'if (!find(@c, 9, $val)) { printf("no 9, still %d\\n", $val); } '
        'if (has_key(@c, 2)) { printf("has 2\\n"); } print(@c, 2); print(@c, 2, 2); clear(@c); exit(); }',
        text="len=3\nfound 5\nno 9, still 5\nhas 2\n@c[2]: 2\n@c[3]: 5\n@c[2]: 1\n@c[3]: 2\n" + END,
        json=js('{"type": "printf", "data": "len=3\\n"}', '{"type": "printf", "data": "found 5\\n"}',
                '{"type": "printf", "data": "no 9, still 5\\n"}', '{"type": "printf", "data": "has 2\\n"}',
                '{"type": "map", "data": {"@c": {"2": 2, "3": 5}}}',
                '{"type": "map", "data": {"@c": {"2": 1, "3": 2}}}'),
    ),
    Case(
        "percpu_reads",
        'begin { @c = count(); @c = count(); @s = sum(5); @s = sum(6); @mn = min(4); @mn = min(2); '
        '@mx = max(9); @mx = max(-3); @a = avg(10); @a = avg(20); @k["x"] = count(); '
        'printf("%d %d %d %d %d %d\\n", (int64)@c, @s, @mn, @mx, @a, @k["x"]); '
        'if (@c > 1) { print(("hello")); } if (@s > 100) { print(("no")); } $v = @s * 2; print($v); exit(); }',
        text="2 11 2 9 15 1\nhello\n22\n" + END + "@a: 15\n@c: 2\n@k[x]: 1\n@mn: 2\n@mx: 9\n@s: 11\n",
        json=js('{"type": "printf", "data": "2 11 2 9 15 1\\n"}', '{"type": "value", "data": "hello"}',
                '{"type": "value", "data": 22}',
                '{"type": "stats", "data": {"@a": 15}}', '{"type": "map", "data": {"@c": 2}}',
                '{"type": "map", "data": {"@k": {"x": 1}}}', '{"type": "map", "data": {"@mn": 2}}',
                '{"type": "map", "data": {"@mx": 9}}', '{"type": "map", "data": {"@s": 11}}'),
    ),
    Case(
        "print_values",
        'begin { $t = (1, 2, "string"); print($t); print((1, "a", true)); print((a=1, b="x")); print("abc"); '
        'print(true); print(-5); print(probetype); @m[1, "a"] = 2; print(@m); '
        'print("BEGIN"); @["a"] = avg(10); @["b"] = avg(20); @["c"] = avg(30); @["d"] = avg(40); '
        'print(@, 2, 10); print("END"); exit(); }',
        text="(1, 2, string)\n(1, a, true)\n{ .a = 1, .b = x }\nabc\ntrue\n-5\nspecial\n@m[1, a]: 2\nBEGIN\n"
             "@[c]: 3\n@[d]: 4\nEND\n" + END + "@[a]: 10\n@[b]: 20\n@[c]: 30\n@[d]: 40\n@m[1, a]: 2\n",
        json=js('{"type": "value", "data": [1,2,"string"]}', '{"type": "value", "data": [1,"a",true]}',
                '{"type": "value", "data": {"a": 1, "b": "x"}}', '{"type": "value", "data": "abc"}',
                '{"type": "value", "data": true}', '{"type": "value", "data": -5}',
                '{"type": "value", "data": "special"}', '{"type": "map", "data": {"@m": {"1,a": 2}}}',
                '{"type": "value", "data": "BEGIN"}', '{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}',
                '{"type": "value", "data": "END"}',
                '{"type": "stats", "data": {"@": {"a": 10, "b": 20, "c": 30, "d": 40}}}',
                '{"type": "map", "data": {"@m": {"1,a": 2}}}'),
    ),
    Case(
        "cat",
        'begin { cat("/proc/sys/kernel/ostype"); cat("/%s%s/%s", "pr", "oc", "sys/kernel/ostype"); '
        'cat("/nonexistent/bpfscope"); exit(); }',
        text="Linux\nLinux\n" + END,
        json=js('{"type": "cat", "data": "Linux\\n"}', '{"type": "cat", "data": "Linux\\n"}'),
        stderr="ERROR: failed to open file '/nonexistent/bpfscope' (No such file or directory)\n",
    ),
    Case(
        "system",
        'begin { system("echo %d %s", 1, "ok_system"); system("printf x"); exit(); }',
        text="1 ok_system\n\nx\n" + END,
        json=js('{"type": "syscall", "data": "1 ok_system\\n"}', '{"type": "syscall", "data": "x"}'),
        flags=("--unsafe",),
    ),
    Case(
        "errorf_warnf",
        'begin { errorf("Something bad with args: %d, %s", 10, "arg2"); warnf("careful %d", 5); exit(); }',
        text=END,
        json=js('{"type": "print_error", "msg": "Something bad with args: 10, arg2", "filename": "stdin", '
                '"line": 1, "col": 9}',
                '{"type": "print_error", "msg": "careful 5", "filename": "stdin", "line": 1, "col": 64}'),
        stderr="stdin:1:9-62: ERROR: Something bad with args: 10, arg2\n"
               'begin { errorf("Something bad with args: %d, %s", 10, "arg2"); warnf("careful %d", 5); exit(); }\n'
               "        " + "~" * 53 + "\n"
               "stdin:1:64-86: WARNING: careful 5\n"
               'begin { errorf("Something bad with args: %d, %s", 10, "arg2"); warnf("careful %d", 5); exit(); }\n'
               + " " * 63 + "~" * 22 + "\n",
        json_stderr="",
    ),
    Case(
        "assert",
        'begin { assert(1 == 1, "fine"); printf("after\\n"); assert(1 == 2, "oops"); printf("unreached\\n"); }',
        text="after\n" + END,   # 0.26: assert is stdlib/base.bt's macro; its errorf points there
        json=js('{"type": "printf", "data": "after\\n"}', '{"type": "print_error", "msg": "assert failed: oops", '
                '"filename": "stdlib/base.bt", "line": 6, "col": 5}'),
        stderr='stdlib/base.bt:6:5-37: ERROR: assert failed: oops\n    errorf("assert failed: %s", msg);\n'
               + " " * 4 + "~" * 32 + "\n",
        rc=1,
    ),
    Case(
        "call_syntax_builtins",
        'begin { printf("%d %d %d %d %d %d\\n", has_cpid(), strcap("abc"), strcap(comm), pid(init) == pid, '
        'tid(curr_ns) == tid(), nsecs(boot) > 0); exit(); }',
        text="0 4 16 1 1 1\n" + END,
        json=js('{"type": "printf", "data": "0 4 16 1 1 1\\n"}'),
    ),
    Case(
        "compile_time",
        'begin { static_assert(1 + 1 == 2, "math"); if (is_str("x") && is_integer(1)) { printf("types\\n"); } '
        'if ($1 < 2) { fail("Expected the first positional param to be greater than 1. Got %d", $1); } '
        'print(cgroup_path(cgroupid("/sys/fs/cgroup"))); printf("%d\\n", cgroupid("/sys/fs/cgroup")); exit(); }',
        text="types\nunified:/\n1\n" + END,
        json=js('{"type": "printf", "data": "types\\n"}', '{"type": "value", "data": "unified:/"}',
                '{"type": "printf", "data": "1\\n"}'),
        extra=["5"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_stdlib_text_and_json(case: Case) -> None:
    text, js_run = _run_both([*case.flags, "-e", case.prog, *case.extra])
    assert "Traceback" not in text.stderr + js_run.stderr
    assert text.returncode == case.rc, text.stderr
    assert js_run.returncode == case.rc, js_run.stderr
    assert text.stdout == case.text
    assert js_run.stdout == case.json
    for line in js_run.stdout.splitlines():
        json.loads(line)
    if case.stderr is not None:
        assert text.stderr == case.stderr
    if case.json_stderr is not None:
        assert js_run.stderr == case.json_stderr


def test_strftime_formats_boot_timestamps() -> None:
    prog = ('begin { $t = strftime("%Y", nsecs); printf("%s\\n", $t); time("%Y\\n"); '
            'printf("%s - %s\\n", strftime("1%f", 1000123000), strftime("1%f", 0)); '
            '@[strftime("%m/%d/%y", nsecs)] = 1; @v[1] = strftime("%H:%M", nsecs); exit(); }')
    text, js_run = _run_both(["-e", prog])
    assert text.returncode == 0, text.stderr
    lines = text.stdout.split("\n")
    assert lines[0] == lines[1] == time.strftime("%Y")
    a, b = (int(x) for x in lines[2].split(" - "))
    assert (a - b) % 1_000_000 == 123      # %f is microseconds: 123000 ns later
    assert re.search(r"^@\[\d\d/\d\d/\d\d\]: 1$", text.stdout, re.M)
    assert re.search(r"^@v\[1\]: \d\d:\d\d$", text.stdout, re.M)
    objs = [json.loads(x) for x in js_run.stdout.splitlines()]
    assert objs[0] == {"type": "printf", "data": time.strftime("%Y") + "\n"}
    assert objs[1] == {"type": "time", "data": time.strftime("%Y") + "\n"}
    maps = {k: v for o in objs if o["type"] == "map" for k, v in o["data"].items()}
    assert list(maps["@v"]) == ["1"] and re.fullmatch(r"\d\d:\d\d", maps["@v"]["1"])


def test_builtins_ppid_pcomm_probetype_username(workload: Path) -> None:
    """begin runs in bpfscope itself: its ppid is this test; the traced child's ppid is bpfscope."""
    prog = ('begin { printf("%d %d %s\\n", pid, ppid, probetype); } '
            'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { '
            'printf("%d %s %s %s %s %d %d %d\\n", ppid, pcomm, comm, probetype, username, jiffies > 0, '
            'len(ustack) > 0, len(kstack(3)) == 3); exit(); }')
    r = bpfscope("-q", "-e", prog, "-c", f"{workload} 10")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split("\n")[:2]
    me, parent, kind = first.split()
    assert int(parent) == os.getpid() and kind == "special"
    ppid, pcomm, comm, kind, user, jiff, ulen, klen = second.split()
    assert ppid == me                       # the -c child was forked by bpfscope
    assert pcomm == comm == workload.name[:15] and kind == "tracepoint"
    assert user == "root" and jiff == "1" and ulen == klen == "1"


def test_percpu_count_read_in_bpf_matches_workload(workload: Path) -> None:
    r = bpfscope("-q", "-e", "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c = count(); @s = sum(2); "
                 "if (@c == 5000) { printf(\"reached %d %d\\n\", @c, @s); } }", "-c", f"{workload} 5000")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "reached 5000 10000\n" + END + "@c: 5000\n@s: 10000\n"


def test_signal_kills_traced_process(workload: Path) -> None:
    r = bpfscope("-q", "--unsafe", "-e", "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c = count(); "
                 "if (@c == 10) { signal(\"SIGUSR1\"); } } end { printf(\"%d\\n\", @c); }",
                 "-c", f"{workload} 1000000")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("10\n")      # the child died on SIGUSR1 right after its 10th call


def test_signal_by_number_delivered(workload: Path, tmp_path: Path) -> None:
    """signal(10) from a probe reaches a process this test starts and waits for."""
    name = f"sigwl{os.getpid() % 100000}"  # never signal other tests' `wl` processes
    exe = tmp_path / name
    shutil.copy(workload, exe)
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "--unsafe", "-e",
                          f'tracepoint:syscalls:sys_enter_getppid /comm == "{name}"/ {{ signal(10); }}'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr is not None
        line = p.stderr.readline()
        assert "Attached" in line, line + p.stderr.read()
        child = subprocess.run([str(exe), "100000"], timeout=20)
        assert child.returncode == -signal.SIGUSR1
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=20)


@pytest.mark.parametrize("config", ["", "config = { max_strlen = 1024 } "])
def test_buf_from_traced_user_memory(config: str) -> None:
    """With max_strlen 1024 the frame lives in a scratch map, where a spilled length loses the
    bounds the verifier knew: the run-time length is clamped again after reloading it."""
    r = bpfscope("-q", "-c", "/bin/echo hello", "-e",
                 config + 'tracepoint:syscalls:sys_enter_write /pid == cpid/ { printf("[%r] [%rh] [%r]\\n", '
                 'buf(args.buf, args.count), buf(args.buf, 3), buf(uptr(args.buf), 5)); }')
    assert r.returncode == 0, r.stderr
    assert "[hello\\x0a] [68 65 6c] [hello]\n" in r.stdout


def test_debugf_goes_to_trace_buffer() -> None:
    """debugf is bpf_trace_printk: the line lands in the shared trace buffer (which another
    test may clear at any moment, hence a few tries)."""
    token = f"bpfscope-debugf-{os.getpid()}"
    for _ in range(3):
        r = bpfscope("-q", "-e", f'begin {{ debugf("{token} %s %d %x", "a", 1, 16); exit(); }}')
        assert r.returncode == 0, r.stderr
        assert r.stdout == END       # nothing on bpfscope's own output
        trace = Path("/sys/kernel/tracing/trace").read_text(errors="replace")
        if f"bpf_trace_printk: {token} a 1 10" in trace:
            return
    pytest.fail("debugf line not found in /sys/kernel/tracing/trace")


def test_no_warnings_silences_warnf_only() -> None:
    r = bpfscope("-q", "--no-warnings", "-e", 'begin { warnf("w %d", 1); errorf("e %d", 2); exit(); }')
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr and "stdin:1:27-44: ERROR: e 2\n" in r.stderr


@pytest.mark.parametrize("prog,msg", [
    ('begin { system("echo hi"); }', "stdin:1:9-26: ERROR: system() is an unsafe function being used in safe mode"),
    ('tracepoint:syscalls:sys_enter_getppid { signal("SIGKILL"); }',
     "stdin:1:41-58: ERROR: signal() is an unsafe function being used in safe mode"),
    ('begin { foo(1); }', "stdin:1:9-12: ERROR: Unknown function: foo"),
    ('begin { @x = bar; }', "stdin:1:14-17: ERROR: Unknown identifier: 'bar'"),
    ('begin { strncmp("a"); }', "stdin:1:9-21: ERROR: strncmp() requires 3 arguments (1 provided)"),
    ('begin { print(); }', "stdin:1:9-16: ERROR: print() requires at least one argument (0 provided)"),
    ('begin { $x = ntop(1,2,3); }', "stdin:1:14-25: ERROR: ntop() takes up to 2 arguments (3 provided)"),
    ('begin { $x = strftime(1, 2); }', "stdin:1:14-28: ERROR: strftime() expects a string literal (integer "
     "provided)"),
    ('begin { print(strftime("%H", nsecs(monotonic))); }',
     "stdin:1:15-47: ERROR: strftime() can not take a monotonic timestamp"),
    ('begin { printf(1); }', "stdin:1:9-18: ERROR: printf() expects a string literal (integer provided)"),
    ('begin { $x = 3; print(strncmp("a", "b", $x)); }',
     "stdin:1:23-44: ERROR: Builtin strncmp requires a non-negative literal"),
    ('begin { $a = (uint8)1; print(ntop(pton("1.2.3.4")) ); print(ntop("abcdefgh")); }',
     "ERROR: ntop() argument must be 4 or 16 bytes in size"),
    ('begin { print(ntop((1, 2))); }', "stdin:1:15-27: ERROR: ntop() expects an integer or array argument, got tuple"),
    ('begin { print(macaddr("abcdef")); }', "ERROR: macaddr() does not support literal string arguments"),
    ('begin { $x = 1; print(buf($x)); }', "ERROR: buf() expects a length argument for non-array type integer"),
    ('begin { print(len(1)); }', "stdin:1:15-21: ERROR: len() expects a map or stack to be provided"),
    ('begin { print(kptr("a")); }', "ERROR: kptr() only supports integer or pointer arguments (string provided)"),
    ('begin { print(1, 2); }', "stdin:1:9-20: ERROR: Non-map print() only takes 1 argument, 2 found"),
    ('begin { print(pid(foo)); }', "stdin:1:19-22: ERROR: Invalid PID namespace mode: foo (expects: curr_ns or init)"),
    ('begin { print(strcontains("a", 1)); }',
     "ERROR: strcontains() only supports string arguments (integer provided)"),
    ('begin { exit(1, 2); }', "stdin:1:9-19: ERROR: exit() takes up to one argument (2 provided)"),
    ('begin { debugf("%d %d %d %d", 1, 2, 3, 4); }', "ERROR: cannot use more than 3 conversion specifiers"),
    ('begin { static_assert(1 == 2, "math is broken"); }', "stdin:1:9-48: ERROR: math is broken"),
    ('begin { fail("bad %d", 7); }', "stdin:1:9-26: ERROR: bad 7"),
    ('begin { $x = 1; fail("bad %d", $x); }', "ERROR: fail() arguments need to be literals"),
    ('begin { @c = hist(1); if (@c > 1) {} }', "ERROR: Type mismatch: 'hist' values can only be read"),
])
def test_stdlib_diagnostics(prog: str, msg: str) -> None:
    args = ["--unsafe"] if "signal" in prog and "unsafe" not in msg else []
    r = bpfscope(*args, "-e", prog)
    assert r.returncode == 1
    assert msg in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_signal_refused_in_begin_and_bad_name() -> None:
    r = bpfscope("--unsafe", "-e", 'begin { signal("SIGKILL"); }')
    assert r.returncode == 1 and 'ERROR: signal can not be used with "begin" probes' in r.stderr
    r = bpfscope("--unsafe", "-e", 'tracepoint:syscalls:sys_enter_getppid { signal("SIGFOO"); }')
    assert r.returncode == 1 and "ERROR: SIGFOO is not a valid signal" in r.stderr


DIFF_PROG = ('BEGIN { printf("%d %d %d\\n", strncmp("abc","abd",2), strncmp("abc","abd",3), '
             'strncmp("hello", "hello", 10)); printf("%s %s %s\\n", ntop(0x0100007f), ntop(10, pton("::1")), '
             'ntop(2, pton("10.1.2.3"))); printf("%r|%rx\\n", buf("Hello\\0", 6), buf("Hello\\0", 6)); '
             'print((1, "a")); @[buf("ok_key", 8), 1] = 1; exit(); }')


@pytest.mark.skipif(not ROOT or not Path("/usr/bin/bpftrace").exists(), reason="needs Debian's bpftrace")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_differential_against_bpftrace_017(fmt: str) -> None:
    """The subset both speak prints identically (bpftrace 0.17 with -q has no banner either)."""
    args = ["-q", "-f", fmt, "-e", DIFF_PROG]
    theirs = subprocess.run(["bpftrace", *args], capture_output=True, text=True, timeout=60)
    if theirs.returncode != 0:
        peer_failed("bpftrace 0.17", theirs)
    ours = bpfscope(*args)
    assert ours.returncode == 0, ours.stderr
    if fmt == "json":  # 0.17 also wrote the text exit newlines into its JSON stream
        assert ours.stdout.splitlines() == [ln for ln in theirs.stdout.splitlines() if ln]
    else:
        assert ours.stdout == theirs.stdout
