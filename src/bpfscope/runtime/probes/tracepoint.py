"""tracepoint:category:name — args from tracefs formats, attached through perf_event_open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...kernel import syscall as sc
from ...kernel import uapi
from ...lang.spec import ArgField, ProbeInfo
from .base import Env, FdHandle, fail, missing

if TYPE_CHECKING:   # resolve() and listing() import what they need: attaching a cached program needs none
    from ...kernel import tracefs
    from ...lang.bpftrace.ast import AttachPoint
    from ...lang.ctype.types import Type

NAMES = ("tracepoint",)


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import tracefs

    if len(ap.parts) != 2:
        raise fail(ap, "tracepoint probe must have 2 arguments: tracepoint:category:event")
    cat, name = ap.parts
    try:
        events = tracefs.list_events(cat, name)
    except OSError as e:
        raise fail(ap, f"cannot read tracepoints: {e}") from None
    if not events:
        raise missing(ap)
    out = []
    for c, n in events:
        fmt = tracefs.event_format(c, n)
        if fmt is None:
            continue
        user = c == "syscalls"
        args = [ArgField(f.name, _field_type(f.ctype, f.size, f.signed), f.offset, f.data_loc,
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
    """`tracepoint:cat:name` lines; a pattern without `:` matches anywhere in `cat:name` (as
    `bpfscope -l '*openat*'` expects). With -v each is followed by its fields as bpftrace
    prints them (`    const char * filename`)."""
    from ...kernel import tracefs

    if ":" in pattern:
        cat, _, name = pattern.partition(":")
        events = tracefs.list_events(cat or "*", name.split(":")[0] or "*")
    else:
        events = [(c, n) for c, n in tracefs.list_events("*", "*")
                  if tracefs.glob_match(f"{c}:{n}", f"*{pattern}*")]
    out: list[str] = []
    for c, n in sorted(events, key=lambda e: f"{e[0]}:{e[1]}"):  # bpftrace's order: `fib6:` < `fib:`
        out.append(f"tracepoint:{c}:{n}")
        if verbose:
            fmt = tracefs.event_format(c, n)
            out.extend(f"    {field_decl(f)}" for f in (fmt.fields if fmt else ()))
    return out


def field_decl(f: tracefs.FormatField) -> str:
    """The field's declaration as the format file spells it: `char comm[16]`, `__data_loc char[] name`."""
    if f.data_loc:  # ctype carries one "[]" more than the format's own spelling
        return f"__data_loc {f.ctype.removesuffix('[]')} {f.name}"
    if f.array is not None:
        base = f.ctype[: f.ctype.rindex("[")]
        return f"{base} {f.name}[{f.array}]"
    return f"{f.ctype} {f.name}"


def _field_type(ctype: str, size: int, signed: bool) -> Type:
    """A tracefs field's type; an `enum NAME` field keeps its enum (from BTF) for printing."""
    from ...lang.bpftrace.typecheck import ctype_to_type

    c = ctype.strip()
    if c.startswith("enum ") and "*" not in c and "[" not in c:
        from .btfargs import enum_type

        t = enum_type(c[5:].strip(), size)
        if t is not None:
            return t
    return ctype_to_type(ctype, size, signed)
