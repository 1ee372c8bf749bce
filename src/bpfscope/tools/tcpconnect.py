"""tcpconnect: trace active TCP connections, connect() (BCC's options and columns).

With kprobes, as BCC: tcp_v4_connect/tcp_v6_connect entry saves the socket, the return
(0: the SYN is under way) reports it. Without kprobes: the socket's CLOSE -> SYN_SENT step
(sock:inet_sock_set_state, run in the connecting thread) saves it, and the connect()
syscall's exit (0 or EINPROGRESS) reports it once the local port is bound.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse
from typing import Any

from . import _tcp
from .base import Tool, ToolError, add_pinned_map_args, pred, refuse_pinned_maps, uid_of
from .needs import Need, use_kprobes

EXAMPLES = """examples:
    ./tcpconnect           # trace all TCP connect()s
    ./tcpconnect -t        # include timestamps
    ./tcpconnect -d        # include DNS queries associated with connects
    ./tcpconnect -p 181    # only trace PID 181
    ./tcpconnect -P 80     # only trace port 80
    ./tcpconnect -P 80,81  # only trace port 80 and 81
    ./tcpconnect -4        # only trace IPv4 family
    ./tcpconnect -6        # only trace IPv6 family
    ./tcpconnect -U        # include UID
    ./tcpconnect -u 1000   # only trace UID 1000
    ./tcpconnect -c        # count connects per src ip and dest ip/port
    ./tcpconnect -L        # include LPORT while printing outputs
"""
EINPROGRESS = 115


class TcpConnect(Tool):
    name = "tcpconnect"
    purpose = "Trace TCP connects"
    description = "Trace TCP connects"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-P", "--port", help="comma-separated list of destination ports to trace.")
        _tcp.add_family_args(ap)
        ap.add_argument("-L", "--lport", action="store_true", help="include LPORT on output")
        ap.add_argument("-U", "--print-uid", action="store_true", help="include UID on output")
        ap.add_argument("-u", "--uid", help="trace this UID only")
        ap.add_argument("-c", "--count", action="store_true", help="count connects per src ip and dest ip/port")
        add_pinned_map_args(ap)
        ap.add_argument("-d", "--dns", action="store_true",
                        help="include likely DNS query associated with each connect")

    def check(self) -> None:
        o = self.o
        if o.dns and o.count:
            raise ToolError("Error: you may not specify -d/--dns with -c/--count.")
        if o.dns:
            raise ToolError("tcpconnect: -d (DNS queries) is not supported by bpfscope; "
                            "trace DNS with `bpfscope gethostlatency` or tcpdump instead")
        refuse_pinned_maps("tcpconnect", self.o, "-p/-u")
        self.dports = _tcp.ports(o.port, "-P")
        self.uid = uid_of(o.uid) if o.uid is not None else None
        self.kprobes = use_kprobes()
        self.first_ns = 0

    def requires(self) -> list[Need]:
        if self.kprobes:
            return [Need("btf", instead="tcpconnect reads struct sock through BTF")]
        return [Need("tracepoint", "sock:inet_sock_set_state", instead="kprobes would serve (BCC's way)"),
                Need("tracepoint", "syscalls:sys_exit_connect", instead="kprobes would serve (BCC's way)"),
                Need("btf", instead="tcpconnect reads struct sock through BTF")]

    def _report(self, sk: str) -> str:
        o = self.o
        c = f"{sk}->__sk_common"
        keep = " && ".join(x for x in (_tcp.any_of(f"bswap({c}.skc_dport)", self.dports),
                                       _tcp.family_cond(f"{c}.skc_family", o.ipv4, o.ipv6)) if x) or "1"
        fields = _tcp.sock_fields(sk)
        if o.count:
            body = f"@count[{fields}] = count();"
        else:
            body = f'printf("conn %d %d %s {_tcp.SOCK_FMT} %d\\n", pid, uid, comm, {fields}, nsecs);'
        return f"if ({keep}) {{ {body} }}"

    def program(self) -> str:
        o = self.o
        who = pred(f"pid == {o.pid}" if o.pid is not None else "",
                   f"uid == {self.uid}" if self.uid is not None else "")
        if self.kprobes:
            ret = self._report("$sk")
            return f"""
kprobe:tcp_v4_connect, kprobe:tcp_v6_connect {who} {{ @sk[tid] = arg0; }}
kretprobe:tcp_v4_connect, kretprobe:tcp_v6_connect {{
  $p = @sk[tid];
  if ($p) {{
    if (retval == 0) {{ $sk = (struct sock *)$p; {ret} }}
    delete(@sk, tid);
  }}
}}
"""
        syn = pred(f"args.protocol == {_tcp.IPPROTO_TCP}", f"args.oldstate == {_tcp.TCP_CLOSE}",
                   f"args.newstate == {_tcp.TCP_SYN_SENT}", who[1:-1] if who else "")
        ret = self._report("$sk")
        return f"""
tracepoint:sock:inet_sock_set_state {syn} {{ @sk[tid] = args.skaddr; }}
tracepoint:syscalls:sys_exit_connect {{
  $p = @sk[tid];
  if ($p) {{
    if (args.ret == 0 || args.ret == -{EINPROGRESS}) {{ $sk = (struct sock *)$p; {ret} }}
    delete(@sk, tid);
  }}
}}
"""

    def header(self) -> str:
        o = self.o
        if o.count:
            return "Tracing connect ... Hit Ctrl-C to end"
        h = ""
        if o.timestamp:
            h += "%-9s" % "TIME(s)"
        if o.print_uid:
            h += "%-6s" % "UID"
        if o.lport:
            h += "%-7s %-12s %-2s %-16s %-6s %-16s %-6s" % ("PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT")
        else:
            h += "%-7s %-12s %-2s %-16s %-16s %-6s" % ("PID", "COMM", "IP", "SADDR", "DADDR", "DPORT")
        return "Tracing connect ... Hit Ctrl-C to end\n" + h

    def on_conn(self, pid: int, uid: int, comm: str, fam: int, s4: str, d4: str, s6: str, d6: str,
                lport: int, dport: int, ts: int) -> None:
        o = self.o
        sa, da = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
        line = ""
        if o.timestamp:
            line += "%-9.3f" % self.clock.since_first(ts)
        if o.print_uid:
            line += "%-6d" % uid
        if o.lport:
            line += "%-7d %-12.12s %-2d %-16s %-6d %-16s %-6d " % (pid, comm, _tcp.ipver(fam), sa, lport, da, dport)
        else:
            line += "%-7d %-12.12s %-2d %-16s %-16s %-6d " % (pid, comm, _tcp.ipver(fam), sa, da, dport)
        rec: dict[str, Any] = {"pid": pid, "uid": uid, "comm": comm, "ip": _tcp.ipver(fam), "saddr": sa,
                               "lport": lport, "daddr": da, "dport": dport}
        self.emit(line, **rec)

    def finish(self, interrupted: bool) -> None:
        if not self.o.count:
            return
        self.write("\n%-25s %-25s %-20s %-10s\n" % ("LADDR", "RADDR", "RPORT", "CONNECTS"))
        rows = sorted((self.map("@count") or {}).items(), key=lambda kv: kv[1], reverse=True)
        for want6 in (False, True):    # BCC prints the IPv4 table, then IPv6
            for (fam, s4, d4, s6, d6, _lport, dport), n in rows:
                if (fam == _tcp.AF_INET6) != want6:
                    continue
                sa, da = _tcp.pick(fam, s4, s6), _tcp.pick(fam, d4, d6)
                self.emit("%-25s %-25s %-20s %-10d" % (sa, da, dport, n), laddr=sa, raddr=da, rport=dport,
                          connects=n)


TOOL = TcpConnect
