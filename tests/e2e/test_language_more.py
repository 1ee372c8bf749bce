"""More of bpftrace 0.26's language, run for real through the CLI: named parameters
(getopt), --test/--bench with test:/bench: probes, self:signal probes, tseries, -k helper
errors, address-of, frames bigger than the BPF stack, and smaller items.

Expected text comes from bpftrace's docs (language.md, stdlib.md) and its runtime tests
(tests/runtime/other: named params, runtime_error_check_*; outputs/tseries_*.txt/json) and
its output code (src/output/text.cpp, json.cpp); where timing is involved (test durations,
bench averages, live tseries) the shape is checked and the numbers are normalised.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

END = "\n\n"
BIG = 1_000_000_000_000_000_000   # a tseries interval of ~31.7 years: every run lands in one interval


def _run_both(args: list[str], env: dict[str, str] | None = None,
              timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], ...]:
    """Text and JSON runs of one program side by side (two fresh interpreters)."""
    e = dict(os.environ, **(env or {}))
    cmd = [sys.executable, "-m", "bpfscope", "-q"]
    procs = [subprocess.Popen(cmd + extra + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=e) for extra in ([], ["-f", "json"])]
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    return tuple(out)


@dataclass
class Case:
    name: str
    args: list[str]
    text: str
    json: str
    rc: int = 0


def js(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


NAMED = 'begin { print((getopt("aa", 10, "Description of aa"), getopt("bb", "hello"), getopt("cc"), ' \
        'getopt("dd", false), getopt("ee", -3))); exit(); }'

CASES = [
    Case("getopt_defaults", ["-e", NAMED], "(10, hello, false, false, -3)\n" + END,
         js('{"type": "value", "data": [10,"hello",false,false,-3]}')),
    Case("getopt_values", ["-e", NAMED, "--", "--cc", "--bb=bye", "--aa=0x20", "--dd=True", "--ee=-7"],
         "(32, bye, true, true, -7)\n" + END, js('{"type": "value", "data": [32,"bye",true,true,-7]}')),
    Case("getopt_with_positional", ["-e", 'begin { print(($1, getopt("aa", 1), $2, getopt("bb"))); exit(); }',
                                    "p1", "--", "20", "--aa=5", "--bb=0"],
         "(p1, 5, 20, false)\n" + END, js('{"type": "value", "data": ["p1",5,20,false]}')),
    Case("tseries_one_interval", ["-e", "config = { unstable_tseries = enable } begin { " + " ".join(
        f'{m} = tseries({v}, {BIG}, 3{", " + repr(a).replace(chr(39), chr(34)) if a else ""});' for m, v, a in (
            ("@a", 5, ""), ("@c", 4, "sum"), ("@c", 6, "sum"), ('@k["x"]', -2, "min"), ('@k["x"]', 7, "min"),
            ('@k["y"]', 3, "min"), ("@v", 4, "avg"), ("@v", 7, "avg"), ("@x", 4, "max"), ("@x", -6, "max")))
        + " exit(); }"],
         END + "".join(f"{name}:\n" + " " * 19 + f"{lo:<21}{hi:>32}\nhh:mm:ss.ns        |" + "_" * 51 + "|\n"
                       f"01:46:40.000000000 |{' ' * 25}*{' ' * 25}| {v}\n" + " " * 19 + "v" + "_" * 51 + "v\n"
                       + " " * 19 + f"{lo:<21}{hi:>32}\n\n"
                       for name, lo, hi, v in (("@a", 4, 6, 5), ("@c", 9, 11, 10), ("@k[x]", -3, -1, -2),
                                               ("@k[y]", 2, 4, 3), ("@v", 4, 6, 5), ("@x", 3, 5, 4))),
         js(*(f'{{"type": "tseries", "data": {{"{n}": {body}}}}}' for n, body in (
             ("@a", '[{"interval_start":"2001-09-09 01:46:40.000000000","value":5}]'),
             ("@c", '[{"interval_start":"2001-09-09 01:46:40.000000000","value":10}]'),
             ("@k", '{"x": [{"interval_start":"2001-09-09 01:46:40.000000000","value":-2}], '
                    '"y": [{"interval_start":"2001-09-09 01:46:40.000000000","value":3}]}'),
             ("@v", '[{"interval_start":"2001-09-09 01:46:40.000000000","value":5}]'),
             ("@x", '[{"interval_start":"2001-09-09 01:46:40.000000000","value":4}]'))))),
    # str(x, n): n bytes with the NUL, n - 1 characters (0.26's runtime test "explicit string truncation")
    Case("str_of_a_string", ["-e", 'begin { $s = "abcdefgh"; print(str($s, 3)); printf("[%s]\\n", str($s, 3)); '
                                   '@x = str($s, 3); print(str($s, 20)); exit(); }'],
         "ab\n[ab]\nabcdefgh\n" + END + "@x: ab\n",
         js('{"type": "value", "data": "ab"}', '{"type": "printf", "data": "[ab]\\n"}',
            '{"type": "value", "data": "abcdefgh"}', '{"type": "map", "data": {"@x": "ab"}}')),
    Case("address_of", ["-e", 'config = { unstable_addr = enable } begin { $x = 41; $p = &$x; print(*$p + 1); '
                              '@m[1] = 7; $q = &@m[1]; print(*$q); $t = curtask; print(*(&$t->pid) == pid); '
                              'print(&@m[5]); exit(); }'],
         "42\n7\ntrue\n0x0\n" + END + "@m[1]: 7\n",
         js('{"type": "value", "data": 42}', '{"type": "value", "data": 7}', '{"type": "value", "data": true}',
            '{"type": "value", "data": 0}', '{"type": "map", "data": {"@m": {"1": 7}}}')),
    Case("has_cpid_bare", ["-e", 'begin { print(has_cpid); print(has_cpid()); exit(); }'],
         "false\nfalse\n" + END, js('{"type": "value", "data": false}', '{"type": "value", "data": false}')),
    Case("globmatch", ["-e", 'begin { $p = "hello"; printf("%d %d %d %d %d %d\\n", globmatch("hello", "h*o"), '
                             'globmatch($p, "h?llo"), globmatch($p, "h[a-e]l*"), globmatch($p, "h[!e]llo"), '
                             'globmatch($p, "*l"), globmatch($p, "*")); printf("%d %d %d %d %d %d\\n", '
                             'globmatch("", "*"), globmatch("", ""), globmatch("abc", ""), '
                             'globmatch("aaab", "*a*b"), globmatch("a/b/c", "a*c"), globmatch("x[", "x[")); '
                             'exit(); }'],
         "1 1 1 0 0 1\n1 1 0 1 1 1\n" + END,
         js('{"type": "printf", "data": "1 1 1 0 0 1\\n"}', '{"type": "printf", "data": "1 1 0 1 1 1\\n"}')),
    Case("hist_with_short_string_key", ["-e", 'begin { @h["x"] = hist(5); exit(); }'],
         END + "@h[x]:\n[4, 8)                 1 |" + "@" * 52 + "|\n\n",
         js('{"type": "hist", "data": {"@h": {"x": [{"min": 4, "max": 7, "count": 1}]}}}')),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_text_and_json(case: Case) -> None:
    text, js_run = _run_both(case.args, env={"TZ": "UTC"})
    assert "Traceback" not in text.stderr + js_run.stderr
    assert text.returncode == case.rc, text.stderr
    assert js_run.returncode == case.rc, js_run.stderr
    assert text.stdout == case.text
    assert js_run.stdout == case.json
    for line in js_run.stdout.splitlines():
        json.loads(line)


@pytest.mark.parametrize("args,err", [
    (["-e", "begin { exit(); }", "--", "--aa=20"],
     "ERROR: unexpected program command line options: --aa\nHINT: no custom program options defined.\n"),
    (["-e", 'begin { print(getopt("aa", 1)); exit(); }', "--", "--aa=x"],
     "ERROR: program command line option --aa invalid integer: x (value: x)\n"),
    (["-e", 'begin { print(getopt("aa")); exit(); }', "--", "--aa=maybe"],
     "ERROR: program command line option --aa expects a boolean (e.g. 'true') (value: maybe)\n"),
    (["-e", 'begin { print(getopt(1)); exit(); }'],
     "stdin:1:22-23: ERROR: First argument to 'getopt' must be a string literal.\n"),
    (["-e", 'begin { print(getopt("a", 1 + 1)); exit(); }'],
     "ERROR: Second argument to 'getopt' must be a string literal, integer literal, or a boolean literal.\n"),
    (["-e", 'begin { print(getopt("a", 1)); print(getopt("a", 2)); exit(); }'],
     "ERROR: Command line option 'a' needs to have the same default value in all places it is used. "
     "Previous default value: 1\n"),
    (["-e", "begin { exit(); }", "--aa=1"], "ERROR: unrecognized option '--aa=1'\n"),
])
def test_getopt_errors(args: list[str], err: str) -> None:
    r = bpfscope(*args)
    assert r.returncode == 1
    assert err in r.stderr
    assert "Traceback" not in r.stderr


TESTS_BT = """
test:okay { print("I'm okay! This output will be suppressed."); }
test:failure { print("This is a failure! This output will be shown"); return 1; }
test:errors { errorf("bad %d", 3); }
test:asserts { assert(1 == 2, "math"); }
test:exit0 { exit(); }
bench:never { @never = 1; }
tracepoint:syscalls:sys_enter_getppid { @never = 2; }
"""
G, R, Z = "\033[32m", "\033[31m", "\033[0m"


def _durations(s: str) -> str:
    return re.sub(r" \(\d+ (?:s|ms|μs|ns)\)$", " (D)", s, flags=re.M)


def test_test_mode(tmp_path: Path) -> None:
    """--test: gtest-like report on stdout, failing tests' output between RUN and FAILED,
    exit status 1 when one fails; test: probes are ignored without --test."""
    script = tmp_path / "t.bt"
    script.write_text(TESTS_BT)
    text, js_run = _run_both(["--test", str(script)])
    assert text.returncode == 1 and js_run.returncode == 1, text.stderr
    assert _durations(text.stdout) == (
        f"{G}[==========]{Z} Running 5 tests.\n"
        f"{G}[ RUN      ]{Z} okay\n{G}[       OK ]{Z} okay (D)\n"
        f"{G}[ RUN      ]{Z} failure\nThis is a failure! This output will be shown\n{R}[  FAILED  ]{Z} failure (D)\n"
        f"{G}[ RUN      ]{Z} errors\n{script}:4:15-34: ERROR: bad 3\n"
        f'test:errors {{ errorf("bad %d", 3); }}\n' + " " * 14 + "~" * 19 + f"\n{R}[  FAILED  ]{Z} errors (D)\n"
        f"{G}[ RUN      ]{Z} asserts\nstdlib/base.bt:6:5-37: ERROR: assert failed: math\n"
            '    errorf("assert failed: %s", msg);\n' + " " * 4 + "~" * 32 + f"\n{R}[  FAILED  ]{Z} asserts (D)\n"
        f"{G}[ RUN      ]{Z} exit0\n{G}[       OK ]{Z} exit0 (D)\n"
        f"{G}[==========]{Z} 5 tests ran.\n{G}[  PASSED  ]{Z} 2 tests.\n"
        f"{R}[  FAILED  ]{Z} 3 tests, listed below:\n{R}[  FAILED  ]{Z} failure\n{R}[  FAILED  ]{Z} errors\n"
        f"{R}[  FAILED  ]{Z} asserts\n")
    results = [json.loads(ln) for ln in js_run.stdout.splitlines()]
    assert [(r["type"], *r["data"]) for r in results] == [("test_result", n) for n in
                                                          ("okay", "failure", "errors", "asserts", "exit0")]
    passed = [next(iter(r["data"].values())) for r in results]
    assert [p["passed"] for p in passed] == [True, False, False, False, True]
    assert all(isinstance(p["duration"], int) and p["duration"] > 0 for p in passed)
    assert json.loads(passed[1]["output"]) == {"type": "value", "data": "This is a failure! This output will be shown"}
    ok = bpfscope("-q", "--test", "-e", "test:a { $x = 1; if ($x != 1) { return 1; } } test:b { return 0; }")
    assert ok.returncode == 0 and ok.stdout.count("[       OK ]") == 2, ok.stderr
    # without --test, test: probes neither run nor count as probes
    plain = bpfscope("-e", "test:a { printf(\"ran\\n\"); } begin { exit(); }")
    assert plain.returncode == 0 and "ran" not in plain.stdout and "Attached 1 probe\n" in plain.stderr


def test_bench_mode() -> None:
    """--bench: each bench: probe runs repeatedly; the table has bpftrace's columns (how the
    averages compare is a figure of bench/run.py --only checks, not a test)."""
    prog = ("bench:count { @b = count(); } bench:lhist { @a = lhist(rand % 10, 1, 10, 1); } "
            "bench:loop100 { $a = 0; for ($i : 0..100) { $a++; } } test:ignored { return 1; }")
    text, js_run = _run_both(["--bench", "-e", prog])
    assert text.returncode == 0 and js_run.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"{'Benchmark':<41}{'Time(ns)':<15}Iterations"
    assert lines[1] == "-" * 66
    rows = {}
    for ln in lines[2:]:
        m = re.fullmatch(r"(\S+) +(\d+) +(\d+)", ln)
        assert m and len(ln[:41].rstrip()) == len(m.group(1)), ln
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    assert list(rows) == ["count", "lhist", "loop100"]
    assert all(iters >= 64 for _avg, iters in rows.values())
    assert all(avg > 0 for avg, _iters in rows.values())
    res = [json.loads(ln) for ln in js_run.stdout.splitlines()]
    assert [r["type"] for r in res] == ["benchmark_results"]
    assert list(res[0]["data"]) == ["count", "lhist", "loop100"]
    assert all(isinstance(v, int) and v > 0 for v in res[0]["data"].values())


def test_self_signal_probe() -> None:
    """self:signal:SIGUSR1 runs each time bpfscope receives the signal."""
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-e",
                          'self:signal:SIGUSR1 { printf("usr1 %d\\n", @n); @n++; if (@n == 2) { exit(); } }'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        assert p.stderr is not None
        assert p.stderr.readline() == "Attached 1 probe\n"
        assert p.stdout is not None
        p.send_signal(signal.SIGUSR1)
        first = p.stdout.readline()  # observed before the second is sent: two signals never merge
        p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        out = first + out
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert out == "usr1 0\nusr1 1\n" + END + "@n: 2\n"
    bad = bpfscope("-e", "self:signal:SIGHUP { }")
    assert bad.returncode == 1 and "SIGHUP is not a supported signal for self probes" in bad.stderr


def test_helper_errors_with_k() -> None:
    """-k reports failed helpers at the expression (bpftrace's runtime_error_check_* tests);
    --no-warnings silences the text warnings."""
    prog = "i:ms:100 { @[1] = 1; delete(@, 2); exit(); }"
    r = bpfscope("-q", "-k", "-e", prog)
    assert r.returncode == 0
    assert r.stderr == ("stdin:1:22-34: WARNING: Can't delete map element because it does not exist.\n"
                        "Additional Info - helper: map_delete_elem, retcode: -2\n" + prog + "\n" + " " * 21
                        + "~" * 12 + "\n")
    # a statement delete() that fails warns even without -k; one whose result is used does not
    r = bpfscope("-q", "-e", 'begin { @a[1] = 1; if (!delete(@a, 2)) { printf("no 2\\n"); } '
                 '$d = delete(@a, 1); print($d); delete(@a, 7); exit(); }')
    assert r.returncode == 0 and r.stdout == "no 2\ntrue\n" + END
    assert r.stderr.count("WARNING") == 1 and "stdin:1:93-106: WARNING: Can't delete map element" in r.stderr
    prog = 'i:ms:100 { @[1] = 1; printf("%d\\n", @[2]); exit(); }'
    text, js_run = _run_both(["-k", "-e", prog])
    assert text.stdout == "0\n" + END + "@[1]: 1\n"
    assert text.stderr == ("stdin:1:37-41: WARNING: Can't lookup map element because it does not exist.\n"
                           "Additional Info - helper: map_lookup_elem, retcode: 0\n" + prog + "\n" + " " * 36
                           + "~" * 4 + "\n")
    assert js_run.stdout.splitlines()[0] == ('{"type": "helper_error", "msg": "Success", "helper": "map_lookup_elem", '
                                             '"retcode": 0, "filename": "stdin", "line": 1, "col": 37}')
    quiet = bpfscope("-q", "-k", "--no-warnings", "-e", prog)
    assert quiet.returncode == 0 and quiet.stderr == ""
    silent = bpfscope("-q", "-e", prog)   # without -k: nothing
    assert silent.stderr == "" and silent.stdout == "0\n" + END + "@[1]: 1\n"
    bad = bpfscope("-q", "-k", "-e", "begin { $p = (int8 *)16; @x = *$p; exit(); }")
    assert "WARNING: Numerical result out of range\nAdditional Info - helper: probe_read_kernel, retcode: -34" \
        in bad.stderr


def test_tseries_over_live_intervals() -> None:
    """Several 100ms intervals: one row per interval in time order, 100ms apart, the
    values in their columns; the unstable-feature warning unless enabled."""
    # the predicate keeps the last value 25 exact: exit() is asynchronous (in bpftrace too), so on
    # a loaded machine the interval may fire again before the probes are detached
    r = bpfscope("-q", "-e", "i:ms:20 /@c < 25/ { @c++; @ = tseries(@c, 100ms, 4, \"max\"); "
                 "if (@c == 25) { exit(); } }")
    assert r.returncode == 0, r.stderr
    assert "WARNING: Script is using an unstable feature: tseries. To prevent this warning you must explicitly " \
           "enable it in the config e.g. unstable_tseries=enable" in r.stderr
    lines = r.stdout.split("@:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert lines[1] == "hh:mm:ss.ms  |" + "_" * 51 + "|"
    rows = [re.fullmatch(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) ([|*][ *.]{51}[|*]) (-?\d+|-)", ln) for ln in lines[2:-2]]
    assert rows and all(rows), lines
    stamps = [((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * 1000 + int(m[4]) for m in rows if m]
    assert all(b - a == 100 for a, b in zip(stamps, stamps[1:], strict=False)) and all(s % 100 == 0 for s in stamps)
    assert 2 <= len(rows) <= 4
    values = [int(m[6]) for m in rows if m and m[6] != "-"]
    assert values == sorted(values) and values[-1] == 25
    lo, hi = int(lines[0].split()[0]), int(lines[0].split()[1])
    assert (lo, hi) == (min(values), max(values))
    assert rows[-1] and rows[-1][5][-1] == "*"   # the maximum sits on the right edge
    bad = bpfscope("-q", "-e", 'begin { @x = tseries(1, 0, 5); }')
    assert bad.returncode == 1 and "tseries() interval_ns must be > 0 (0 provided)" in bad.stderr


def test_values_bigger_than_the_bpf_stack() -> None:
    """A task_struct or 1 KiB strings do not fit the 512-byte stack: the frame moves to a
    per-CPU scratch map, as bpftrace does, instead of failing."""
    r = bpfscope("-q", "-c", "/bin/cat /etc/hostname", "-e",
                 'config = { max_strlen = 1024 } tracepoint:syscalls:sys_enter_openat /pid == cpid/ { '
                 '@[str(args.filename)] = count(); printf("<%s>\\n", str(args.filename)); '
                 'print((str(args.filename), comm)); $t = *curtask; @pid = $t.pid; @comm = $t.comm; }')
    assert r.returncode == 0, r.stderr
    assert "</etc/hostname>\n(/etc/hostname, cat)\n" in r.stdout
    assert "@[/etc/hostname]: 1\n" in r.stdout and "@comm: cat\n" in r.stdout
    p = bpfscope("-q", "-e", "begin { print(*curtask); exit(); }")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("{ .thread_info = ") and ".pid = " in p.stdout and ".comm = bpftrace" in p.stdout


def test_globmatch_filters_traced_strings() -> None:
    r = bpfscope("-q", "-c", "/bin/cat /etc/hostname /etc/os-release", "-e",
                 'tracepoint:syscalls:sys_enter_openat /pid == cpid && globmatch(str(args.filename), "/etc/[ho]*e")/ '
                 '{ printf("%s\\n", str(args.filename)); }')
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("/")] == ["/etc/hostname", "/etc/os-release"]
    bad = bpfscope("-q", "-e", 'begin { $p = "*"; print(globmatch("a", $p)); }')
    assert bad.returncode == 1 and "globmatch() expects a string literal as its pattern" in bad.stderr


def test_signal_thread_kills_the_traced_thread() -> None:
    # the child would sleep an hour: returning at all (within the timeout) means it was killed
    r = bpfscope("-q", "--unsafe", "-c", "/bin/sleep 3600", "-e",
                 'tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { signal_thread("SIGKILL"); }',
                 timeout=60)
    assert r.returncode == 0, r.stderr
    refused = bpfscope("-e", 'tracepoint:syscalls:sys_enter_getppid { signal_thread(9); }')
    assert "signal_thread() is an unsafe function being used in safe mode" in refused.stderr


def test_missing_helper_is_explained() -> None:
    """Pure logic: a verifier rejection for a helper the kernel lacks becomes a located message."""
    from bpfscope.kernel import insn as I
    from bpfscope.kernel.uapi import HELPER_ID
    from bpfscope.lang.bpftrace.ast import Span
    from bpfscope.lang.spec import ProbeInfo, ProgSpec
    from bpfscope.runtime.kernelreq import missing_helper

    info = ProbeInfo(name="begin", provider="begin", prog_type=17, ctx="none", span=Span(0, 5))
    ps = ProgSpec(info, [I.mov64_imm(0, 0), I.call(HELPER_ID["loop"]), I.exit_()], [(0, Span(8, 20))], 0)
    err = missing_helper(ps, "0: (b7) r0 = 0\n1: (85) call unknown#181\ninvalid func unknown#181\n")
    assert err is not None and err.span == Span(8, 20)
    assert err.message.startswith("range loops (for ($i : a..b)), globmatch() and strstr()/strcontains() on "
                                   "strings longer than 64 bytes needs Linux 5.17 or newer (the BPF helper bpf_loop)")
    assert missing_helper(ps, "R1 invalid mem access 'scalar'") is None
