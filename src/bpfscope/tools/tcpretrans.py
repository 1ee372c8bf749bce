"""tcpretrans: trace TCP retransmits (BCC's options and columns).

The tcp:tcp_retransmit_skb tracepoint, as BCC uses it where it exists; tail loss probes
(-l) have no tracepoint, so they need BCC's kprobe on tcp_send_loss_probe.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from . import _tcp
from .base import Tool, ToolError
from .needs import Need, have_feature
from .timefmt import hms

EXAMPLES = """examples:
    ./tcpretrans           # trace TCP retransmits
    ./tcpretrans -l        # include TLP attempts
    ./tcpretrans -4        # trace IPv4 family only
    ./tcpretrans -6        # trace IPv6 family only
"""
_SK = "((struct sock *){})"


class TcpRetrans(Tool):
    name = "tcpretrans"
    purpose = "Trace TCP retransmits"
    description = "Trace TCP retransmits"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-s", "--sequence", action="store_true", help="display TCP sequence numbers")
        ap.add_argument("-l", "--lossprobe", action="store_true", help="include tail loss probe attempts")
        ap.add_argument("-c", "--count", action="store_true", help="count occurred retransmits per flow")
        _tcp.add_family_args(ap)

    def check(self) -> None:
        if self.o.lossprobe and not have_feature("kprobe"):
            raise ToolError("tcpretrans: -l needs a kprobe on tcp_send_loss_probe (tail loss probes have no "
                            "tracepoint) and this kernel has no kprobes; run without -l to trace retransmits")

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "tcp:tcp_retransmit_skb", instead="BCC's kprobe fallback needs Linux 4.15 "
                     "tracepoints or kprobes"), Need("btf", instead="tcpretrans reads struct sock through BTF")]

    def _probe(self, sk: str, kind: int, seq: str) -> str:
        fam = _tcp.family_cond(f"{sk}->__sk_common.skc_family", self.o.ipv4, self.o.ipv6)
        fields = _tcp.sock_fields(sk)
        if self.o.count:
            return (f"  if ({fam or 1}) {{ @count[{fields}] = count(); }}\n")
        return (f"  if ({fam or 1}) {{ printf(\"rt %d %d %d {_tcp.SOCK_FMT} %d\\n\", {kind}, pid, "
                f"{sk}->__sk_common.skc_state, {fields}, {seq}); }}\n")

    def program(self) -> str:
        sk = _SK.format("args.skaddr")
        seq = ("args.skbaddr ? ((struct tcp_skb_cb *)((uint64)args.skbaddr + offsetof(struct sk_buff, cb)))->seq "
               ": 0") if self.o.sequence else "0"
        text = "tracepoint:tcp:tcp_retransmit_skb {\n" + self._probe(sk, 0, seq) + "}\n"
        if self.o.lossprobe:
            text += "kprobe:tcp_send_loss_probe {\n" + self._probe(_SK.format("arg0"), 1, "0") + "}\n"
        return text

    def header(self) -> str:
        if self.o.count:
            return "Tracing retransmits ... Hit Ctrl-C to end"
        h = "%-8s %-7s %-2s %-20s %1s> %-20s" % ("TIME", "PID", "IP", "LADDR:LPORT", "T", "RADDR:RPORT")
        h += " %-12s %-10s" % ("STATE", "SEQ") if self.o.sequence else " %-4s" % "STATE"
        return "Tracing retransmits ... Hit Ctrl-C to end\n" + h

    def on_rt(self, kind_id: int, pid: int, state: int, fam: int, s4: str, d4: str, s6: str, d6: str,
              lport: int, dport: int, seq: int) -> None:
        kind = "L" if kind_id else "R"    # tail loss probe / retransmit
        laddr = "%s:%d" % (_tcp.pick(fam, s4, s6), lport)
        raddr = "%s:%d" % (_tcp.pick(fam, d4, d6), dport)
        line = "%-8s %-7d %-2d %-20s %1s> %-20s" % (hms(), pid, _tcp.ipver(fam), laddr, kind, raddr)
        st = _tcp.state_name(state)
        line += " %-12s %s" % (st, seq) if self.o.sequence else " %s" % st
        self.emit(line, pid=pid, ip=_tcp.ipver(fam), laddr=_tcp.pick(fam, s4, s6), lport=lport,
                  type=kind, raddr=_tcp.pick(fam, d4, d6), rport=dport, state=st, seq=seq)

    def finish(self, interrupted: bool) -> None:
        if not self.o.count:
            return
        self.write("\n%-25s %-25s %-10s\n" % ("LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"))
        flows = sorted((self.map("@count") or {}).items(), key=lambda kv: kv[1])
        for want in (_tcp.AF_INET, _tcp.AF_INET6):   # BCC prints the IPv4 table, then IPv6
            for (fam, s4, d4, s6, d6, lport, dport), n in flows:
                if (fam == _tcp.AF_INET6) != (want == _tcp.AF_INET6):
                    continue
                la, ra = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
                key = "%-20s <-> %-20s" % ("[%s]#%d" % (la, lport), "[%s]#%d" % (ra, dport))
                self.emit("%s %10d" % (key, n), laddr=la, lport=lport, raddr=ra, rport=dport, retransmits=n)


TOOL = TcpRetrans
