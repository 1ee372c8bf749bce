"""softirqs: loopback TCP traffic runs NET_RX softirqs; -C counts them (at most /proc/softirqs'
increase over the window); -d histograms per vector; libbpf-tools' softirqs prints the same
columns on the same workload."""

from __future__ import annotations

import re
import shutil

import pytest

from .conftest import bpfscope
from .sysenv import parse_hists, proc_softirqs, tcp_session

ROW = re.compile(r"^(\S+) +(\d+)$")


def test_help_and_bad_combination() -> None:
    r = bpfscope("softirqs", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: softirqs [-h] [-T] [-N] [-C] [-d] [-c CPU]")
    r = bpfscope("softirqs", "-C", "-N")
    assert r.returncode == 1 and r.stderr == "The --events option can't be used with time-based options\n"


def test_net_rx_counted(tool) -> None:
    before = proc_softirqs()
    p = tool("softirqs", "-C")
    assert p.ready() == "Tracing soft irq events... Hit Ctrl-C to end."
    for _ in range(5):
        tcp_session()
    out = p.stop()
    after = proc_softirqs()
    lines = out.splitlines()
    assert lines[2] == "SOFTIRQ          TOTAL_count"
    counts = {m.group(1): int(m.group(2)) for m in map(ROW.match, lines[3:]) if m}
    assert counts.get("net_rx", 0) >= 1, out
    for name, n in counts.items():
        assert n <= after[name] - before[name], (name, n)


def test_dist_per_vector(tool) -> None:
    p = tool("softirqs", "-d", "-N")
    p.ready()
    tcp_session()
    out = p.stop()
    hists = parse_hists(out)
    assert "net_rx" in hists, out
    assert "     nsecs               : count     distribution" in out


@pytest.mark.skipif(shutil.which("softirqs") is None, reason="libbpf-tools not installed")
def test_same_columns_as_libbpf_tools(tool, peer) -> None:
    theirs_p = peer("softirqs", ready="Tracing")
    p = tool("softirqs")
    p.ready()
    for _ in range(3):
        tcp_session()
    out = p.stop()
    theirs = theirs_p.stop()
    ours_hdr = [ln for ln in out.splitlines() if ln.startswith("SOFTIRQ")]
    their_hdr = [ln for ln in theirs.splitlines() if ln.startswith("SOFTIRQ")]
    assert ours_hdr == their_hdr == ["SOFTIRQ          TOTAL_usecs"]
    ours = {m.group(1) for m in map(ROW.match, out.splitlines()) if m}
    their = {m.group(1) for m in map(ROW.match, theirs.splitlines()) if m}
    assert "net_rx" in ours and "net_rx" in their
