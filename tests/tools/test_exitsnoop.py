"""exitsnoop: a process with a unique comm forks N children exiting with a known code, one
child dies from a known signal; the tool reports exactly those, with BCC's columns."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from .conftest import ToolProc, bpfscope, unique

WL = os.path.join(os.path.dirname(__file__), "wl.py")
N = 4


def test_help_on_stdout() -> None:
    r = bpfscope("exitsnoop", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: exitsnoop [-h] [-t] [--utc] [-p PID]")


def test_exit_codes_and_signal(tool: object) -> None:
    p: ToolProc = tool("exitsnoop")   # type: ignore[operator]
    assert p.ready() == "PCOMM            PID     PPID    TID     AGE(s)  EXIT_CODE "
    comm = unique("exi")
    w = subprocess.run([sys.executable, WL, "exit", comm, str(N), "7"], check=True)
    del w
    kcomm = unique("exk")
    s = subprocess.Popen([sys.executable, WL, "kill", kcomm, str(int(signal.SIGUSR1)), "1"])
    s.wait()
    assert p.wait_for(f"{comm} ") and p.wait_for(f"{kcomm} ")
    out = p.stop()
    children = [ln for ln in out.splitlines() if ln.startswith(comm + " ") and ln.endswith("code 7")]
    parent = [ln for ln in out.splitlines() if ln.startswith(comm + " ") and ln.rstrip().endswith(" 0")]
    assert len(children) == N and len(parent) == 1, out
    pid, ppid, tid = (int(x) for x in parent[0].split()[1:4])
    assert pid == tid
    for ln in children:
        m = re.match(r"^(.{16}) (\d+) +(\d+) +(\d+) +(\d+\.\d\d) +code 7$", ln)
        assert m and int(m.group(3)) == pid and m.group(2) == m.group(4), ln
    # the kill workload's child dies from SIGKILL after its SIGUSR1 (handled)
    killed = [ln for ln in out.splitlines() if ln.startswith(kcomm + " ") and "signal 9 (KILL)" in ln]
    assert len(killed) == 1, out


def test_failed_only_pid_and_json(tool: object) -> None:
    p: ToolProc = tool("exitsnoop", "-x", "--per-thread", "--json")   # type: ignore[operator]
    p.ready()
    comm = unique("exj")
    subprocess.run([sys.executable, WL, "exit", comm, str(N), "3"], check=True)
    subprocess.run([sys.executable, WL, "exit", comm, "2", "0"], check=True)
    out = p.stop()
    recs = [r for r in p.records(out) if r["pcomm"] == comm]
    assert len(recs) == N and all(r["exit_code"] == 3 and r["signal"] == 0 for r in recs), recs


def test_pid_option_ends_with_the_process(tool: object) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(); raise SystemExit(5)"],
                             stdin=subprocess.PIPE)
    p: ToolProc = tool("exitsnoop", "-t", "--label", "", "-p", str(child.pid))   # type: ignore[operator]
    assert re.match(r"^TIME-\S+ +LABEL PCOMM", p.ready())
    assert child.stdin is not None
    child.stdin.close()
    child.wait()
    out, err = p.finish(sig=None)   # no signal: -p exits by itself after the event
    assert p.p.returncode == 0, err
    lines = out.splitlines()[1:]
    assert len(lines) == 1 and re.match(rf"^\d\d:\d\d:\d\d\.\d{{3}} exit  python3 +{child.pid} .* code 5$",
                                        lines[0]), out
