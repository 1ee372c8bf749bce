"""BCC tools on a kernel with kprobes (the VM lane): the kprobe variants BCC uses, which the
development kernel cannot run — tcpconnect/tcpaccept (tcp_v4_connect, inet_csk_accept),
cachestat (page-cache functions), ext4slower/fsslower (ext4 file operations), tcpretrans -l
(tcp_send_loss_probe), oomkill (oom_kill_process).

Each test runs a tool as a user would (`python -m bpfscope <tool>`), waits for its header
(probes attached), drives a workload, stops it with SIGINT and checks the lines.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from tests.vm.test_bcc_vm import _RUNNING, _loopback_and_cleanup  # noqa: F401 (autouse fixture: lo up, kill leftovers)

CHECKOUT = os.environ.get("BPFSCOPE_CHECKOUT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
pytestmark = pytest.mark.vm


class Tool:
    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        e = dict(os.environ, PYTHONPATH=os.path.join(CHECKOUT, "src"), **(env or {}))
        py = os.environ.get("BPFSCOPE_PYTHON", sys.executable)
        self.p = subprocess.Popen([py, "-m", "bpfscope", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=e, cwd=CHECKOUT)
        _RUNNING.append(self.p)
        assert self.p.stdout is not None
        self.first = self.p.stdout.readline()      # the header: probes are attached
        if not self.first:
            out, err = self.p.communicate()
            pytest.fail(f"{argv} printed no header: rc={self.p.returncode}\n{err}")

    def stop(self) -> str:
        self.p.send_signal(signal.SIGINT)
        out, err = self.p.communicate(timeout=300)
        assert self.p.returncode == 0 and "Traceback" not in err, err
        return self.first + out


def connect_accept(host: str = "127.0.0.1") -> tuple[int, int]:
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.bind((host, 0))
    srv.listen()
    port = srv.getsockname()[1]
    cli = socket.create_connection((host, port))
    acc, _ = srv.accept()
    cport = cli.getsockname()[1]
    for s in (cli, acc, srv):
        s.close()
    return port, cport


def _ebpf(*argv: str, env: dict[str, str] | None = None) -> str:
    e = dict(os.environ, PYTHONPATH=os.path.join(CHECKOUT, "src"), **(env or {}))
    r = subprocess.run([sys.executable, "-m", "bpfscope", *argv, "--ebpf"], capture_output=True, text=True,
                       env=e, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_tcpconnect_kprobe_path() -> None:
    assert "kprobe:tcp_v4_connect" in _ebpf("tcpconnect")
    t = Tool("tcpconnect", "-L", "-p", str(os.getpid()))
    port, cport = connect_accept()
    port6, _ = connect_accept("::1")
    out = t.stop()
    assert re.search(rf"^{os.getpid()} +\S+ +4  127\.0\.0\.1 +{cport} +127\.0\.0\.1 +{port} +$", out, re.M), out
    assert re.search(rf" 6  ::1 +\d+ +::1 +{port6} +$", out, re.M), out


def test_tcpconnect_tracepoint_path_agrees() -> None:
    env = {"BPFSCOPE_TOOLS_TRACEPOINTS": "1"}
    assert "inet_sock_set_state" in _ebpf("tcpconnect", env=env)
    t = Tool("tcpconnect", "-p", str(os.getpid()), env=env)
    port, _ = connect_accept()
    out = t.stop()
    assert re.search(rf"^{os.getpid()} +\S+ +4  127\.0\.0\.1 +127\.0\.0\.1 +{port} +$", out, re.M), out


def test_tcpaccept_kprobe_path() -> None:
    assert "kretprobe:inet_csk_accept" in _ebpf("tcpaccept")
    t = Tool("tcpaccept")
    port, cport = connect_accept()
    out = t.stop()
    assert re.search(rf"^{os.getpid()} +\S+ +4  127\.0\.0\.1 +{cport} +127\.0\.0\.1 +{port}$", out, re.M), out


def test_cachestat_counts() -> None:
    t = Tool("cachestat", "-T", "1", "2")
    with open("/etc/services", "rb") as f:
        f.read()
    out, err = t.p.communicate(timeout=300)
    assert t.p.returncode == 0, err
    assert t.first.split() == ["TIME", "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB", "CACHED_MB"]
    rows = [ln for ln in out.splitlines() if ln.strip()]
    assert len(rows) == 2, out
    assert all(re.match(r"^\d\d:\d\d:\d\d +\d+ +\d+ +\d+ +\d+\.\d\d% +\d+ +\d+$", r) for r in rows), out


def test_tcpretrans_lossprobe_attaches() -> None:
    assert "kprobe:tcp_send_loss_probe" in _ebpf("tcpretrans", "-l")
    t = Tool("tcpretrans", "-l")
    assert t.first.startswith("Tracing retransmits")
    t.stop()


def test_oomkill_kprobe_attaches() -> None:
    assert "kprobe:oom_kill_process" in _ebpf("oomkill")
    t = Tool("oomkill")
    assert t.first == "Tracing OOM kills... Ctrl-C to stop.\n"
    t.stop()


def _ext4_mount(tmp: str) -> str:
    """An ext4 loop mount inside the VM (ext4 and loop are modules of Debian's kernel: load
    them from the unpacked kernel package the lane booted)."""
    rel = os.uname().release
    trees = glob.glob(f"/var/cache/bpfscope-vm/kernels/*/lib/modules/{rel}")
    for mod in ("loop", "ext4"):
        if not os.path.isdir(f"/sys/module/{mod}") and trees:
            subprocess.run(["modprobe", "-d", os.path.dirname(os.path.dirname(os.path.dirname(trees[0]))), mod],
                           capture_output=True)
    if not os.path.isdir("/sys/module/ext4") and "ext4" not in open("/proc/filesystems").read():
        pytest.skip("no ext4 in the VM kernel")
    img, mnt = os.path.join(tmp, "e.img"), os.path.join(tmp, "m")
    os.makedirs(mnt)
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    for cmd in (["mkfs.ext4", "-q", "-F", img], ["mount", "-o", "loop", img, mnt]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return mnt


@pytest.mark.parametrize("argv", [("ext4slower", "0"), ("fsslower", "-t", "ext4", "-m", "0")])
def test_ext4_operations_kprobe_path(tmp_path, argv) -> None:
    assert "kprobe:ext4_file_write_iter" in _ebpf(*argv)
    mnt = _ext4_mount(str(tmp_path))
    try:
        t = Tool(*argv, "-p", str(os.getpid()))
        path = os.path.join(mnt, "vmfile")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        for _ in range(3):
            os.write(fd, b"v" * 4096)
        os.fsync(fd)
        os.close(fd)
        out = t.stop()
    finally:
        subprocess.run(["umount", mnt], capture_output=True)
    mine = [ln.split() for ln in out.splitlines() if ln.endswith(" vmfile")]
    kinds = [x[3] for x in mine]
    assert kinds.count("O") == 1 and kinds.count("W") == 3 and kinds.count("S") == 1, out
