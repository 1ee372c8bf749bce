"""oomkill: a memory hog with a unique comm in a 32 MB memory cgroup is OOM-killed; one line
names it as trigger and victim, with the cgroup's limit in pages (BCC's oc->totalpages)."""

from __future__ import annotations

import os
import re

from .conftest import bpfscope, unique
from .sysenv import memory_cgroup, oom_child

LIMIT = 32 << 20


def _swap_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("SwapTotal:"):
                return int(line.split()[1])
    return 0


def test_help() -> None:
    r = bpfscope("oomkill", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: oomkill [-h]")


def test_memcg_oom_kill(tool) -> None:
    comm = unique("oomhog")
    p = tool("oomkill")
    assert p.ready() == "Tracing OOM kills... Ctrl-C to stop."
    with memory_cgroup(f"bpfscope-oom-{os.getpid()}", LIMIT) as procs:
        r = oom_child(procs, comm)
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)   # killed, not "survived"
    p.wait_for(comm)
    out = p.stop()
    pat = (rf'^\d\d:\d\d:\d\d Triggered by PID (\d+) \("{comm}"\), OOM kill of PID (\d+) \("{comm}"\), '
           rf"(\d+) pages, loadavg: [\d.]+ [\d.]+ [\d.]+ \d+/\d+ \d+$")
    m = re.search(pat, out, re.M)
    assert m, out
    assert m.group(1) == m.group(2)
    pages = int(m.group(3))
    if _swap_total() == 0:
        assert pages == LIMIT // os.sysconf("SC_PAGE_SIZE")
    else:
        assert pages >= LIMIT // os.sysconf("SC_PAGE_SIZE")
