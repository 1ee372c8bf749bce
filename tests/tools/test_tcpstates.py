"""tcpstates: one loopback session on a known port; -L shows exactly the server side's
transitions, -D exactly the client's, in BCC's columns; libbpf-tools' tcpstates reports
the same transitions on the same session."""

from __future__ import annotations

import os
import re
import shutil
import socket

import pytest

from .conftest import bpfscope
from .sysenv import tcp_listener, tcp_session

HEADER = ("SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT "
          "OLDSTATE    -> NEWSTATE    MS")
ROW = re.compile(r"^([0-9a-f]+) +(\d+) +(\S.{0,9}?) +(\S+) +(\d+) +(\S+) +(\d+) +(\S+) +-> (\S+) +(\d+\.\d{3})$")
SERVER = [("CLOSE", "LISTEN"), ("LISTEN", "SYN_RECV"), ("SYN_RECV", "ESTABLISHED"), ("ESTABLISHED", "CLOSE_WAIT"),
          ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSE"), ("LISTEN", "CLOSE")]
CLIENT = [("CLOSE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("ESTABLISHED", "FIN_WAIT1"),
          ("FIN_WAIT1", "FIN_WAIT2"), ("FIN_WAIT2", "CLOSE")]


def session(srv: socket.socket) -> None:
    """1000 bytes to the server, none back; the client closes first."""
    tcp_session(send=1000, reply=0, srv=srv)


def test_help_and_journal() -> None:
    r = bpfscope("tcpstates", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: tcpstates [-h] [-T] [-t] [-w] [-s] [-L LOCALPORT]")
    r = bpfscope("tcpstates", "-Y")
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def _transitions(out: str) -> list[tuple[str, str]]:
    rows = [ROW.match(ln) for ln in out.splitlines()[1:]]
    assert all(rows), out
    return [(m.group(8), m.group(9)) for m in rows if m]


def test_server_side_with_local_port(tool) -> None:
    srv = tcp_listener()
    port = srv.getsockname()[1]
    p = tool("tcpstates", "-L", str(port))
    assert p.ready() == HEADER
    session(srv)
    p.wait_for("LISTEN      -> CLOSE")
    out = p.stop()
    assert sorted(_transitions(out)) == sorted(SERVER), out
    assert all(int(m.group(5)) == port for m in map(ROW.match, out.splitlines()[1:]) if m)


def test_client_side_with_remote_port_csv_ipv6(tool) -> None:
    srv = tcp_listener("::1")
    port = srv.getsockname()[1]
    p = tool("tcpstates", "-s", "-t", "-D", str(port))
    assert p.ready() == "TIME(s),SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS"
    session(srv)
    p.wait_for("FIN_WAIT2,CLOSE")
    out = p.stop()
    rows = [ln.split(",") for ln in out.splitlines()[1:]]
    assert [(r[9], r[10]) for r in rows] == CLIENT, out
    assert all(r[4] == "6" and r[7] == "::1" and r[8] == str(port) for r in rows)
    assert rows[0][2] == str(os.getpid())        # CLOSE -> SYN_SENT runs in connect()


@pytest.mark.skipif(shutil.which("tcpstates") is None, reason="libbpf-tools not installed")
def test_same_transitions_as_libbpf_tools(tool, peer) -> None:
    srv = tcp_listener()
    port = srv.getsockname()[1]
    theirs_p = peer("tcpstates", "-L", str(port), ready="SKADDR")
    p = tool("tcpstates", "-L", str(port))
    p.ready()
    session(srv)
    p.wait_for("LISTEN      -> CLOSE")
    out = p.stop()
    theirs = theirs_p.stop()
    their_tr = re.findall(r" (\w+) +-> (\w+) ", theirs)
    assert sorted(_transitions(out)) == sorted(their_tr), (out, theirs)
