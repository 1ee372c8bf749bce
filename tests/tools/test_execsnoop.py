"""execsnoop: a process with a unique comm execs a uniquely named copy of /bin/true N times and
a missing file once; the tool reports exactly those, with BCC's header and columns; libbpf-tools'
execsnoop sees the same events."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import ToolProc, bpfscope, unique

WL = os.path.join(os.path.dirname(__file__), "wl.py")
N = 5


def _exec_workload(tmp_path: object, comm: str) -> tuple[str, int]:
    exe = os.path.join(str(tmp_path), comm)
    shutil.copy("/bin/true", exe)
    p = subprocess.Popen([sys.executable, WL, "exec", comm, str(N), exe])
    p.wait()
    assert p.returncode == 0
    return exe, p.pid


def test_help_on_stdout() -> None:
    r = bpfscope("execsnoop", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: execsnoop [-h] [-T] [-t] [-x]")
    assert "Trace exec() syscalls" in r.stdout and "--max-args MAX_ARGS" in r.stdout


def test_bad_user_is_usage_error() -> None:
    r = bpfscope("execsnoop", "-u", "no-such-user-xyz")
    assert r.returncode == 2 and "is not valid UID or user entry" in r.stderr and "Traceback" not in r.stderr


def test_execs_counted_with_columns(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("execsnoop", "-x")   # type: ignore[operator]
    assert p.ready() == "PCOMM            PID     PPID    RET ARGS"
    comm = unique("exs")
    exe, wpid = _exec_workload(tmp_path, comm)
    assert p.wait_for(exe + ".missing")
    out = p.stop()
    mine = [ln for ln in out.splitlines() if f"arg-{comm}" in ln]
    ok = [ln for ln in mine if ln.endswith(f" {exe} arg-{comm}")]
    bad = [ln for ln in mine if ln.endswith(f" {exe}.missing arg-{comm}")]
    assert len(ok) == N and len(bad) == 1, out
    for ln in ok:
        m = re.match(r"^(.{16}) (\d+) +(\d+) +(-?\d+) (.*)$", ln)
        assert m, ln
        assert m.group(1).rstrip() == comm[:15] and int(m.group(3)) == wpid and m.group(4) == "0"
        assert ln[16] == " " and ln[17:24].rstrip().isdigit() and ln[33:36] == "  0"   # "%-16s %-7d %-7s %3d"
    assert bad[0].split()[0] == comm and bad[0].split()[3] == "-2"   # failed: the caller's comm, -ENOENT


def test_default_hides_failures_and_options(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("execsnoop", "-T", "-t", "-U", "-q", "--max-args", "3", "-n", "^exq")
    assert p.ready() == "TIME     TIME(s) UID   PCOMM            PID     PPID    RET ARGS"
    comm = unique("exq")
    exe, _wpid = _exec_workload(tmp_path, comm)
    out = p.stop()
    lines = [ln for ln in out.splitlines()[1:] if ln.strip()]
    assert len(lines) == N, out   # -n: only ours; failed exec hidden without -x
    for ln in lines:
        f = ln.split()
        assert re.match(r"^\d\d:\d\d:\d\d$", f[0]) and re.match(r"^\d+\.\d{3}$", f[1]) and f[2] == "0"
        # -q; --max-args 3: the filename and one argument fit, no "..." (as BCC)
        assert ln.endswith(f'"{exe}" "arg-{comm}"')
    p2: ToolProc = tool("execsnoop", "--max-args", "1", "--json")
    p2.ready()
    comm2 = unique("exm")
    exe2, wpid2 = _exec_workload(tmp_path, comm2)
    recs = [r for r in p2.records(p2.stop()) if r["pcomm"] == comm2]
    assert len(recs) == N and all(r["args"] == [exe2, "..."] and r["ppid"] == wpid2 for r in recs), recs


@pytest.mark.skipif(shutil.which("execsnoop") is None, reason="libbpf-tools' execsnoop not installed")
def test_same_events_as_libbpf_tools(tool: object, tmp_path: object) -> None:
    ours: ToolProc = tool("execsnoop", "-x")   # type: ignore[operator]
    theirs = ToolProc(["stdbuf", "-oL", "execsnoop", "-x"])   # line-buffered: its stdout is a pipe
    try:
        ours.ready()
        theirs.ready()
        comm = unique("exd")
        exe, _wpid = _exec_workload(tmp_path, comm)
        assert ours.wait_for(exe + ".missing") and theirs.wait_for(exe + ".missing")
        a = ours.stop()
        b, _err = theirs.finish()
    finally:
        if theirs.p.poll() is None:
            theirs.p.kill()

    def rows(out: str) -> list[list[str]]:
        return [ln.split() for ln in out.splitlines() if f"arg-{comm}" in ln]

    ra, rb = rows(a), rows(b)
    assert len(ra) == N + 1
    assert ra == rb, (a, b)
