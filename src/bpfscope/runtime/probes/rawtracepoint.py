"""rawtracepoint:name — BTF-typed `args` through tp_btf where the kernel has BTF, else
plain raw tracepoints with argN."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...kernel import syscall as sc
from ...kernel import uapi
from ...lang.ctype.types import Kind, Type, int_type
from ...lang.spec import ArgField, ProbeInfo
from .base import Env, FdHandle, ProbeError, fail, is_glob, missing

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("rawtracepoint",)
# ftrace's syscall events are no kernel tracepoints: a raw tracepoint cannot attach to them
_NOT_RAW = ("syscalls",)


def _btf_args(name: str) -> tuple[int, list[ArgField]] | None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return None
    from ...kernel.btf import Btf

    btf = Btf.vmlinux()
    tid = btf.find(f"btf_trace_{name}", "typedef")
    args = btf.tracepoint_args(name)
    if tid is None or args is None:
        return None
    fields = []
    for i, (an, at) in enumerate(args):
        r = btf.resolve(at)
        k = btf.kind_of(r)
        if k == "ptr":
            t = Type(Kind.POINTER, size=8, name=btf.type_name(at))
        elif k in ("int", "enum", "enum64"):
            bt = btf.get(r)
            size = btf.sizeof(r)
            t = int_type(size if size in (1, 2, 4, 8) else 8, bool(getattr(bt, "signed", False)))
        else:
            t = int_type(8, False)
        fields.append(ArgField(an, t, 8 * i))
    return tid, fields


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import tracefs  # not at import: attaching a cached program needs no tracefs

    if not ap.parts:
        raise fail(ap, "rawtracepoint probe needs a tracepoint name")
    name = ap.parts[-1]
    mod = ap.parts[0] if len(ap.parts) > 1 else ""
    if mod and not is_glob(mod) and mod != "vmlinux" and not os.path.exists(f"/sys/kernel/btf/{mod}"):
        raise ProbeError(f"No BTF found for {mod}:{name}.")   # 0.26 reports it unlocated
    names = [name]
    if is_glob(name):
        names = sorted({n for c, n in tracefs.list_events("*", name) if c not in _NOT_RAW})
        if not names:
            raise missing(ap)
    out = []
    for n in names:
        typed = _btf_args(n)
        if typed is not None:
            tid, fields = typed
            out.append(ProbeInfo(name=f"rawtracepoint:{n}", provider="rawtracepoint",
                                 prog_type=uapi.BPF_PROG_TYPE_TRACING, ctx="args_array", args=fields,
                                 expected_attach_type=uapi.BPF_TRACE_RAW_TP, attach_btf_id=tid,
                                 attach=None, span=ap.span))
        else:
            if not tracefs.list_events("*", n):
                raise missing(ap)
            out.append(ProbeInfo(name=f"rawtracepoint:{n}", provider="rawtracepoint",
                                 prog_type=uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, ctx="args_array",
                                 attach=n, span=ap.span))
    return out


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[FdHandle]:
    return [FdHandle(sc.raw_tracepoint_open(info.attach, prog_fd))]


def listing(pattern: str, provider: str = "", verbose: bool = False) -> list[str]:
    from ...kernel import tracefs

    name = pattern.split(":")[-1] or "*"
    return sorted({f"rawtracepoint:{n}" for c, n in tracefs.list_events("*", name) if c not in _NOT_RAW})
