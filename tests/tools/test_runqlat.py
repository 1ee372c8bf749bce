"""runqlat: two CPU hogs pinned to one CPU wait for each other; the run queue latency of
each shows up in its own -P section (and alone with -p), in BCC's histogram format; the
libbpf-tools runqlat sees the same process on the same workload."""

from __future__ import annotations

import shutil

import pytest

from .conftest import bpfscope, unique
from .sysenv import cpu_hogs, last_cpu, parse_hists, total

HEADER = "Tracing run queue latency... Hit Ctrl-C to end."


def test_help_and_bad_options() -> None:
    r = bpfscope("runqlat", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: runqlat [-h] [-T] [-m] [-P] [--pidnss] [-L] [-p PID]")
    r = bpfscope("runqlat", "-P", "-L")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    r = bpfscope("runqlat", "0")
    assert r.returncode == 1 and "positive" in r.stderr


def test_per_pid_sections_for_competing_hogs(tool) -> None:
    p = tool("runqlat", "-P")
    assert p.ready() == HEADER
    with cpu_hogs(unique("rql"), 2, last_cpu(), 1.5) as hogs:
        for h in hogs:
            h.wait()
    out = p.stop()
    hists = parse_hists(out)
    for h in hogs:
        assert total(hists.get(str(h.pid), {})) >= 2, out   # preempted and rescheduled


def test_pid_filter_and_milliseconds(tool) -> None:
    with cpu_hogs(unique("rqm"), 2, last_cpu(), 5) as hogs:
        p = tool("runqlat", "-m", "-p", str(hogs[0].pid))
        p.ready()
        hogs[0].wait()
        out = p.stop()
    hists = parse_hists(out)
    assert list(hists) == [""], out                       # one histogram, no sections
    assert total(hists[""]) >= 1
    assert "     msecs               : count     distribution" in out.splitlines()


def test_interval_with_timestamps() -> None:
    r = bpfscope("runqlat", "-T", "--pidnss", "1", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == HEADER and lines[1] == "" and lines[2].count(":") == 2
    assert any(ln.startswith("pidns = ") for ln in lines), r.stdout


@pytest.mark.skipif(shutil.which("runqlat") is None, reason="libbpf-tools not installed")
def test_same_shape_as_libbpf_tools(tool, peer) -> None:
    with cpu_hogs(unique("rqd"), 2, last_cpu(), 6) as hogs:
        pid = str(hogs[0].pid)
        theirs_p = peer("runqlat", "-p", pid, ready="Tracing")
        p = tool("runqlat", "-p", pid)
        p.ready()
        hogs[0].wait()
        out = p.stop()
        theirs = theirs_p.stop()
    ours_h, theirs_h = parse_hists(out)[""], parse_hists(theirs)[""]
    assert total(ours_h) >= 1 and total(theirs_h) >= 1
    # the same header line and the same kind of rows (BCC's log2 slots)
    assert "     usecs               : count     distribution" in out and "usecs" in theirs
    assert set(ours_h) | set(theirs_h) <= {((1 << i) >> 1 if i > 1 else 0, (1 << i) - 1) for i in range(1, 64)}
