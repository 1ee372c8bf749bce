"""runqlen: three CPU hogs pinned to one CPU keep two tasks queued behind the running one;
that CPU's -C section and occupancy show it (BCC's linear histogram and runqocc lines)."""

from __future__ import annotations

import re

from .conftest import bpfscope, unique
from .sysenv import cpu_hogs, last_cpu


def test_help() -> None:
    r = bpfscope("runqlen", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: runqlen [-h] [-T] [-O] [-C]")


def test_queued_hogs_on_their_cpu(tool) -> None:
    cpu = last_cpu()
    with cpu_hogs(unique("rqlen"), 3, cpu, 4) as hogs:
        p = tool("runqlen", "-C")
        assert p.ready() == "Sampling run queue length... Hit Ctrl-C to end."
        hogs[0].wait()
        out = p.stop()
    sections = re.split(r"^cpu = (\d+)$", out, flags=re.M)
    per = {int(sections[i]): sections[i + 1] for i in range(1, len(sections), 2)}
    assert cpu in per, out
    rows = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^ {8}(\d+) +: (\d+) +\|", per[cpu], re.M)}
    assert "     runqlen       : count     distribution" in per[cpu]
    assert sum(v for k, v in rows.items() if k >= 1) >= 1, per[cpu]


def test_occupancy_per_cpu(tool) -> None:
    cpu = last_cpu()
    with cpu_hogs(unique("rqocc"), 3, cpu, 4) as hogs:
        p = tool("runqlen", "-O", "-C")
        p.ready()
        hogs[0].wait()
        out = p.stop()
    occ = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^runqocc, CPU (\d+) +([\d.]+)%$", out, re.M)}
    assert cpu in occ and occ[cpu] > 0, out


def test_interval_count() -> None:
    r = bpfscope("runqlen", "-O", "-T", "1", "2")
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"^runqocc: \d+\.\d\d%$", r.stdout, re.M)) == 2, r.stdout
