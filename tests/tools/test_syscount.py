"""syscount: a process with a unique pid makes N getppid() calls; -p PID counts exactly them."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ToolProc, bpfscope

N = 4321
SCRIPT = ("import os, sys\nsys.stdin.readline()\n"
          f"for _ in range({N}): os.getppid()\n"
          "sys.stdin.readline()\n")


def test_help_and_list() -> None:
    r = bpfscope("syscount", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: syscount [-h] [-p PID] [-t TID] [-c PPID]")
    r = bpfscope("syscount", "-l")
    assert r.returncode == 0 and "getppid" in r.stdout and r.stdout.splitlines()[0].startswith("_sysctl")
    r = bpfscope("syscount", "--syscall", "nope")
    assert r.returncode == 1 and r.stdout + r.stderr == "Error: syscall 'nope' not found. Exiting.\n"


def _run(tool: object, *args: str) -> tuple[str, int]:
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, text=True)
    p: ToolProc = tool("syscount", "-p", str(child.pid), *args)   # type: ignore[operator]
    p.ready()
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    child.stdin.write("done\n")
    child.stdin.close()
    child.wait()
    return p.stop(), child.pid


def test_counts_exact(tool: object) -> None:
    out, _pid = _run(tool)
    lines = out.splitlines()
    assert lines[0] == "Tracing syscalls, printing top 10... Ctrl+C to quit."
    assert "SYSCALL                   COUNT" in lines
    row = [ln for ln in lines if ln.startswith("getppid ")]
    assert row == ["getppid" + " " * 15 + f" {N:8d}"], out
    assert lines[-1] == "Detaching..."


def test_latency_by_process(tool: object) -> None:
    out, pid = _run(tool, "-L", "-P", "--syscall", "getppid")
    lines = out.splitlines()
    assert lines[0] == "Tracing syscall 'getppid'... Ctrl+C to quit."
    assert "PID    COMM               COUNT        TIME (us)" in lines
    row = [ln.split() for ln in lines if ln.startswith(f"{pid:<6d} ")]
    assert len(row) == 1 and row[0][2] == str(N) and float(row[0][3]) > 0, out


def test_errno_filter_json(tool: object) -> None:
    out, _pid = _run(tool, "-e", "ENOENT", "--json")
    del out   # getppid never fails: nothing counted, and the output still parses
    child = subprocess.Popen([sys.executable, "-c", "import os,sys\nsys.stdin.readline()\n"
                              "for _ in range(9):\n  try: os.stat('/nonexistent-x')\n  except OSError: pass\n"],
                             stdin=subprocess.PIPE, text=True)
    p: ToolProc = tool("syscount", "-p", str(child.pid), "-e", "ENOENT", "--json")   # type: ignore[operator]
    p.ready()
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.close()
    child.wait()
    recs = p.records(p.stop())
    assert [(r["syscall"], r["count"]) for r in recs] == [("newfstatat", 9)], recs
