"""statsnoop: a process with a unique comm stats a unique file N times and a missing one once."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ToolProc, bpfscope, unique

WL = os.path.join(os.path.dirname(__file__), "wl.py")
N = 6


def test_help_on_stdout() -> None:
    r = bpfscope("statsnoop", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: statsnoop [-h] [-t] [-x] [-p PID]")


def test_stats_counted(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("statsnoop", "-t")   # type: ignore[operator]
    assert p.ready() == "TIME(s)       PID     COMM               FD ERR PATH"
    comm = unique("sts")
    path = os.path.join(str(tmp_path), comm)
    subprocess.run([sys.executable, WL, "stat", comm, path, str(N)], check=True)
    assert p.wait_for(path + ".missing")
    out = p.stop()
    ok = [ln.split() for ln in out.splitlines() if ln.endswith(" " + path)]
    bad = [ln.split() for ln in out.splitlines() if ln.endswith(" " + path + ".missing")]
    assert len(ok) == N and len(bad) == 1, out
    assert all(f[2] == comm and f[3] == "0" and f[4] == "0" for f in ok)
    assert bad[0][2] == comm and bad[0][3] == "-1" and bad[0][4] == "2"


def test_failed_only_json(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("statsnoop", "-x", "--json")   # type: ignore[operator]
    p.ready()
    comm = unique("stx")
    path = os.path.join(str(tmp_path), comm)
    subprocess.run([sys.executable, WL, "stat", comm, path, str(N)], check=True)
    recs = [r for r in p.records(p.stop()) if r["comm"] == comm and r["path"].startswith(path)]
    assert len(recs) == 1 and recs[0]["path"] == path + ".missing" and recs[0]["err"] == 2, recs
