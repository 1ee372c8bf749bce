"""Scenarios a test creates and the report must name: CPU saturation, a disk writer with fsync
on a loop device, a memory leak up to a cgroup limit, TCP loss in a network namespace and a
fork storm. The machine is shared, so every check is about the scenario's own signal (its
function, its process name, its device, its cgroup, its flow), not idle baselines."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import findings, needs_root

pytestmark = [pytest.mark.root, needs_root]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def hog_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("hog") / "triage_hog"
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", str(out), str(HERE / "hog.c")],
                   check=True)
    return str(out)


@pytest.fixture(scope="module")
def writer_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("writer") / "triage_writer"
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(out), str(HERE / "writer.c")], check=True)
    return str(out)


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def test_cpu_saturation_names_hog(triage, hog_bin: str) -> None:  # type: ignore[no-untyped-def]
    n = 3 * (os.cpu_count() or 1) + 2
    hog = subprocess.Popen([hog_bin, str(n)], start_new_session=True)
    try:   # its own session is its own autogroup: weight it like the busiest peers on this shared machine
        with open(f"/proc/{hog.pid}/autogroup", "w") as f:
            f.write("-10")
        t = triage(duration=4)
        t.window_started()
        rep, text = t.report()
    finally:
        _stop(hog)
    prof = rep["profile"]
    assert prof["leaf"][0][0] == "triage_hog_spin", prof["leaf"][:3]
    assert prof["comm"][0][0] == "triage_hog"
    # the flame graph holds the hog's stack: comm at the root, the named function above it
    assert any(line.startswith("triage_hog;") and "triage_hog_spin" in line for line in prof["folded"])
    assert "triage_hog_spin" in prof["svg"]
    assert findings(rep, "CPU", "saturation"), rep["next"]
    rq = findings(rep, "run queue", "saturation")
    assert rq and rep["checklist"]["runqlat"]["p99"] > 10_000, (rep["checklist"]["runqlat"], rep["next"])
    assert any(p["command"] == "triage_hog" and p["%CPU"] > 50 for p in rep["glance"]["pidstat"])
    assert "triage_hog_spin" in text and "4. WHERE TO LOOK NEXT" in text


@pytest.fixture
def loop_mount(tmp_path: Path):  # type: ignore[no-untyped-def]
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    # direct I/O to the backing file: the loop device's requests wait for the real disk
    dev = subprocess.run(["losetup", "--find", "--show", "--direct-io=on", str(img)], capture_output=True, text=True,
                         check=True).stdout.strip()
    mnt = Path(f"/tmp/triage-mnt-{uuid.uuid4().hex[:8]}")
    mnt.mkdir()
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
        subprocess.run(["mount", dev, str(mnt)], check=True)
        yield os.path.basename(dev), mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        mnt.rmdir()


def test_disk_writer_with_fsync(triage, loop_mount, writer_bin: str) -> None:  # type: ignore[no-untyped-def]
    dev, mnt = loop_mount
    # four synchronous writer threads keep the loop device's queue busy (its %util and aqu-sz); their
    # session's autogroup weighted up so the shared machine's CPU load does not starve them
    w = subprocess.Popen([writer_bin, str(mnt), "4"], start_new_session=True)
    try:
        with open(f"/proc/{w.pid}/autogroup", "w") as f:
            f.write("-10")
        t = triage(duration=4)
        t.window_started()
        rep, text = t.report()
    finally:
        _stop(w)
    rows = {r["device"]: r for r in rep["glance"]["iostat"]}
    assert dev in rows and rows[dev]["w/s"] > 0, rows
    disk = findings(rep, f"disk {dev}")
    assert disk, (rows[dev], rep["next"])
    # the writer named: top I/O process and among biosnoop's issuers
    assert any(r["command"] == "triage_writer" for r in rep["glance"]["pidstat_io"][:3]), rep["glance"]["pidstat_io"]
    assert any(c == "triage_writer" for c, _n in rep["checklist"]["biosnoop"]["by_comm"]), rep["checklist"]["biosnoop"]
    assert any(f"biosnoop -d {dev}" in c for f in disk for c in f["next"])
    assert any("top writer: triage_writer" in f["what"] for f in disk), disk


def _memory_cgroup_root() -> Path | None:
    """cgroup v2 with the memory controller, or v1's memory hierarchy."""
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        ctl = root / "cgroup.subtree_control"
        if ctl.exists() and "memory" in ctl.read_text().split():
            return root
    v1 = Path("/sys/fs/cgroup/memory")
    return v1 if (v1 / "memory.limit_in_bytes").exists() else None


@pytest.fixture
def mem_cgroup():  # type: ignore[no-untyped-def]
    root = _memory_cgroup_root()
    if root is None:
        pytest.skip("no memory cgroup controller")
    cg = root / f"triage-test-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    try:
        if (cg / "memory.max").exists():
            (cg / "memory.max").write_text(str(48 << 20))
            if (cg / "memory.swap.max").exists():
                (cg / "memory.swap.max").write_text("0")
        else:
            (cg / "memory.limit_in_bytes").write_text(str(48 << 20))
            if (cg / "memory.memsw.limit_in_bytes").exists():
                (cg / "memory.memsw.limit_in_bytes").write_text(str(48 << 20))
        yield cg
    finally:
        for _ in range(50):
            for p in (cg / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(p), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)


LEAK = """
import time
keep = []
while True:
    keep.append(bytearray(4 << 20))   # touched: bytearray zero-fills
    time.sleep(0.05)
"""


def test_memory_leak_to_cgroup_limit(triage, mem_cgroup: Path) -> None:  # type: ignore[no-untyped-def]
    t = triage(duration=4)
    t.window_started()
    procs = str(mem_cgroup / "cgroup.procs")

    def join() -> None:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))

    leaker = subprocess.Popen([sys.executable, "-c", LEAK], preexec_fn=join)
    try:
        rep, text = t.report()
        code = leaker.wait(timeout=30)
    finally:
        if leaker.poll() is None:
            leaker.kill()
            leaker.wait()
    assert code == -signal.SIGKILL
    name = str(mem_cgroup)[len("/sys/fs/cgroup"):]
    cgs = {c["cgroup"]: c for c in rep["glance"]["cgroup_memory"]}
    assert name in cgs and cgs[name]["oom_kill"] >= 1, cgs
    errs = findings(rep, "memory", "errors")
    assert errs and name in errs[0]["figure"], rep["next"]
    assert any("oomkill" in c for c in errs[0]["next"])
    assert "OOM kill" in text


@pytest.fixture
def lossy_netns():  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6]
    ns, host, peer = f"trns{tag}", f"trh{tag}", f"trp{tag}"
    a, b = "10.213.7.1", "10.213.7.2"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True)

    try:
        ip("netns", "add", ns)
        ip("link", "add", host, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", ns)
        ip("addr", "add", f"{a}/30", "dev", host)
        ip("link", "set", host, "up")
        ip("-n", ns, "addr", "add", f"{b}/30", "dev", peer)
        ip("-n", ns, "link", "set", peer, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        # loss injected in the namespace: tc netem where the kernel has it, else an nftables rule
        netem = subprocess.run(["tc", "qdisc", "add", "dev", host, "root", "netem", "loss", "25%"],
                               capture_output=True)
        if netem.returncode != 0:
            nft = (f"add table inet {ns}\nadd chain inet {ns} in {{ type filter hook input priority 0; }}\n"
                   f"add rule inet {ns} in tcp dport 7700 numgen random mod 4 == 0 drop\n")
            r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=nft, text=True,
                               capture_output=True)
            if r.returncode != 0:
                pytest.skip(f"neither tc netem nor nftables can drop packets here: {r.stderr.strip()}")
        yield ns, b, host
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7700)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(65536): pass
    c.close()
"""
CLIENT = """
import socket, sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        c = socket.create_connection((sys.argv[1], 7700), timeout=5)
        c.sendall(b"x" * 200000); c.close()
    except OSError:
        time.sleep(0.1)
"""


def test_retransmits_in_netns(triage, lossy_netns) -> None:  # type: ignore[no-untyped-def]
    ns, addr, _host = lossy_netns
    srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, addr], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    cli = None
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        t = triage(duration=4)
        t.window_started()
        cli = subprocess.Popen([sys.executable, "-c", CLIENT, addr, "20"], start_new_session=True)
        rep, text = t.report()
    finally:
        for p in (cli, srv):
            if p is not None:
                _stop(p)
    rt = rep["checklist"]["tcpretrans"]
    assert rt["count"] > 0 and any(addr in flow for flow, _n in rt["by_flow"]), rt
    assert findings(rep, "TCP", "saturation"), rep["next"]
    assert any(f"{addr}:7700" in k for k, _n in rep["checklist"]["tcpconnect"]["by_dest"])
    assert "tcpretrans -c" in text


def test_fork_storm_named(triage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"trfork{uuid.uuid4().hex[:6]}"
    exe = tmp_path / name
    shutil.copy("/bin/true", exe)
    t = triage(duration=4)
    t.window_started()
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:
        subprocess.run([str(exe)], check=True)
        n += 1
    rep, text = t.report()
    ex = rep["checklist"]["execsnoop"]
    seen = dict((c, k) for c, k in ex["by_comm"])
    assert seen.get(name) == n, (n, ex["by_comm"])
    short = dict((c, k) for c, k in ex["short_lived"]["by_comm"])
    assert short.get(name) == n
    assert name in text
