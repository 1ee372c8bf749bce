"""tcpretrans: a TCP flow into a network namespace whose input drops half the segments
(nftables numgen: no netem here) retransmits; the flow appears with BCC's columns, and in
-c's per-flow counts. -l needs kprobes: one plain line where they are missing."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from .conftest import bpfscope
from .sysenv import lossy_netns

PORT = 9123
SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
print("listening", flush=True)
a, _ = s.accept()
while a.recv(65536):
    pass
a.close()
"""


def lossy_flow(ns: str, peer_ip: str) -> int:
    """Send 40 KB to a server in `ns`; returns the client's port once all is delivered."""
    srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, peer_ip, str(PORT)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "listening"
        cli = socket.create_connection((peer_ip, PORT), timeout=120)   # RTO backoff under loss
        port = cli.getsockname()[1]
        for _ in range(40):
            cli.sendall(b"r" * 1000)
        cli.shutdown(socket.SHUT_WR)
        cli.recv(1)              # the server's FIN: everything was acknowledged
        cli.close()
        srv.wait(timeout=60)
        return port
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def test_help_and_lossprobe() -> None:
    r = bpfscope("tcpretrans", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: tcpretrans [-h] [-s] [-l] [-c] [-4 | -6]")
    from bpfscope.tools.needs import have_feature

    if have_feature("kprobe"):
        pytest.skip("this kernel has kprobes: -l works (VM lane)")
    r = bpfscope("tcpretrans", "-l")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "tcp_send_loss_probe" in r.stderr


def test_retransmits_of_a_lossy_flow(tool) -> None:
    with lossy_netns("rt", PORT) as net:
        p = tool("tcpretrans", "-s")
        assert p.ready() == "Tracing retransmits ... Hit Ctrl-C to end"
        cport = lossy_flow(net.name, net.peer_ip)
        out = p.stop()
        host, net_peer = net.host_ip, net.peer_ip
    lines = out.splitlines()
    assert lines[1] == "TIME     PID     IP LADDR:LPORT          T> RADDR:RPORT          STATE        SEQ       "
    row = re.compile(r"^\d\d:\d\d:\d\d (\d+) +4  ([\d.]+):(\d+) +R> ([\d.]+):(\d+) +(\S+) +(\d+)$")
    rows = [row.match(ln) for ln in lines[2:]]
    assert all(rows), out
    ends = {(host, cport), (net_peer, PORT)}
    flow = [m for m in rows if m and {(m.group(2), int(m.group(3))), (m.group(4), int(m.group(5)))} == ends]
    # the client's data segments to the dropping port are retransmitted (the server's FIN may be too)
    assert any(m.group(2) == host for m in flow), out
    assert all(m.group(6) in ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "CLOSING", "LAST_ACK",
                              "CLOSE_WAIT") for m in flow), out


def test_count_per_flow(tool) -> None:
    with lossy_netns("rc", PORT) as net:
        p = tool("tcpretrans", "-c")
        p.ready()
        cport = lossy_flow(net.name, net.peer_ip)
        out = p.stop()
        host, peer = net.host_ip, net.peer_ip
    assert "LADDR:LPORT               RADDR:RPORT               RETRANSMITS" in out
    m = re.search(rf"^\[{re.escape(host)}\]#{cport} +<-> \[{re.escape(peer)}\]#{PORT} +(\d+)$", out, re.M)
    assert m and int(m.group(1)) >= 1, out
