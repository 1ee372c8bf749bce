"""tcpaccept: this process accepts one loopback connection on a known port; exactly one line
with its PID and both endpoints in BCC's columns; -P / -4 / -6 filter. (kprobe variant:
tests/vm/test_tools_vm.py.)"""

from __future__ import annotations

import os
import re

from .conftest import bpfscope
from .sysenv import connect_once

HEADER = "PID     COMM         IP RADDR            RPORT LADDR            LPORT"
ROW = re.compile(r"^(?:\d\d:\d\d:\d\d +)?(?:\d+\.\d{3} *)?(\d+) +(\S.{0,11}?) +([46]) +(\S+) +(\d+) +(\S+) +(\d+)$")


def test_help() -> None:
    r = bpfscope("tcpaccept", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: tcpaccept [-h] [-T] [-t] [-p PID] [-P PORT] [-4 | -6]")


def test_one_accept(tool) -> None:
    p = tool("tcpaccept", "-p", str(os.getpid()))
    assert p.ready() == HEADER
    port, cport = connect_once()
    p.wait_for(f" {port}")
    out = p.stop()
    rows = [ROW.match(ln) for ln in out.splitlines()[1:]]
    assert len(rows) == 1 and rows[0], out
    m = rows[0]
    assert int(m.group(1)) == os.getpid() and m.group(3) == "4"
    assert (m.group(4), int(m.group(5)), m.group(6), int(m.group(7))) == ("127.0.0.1", cport, "127.0.0.1", port)


def test_port_and_family_filters(tool) -> None:
    p4 = tool("tcpaccept", "-4", "-T", "-t")
    p6 = tool("tcpaccept", "-6")
    p4.ready()
    p6.ready()
    port4, _ = connect_once()
    port6, cport6 = connect_once("::1")
    out4, out6 = p4.stop(), p6.stop()
    assert out4.splitlines()[0] == "TIME     TIME(s)  " + HEADER
    assert re.search(rf" 4 +127\.0\.0\.1 +\d+ +127\.0\.0\.1 +{port4}$", out4, re.M), out4
    assert f" {port6}" not in out4
    assert re.search(rf" 6 +::1 +{cport6} +::1 +{port6}$", out6, re.M) and f" {port4}" not in out6, out6
    q = tool("tcpaccept", "-P", "1")
    q.ready()
    port, _ = connect_once()
    assert f" {port}" not in q.stop()
