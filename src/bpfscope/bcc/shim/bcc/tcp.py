"""bcc.tcp: names for TCP states and header flags, for scripts that print them (tcpdrop).
States are the kernel's enum (include/net/tcp_states.h); flags are the bits of the TCP
header's flag byte (TCPHDR_* in include/net/tcp.h)."""

from __future__ import annotations

__all__ = ["tcpstate", "flags2str", "TCPHDR_FIN", "TCPHDR_SYN", "TCPHDR_RST", "TCPHDR_PSH",
           "TCPHDR_ACK", "TCPHDR_URG", "TCPHDR_ECE", "TCPHDR_CWR"]

tcpstate: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
    11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE",
}

TCPHDR_FIN = 0x01
TCPHDR_SYN = 0x02
TCPHDR_RST = 0x04
TCPHDR_PSH = 0x08
TCPHDR_ACK = 0x10
TCPHDR_URG = 0x20
TCPHDR_ECE = 0x40
TCPHDR_CWR = 0x80

_NAMES = (("FIN", TCPHDR_FIN), ("SYN", TCPHDR_SYN), ("RST", TCPHDR_RST), ("PSH", TCPHDR_PSH),
          ("ACK", TCPHDR_ACK), ("URG", TCPHDR_URG), ("ECE", TCPHDR_ECE), ("CWR", TCPHDR_CWR))


def flags2str(flags: int) -> str:
    """The set flags' names, lowest bit first, joined by '|' ("" when none is set)."""
    return "|".join(name for name, bit in _NAMES if flags & bit)
