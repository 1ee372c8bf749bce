"""tracepoint:category:name — args from tracefs formats, attached through perf_event_open."""

from __future__ import annotations

from ...kernel import syscall as sc
from ...kernel import tracefs, uapi
from ...lang.bpftrace.ast import AttachPoint
from ...lang.bpftrace.typecheck import ctype_to_type
from ...lang.spec import ArgField, ProbeInfo
from .base import Env, FdHandle, fail, is_glob

NAMES = ("tracepoint",)


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    if len(ap.parts) != 2:
        raise fail(ap, "tracepoint probe must have 2 arguments: tracepoint:category:event")
    cat, name = ap.parts
    try:
        events = tracefs.list_events(cat, name)
    except OSError as e:
        raise fail(ap, f"cannot read tracepoints: {e}") from None
    if not events:
        if is_glob(cat) or is_glob(name):
            raise fail(ap, f"No probes matched tracepoint:{cat}:{name}") if not env.opts.get(
                "missing_ok") else fail(ap, "")
        raise fail(ap, f"tracepoint not found: {cat}:{name}")
    out = []
    for c, n in events:
        fmt = tracefs.event_format(c, n)
        if fmt is None:
            continue
        user = c == "syscalls"
        args = [ArgField(f.name, ctype_to_type(f.ctype, f.size, f.signed), f.offset, f.data_loc,
                         user and "*" in f.ctype) for f in fmt.fields]
        out.append(ProbeInfo(name=f"tracepoint:{c}:{n}", provider="tracepoint",
                             prog_type=uapi.BPF_PROG_TYPE_TRACEPOINT, ctx="tracepoint", args=args,
                             user_space=False, attach=fmt.id, span=ap.span))
    return out


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[FdHandle]:
    fd = sc.perf_event_open(sc.PERF_TYPE_TRACEPOINT, int(info.attach), pid=-1, cpu=0,
                            sample_period=1, wakeup_events=1)
    h = FdHandle(fd)
    try:
        sc.perf_attach_bpf(fd, prog_fd)
    except OSError:
        h.close()
        raise
    return [h]


def listing(pattern: str, provider: str = "", verbose: bool = False) -> list[str]:
    parts = pattern.split(":")
    cat = parts[0] if parts and parts[0] else "*"
    name = parts[1] if len(parts) > 1 and parts[1] else "*"
    return [f"tracepoint:{c}:{n}" for c, n in tracefs.list_events(cat, name)]
