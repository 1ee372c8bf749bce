"""What the TCP tools share: state names, port lists, and reading a `struct sock`'s
endpoints in a program (through BTF, the same fields BCC's kprobes read)."""

from __future__ import annotations

from .base import ToolError

AF_INET, AF_INET6 = 2, 10
IPPROTO_TCP = 6
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1 = 1, 2, 3, 4
TCP_CLOSE, TCP_LAST_ACK = 7, 9

# include/net/tcp_states.h
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
          7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}


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
