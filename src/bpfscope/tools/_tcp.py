"""What the TCP tools share: state names, port lists, their common options (-4/-6, -L/-D,
tcplife's and tcpstates' time columns), and reading a `struct sock`'s endpoints in a program
(through BTF, the same fields BCC's kprobes read)."""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from .base import ToolError
from .timefmt import hms

AF_INET, AF_INET6 = 2, 10
IPPROTO_TCP = 6
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1 = 1, 2, 3, 4
TCP_CLOSE, TCP_LAST_ACK = 7, 9

# include/net/tcp_states.h
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
          7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}


def add_family_args(ap: argparse.ArgumentParser) -> None:
    """BCC's -4/-6 (dests ipv4, ipv6; see family_cond)."""
    g = ap.add_mutually_exclusive_group()
    g.add_argument("-4", "--ipv4", action="store_true", help="trace IPv4 family only")
    g.add_argument("-6", "--ipv6", action="store_true", help="trace IPv6 family only")


def add_port_args(ap: argparse.ArgumentParser) -> None:
    """tcplife's and tcpstates' -L/-D port lists (parsed by ports())."""
    ap.add_argument("-L", "--localport", help="comma-separated list of local ports to trace.")
    ap.add_argument("-D", "--remoteport", help="comma-separated list of remote ports to trace.")


def add_time_columns(ap: argparse.ArgumentParser) -> None:
    """tcplife's and tcpstates' -T/-t/-w/-s."""
    ap.add_argument("-T", "--time", action="store_true", help="include time column on output (HH:MM:SS)")
    ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp on output (seconds)")
    ap.add_argument("-w", "--wide", action="store_true", help="wide column output (fits IPv6 addresses)")
    ap.add_argument("-s", "--csv", action="store_true", help="comma separated values output")


def time_prefix(tool: object, o: argparse.Namespace, ts_ns: int) -> str:
    """-T / -t columns as tcplife and tcpstates print them (csv: "x," fields)."""
    out = ""
    if o.time:
        out += f"{hms()}," if o.csv else "%-8s " % hms()
    if o.timestamp:
        s = tool.clock.since_first(ts_ns)   # type: ignore[attr-defined]
        out += "%.6f," % s if o.csv else "%-9.6f " % s
    return out


def time_header(o: argparse.Namespace) -> str:
    out = ""
    if o.time:
        out += "TIME," if o.csv else "%-8s " % "TIME"
    if o.timestamp:
        out += "TIME(s)," if o.csv else "%-9s " % "TIME(s)"
    return out


def state_name(s: int) -> str:
    return STATES.get(s, str(s))


def ports(text: str | None, opt: str) -> list[int]:
    """A comma-separated port list (-P 80,81 / -L / -D)."""
    if not text:
        return []
    try:
        out = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ToolError(f"invalid port list for {opt}: '{text}'") from None
    if not out or any(not 0 <= p <= 65535 for p in out):
        raise ToolError(f"invalid port list for {opt}: '{text}'")
    return out


def any_of(expr: str, values: list[int]) -> str:
    """"(expr == a || expr == b)" or "" for no values."""
    if not values:
        return ""
    return "(" + " || ".join(f"{expr} == {v}" for v in values) + ")"


def family_cond(expr: str, ipv4: bool, ipv6: bool) -> str:
    if ipv4:
        return f"{expr} == {AF_INET}"
    if ipv6:
        return f"{expr} == {AF_INET6}"
    return ""


def sock_fields(sk: str) -> str:
    """printf arguments for a `struct sock *` expression: family, v4 saddr, v4 daddr, v6 saddr,
    v6 daddr, local port, remote port (host order) — matched by `SOCK_FMT`."""
    c = f"{sk}->__sk_common"
    return (f"{c}.skc_family, ntop({c}.skc_rcv_saddr), ntop({c}.skc_daddr), "
            f"ntop({c}.skc_v6_rcv_saddr.in6_u.u6_addr8), ntop({c}.skc_v6_daddr.in6_u.u6_addr8), "
            f"{c}.skc_num, bswap({c}.skc_dport)")


SOCK_FMT = "%d %s %s %s %s %d %d"


def pick(family: int, v4: str, v6: str) -> str:
    return v6 if family == AF_INET6 else v4


def ipver(family: int) -> int:
    return 6 if family == AF_INET6 else 4
