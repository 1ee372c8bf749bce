"""ext4slower / fsslower: a child (waiting on a pipe, so -p can name it) opens a file on an
ext4 loop mount, writes N blocks with fsync after each, reads one back; with threshold 0
exactly those operations are printed (open 1, write N, sync N, read 1), with BCC's columns;
a file on tmpfs is not ext4 and is not printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import bpfscope
from .sysenv import ext4_loop

N = 5
CHILD = """
import os, sys
sys.stdin.readline()
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
for i in range(int(sys.argv[3])):
    os.write(fd, b"e" * 4096)
    os.fsync(fd)
os.pread(fd, 4096, 4096)
os.close(fd)
fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"t" * 100)
os.close(fd)
os.unlink(sys.argv[2])
"""
ROW = re.compile(r"^\d\d:\d\d:\d\d (\S.{0,13}?) +(\d+) +([RWOS]) (\d+) +(\d+) +(\d+\.\d\d) (.*)$")


def _run(tool, tmp_path, *argv: str) -> tuple[str, int, str]:
    with ext4_loop(str(tmp_path)) as fs:
        name = f"ext4f{os.getpid()}"
        child = subprocess.Popen([sys.executable, "-c", CHILD, os.path.join(fs.mnt, name),
                                  f"/dev/shm/shmf{os.getpid()}", str(N)], stdin=subprocess.PIPE, text=True)
        p = tool(*argv, "-p", str(child.pid))
        p.ready()
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
        assert child.wait() == 0
        out = p.stop()
    return out, child.pid, name


def test_help_and_fsslower_needs_type() -> None:
    r = bpfscope("ext4slower", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: ext4slower [-h] [-j] [-p PID] [--json] [min_ms]")
    r = bpfscope("fsslower")
    assert r.returncode == 1 and r.stderr == "filesystem must be specified using -t option.\n"


def test_every_operation_of_the_child(tool, tmp_path) -> None:
    out, pid, name = _run(tool, tmp_path, "ext4slower", "0")
    lines = out.splitlines()
    assert lines[:2] == ["Tracing ext4 operations",
                         "TIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME"]
    rows = [ROW.match(ln) for ln in lines[2:]]
    assert all(rows), out
    mine = [m for m in rows if m and m.group(7) == name]
    assert all(int(m.group(2)) == pid for m in rows if m)           # -p
    kinds = [m.group(3) for m in mine]
    assert kinds.count("O") == 1 and kinds.count("W") == N and kinds.count("S") == N and kinds.count("R") == 1
    writes = [m for m in mine if m.group(3) == "W"]
    assert [int(m.group(4)) for m in writes] == [4096] * N
    assert [int(m.group(5)) for m in writes] == [4 * i for i in range(N)]   # OFF_KB
    assert [int(m.group(5)) for m in mine if m.group(3) == "R"] == [4]
    assert not any(m.group(7).startswith("shmf") for m in rows if m)      # tmpfs is not ext4


def test_csv_and_threshold(tool, tmp_path) -> None:
    out, pid, name = _run(tool, tmp_path, "ext4slower", "-j", "0")
    lines = out.splitlines()
    assert lines[0] == "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
    rows = [ln.split(",") for ln in lines[1:]]
    assert [r[3] for r in rows if r[7] == name].count("W") == N
    assert all(r[2] == str(pid) for r in rows)
    out, _pid, _name = _run(tool, tmp_path, "ext4slower", "100000")     # 100 s: nothing is that slow
    assert out.splitlines()[0] == "Tracing ext4 operations slower than 100000 ms" and len(out.splitlines()) == 2


def test_fsslower_ext4(tool, tmp_path) -> None:
    out, _pid, name = _run(tool, tmp_path, "fsslower", "-t", "ext4", "-m", "0")
    rows = [ROW.match(ln) for ln in out.splitlines()[2:]]
    assert [m.group(3) for m in rows if m and m.group(7) == name].count("S") == N, out
