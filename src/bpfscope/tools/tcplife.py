"""tcplife: trace the lifespan of TCP sessions and summarize (BCC's options and columns).

As BCC on kernels with sock:inet_sock_set_state: a session's birth is stamped on any early
state, its process cached on SYN_SENT (client) or LAST_ACK (server side closing), and one
line printed on CLOSE with the bytes from struct tcp_sock (read through BTF).
"""

from __future__ import annotations

import argparse

from . import _tcp
from .base import Tool, pred
from .needs import Need

EXAMPLES = """examples:
    ./tcplife           # trace all TCP connect()s
    ./tcplife -T        # include time column (HH:MM:SS)
    ./tcplife -w        # wider columns (fit IPv6)
    ./tcplife -stT      # csv output, with times & timestamps
    ./tcplife -p 181    # only trace PID 181
    ./tcplife -L 80     # only trace local port 80
    ./tcplife -L 80,81  # only trace local ports 80 and 81
    ./tcplife -D 80     # only trace remote port 80
    ./tcplife -4        # only trace IPv4 family
    ./tcplife -6        # only trace IPv6 family
"""


class TcpLife(Tool):
    name = "tcplife"
    purpose = "Trace the lifespan of TCP sessions and summarize"
    description = "Trace the lifespan of TCP sessions and summarize"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        _tcp.add_time_columns(ap)
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        _tcp.add_port_args(ap)
        _tcp.add_family_args(ap)

    def check(self) -> None:
        self.lports = _tcp.ports(self.o.localport, "-L")
        self.dports = _tcp.ports(self.o.remoteport, "-D")

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "sock:inet_sock_set_state",
                     instead="BCC's kprobe on tcp_set_state serves on kernels before 4.16"),
                Need("btf", instead="tcplife reads struct tcp_sock through BTF")]

    def program(self) -> str:
        o = self.o
        p = pred(f"args.protocol == {_tcp.IPPROTO_TCP}", _tcp.any_of("args.sport", self.lports),
                 _tcp.any_of("args.dport", self.dports))
        pid_ok = f"$pid == {o.pid}" if o.pid is not None else "1"
        fam = _tcp.family_cond("args.family", o.ipv4, o.ipv6) or "1"
        sk = "args.skaddr"
        return f"""
tracepoint:sock:inet_sock_set_state {p} {{
  if (args.newstate < {_tcp.TCP_FIN_WAIT1}) {{ @birth[{sk}] = nsecs; }}
  if (args.newstate == {_tcp.TCP_SYN_SENT} || args.newstate == {_tcp.TCP_LAST_ACK}) {{
    $pid = pid;
    if ({pid_ok}) {{ @who[{sk}] = (pid, comm); }}
  }}
  if (args.newstate == {_tcp.TCP_CLOSE}) {{
    $b = @birth[{sk}];
    $w = @who[{sk}];
    if ($w.0) {{ delete(@who, {sk}); }}
    if ($b) {{
      delete(@birth, {sk});
      $pid = $w.0 ? $w.0 : pid;
      if ({pid_ok} && {fam}) {{
        $tp = (struct tcp_sock *){sk};
        printf("life %d %s %d %s %s %s %s %d %d %d %d %d %d\\n", $pid, $w.0 ? $w.1 : comm, args.family,
               ntop(args.saddr), ntop(args.daddr), ntop(args.saddr_v6), ntop(args.daddr_v6), args.sport,
               args.dport, $tp->bytes_acked, $tp->bytes_received, (uint64)(nsecs - $b) / (uint64)1000, nsecs);
      }}
    }}
  }}
}}
"""

    def header(self) -> str:
        o = self.o
        if o.csv:
            fmt = "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s"
        elif o.wide:
            fmt = "%-5s %-16.16s %-2s %-26s %-5s %-26s %-5s %6s %6s %s"
        else:
            fmt = "%-5s %-10.10s %s%-15s %-5s %-15s %-5s %5s %5s %s"
        return _tcp.time_header(o) + fmt % ("PID", "COMM", "IP" if o.wide or o.csv else "", "LADDR", "LPORT",
                                       "RADDR", "RPORT", "TX_KB", "RX_KB", "MS")

    def on_life(self, pid: int, comm: str, fam: int, s4: str, d4: str, s6: str, d6: str, lport: int,
                dport: int, tx: int, rx: int, span_us: int, ts: int) -> None:
        o = self.o
        if o.csv:
            fmt = "%d,%s,%s,%s,%s,%s,%d,%d,%d,%.2f"
        elif o.wide:
            fmt = "%-5d %-16.16s %-2s %-26s %-5s %-26s %-5d %6d %6d %.2f"
        else:
            fmt = "%-5d %-10.10s %s%-15s %-5d %-15s %-5d %5d %5d %.2f"
        ip = str(_tcp.ipver(fam)) if o.wide or o.csv else ""
        la, ra = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
        line = _tcp.time_prefix(self, o, ts) + fmt % (pid, comm, ip, la, lport, ra, dport, tx // 1024, rx // 1024,
                                                 span_us / 1000)
        self.emit(line, pid=pid, comm=comm, ip=_tcp.ipver(fam), laddr=la, lport=lport, raddr=ra, rport=dport,
                  tx_kb=tx // 1024, rx_kb=rx // 1024, ms=span_us / 1000)


TOOL = TcpLife
