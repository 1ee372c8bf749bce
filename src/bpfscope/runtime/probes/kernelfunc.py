"""kprobe/kretprobe/fentry/fexit: detected at run time; a plain message where missing."""

from __future__ import annotations

from ...lang.ast import AttachPoint
from ...lang.spec import ProbeInfo
from .base import Env, fail

NAMES = ("kprobe", "kretprobe", "fentry", "fexit")


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import features

    p = ap.provider
    func = ap.parts[-1] if ap.parts else ""
    kind = "kprobe" if p in ("kprobe", "kretprobe") else "fentry"
    available = features.kprobes() if kind == "kprobe" else features.fentry()
    if not available:
        raise fail(ap, features.explain_missing(p, func))
    raise fail(ap, f"{p} probes are detected on this kernel but not wired into the compiler yet")


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[object]:
    return []
