"""rtnetlink in pure Python: list links with their XDP programs, set/clear XDP, dump tc filters.

`bpfscope net` needs what bpftool asks the kernel over NETLINK_ROUTE: RTM_GETLINK dumps
(IFLA_XDP tells which program is attached and in which mode), RTM_SETLINK with
IFLA_XDP_FD to attach or detach, and RTM_GETQDISC/GETTCLASS/GETTFILTER dumps to find tc
`bpf` classifiers. Errors come back as NlError with the kernel's extended-ack message.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x300
NLA_F_NESTED = 1 << 15
NLMSGERR_ATTR_MSG = 1

RTM_GETLINK, RTM_SETLINK = 18, 19
RTM_GETQDISC, RTM_GETTCLASS, RTM_GETTFILTER = 38, 42, 46

IFLA_IFNAME = 3
IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_ATTACHED, IFLA_XDP_FLAGS, IFLA_XDP_PROG_ID = 1, 2, 3, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 5, 6, 7
XDP_ATTACHED_NONE, XDP_ATTACHED_DRV, XDP_ATTACHED_SKB, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI = range(5)
XDP_FLAGS_UPDATE_IF_NOEXIST, XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE = 1, 2, 4, 8

TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_ACT, TCA_BPF_NAME, TCA_BPF_ID = 1, 7, 11
TCA_ACT_KIND, TCA_ACT_OPTIONS = 1, 2
TCA_ACT_BPF_PARMS, TCA_ACT_BPF_NAME, TCA_ACT_BPF_ID = 2, 6, 9
TCA_ACT_MAX_PRIO = 32
TC_H_ROOT = 0xFFFFFFFF
TC_H_CLSACT_INGRESS = 0xFFFFFFF2
TC_H_CLSACT_EGRESS = 0xFFFFFFF3

AF_UNSPEC, AF_PACKET = 0, 17


class NlError(OSError):
    """A netlink request the kernel refused; str() includes its extended-ack text."""


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """Top-level attributes of a netlink payload (type without the NESTED/BYTEORDER bits)."""
    out: dict[int, bytes] = {}
    p = 0
    while p + 4 <= len(data):
        length, atype = struct.unpack_from("=HH", data, p)
        if length < 4:
            break
        out[atype & 0x3FFF] = data[p + 4:p + length]
        p += (length + 3) & ~3
    return out


def attr(atype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + b"\0" * ((4 - len(raw) % 4) % 4)


def cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace")


def u32(b: bytes) -> int:
    return int(struct.unpack_from("=I", b)[0])


class Netlink:
    """One NETLINK_ROUTE socket; requests are sequential, replies gathered per request."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except OSError:
            pass
        self.sock.bind((0, 0))
        self.pid = self.sock.getsockname()[0]
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, mtype: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one message; return (type, payload) of every reply until DONE/ACK."""
        self.seq += 1
        seq = self.seq
        msg = struct.pack("=IHHII", 16 + len(body), mtype, flags | NLM_F_REQUEST, seq, 0) + body
        self.sock.send(msg)
        out: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                return out
            p = 0
            multi = False
            while p + 16 <= len(data):
                length, rtype, rflags, rseq, _pid = struct.unpack_from("=IHHII", data, p)
                if length < 16:
                    break
                payload = data[p + 16:p + length]
                p += (length + 3) & ~3
                if rseq != seq:
                    continue
                if rflags & NLM_F_MULTI:
                    multi = True
                if rtype == NLMSG_DONE:
                    return out
                if rtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err == 0:
                        return out
                    raise NlError(err, self._ext_ack(payload, err))
                out.append((rtype, payload))
            if not multi:
                return out

    @staticmethod
    def _ext_ack(payload: bytes, err: int) -> str:
        text = os.strerror(err)
        if len(payload) >= 20:
            olen = struct.unpack_from("=I", payload, 4)[0]
            # with ext ack, the original request is capped to its header (16 bytes)
            tail = payload[4 + 16:] if olen > 16 else payload[4 + olen:]
            msg = parse_attrs(tail).get(NLMSGERR_ATTR_MSG)
            if msg:
                text += f" ({cstr(msg)})"
        return text


# ------------------------------------------------------------------ links and XDP
@dataclass
class XdpState:
    mode: int = XDP_ATTACHED_NONE
    prog_id: int = 0
    drv_id: int = 0
    skb_id: int = 0
    hw_id: int = 0


@dataclass
class Link:
    ifindex: int
    name: str
    xdp: XdpState = field(default_factory=XdpState)


def _xdp_state(raw: bytes | None) -> XdpState:
    st = XdpState()
    if not raw:
        return st
    a = parse_attrs(raw)
    if IFLA_XDP_ATTACHED in a:
        st.mode = a[IFLA_XDP_ATTACHED][0]
    st.prog_id = u32(a[IFLA_XDP_PROG_ID]) if IFLA_XDP_PROG_ID in a else 0
    st.drv_id = u32(a[IFLA_XDP_DRV_PROG_ID]) if IFLA_XDP_DRV_PROG_ID in a else 0
    st.skb_id = u32(a[IFLA_XDP_SKB_PROG_ID]) if IFLA_XDP_SKB_PROG_ID in a else 0
    st.hw_id = u32(a[IFLA_XDP_HW_PROG_ID]) if IFLA_XDP_HW_PROG_ID in a else 0
    return st


def links(nl: Netlink) -> list[Link]:
    """Every network device of this namespace, in the kernel's dump order."""
    body = struct.pack("=BxHiII", AF_PACKET, 0, 0, 0, 0)
    out = []
    for _t, payload in nl.request(RTM_GETLINK, NLM_F_DUMP, body):
        _fam, _type, ifindex, _flags, _change = struct.unpack_from("=BxHiII", payload)
        a = parse_attrs(payload[16:])
        out.append(Link(ifindex, cstr(a.get(IFLA_IFNAME, b"")), _xdp_state(a.get(IFLA_XDP))))
    return out


def set_xdp(nl: Netlink, ifindex: int, prog_fd: int, flags: int = 0) -> None:
    """Attach (prog_fd >= 0) or detach (-1) the XDP program of a device."""
    inner = attr(IFLA_XDP_FD, struct.pack("=i", prog_fd))
    if flags:
        inner += attr(IFLA_XDP_FLAGS, struct.pack("=I", flags))
    body = struct.pack("=BxHiII", AF_UNSPEC, 0, ifindex, 0, 0) + attr(IFLA_XDP | NLA_F_NESTED, inner)
    nl.request(RTM_SETLINK, NLM_F_ACK, body)


# ------------------------------------------------------------------ tc
@dataclass
class TcFilter:
    kind: str               # where it hangs: qdisc kind, "root", "clsact/ingress", ...
    name: str = ""          # TCA_BPF_NAME
    prog_id: int = 0
    actions: list[tuple[str, int]] = field(default_factory=list)


def _tcmsg(ifindex: int, parent: int = 0) -> bytes:
    return struct.pack("=BxxxiIII", AF_UNSPEC, ifindex, 0, parent, 0)


def _tc_dump(nl: Netlink, mtype: int, ifindex: int, parent: int = 0) -> list[tuple[int, dict[int, bytes]]]:
    """(handle, attributes) of each object of a tc dump for one device."""
    out = []
    for _t, payload in nl.request(mtype, NLM_F_DUMP, _tcmsg(ifindex, parent)):
        _fam, _ifi, handle, _parent, _info = struct.unpack_from("=BxxxiIII", payload)
        out.append((handle, parse_attrs(payload[20:])))
    return out


def _bpf_actions(raw: bytes) -> list[tuple[str, int]]:
    acts = []
    prio = parse_attrs(raw)
    for i in range(TCA_ACT_MAX_PRIO + 1):
        if i not in prio:
            continue
        a = parse_attrs(prio[i])
        if cstr(a.get(TCA_ACT_KIND, b"")) != "bpf" or TCA_ACT_OPTIONS not in a:
            continue
        o = parse_attrs(a[TCA_ACT_OPTIONS])
        acts.append((cstr(o.get(TCA_ACT_BPF_NAME, b"")),
                     u32(o[TCA_ACT_BPF_ID]) if TCA_ACT_BPF_ID in o else 0))
    return acts


def tc_filters(nl: Netlink, ifindex: int) -> list[TcFilter]:
    """bpf classifiers of a device: under its classes and qdiscs, then root and clsact."""
    where: list[tuple[str, int]] = []
    for handle, a in _tc_dump(nl, RTM_GETTCLASS, ifindex):
        where.append((cstr(a.get(TCA_KIND, b"unknown")), handle))
    for handle, a in _tc_dump(nl, RTM_GETQDISC, ifindex):
        kind = cstr(a.get(TCA_KIND, b"unknown"))
        if kind == "clsact" or handle == 0:
            continue
        where.append((kind, handle))
    where += [("root", TC_H_ROOT), ("clsact/ingress", TC_H_CLSACT_INGRESS),
              ("clsact/egress", TC_H_CLSACT_EGRESS)]
    out: list[TcFilter] = []
    for kind, parent in where:
        try:
            dump = _tc_dump(nl, RTM_GETTFILTER, ifindex, parent)
        except NlError:
            continue
        for _h, a in dump:
            if cstr(a.get(TCA_KIND, b"")) != "bpf" or TCA_OPTIONS not in a:
                continue
            o = parse_attrs(a[TCA_OPTIONS])
            f = TcFilter(kind, cstr(o.get(TCA_BPF_NAME, b"")) if TCA_BPF_NAME in o else "",
                         u32(o[TCA_BPF_ID]) if TCA_BPF_ID in o else 0)
            if TCA_BPF_ACT in o:
                f.actions = _bpf_actions(o[TCA_BPF_ACT])
            out.append(f)
    return out


def ifindex_of(name: str) -> int:
    """if_nametoindex; 0 when there is no such device."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0
