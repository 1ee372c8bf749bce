"""ELF section names of clang-built BPF objects -> program type, attach type, attach kind.

The naming convention is libbpf's (`SEC("tracepoint/syscalls/sys_enter_read")`), so an
object written for libbpf loads here with the same program types. A definition is either
exact (`xdp`), exact-or-with-target (`tracepoint+` matches `tracepoint` and `tracepoint/...`)
or a plain prefix (`cgroup/` style names are listed in full instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import uapi as U


@dataclass(frozen=True)
class SecDef:
    """One section-name rule; `attach` names how autoattach works ("" = not attachable)."""

    name: str
    prog_type: int
    attach_type: int = 0
    plus: bool = False  # also matches name + "/" + target
    attach: str = ""
    sleepable: bool = False

    def matches(self, sec: str) -> bool:
        if sec == self.name:
            return True
        return self.plus and sec.startswith(self.name + "/")


def _d(name: str, ptype: int, atype: int = 0, attach: str = "", sleepable: bool = False) -> SecDef:
    plus = name.endswith("+")
    return SecDef(name.rstrip("+"), ptype, atype, plus, attach, sleepable)


P, A = U, U
SEC_DEFS: tuple[SecDef, ...] = (
    _d("socket", P.BPF_PROG_TYPE_SOCKET_FILTER),
    _d("sk_reuseport/migrate", P.BPF_PROG_TYPE_SK_REUSEPORT, A.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE),
    _d("sk_reuseport", P.BPF_PROG_TYPE_SK_REUSEPORT, A.BPF_SK_REUSEPORT_SELECT),
    _d("kprobe+", P.BPF_PROG_TYPE_KPROBE, attach="kprobe"),
    _d("uprobe+", P.BPF_PROG_TYPE_KPROBE, attach="uprobe"),
    _d("uprobe.s+", P.BPF_PROG_TYPE_KPROBE, attach="uprobe", sleepable=True),
    _d("kretprobe+", P.BPF_PROG_TYPE_KPROBE, attach="kretprobe"),
    _d("uretprobe+", P.BPF_PROG_TYPE_KPROBE, attach="uretprobe"),
    _d("uretprobe.s+", P.BPF_PROG_TYPE_KPROBE, attach="uretprobe", sleepable=True),
    _d("ksyscall+", P.BPF_PROG_TYPE_KPROBE, attach="ksyscall"),
    _d("kretsyscall+", P.BPF_PROG_TYPE_KPROBE, attach="kretsyscall"),
    _d("usdt+", P.BPF_PROG_TYPE_KPROBE),
    _d("tc", P.BPF_PROG_TYPE_SCHED_CLS),
    _d("classifier", P.BPF_PROG_TYPE_SCHED_CLS),
    _d("action", P.BPF_PROG_TYPE_SCHED_ACT),
    _d("tracepoint+", P.BPF_PROG_TYPE_TRACEPOINT, attach="tp"),
    _d("tp+", P.BPF_PROG_TYPE_TRACEPOINT, attach="tp"),
    _d("raw_tracepoint+", P.BPF_PROG_TYPE_RAW_TRACEPOINT, attach="raw_tp"),
    _d("raw_tp+", P.BPF_PROG_TYPE_RAW_TRACEPOINT, attach="raw_tp"),
    _d("raw_tracepoint.w+", P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, attach="raw_tp"),
    _d("raw_tp.w+", P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, attach="raw_tp"),
    _d("tp_btf+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_RAW_TP, attach="trace"),
    _d("fentry+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FENTRY, attach="trace"),
    _d("fmod_ret+", P.BPF_PROG_TYPE_TRACING, A.BPF_MODIFY_RETURN, attach="trace"),
    _d("fexit+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FEXIT, attach="trace"),
    _d("fentry.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FENTRY, attach="trace", sleepable=True),
    _d("fmod_ret.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_MODIFY_RETURN, attach="trace", sleepable=True),
    _d("fexit.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FEXIT, attach="trace", sleepable=True),
    _d("freplace+", P.BPF_PROG_TYPE_EXT),
    _d("lsm+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_MAC, attach="trace"),
    _d("lsm.s+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_MAC, attach="trace", sleepable=True),
    _d("lsm_cgroup+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_CGROUP),
    _d("iter+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_ITER),
    _d("iter.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_ITER, sleepable=True),
    _d("syscall", P.BPF_PROG_TYPE_SYSCALL, sleepable=True),
    _d("xdp.frags/devmap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_DEVMAP),
    _d("xdp/devmap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_DEVMAP),
    _d("xdp.frags/cpumap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_CPUMAP),
    _d("xdp/cpumap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_CPUMAP),
    _d("xdp.frags", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
    _d("xdp", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
    _d("perf_event", P.BPF_PROG_TYPE_PERF_EVENT),
    _d("lwt_in", P.BPF_PROG_TYPE_LWT_IN),
    _d("lwt_out", P.BPF_PROG_TYPE_LWT_OUT),
    _d("lwt_xmit", P.BPF_PROG_TYPE_LWT_XMIT),
    _d("lwt_seg6local", P.BPF_PROG_TYPE_LWT_SEG6LOCAL),
    _d("sockops", P.BPF_PROG_TYPE_SOCK_OPS, A.BPF_CGROUP_SOCK_OPS),
    _d("sk_skb/stream_parser", P.BPF_PROG_TYPE_SK_SKB, A.BPF_SK_SKB_STREAM_PARSER),
    _d("sk_skb/stream_verdict", P.BPF_PROG_TYPE_SK_SKB, A.BPF_SK_SKB_STREAM_VERDICT),
    _d("sk_skb", P.BPF_PROG_TYPE_SK_SKB),
    _d("sk_msg", P.BPF_PROG_TYPE_SK_MSG, A.BPF_SK_MSG_VERDICT),
    _d("lirc_mode2", P.BPF_PROG_TYPE_LIRC_MODE2, A.BPF_LIRC_MODE2),
    _d("flow_dissector", P.BPF_PROG_TYPE_FLOW_DISSECTOR, A.BPF_FLOW_DISSECTOR),
    _d("cgroup_skb/ingress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_INGRESS),
    _d("cgroup_skb/egress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_EGRESS),
    _d("cgroup/skb", P.BPF_PROG_TYPE_CGROUP_SKB),
    _d("cgroup/sock_create", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_CREATE),
    _d("cgroup/sock_release", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_RELEASE),
    _d("cgroup/sock", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_CREATE),
    _d("cgroup/post_bind4", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET4_POST_BIND),
    _d("cgroup/post_bind6", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET6_POST_BIND),
    _d("cgroup/bind4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_BIND),
    _d("cgroup/bind6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_BIND),
    _d("cgroup/connect4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_CONNECT),
    _d("cgroup/connect6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_CONNECT),
    _d("cgroup/sendmsg4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP4_SENDMSG),
    _d("cgroup/sendmsg6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP6_SENDMSG),
    _d("cgroup/recvmsg4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP4_RECVMSG),
    _d("cgroup/recvmsg6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP6_RECVMSG),
    _d("cgroup/getpeername4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_GETPEERNAME),
    _d("cgroup/getpeername6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_GETPEERNAME),
    _d("cgroup/getsockname4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_GETSOCKNAME),
    _d("cgroup/getsockname6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_GETSOCKNAME),
    _d("cgroup/sysctl", P.BPF_PROG_TYPE_CGROUP_SYSCTL, A.BPF_CGROUP_SYSCTL),
    _d("cgroup/getsockopt", P.BPF_PROG_TYPE_CGROUP_SOCKOPT, A.BPF_CGROUP_GETSOCKOPT),
    _d("cgroup/setsockopt", P.BPF_PROG_TYPE_CGROUP_SOCKOPT, A.BPF_CGROUP_SETSOCKOPT),
    _d("cgroup/dev", P.BPF_PROG_TYPE_CGROUP_DEVICE, A.BPF_CGROUP_DEVICE),
    _d("struct_ops+", P.BPF_PROG_TYPE_STRUCT_OPS),
    _d("sk_lookup", P.BPF_PROG_TYPE_SK_LOOKUP, A.BPF_SK_LOOKUP),
)


def find(sec_name: str) -> SecDef | None:
    """The rule a section name falls under, or None (not a program section we know)."""
    for d in SEC_DEFS:
        if d.matches(sec_name):
            return d
    return None


def by_type_name(word: str) -> SecDef | None:
    """bpftool's `type T`: a section-style name (`tracepoint`, `xdp`, `kprobe`), also `T/`."""
    return find(word) or find(word + "/")


def target(sec_name: str, d: SecDef) -> str:
    """The part after `name/` (`syscalls/sys_enter_read` of `tracepoint/syscalls/...`)."""
    if sec_name.startswith(d.name + "/"):
        return sec_name[len(d.name) + 1:]
    return ""
