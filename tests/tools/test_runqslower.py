"""runqslower: CPU hogs pinned to one CPU wait behind each other; with -p and a low
threshold only that process's waits above the threshold are printed, in BCC's columns."""

from __future__ import annotations

import re

from .conftest import bpfscope, unique
from .sysenv import cpu_hogs, last_cpu

ROW = re.compile(r"^\d\d:\d\d:\d\d (\S.{0,15}?) +(\d+) +(\d+)(?: (\S.{0,15}?) +(\d+) *)?$")


def test_help_and_exclusive_options() -> None:
    r = bpfscope("runqslower", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: runqslower [-h] [-P] [-p PID | -t TID]")
    r = bpfscope("runqslower", "-p", "1", "-t", "1")
    assert r.returncode == 2 and "not allowed with" in r.stderr


def test_pid_threshold_and_previous(tool) -> None:
    comm = unique("rqs")
    with cpu_hogs(comm, 2, last_cpu(), 4) as hogs:
        p = tool("runqslower", "-P", "-p", str(hogs[0].pid), "100")
        assert p.ready() == "Tracing run queue latency higher than 100 us"
        hogs[0].wait()
        out = p.stop()
    lines = out.splitlines()
    assert lines[1] == "TIME     COMM             TID           LAT(us) PREV COMM        PREV TID"
    rows = [ROW.match(ln) for ln in lines[2:]]
    assert rows and all(rows), out
    assert all(int(m.group(2)) == hogs[0].pid for m in rows if m)       # -p
    assert all(int(m.group(3)) > 100 for m in rows if m)                # threshold
    assert all(m.group(1) == comm for m in rows if m)
