"""tcpstates: trace TCP session state changes with durations (BCC's options and columns),
from the sock:inet_sock_set_state tracepoint as BCC uses it."""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from . import _tcp
from .base import Tool, ToolError, pred
from .needs import Need

EXAMPLES = """examples:
    ./tcpstates           # trace all TCP state changes
    ./tcpstates -t        # include timestamp column
    ./tcpstates -T        # include time column (HH:MM:SS)
    ./tcpstates -w        # wider columns (fit IPv6)
    ./tcpstates -stT      # csv output, with times & timestamps
    ./tcpstates -Y        # log events to the systemd journal
    ./tcpstates -L 80     # only trace local port 80
    ./tcpstates -L 80,81  # only trace local ports 80 and 81
    ./tcpstates -D 80     # only trace remote port 80
"""


class TcpStates(Tool):
    name = "tcpstates"
    purpose = "Trace TCP session state changes and durations"
    description = "Trace TCP session state changes and durations"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        _tcp.add_time_columns(ap)
        _tcp.add_port_args(ap)
        ap.add_argument("-Y", "--journal", action="store_true",
                        help="log session state changes to the systemd journal")
        _tcp.add_family_args(ap)

    def check(self) -> None:
        if self.o.journal:
            raise ToolError("tcpstates: -Y (systemd journal) is not supported by bpfscope; "
                            "use -s for CSV output instead")
        self.lports = _tcp.ports(self.o.localport, "-L")
        self.dports = _tcp.ports(self.o.remoteport, "-D")

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "sock:inet_sock_set_state",
                     instead="BCC's kprobe on tcp_set_state serves on kernels before 4.16")]

    def program(self) -> str:
        o = self.o
        p = pred(f"args.protocol == {_tcp.IPPROTO_TCP}", _tcp.any_of("args.sport", self.lports),
                 _tcp.any_of("args.dport", self.dports), _tcp.family_cond("args.family", o.ipv4, o.ipv6))
        return f"""
tracepoint:sock:inet_sock_set_state {p} {{
  $last = @last[args.skaddr];
  $now = nsecs;
  printf("st %d %d %s %d %s %s %s %s %d %d %d %d %d %d\\n", (uint64)args.skaddr, pid, comm, args.family,
         ntop(args.saddr), ntop(args.daddr), ntop(args.saddr_v6), ntop(args.daddr_v6), args.sport, args.dport,
         args.oldstate, args.newstate, $last ? (uint64)($now - $last) / (uint64)1000 : 0, $now);
  if (args.newstate == {_tcp.TCP_CLOSE}) {{
    if ($last) {{ delete(@last, args.skaddr); }}
  }} else {{
    @last[args.skaddr] = $now;
  }}
}}
"""

    def header(self) -> str:
        o = self.o
        if o.csv:
            fmt = "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s"
        elif o.wide:
            fmt = "%-16s %-5s %-16.16s %-2s %-26s %-5s %-26s %-5s %-11s -> %-11s %s"
        else:
            fmt = "%-16s %-5s %-10.10s %s%-15s %-5s %-15s %-5s %-11s -> %-11s %s"
        return _tcp.time_header(o) + fmt % ("SKADDR", "C-PID", "C-COMM", "IP" if o.wide or o.csv else "", "LADDR",
                                       "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE", "MS")

    def on_st(self, skaddr: int, pid: int, comm: str, fam: int, s4: str, d4: str, s6: str, d6: str,
              lport: int, dport: int, old: int, new: int, span_us: int, ts: int) -> None:
        o = self.o
        if o.csv:
            fmt = "%x,%d,%s,%s,%s,%s,%s,%d,%s,%s,%.3f"
        elif o.wide:
            fmt = "%-16x %-5d %-16.16s %-2s %-26s %-5s %-26s %-5d %-11s -> %-11s %.3f"
        else:
            fmt = "%-16x %-5d %-10.10s %s%-15s %-5d %-15s %-5d %-11s -> %-11s %.3f"
        ip = str(_tcp.ipver(fam)) if o.wide or o.csv else ""
        la, ra = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
        line = _tcp.time_prefix(self, o, ts) + fmt % (skaddr, pid, comm, ip, la, lport, ra, dport,
                                                 _tcp.state_name(old), _tcp.state_name(new), span_us / 1000)
        self.emit(line, skaddr=f"{skaddr:x}", pid=pid, comm=comm, ip=_tcp.ipver(fam), laddr=la, lport=lport,
                  raddr=ra, rport=dport, oldstate=_tcp.state_name(old), newstate=_tcp.state_name(new),
                  ms=span_us / 1000)


TOOL = TcpStates
