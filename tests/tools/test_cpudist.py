"""cpudist: a sleeper that sleeps 20 ms N times is off CPU at least that long each time
(-O puts N-ish counts in the >= 16384 us rows); a CPU hog's on-CPU time shows under its
own -P section."""

from __future__ import annotations

import subprocess
import sys

from .conftest import bpfscope, unique
from .sysenv import cpu_hogs, last_cpu, parse_hists, total

N = 10
SLEEPER = """
import sys, time
sys.stdin.readline()
for _ in range(int(sys.argv[1])):
    time.sleep(0.02)
"""


def test_help() -> None:
    r = bpfscope("cpudist", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: cpudist [-h] [-O] [-T] [-m] [-P] [-L] [-p PID]")


def test_offcpu_sleeps(tool) -> None:
    s = subprocess.Popen([sys.executable, "-c", SLEEPER, str(N)], stdin=subprocess.PIPE, text=True)
    p = tool("cpudist", "-O", "-p", str(s.pid))
    assert p.ready() == "Tracing off-CPU time... Hit Ctrl-C to end."
    assert s.stdin is not None
    s.stdin.write("go\n")
    s.stdin.close()
    s.wait()
    out = p.stop()
    h = parse_hists(out)[""]
    assert sum(c for (lo, _hi), c in h.items() if lo >= 16384) >= N - 1, out


def test_oncpu_per_pid(tool) -> None:
    with cpu_hogs(unique("cpud"), 1, last_cpu(), 4) as hogs:
        p = tool("cpudist", "-P", "-p", str(hogs[0].pid), "-e")
        p.ready()
        hogs[0].wait()
        out = p.stop()
    hists = parse_hists(out)
    assert list(hists) == [str(hogs[0].pid)] or list(hists)[0].startswith(f"{hogs[0].pid} "), out
    assert total(next(iter(hists.values()))) >= 1
    assert "avg = " in out
