"""tcpconnect: this process connects to a loopback listener on a known port; exactly one
line with its PID, addresses and ports; filters (-p, -u, -4/-6, -P) keep or drop it; -c
counts it. (kprobe variant: tests/vm/test_tools_vm.py.)"""

from __future__ import annotations

import os
import re

from .conftest import bpfscope
from .sysenv import connect_once

ROW = re.compile(r"^(?:(\d+\.\d{3}) *)?(?:(\d+) +)?(\d+) +(\S.{0,11}?) +([46]) +(\S+) +(?:(\d+) +)?(\S+) +(\d+) +$")


def test_help_and_unsupported() -> None:
    r = bpfscope("tcpconnect", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6]")
    r = bpfscope("tcpconnect", "-d", "-c")
    assert r.returncode == 1 and r.stderr == "Error: you may not specify -d/--dns with -c/--count.\n"
    r = bpfscope("tcpconnect", "-d")
    assert r.returncode == 1 and r.stderr.count("\n") == 1


def test_one_connect_with_all_columns(tool) -> None:
    p = tool("tcpconnect", "-t", "-U", "-L", "-p", str(os.getpid()))
    p.ready()
    assert p.wait_for("TIME(s)  UID   PID     COMM         IP SADDR            LPORT  DADDR            DPORT ")
    port, lport = connect_once()
    p.wait_for(f" {port} ")
    out = p.stop()
    rows = [ROW.match(ln) for ln in out.splitlines()[2:]]
    assert len(rows) == 1 and rows[0], out
    m = rows[0]
    assert (int(m.group(2)), int(m.group(3)), m.group(5)) == (os.getuid(), os.getpid(), "4")
    assert (m.group(6), int(m.group(7)), m.group(8), int(m.group(9))) == ("127.0.0.1", lport, "127.0.0.1", port)


def test_filters(tool) -> None:
    other_pid = tool("tcpconnect", "-p", "1")
    other_uid = tool("tcpconnect", "-u", "4242")
    only6 = tool("tcpconnect", "-6")
    for p in (other_pid, other_uid, only6):
        p.ready()
    port, _ = connect_once()
    port6, _ = connect_once("::1")
    out_pid, out_uid, out6 = other_pid.stop(), other_uid.stop(), only6.stop()
    assert f" {port} " not in out_pid and f" {port} " not in out_uid, (out_pid, out_uid)
    assert f" {port} " not in out6 and re.search(rf" ::1 +::1 +{port6} +$", out6, re.M), out6


def test_count(tool) -> None:
    p = tool("tcpconnect", "-c", "-P", "1")   # port 1: nothing of ours
    q = tool("tcpconnect", "-c")
    p.ready()
    q.ready()
    port, _ = connect_once()
    port2, _ = connect_once()
    out_p, out_q = p.stop(), q.stop()
    assert "LADDR                     RADDR                     RPORT                CONNECTS" in out_q
    assert re.search(rf"^127\.0\.0\.1 +127\.0\.0\.1 +{port} +1 +$", out_q, re.M), out_q
    assert re.search(rf"^127\.0\.0\.1 +127\.0\.0\.1 +{port2} +1 +$", out_q, re.M), out_q
    assert f" {port} " not in out_p
