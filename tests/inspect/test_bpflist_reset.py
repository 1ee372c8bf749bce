"""`bpfscope bpflist` and `bpfscope reset-trace` against state the test itself creates."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.inspect.conftest import needs_root

pytestmark = [pytest.mark.root, needs_root]

TRACEFS = "/sys/kernel/tracing"

# A process holding two maps and one program until told to quit.
HOLDER = r"""
import sys
from bpfscope.kernel import insn as I, syscall as sc, uapi
m1 = sc.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4, name="bpflist_a")
m2 = sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1, name="bpflist_b")
p, _ = sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, I.encode([I.mov64_imm(0, 0), I.exit_()]))
print("ready", flush=True)
sys.stdin.read()
"""


def bpfscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfscope", *args], capture_output=True, text=True, timeout=60)


def write_events(fname: str, line: str) -> None:
    # os-level append: Python's "a" mode seeks to the end, which tracefs refuses (EINVAL)
    fd = os.open(os.path.join(TRACEFS, fname), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def events(fname: str) -> str:
    with open(os.path.join(TRACEFS, fname)) as f:
        return f.read()


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield p
    finally:
        p.kill()
        p.wait(timeout=10)


@pytest.fixture
def tracefs() -> str:
    if not os.path.exists(os.path.join(TRACEFS, "uprobe_events")):
        pytest.skip("tracefs with uprobe_events is not available")
    return TRACEFS


def test_bpflist_sees_holder(holder: subprocess.Popen[str]) -> None:
    r = bpfscope("bpflist")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"PID +COMM +TYPE +COUNT", lines[0])
    mine = [ln.split() for ln in lines[1:] if ln.split()[0] == str(holder.pid)]
    assert sorted((t, c) for _p, _comm, t, c in mine) == [("map", "2"), ("prog", "1")]
    comm = _comm(holder.pid)  # what the kernel calls it (python3, python3.11, ... in a venv)
    assert all(c == comm for _p, c, _t, _c in mine)
    # BCC's layout: %-6s %-16s %-{widest type + 1}s %s
    row = next(ln for ln in lines if ln.startswith(f"{holder.pid:<6} "))
    assert row[7:23] == f"{comm:<16}"


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().rstrip("\n")


def test_bpflist_counts_probes_with_v(holder: subprocess.Popen[str], tracefs: str) -> None:
    name = f"bpfscope_{holder.pid}_bl"
    write_events("uprobe_events", f"p:{name} /bin/true:0x1100")
    try:
        r = bpfscope("bpflist", "-v")
        assert f"{holder.pid:<6} {_comm(holder.pid)} " in r.stdout
        assert [ln.split()[2:] for ln in r.stdout.splitlines() if ln.startswith(f"{holder.pid} ")
                and "uprobe" in ln] == [["uprobe", "1"]]
        r = bpfscope("bpflist", "-vv")
        assert "open uprobes:\n" in r.stdout and f"p:uprobes/{name} /bin/true:0x" in r.stdout
    finally:
        write_events("uprobe_events", f"-:{name}")


def test_reset_trace_finds_and_removes_stale_uprobe(tracefs: str) -> None:
    name = f"bs_stale_{os.getpid()}"
    write_events("uprobe_events", f"p:{name} /bin/true:0x1200")
    try:
        r = bpfscope("reset-trace")
        assert r.returncode == 0
        assert "left-over entr" in r.stdout and f"p:uprobes/{name} /bin/true:0x" in r.stdout
        assert name in events("uprobe_events")  # listing alone changes nothing
        assert bpfscope("reset-trace", "-q").stdout == ""
        r = bpfscope("reset-trace", "--force")
        assert f"Needed to reset {tracefs}/uprobe_events" in r.stdout
        assert name not in events("uprobe_events")
        assert name not in bpfscope("reset-trace").stdout
    finally:
        if name in events("uprobe_events"):
            write_events("uprobe_events", f"-:{name}")


def test_reset_trace_leaves_live_owners_alone(tracefs: str) -> None:
    name = f"bpfscope_{os.getpid()}_live"  # this test process is alive: the entry is in use
    write_events("uprobe_events", f"p:{name} /bin/true:0x1300")
    try:
        r = bpfscope("reset-trace", "-F", "-v")
        assert f"belongs to running PID {os.getpid()}" in r.stdout
        assert name in events("uprobe_events")
    finally:
        write_events("uprobe_events", f"-:{name}")


def test_reset_trace_notices_enabled_event(tracefs: str) -> None:
    enable = os.path.join(tracefs, "events", "syscalls", "sys_enter_getppid", "enable")
    if not os.path.exists(enable):
        pytest.skip("no syscalls:sys_enter_getppid event")
    with open(enable, "w") as f:
        f.write("1")
    try:
        r = bpfscope("reset-trace")
        assert f"Noticed unrelated tracing file {tracefs}/events/enable isn't set as expected" in r.stdout
        r = bpfscope("reset-trace", "-v")
        assert 'Expected "0".' in r.stdout
    finally:
        with open(enable, "w") as f:
            f.write("0")


def test_reset_trace_usage() -> None:
    r = bpfscope("reset-trace", "--bogus")
    assert r.returncode == 1 and "USAGE: reset-trace" in r.stderr and "Traceback" not in r.stderr
    r = bpfscope("bpflist", "-x")
    assert r.returncode == 2 and "unrecognized arguments: -x" in r.stderr
