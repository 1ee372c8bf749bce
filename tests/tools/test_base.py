"""The tools' shared base: BCC's histogram text (differential against BCC's own printing
functions, read from python3-bpfcc when installed), the compiled-program cache, requirements,
`bpfscope tools`, --ebpf/-d, SIGTERM and a closed pipe."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import random
import signal
import subprocess
import sys
from typing import Any

import pytest

from bpfscope.tools import bcchist, cache
from bpfscope.tools.needs import Need

from .conftest import ToolProc, bpfscope

BCC_TABLE = "/usr/lib/python3/dist-packages/bcc/table.py"


def _bcc_printers() -> dict[str, Any]:
    """BCC's _stars/_print_log2_hist/_print_linear_hist, taken from the installed file (the
    package itself needs libbcc to import), as the oracle for our text."""
    if not os.path.exists(BCC_TABLE):
        pytest.skip("python3-bpfcc not installed")
    with open(BCC_TABLE) as f:
        tree = ast.parse(f.read())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name in ("_stars", "_print_log2_hist", "_print_linear_hist")]
    ns: dict[str, Any] = {"stars_max": 40}
    exec(compile(ast.Module(body=keep, type_ignores=[]), BCC_TABLE, "exec"), ns)
    return ns


def _captured(fn: Any, *args: Any) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args)
    return buf.getvalue()


@pytest.mark.parametrize("seed", range(12))
def test_hist_text_matches_bcc(seed: int) -> None:
    bcc = _bcc_printers()
    rnd = random.Random(seed)
    n = rnd.choice([3, 10, 33, 40, 65])
    vals = [rnd.choice([0, 0, 1, rnd.randint(0, 10**rnd.randint(1, 7))]) for _ in range(n)]
    strip = bool(seed % 2)
    assert bcchist.log2_hist(vals, "usecs", strip) == _captured(bcc["_print_log2_hist"], vals, "usecs", strip)
    lin = vals[:20]
    assert bcchist.linear_hist(lin, "slot", strip) == _captured(bcc["_print_linear_hist"], lin, "slot", strip)


def test_slots_from_bpftrace_hist() -> None:
    # bpftrace buckets: 1 = value 0, 2 = value 1, 3 = 2..3, 5 = 8..15; BCC slots: 1 = 0..1, 2 = 2..3, 4 = 8..15
    s = bcchist.slots_from_hist({1: 2, 2: 3, 3: 4, 5: 6})
    assert s[:5] == [0, 5, 4, 0, 6]
    assert bcchist.log2_hist(s, "usecs").splitlines()[1] == \
        "         0 -> 1          : 5        |*********************************       |"


def test_needs_messages() -> None:
    n = Need("tracepoint", "nosuchcat:nosuchevent", "use othertool instead")
    assert not n.ok()
    assert n.message("x") == ("x: needs tracepoint nosuchcat:nosuchevent, which this kernel lacks; "
                              "use othertool instead")
    assert Need("tracepoint", "sched:sched_switch").ok() and Need("btf").ok()
    assert Need("file", "/nonexistent/bin").message("t") == "t: /nonexistent/bin not found"
    kp = Need("feature", "kprobe", "use t2 instead")
    if not kp.ok():   # this machine: one line saying what is missing, then the alternative
        msg = kp.message("t")
        assert msg.startswith("t: kprobe: this kernel has no kprobe support (") and "\n" not in msg
        assert msg.endswith("; use t2 instead")


def test_cache_roundtrip_and_invalidation(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bpfscope.runtime.program import Program

    d = tmp_path / "c"
    monkeypatch.setenv("BPFSCOPE_CACHE_DIR", str(d))
    monkeypatch.delenv("BPFSCOPE_NO_CACHE", raising=False)
    text = "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"
    k = cache.key(text)
    assert cache.load(k) is None
    cp = Program(text).compile()
    cache.store(k, cp)
    got = cache.load(k)
    assert got is not None and [p.insns for p in got.progs] == [p.insns for p in cp.progs]
    assert cache.key(text + " ") != k
    os.chmod(d, 0o777)   # a directory others can write to is not trusted
    assert cache.load(k) is None
    os.chmod(d, 0o700)
    (d / k).write_bytes(b"garbage")
    assert cache.load(k) is None
    import pickle

    (d / k).write_bytes(pickle.dumps(([("tp:syscalls/sys_enter_getppid", "999999")], cp)))
    assert cache.load(k) is None   # a tracepoint id that changed: recompile


def test_cached_run_works(tool: Any, tmp_path: Any) -> None:
    env = {"BPFSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):   # the first run compiles and stores, the second loads the entry
        p: ToolProc = tool("killsnoop", "-s", "63", env=env)
        p.ready()
        p.stop()
    assert len(os.listdir(tmp_path / "cache")) == 1


def test_tools_listing() -> None:
    r = bpfscope("tools")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TOOL", "RUNS", "PURPOSE"]
    rows = {ln.split()[0]: ln.split()[1] for ln in lines[1:]}
    for name in ("execsnoop", "exitsnoop", "opensnoop", "statsnoop", "killsnoop", "syscount",
                 "bashreadline", "bpflist", "reset-trace"):
        assert rows.get(name) == "yes", r.stdout


def test_ebpf_debug_prints_instructions() -> None:
    r = bpfscope("killsnoop", "--ebpf", "-d")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tracepoint:syscalls:sys_enter_kill")
    assert "Instructions tracepoint:syscalls:sys_enter_kill" in r.stdout and "exit" in r.stdout
    r = bpfscope("opensnoop", "--ebpf", "--ebpf-debug")   # opensnoop's own -d is its duration
    assert r.returncode == 0 and "Instructions tracepoint:syscalls:sys_exit_openat" in r.stdout


def test_unknown_option_is_usage_error() -> None:
    r = bpfscope("execsnoop", "--nope")
    assert r.returncode == 2 and r.stdout == "" and "unrecognized arguments: --nope" in r.stderr


def test_sigterm_and_closed_pipe(tool: Any) -> None:
    p: ToolProc = tool("opensnoop")
    p.ready()
    p.stop(signal.SIGTERM)
    # `bpfscope opensnoop | head -1`: the tool ends quietly once the reader is gone
    sh = subprocess.run(f"{sys.executable} -m bpfscope opensnoop | head -1", shell=True,
                        capture_output=True, text=True, timeout=60)
    assert sh.stdout.startswith("PID") and "Traceback" not in sh.stderr, sh.stderr


def test_duration_ends_run(tool: Any) -> None:
    p: ToolProc = tool("opensnoop", "-d", "1")
    p.ready()
    out, err = p.finish(sig=None)
    assert p.p.returncode == 0 and "Traceback" not in err and out.startswith("PID")
