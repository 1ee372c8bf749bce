"""Issue 14: more unchanged bpfcc-tools scripts through `bpfscope bcc`, each against a workload
whose effect the test knows exactly: biopattern (sequential and random direct writes to a raw
loop device), gethostlatency (a resolver call of our own pid, through libc uprobes and
uretprobes), tcpretrans (a flow into a namespace that drops a share of its segments)."""

from __future__ import annotations

import mmap
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bcc import test_scripts
from tests.bcc.test_scripts import Run, _start
from tests.conftest import needs_root, raw_loop_device
from tests.tools.sysenv import lossy_netns

pytestmark = needs_root
run = test_scripts.run   # the fixture: scripts started by a test are ended after it


@pytest.fixture
def raw_loop(tmp_path: Path) -> Iterator[str]:
    """A loop device over a 16 MiB file, no file system: every write the test makes is one request."""
    with raw_loop_device(tmp_path) as dev:
        yield dev


def _direct_write_blocks(dev: str, blocks: list[int], size: int = 4096) -> None:
    """One synchronous O_DIRECT write of `size` bytes at each block index, in the given order:
    each completes before the next starts, so the block layer cannot merge them."""
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, size)
    buf.write(b"b" * size)
    try:
        for blk in blocks:
            assert os.pwritev(fd, [buf], blk * size) == size
    finally:
        os.close(fd)
        buf.close()


def test_biopattern_counts_sequential_and_random(run: list[Run], raw_loop: str) -> None:
    """20 counted writes after the first: blocks 1..10 follow their predecessor (sequential),
    blocks 20, 30, …, 110 do not (random): 50/50, 20 I/Os, 80 KiB, on this disk only (-d)."""
    disk = os.path.basename(raw_loop)
    r = _start(run, "biopattern", "-d", disk)
    r.wait_for(b"KBYTES")
    r.in_sleep()
    _direct_write_blocks(raw_loop, [0, *range(1, 11), *range(20, 120, 10)])
    text = r.finish()
    rows = [ln for ln in text.splitlines()[1:] if ln.strip()]
    assert len(rows) == 1, text
    m = re.match(r"^\d\d:\d\d:\d\d  (\S+) +(\d+) +(\d+) +(\d+) +(\d+)$", rows[0])
    assert m, rows[0]
    assert m.groups() == (disk, "50", "50", "20", "80"), rows[0]


def test_gethostlatency_sees_our_lookup(run: list[Run]) -> None:
    """getaddrinfo("localhost") in a child: one line with its pid, comm and host."""
    r = _start(run, "gethostlatency")
    r.wait_for(b"HOST")
    code = "import socket; socket.getaddrinfo('localhost', 80)"
    child = subprocess.Popen([sys.executable, "-c", code])
    assert child.wait() == 0
    r.wait_for(f" {child.pid} ".encode())
    text = r.finish()
    line = next(ln for ln in text.splitlines() if re.match(rf"^\S+ +{child.pid} ", ln))
    m = re.match(r"^\d\d:\d\d:\d\d  (\d+) +(\S+) +(\d+\.\d\d) (\S+)$", line)
    assert m, line
    assert m.group(2).startswith("python") and m.group(4) == "localhost", line
    assert float(m.group(3)) < 10_000, line


def test_tcpretrans_lossy_flow(run: list[Run]) -> None:
    """Retransmits of a flow whose segments a namespace drops: rows with both ends of it."""
    from tests.tools.test_tcpretrans import PORT, lossy_flow

    with lossy_netns("brt", PORT) as net:
        r = _start(run, "tcpretrans")
        r.wait_for(b"STATE")
        r.in_sleep()
        cport = lossy_flow(net.name, net.peer_ip)
        text = r.finish()
        host, peer = net.host_ip, net.peer_ip
    lines = text.splitlines()
    assert lines[1] == "TIME     PID     IP LADDR:LPORT          T> RADDR:RPORT          STATE", text
    row = re.compile(r"^\d\d:\d\d:\d\d (\d+) +4  ([\d.]+):(\d+) +R> ([\d.]+):(\d+) +(\S+)$")
    rows = [row.match(ln) for ln in lines[2:] if ln]
    assert rows and all(rows), text
    ends = {(host, cport), (peer, PORT)}
    flow = [m for m in rows if m and {(m.group(2), int(m.group(3))), (m.group(4), int(m.group(5)))} == ends]
    assert any(m.group(2) == host for m in flow), text


def test_biolatpcts_write_percentiles(run: list[Run], raw_loop: str) -> None:
    """-j -i 1 DEV (per-CPU arrays read with .sum()): 40 direct writes to this disk give write
    latency percentiles that rise with the percentile and none above the writes' wall time."""
    import json
    import time

    r = _start(run, "biolatpcts", "-i", "1", "-j", os.path.basename(raw_loop))
    r.waits = {"202"}     # its loop waits on a threading.Event: futex(2)
    r.in_sleep()
    t0 = time.monotonic()
    _direct_write_blocks(raw_loop, list(range(40)))
    wall = time.monotonic() - t0
    time.sleep(1.2)       # one more interval: the one the writes ended in is printed
    text = r.finish()
    rows = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
    writes = [row["write"] for row in rows if any(row["write"].values())]
    assert writes, text
    for w in writes:
        vals = [w[p] for p in sorted(w, key=float)]
        assert vals == sorted(vals) and 0 < vals[-1] <= wall, (w, wall)
