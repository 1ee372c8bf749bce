"""hardirqs: disk I/O on the root file system raises its controller's interrupts; the counts
per handler name are at most /proc/interrupts' increase over the same window, and at least one."""

from __future__ import annotations

import os
import re

from .conftest import bpfscope
from .sysenv import direct_writes, parse_hists, proc_interrupts

ROW = re.compile(r"^(\S.{0,25}?) +(\d+)$")


def test_help_and_bad_combination() -> None:
    r = bpfscope("hardirqs", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: hardirqs [-h] [-T] [-N] [-C] [-d] [-c CPU]")
    r = bpfscope("hardirqs", "-C", "-d")
    assert r.returncode == 1 and r.stderr == "The --count option can't be used with time-based options\n"


def test_counts_bounded_by_proc_interrupts(tool, tmp_path) -> None:
    before = proc_interrupts()
    p = tool("hardirqs", "-C")
    assert p.ready() == "Tracing hard irq events... Hit Ctrl-C to end."
    direct_writes(os.path.join("/var/tmp", f"hardirqs-{os.getpid()}"), 20)
    os.unlink(os.path.join("/var/tmp", f"hardirqs-{os.getpid()}"))
    out = p.stop()
    after = proc_interrupts()
    lines = out.splitlines()
    assert lines[2] == "HARDIRQ                    TOTAL_count"
    counts = {m.group(1): int(m.group(2)) for m in map(ROW.match, lines[3:]) if m}
    assert counts and sum(counts.values()) >= 1, out
    for name, n in counts.items():
        if name in after:
            assert n <= after[name] - before.get(name, 0), (name, n, out)
    assert [int(v) for v in counts.values()] == sorted(counts.values())   # BCC sorts by value


def test_dist_sections(tool) -> None:
    p = tool("hardirqs", "-d")
    p.ready()
    direct_writes(os.path.join("/var/tmp", f"hardirqd-{os.getpid()}"), 10)
    os.unlink(os.path.join("/var/tmp", f"hardirqd-{os.getpid()}"))
    out = p.stop()
    assert any(ln.startswith("hardirq = ") for ln in out.splitlines()), out
    assert parse_hists(out)
