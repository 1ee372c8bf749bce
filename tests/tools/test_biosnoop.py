"""biosnoop: a process with a unique comm writes N blocks with O_DIRECT to an ext4 file
system on a loop device; exactly N 4096-byte writes of that comm appear, with BCC's columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import bpfscope, unique
from .sysenv import ext4_loop

N = 12
WRITER = """
import ctypes, mmap, os, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
buf = mmap.mmap(-1, 4096); buf.write(b"z" * 4096)
for _ in range(int(sys.argv[3])):
    os.write(fd, buf); os.fsync(fd)
os.close(fd)
"""
HEADER = "TIME(s)     COMM           PID     DISK      T SECTOR     BYTES  LAT(ms)"
HEADER_PQ = "TIME(s)     COMM           PID     DISK      T SECTOR     BYTES  P QUE(ms) LAT(ms)"
LINE = re.compile(r"^(\d+\.\d{6}) +(\S.{0,13}?) +(\d+) +(\S+) +([RW]) (\d+) +(\d+) +(?:([SR?]) +)?"
                  r"(?:(\d+\.\d\d) +)?(\d+\.\d\d)$")


def test_help_and_bad_disk() -> None:
    r = bpfscope("biosnoop", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: biosnoop [-h] [-Q] [-d DISK] [-P]")
    r = bpfscope("biosnoop", "-d", "nosuchdisk0")
    assert r.returncode == 1 and r.stderr == "no such disk 'nosuchdisk0'\n"


def _writes(tool, tmp_path, *opts: str) -> tuple[str, str, list[re.Match[str]], int]:
    comm = unique("bsnoop")
    with ext4_loop(str(tmp_path)) as fs:
        p = tool("biosnoop", "-d", fs.disk, *opts)
        header = p.ready()
        w = subprocess.run([sys.executable, "-c", WRITER, comm, os.path.join(fs.mnt, "f"), str(N)], check=True)
        del w
        out = p.stop()
        disk = fs.disk
    rows = [m for m in (LINE.match(ln) for ln in out.splitlines()[1:]) if m]
    assert len(rows) == len(out.splitlines()) - 1, out       # every line parses
    assert all(m.group(4) == disk for m in rows), out          # -d
    mine = [m for m in rows if m.group(2) == comm and m.group(5) == "W" and m.group(7) == "4096"]
    return header, comm, mine, len(rows)


def test_exact_writes_of_the_process(tool, tmp_path) -> None:
    header, _comm, mine, _n = _writes(tool, tmp_path)
    assert header == HEADER
    assert len(mine) == N
    assert len({m.group(3) for m in mine}) == 1                 # one PID
    sectors = sorted(int(m.group(6)) for m in mine)
    assert len(set(sectors)) == N                               # N different blocks


def test_queue_and_pattern_columns(tool, tmp_path) -> None:
    header, _comm, mine, _n = _writes(tool, tmp_path, "-Q", "-P")
    assert header == HEADER_PQ
    assert len(mine) == N
    assert all(m.group(8) in "SR?" and m.group(9) is not None for m in mine)
