"""killsnoop: a process with a unique comm sends a known signal N times to its child and once
to a missing pid; the tool reports exactly those with BCC's columns and results."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

from .conftest import ToolProc, bpfscope, unique

WL = os.path.join(os.path.dirname(__file__), "wl.py")
N = 3
SIG = int(signal.SIGUSR2)


def _width() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        return len(f.read().strip()) + 1


def test_help_on_stdout() -> None:
    r = bpfscope("killsnoop", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: killsnoop [-h] [-x] [-p PID] [-T TPID] [-s SIGNAL]")


def test_kills_counted(tool: object) -> None:
    p: ToolProc = tool("killsnoop")   # type: ignore[operator]
    w = _width()
    assert p.ready() == f"{'TIME':<9s} {'PID':<{w}s} {'COMM':<16s} {'SIG':<4s} {'TPID':<{w}s} RESULT"
    comm = unique("kis")
    wl = subprocess.Popen([sys.executable, WL, "kill", comm, str(SIG), str(N)])
    wl.wait()
    assert p.wait_for(" 999999999 ")
    out = p.stop()
    mine = [ln.split() for ln in out.splitlines() if f" {comm} " in ln]
    sent = [f for f in mine if f[3] == str(SIG) and f[5] == "0"]
    failed = [f for f in mine if f[4] == "999999999"]
    assert len(sent) == N and len(failed) == 1, out
    assert all(f[1] == str(wl.pid) for f in mine)
    assert failed[0][5] == str(-errno.ESRCH) and failed[0][3] == str(SIG)
    # the SIGKILL that ends the child
    assert len([f for f in mine if f[3] == "9"]) == 1, out


def test_failed_and_signal_filter_json(tool: object) -> None:
    p: ToolProc = tool("killsnoop", "-x", "-s", str(SIG), "--json")   # type: ignore[operator]
    p.ready()
    comm = unique("kix")
    subprocess.run([sys.executable, WL, "kill", comm, str(SIG), str(N)], check=True)
    recs = [r for r in p.records(p.stop()) if r["comm"] == comm]
    assert len(recs) == 1 and recs[0]["tpid"] == 999999999 and recs[0]["ret"] == -errno.ESRCH, recs
