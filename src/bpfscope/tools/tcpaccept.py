"""tcpaccept: trace passive TCP connections, accept() (BCC's options and columns).

With kprobes, as BCC: the socket inet_csk_accept returns. Without: the accept()/accept4()
syscall's exit, with the new descriptor looked up in the process's file table and its
struct sock read through BTF.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from . import _tcp
from .base import Tool, add_pinned_map_args, pred, refuse_pinned_maps
from .needs import Need, use_kprobes
from .timefmt import hms

EXAMPLES = """examples:
    ./tcpaccept           # trace all TCP accept()s
    ./tcpaccept -t        # include timestamps
    ./tcpaccept -P 80,81  # only trace port 80 and 81
    ./tcpaccept -p 181    # only trace PID 181
    ./tcpaccept --cgroupmap mappath  # only trace cgroups in this BPF map
    ./tcpaccept --mntnsmap mappath   # only trace mount namespaces in the map
    ./tcpaccept -4        # trace IPv4 family only
    ./tcpaccept -6        # trace IPv6 family only
"""


class TcpAccept(Tool):
    name = "tcpaccept"
    purpose = "Trace TCP accepts"
    description = "Trace TCP accepts"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--time", action="store_true", help="include time column on output (HH:MM:SS)")
        ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-P", "--port", help="comma-separated list of local ports to trace")
        _tcp.add_family_args(ap)
        add_pinned_map_args(ap)

    def check(self) -> None:
        refuse_pinned_maps("tcpaccept", self.o, "-p")
        self.lports = _tcp.ports(self.o.port, "-P")
        self.kprobes = use_kprobes()

    def requires(self) -> list[Need]:
        if self.kprobes:
            return [Need("btf", instead="tcpaccept reads struct sock through BTF")]
        return [Need("tracepoint", "syscalls:sys_exit_accept4", instead="kprobes would serve (BCC's way)"),
                Need("btf", instead="tcpaccept reads the file table and struct sock through BTF")]

    def _report(self, sk: str) -> str:
        o = self.o
        c = f"{sk}->__sk_common"
        fam = _tcp.family_cond(f"{c}.skc_family", o.ipv4, o.ipv6) or \
            f"({c}.skc_family == {_tcp.AF_INET} || {c}.skc_family == {_tcp.AF_INET6})"
        keep = " && ".join(x for x in (f"{sk}->sk_protocol == {_tcp.IPPROTO_TCP}", fam,
                                       _tcp.any_of(f"{c}.skc_num", self.lports)) if x)
        return (f'if ({keep}) {{ printf("acc %d %s {_tcp.SOCK_FMT} %d\\n", pid, comm, '
                f'{_tcp.sock_fields(sk)}, nsecs); }}')

    def program(self) -> str:
        who = pred(f"pid == {self.o.pid}" if self.o.pid is not None else "")
        if self.kprobes:
            return f"""
kretprobe:inet_csk_accept {who} {{
  if (retval) {{ $sk = (struct sock *)retval; {self._report("$sk")} }}
}}
"""
        exits = "tracepoint:syscalls:sys_exit_accept4"
        if self._have_accept():
            exits += ", tracepoint:syscalls:sys_exit_accept"
        cond = pred("args.ret >= 0", who[1:-1] if who else "")
        return f"""
{exits} {cond} {{
  $f = curtask->files->fdt->fd[args.ret];
  $sock = (struct socket *)$f->private_data;
  $sk = $sock->sk;
  if ($sk) {{ {self._report("$sk")} }}
}}
"""

    @staticmethod
    def _have_accept() -> bool:
        from .needs import have_tracepoint

        return have_tracepoint("syscalls:sys_exit_accept")

    def header(self) -> str:
        h = ""
        if self.o.time:
            h += "%-9s" % "TIME"
        if self.o.timestamp:
            h += "%-9s" % "TIME(s)"
        return h + "%-7s %-12s %-2s %-16s %-5s %-16s %-5s" % ("PID", "COMM", "IP", "RADDR", "RPORT", "LADDR",
                                                                 "LPORT")

    def on_acc(self, pid: int, comm: str, fam: int, s4: str, d4: str, s6: str, d6: str, lport: int,
               dport: int, ts: int) -> None:
        la, ra = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
        line = ""
        if self.o.time:
            line += "%-9s" % hms()
        if self.o.timestamp:
            line += "%-9.3f" % self.clock.since_first(ts)
        line += "%-7d %-12.12s %-2d %-16s %-5d %-16s %-5d" % (pid, comm, _tcp.ipver(fam), ra, dport, la, lport)
        self.emit(line, pid=pid, comm=comm, ip=_tcp.ipver(fam), raddr=ra, rport=dport, laddr=la, lport=lport)


TOOL = TcpAccept
