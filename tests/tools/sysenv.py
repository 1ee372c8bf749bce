"""System environments for the tool tests: an ext4 file system on a loop device, a network
namespace behind a veth pair that drops packets, a small memory cgroup, CPU hogs pinned to
one CPU, a loopback TCP session. Each is a context manager that always cleans up."""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


def set_comm(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)   # PR_SET_NAME


# ------------------------------------------------------------------ ext4 on a loop device

@dataclass
class Ext4:
    image: str
    dev: str          # /dev/loopN
    disk: str         # loopN
    mnt: str


@contextlib.contextmanager
def ext4_loop(tmp: str, size_mb: int = 64) -> Iterator[Ext4]:
    for tool in ("losetup", "mkfs.ext4", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    image = os.path.join(tmp, "disk.img")
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    r = run("mkfs.ext4", "-q", "-F", image)
    assert r.returncode == 0, r.stderr
    r = run("losetup", "-f", "--show", image)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    dev = r.stdout.strip()
    mounted = False
    try:
        r = run("mount", dev, mnt)
        assert r.returncode == 0, r.stderr
        mounted = True
        yield Ext4(image, dev, os.path.basename(dev), mnt)
    finally:
        for _ in range(50 if mounted else 0):
            if run("umount", mnt).returncode == 0:
                break
            time.sleep(0.2)
        else:
            if mounted:
                run("umount", "-l", mnt)
        run("losetup", "-d", dev)


def direct_writes(path: str, blocks: int, fsync: bool = True, block: int = 4096) -> None:
    """Write `blocks` blocks with O_DIRECT (each one a block request), fsync after each."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    buf = mmap.mmap(-1, block)
    buf.write(b"x" * block)
    try:
        for _ in range(blocks):
            os.write(fd, buf)
            if fsync:
                os.fsync(fd)
    finally:
        os.close(fd)
        buf.close()


# ------------------------------------------------------------------ network namespace

@dataclass
class NetNs:
    name: str
    host_ip: str
    peer_ip: str


@contextlib.contextmanager
def lossy_netns(tag: str, drop_port: int) -> Iterator[NetNs]:
    """A namespace reached over a veth pair whose input drops 30% of the TCP segments to
    `drop_port` (nftables' numgen: the kernel here has no netem; at 50% an unlucky segment
    backs off past any sane timeout)."""
    if shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("needs iproute2 and nftables")
    ns, a, b = f"bs{tag}", f"bs{tag}a", f"bs{tag}b"
    octet = 100 + os.getpid() % 100
    host_ip, peer_ip = f"10.{octet}.77.1", f"10.{octet}.77.2"
    try:
        for cmd in (("ip", "netns", "add", ns),
                    ("ip", "link", "add", a, "type", "veth", "peer", "name", b),
                    ("ip", "link", "set", b, "netns", ns),
                    ("ip", "addr", "add", f"{host_ip}/24", "dev", a),
                    ("ip", "link", "set", a, "up"),
                    ("ip", "-n", ns, "addr", "add", f"{peer_ip}/24", "dev", b),
                    ("ip", "-n", ns, "link", "set", b, "up"),
                    ("ip", "-n", ns, "link", "set", "lo", "up"),
                    ("ip", "netns", "exec", ns, "nft",
                     "add table ip t; add chain ip t in { type filter hook input priority 0; }; "
                     f"add rule ip t in tcp dport {drop_port} numgen random mod 10 < 3 drop")):
            r = run(*cmd)
            if r.returncode != 0:
                pytest.skip(f"{' '.join(cmd)}: {r.stderr.strip()}")
        yield NetNs(ns, host_ip, peer_ip)
    finally:
        run("ip", "link", "del", a)
        run("ip", "netns", "del", ns)


# ------------------------------------------------------------------ memory cgroup

@contextlib.contextmanager
def memory_cgroup(name: str, limit: int) -> Iterator[str]:
    """A memory cgroup limited to `limit` bytes (v2 if it has the memory controller, else v1);
    yields its cgroup.procs path."""
    v2 = "/sys/fs/cgroup"
    cands = []
    if os.path.exists(f"{v2}/cgroup.controllers"):
        with open(f"{v2}/cgroup.controllers") as f:
            if "memory" in f.read().split():
                cands.append((v2, "memory.max"))
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        cands.append(("/sys/fs/cgroup/memory", "memory.limit_in_bytes"))
    if not cands:
        pytest.skip("no memory cgroup controller")
    root, knob = cands[0]
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    try:
        with open(os.path.join(path, knob), "w") as f:
            f.write(str(limit))
        for swap in ("memory.swap.max", "memory.memsw.limit_in_bytes"):
            with contextlib.suppress(OSError):
                with open(os.path.join(path, swap), "w") as f:
                    f.write(str(limit) if swap.endswith("bytes") else "0")
        yield os.path.join(path, "cgroup.procs")
    finally:
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)


# the hog allocates at most 256 MB: even without the limit it cannot exhaust the machine
HOG = """
import ctypes, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
b = []
for i in range(256):
    b.append(bytearray(1 << 20))
print("survived")
"""


def oom_child(procs: str, comm: str) -> subprocess.CompletedProcess[str]:
    """Run a memory hog called `comm` inside the cgroup whose cgroup.procs is `procs`."""
    def enter() -> None:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    return subprocess.run([sys.executable, "-c", HOG, comm], capture_output=True, text=True,
                          preexec_fn=enter, timeout=120)


# ------------------------------------------------------------------ CPU hogs

SPIN = """
import ctypes, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


@contextlib.contextmanager
def cpu_hogs(comm: str, n: int, cpu: int, seconds: float) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`n` busy loops called `comm`, all pinned to `cpu`, each running `seconds`."""
    procs = []
    try:
        for _ in range(n):
            p = subprocess.Popen([sys.executable, "-c", SPIN, comm, str(seconds)],
                                 preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
            procs.append(p)
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def last_cpu() -> int:
    return max(os.sched_getaffinity(0))


# ------------------------------------------------------------------ TCP sessions

@dataclass
class Session:
    server_port: int
    client_port: int
    sent: int
    received: int


def tcp_listener(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of `host`, not listening yet: its port can go on a
    tool's command line before the session."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    return s


def _recv_exactly(s: socket.socket, n: int) -> None:
    got = 0
    while got < n:
        got += len(s.recv(65536))


def tcp_session(host: str = "127.0.0.1", send: int = 300000, reply: int = 5000,
                srv: socket.socket | None = None) -> Session:
    """One loopback TCP session on `srv` (default: a new listener on `host`): connect, accept,
    `send` bytes client->server, `reply` back. The client closes first and the server waits
    for its FIN before closing: each side goes through the same TCP states every run."""
    srv = srv or tcp_listener(host)
    srv.listen()
    cli = socket.create_connection(srv.getsockname()[:2])
    acc, _ = srv.accept()
    cli.sendall(b"x" * send)
    _recv_exactly(acc, send)
    acc.sendall(b"y" * reply)
    _recv_exactly(cli, reply)
    s = Session(srv.getsockname()[1], cli.getsockname()[1], send, reply)
    cli.close()
    acc.recv(10)          # EOF: the client's FIN arrived
    acc.close()
    srv.close()
    return s


def connect_once(host: str = "127.0.0.1") -> tuple[int, int]:
    """One loopback connect() and accept(), then all closed: (server port, client port)."""
    srv = tcp_listener(host)
    srv.listen()
    port = srv.getsockname()[1]
    cli = socket.create_connection((host, port))
    cport = cli.getsockname()[1]
    acc, _ = srv.accept()
    for s in (cli, acc, srv):
        s.close()
    return port, cport


# ------------------------------------------------------------------ output parsing

def parse_hists(text: str) -> dict[str, dict[tuple[int, int], int]]:
    """BCC log2 histograms in `text`: {section value ("" when unsectioned): {(low, high): count}}.
    Sections are "name = value" lines; every summary printed is merged."""
    import re

    out: dict[str, dict[tuple[int, int], int]] = {}
    cur = ""
    for line in text.splitlines():
        m = re.match(r"^\S+ = (.*)$", line)
        if m:
            cur = m.group(1)
            continue
        m = re.match(r"^\s+(\d+) -> (\d+)\s+: (\d+)\s+\|[*+ ]*\|$", line)
        if m:
            h = out.setdefault(cur, {})
            k = (int(m.group(1)), int(m.group(2)))
            h[k] = h.get(k, 0) + int(m.group(3))
    return out


def total(h: dict[tuple[int, int], int]) -> int:
    return sum(h.values())


def proc_interrupts() -> dict[str, int]:
    """/proc/interrupts: action name -> count summed over CPUs (numbered IRQs only)."""
    out: dict[str, int] = {}
    with open("/proc/interrupts") as f:
        ncpu = len(f.readline().split())
        for line in f:
            parts = line.split()
            if not parts or not parts[0].rstrip(":").isdigit():
                continue
            counts = [int(x) for x in parts[1:1 + ncpu] if x.isdigit()]
            for name in " ".join(parts[1 + ncpu:]).split(",")[-1:]:
                out[name.split()[-1]] = out.get(name.split()[-1], 0) + sum(counts)
    return out


def proc_softirqs() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/softirqs") as f:
        f.readline()
        for line in f:
            parts = line.split()
            out[parts[0].rstrip(":").lower()] = sum(int(x) for x in parts[1:])
    return out
