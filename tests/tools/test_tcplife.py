"""tcplife: one loopback session sends 300000 bytes one way and 5000 back; -L on the server
port prints exactly the server side's line, -D exactly the client's, with the byte counts
(KB) the session moved; libbpf-tools' tcplife prints the same line."""

from __future__ import annotations

import os
import re
import shutil
import socket

import pytest

from .conftest import bpfscope
from .sysenv import tcp_listener, tcp_session

ROW = re.compile(r"^(\d+) +(\S.{0,9}?) +(\S+) +(\d+) +(\S+) +(\d+) +(\d+) +(\d+) (\d+\.\d\d)$")
SEND, REPLY = 300000, 5000


def session(srv: socket.socket) -> int:
    """The session on `srv`: SEND bytes to the server, REPLY back; the client's port."""
    return tcp_session(send=SEND, reply=REPLY, srv=srv).client_port


def test_help() -> None:
    r = bpfscope("tcplife", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: tcplife [-h] [-T] [-t] [-w] [-s] [-p PID]")
    r = bpfscope("tcplife", "-L", "http")
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def test_server_and_client_lines(tool) -> None:
    srv = tcp_listener()
    port = srv.getsockname()[1]
    ps = tool("tcplife", "-L", str(port))
    pc = tool("tcplife", "-D", str(port), "-p", str(os.getpid()))
    assert ps.ready() == "PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS"
    pc.ready()
    cport = session(srv)
    ps.wait_for(f" {cport} ")
    pc.wait_for(f" {port} ")
    server = [ROW.match(x) for x in ps.stop().splitlines()[1:]]
    client = [ROW.match(x) for x in pc.stop().splitlines()[1:]]
    assert len(server) == 1 and server[0] and len(client) == 1 and client[0], (server, client)
    s, c = server[0], client[0]
    assert (s.group(3), int(s.group(4)), s.group(5), int(s.group(6))) == ("127.0.0.1", port, "127.0.0.1", cport)
    assert (int(s.group(7)), int(s.group(8))) == (REPLY // 1024, SEND // 1024)
    assert (int(c.group(4)), int(c.group(6))) == (cport, port)
    assert (int(c.group(7)), int(c.group(8))) == (SEND // 1024, REPLY // 1024)
    assert int(c.group(1)) == os.getpid() == int(s.group(1))


def test_wide_ipv6(tool) -> None:
    srv = tcp_listener("::1")
    port = srv.getsockname()[1]
    p = tool("tcplife", "-w", "-6", "-L", str(port))
    assert p.ready().startswith("PID   COMM             IP LADDR")
    session(srv)
    p.wait_for("::1")
    out = p.stop()
    rows = out.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split()[2] == "6" and rows[0].split()[3] == "::1", out


@pytest.mark.skipif(shutil.which("tcplife") is None, reason="libbpf-tools not installed")
def test_same_line_as_libbpf_tools(tool, peer) -> None:
    srv = tcp_listener()
    port = srv.getsockname()[1]
    theirs_p = peer("tcplife", "-L", str(port), ready="PID")
    p = tool("tcplife", "-L", str(port))
    p.ready()
    cport = session(srv)
    p.wait_for(f" {cport} ")
    out = p.stop()
    theirs = theirs_p.stop()
    ours = out.splitlines()[1].split()
    their = [ln.split() for ln in theirs.splitlines() if f" {cport} " in ln]
    assert their, theirs
    # PID, COMM, LADDR, LPORT, RADDR, RPORT agree; KB too (libbpf-tools prints them with decimals;
    # BCC truncates); the duration is measured separately
    assert ours[:6] == their[0][:6], (out, theirs)
    assert [int(x) for x in ours[6:8]] == [int(float(x)) for x in their[0][6:8]], (out, theirs)
