"""profile, interval and software probes: perf software events with a BPF program.

interval fires on one CPU (like bpftrace); profile and software on every online CPU.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...kernel import syscall as sc
from ...kernel import uapi
from ...lang.spec import ProbeInfo
from .base import Env, FdHandle, fail

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("profile", "interval", "software", "hardware")

SW_EVENTS = {  # name: (config, default period)
    "cpu-clock": (0, 1000000), "cpu": (0, 1000000), "task-clock": (1, 1000000),
    "page-faults": (2, 100), "faults": (2, 100), "context-switches": (3, 1000), "cs": (3, 1000),
    "cpu-migrations": (4, 1), "migrations": (4, 1), "minor-faults": (5, 100), "major-faults": (6, 1),
    "alignment-faults": (7, 1), "emulation-faults": (8, 1), "dummy": (9, 1), "bpf-output": (10, 1),
}
HW_EVENTS = {
    "cpu-cycles": (0, 1000000), "cycles": (0, 1000000), "instructions": (1, 1000000),
    "cache-references": (2, 1000000), "cache-misses": (3, 1000000), "branch-instructions": (4, 100000),
    "branches": (4, 100000), "branch-misses": (5, 100000), "bus-cycles": (6, 100000),
    "frontend-stalls": (7, 1000000), "backend-stalls": (8, 1000000), "ref-cycles": (9, 1000000),
}
UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _rate(ap: AttachPoint) -> tuple[str, int]:
    """(unit, value) from profile:hz:99, profile:99, interval:1s, interval:ms:100."""
    parts = ap.parts
    if len(parts) == 2:
        unit, val = parts
    elif len(parts) == 1:
        v = parts[0]
        i = len(v)
        while i and not v[i - 1].isdigit():
            i -= 1
        unit, val = (v[i:] or ("hz" if ap.provider == "profile" else "s")), v[:i]
    else:
        raise fail(ap, f"{ap.provider} probe must have a unit and a rate, e.g. {ap.provider}:hz:99")
    if unit not in ("hz", *UNIT_NS):
        raise fail(ap, f"Invalid unit for {ap.provider}: {unit}")
    try:
        n = _int(val)
    except ValueError:
        raise fail(ap, f"Invalid rate of {ap.provider} probe: '{val}'") from None
    if n <= 0:
        raise fail(ap, f"Invalid rate of {ap.provider} probe: must be positive")
    return unit, n


def _int(text: str) -> int:
    """A count or rate as bpftrace reads one: any base, `_` separators, and `1e6` notation."""
    t = text.replace("_", "")
    mant, e, exp = t.partition("e")
    if e and mant.isdigit() and exp.isdigit():
        return int(mant) * 10 ** int(exp)
    return int(t, 0)


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    p = ap.provider
    if p in ("profile", "interval"):
        unit, n = _rate(ap)
        name = f"{p}:{unit}:{n}"
        attach = ("freq", n) if unit == "hz" else ("period", n * UNIT_NS[unit])
        info = ProbeInfo(name=name, provider=p, prog_type=uapi.BPF_PROG_TYPE_PERF_EVENT, ctx="perf_event",
                         attach=(sc.PERF_TYPE_SOFTWARE, 0, *attach, p == "interval"), span=ap.span)
        return [info]
    table = SW_EVENTS if p == "software" else HW_EVENTS
    if not ap.parts:
        raise fail(ap, f"{p} probe needs an event name")
    ev = ap.parts[0]
    if ev not in table:
        raise fail(ap, f"Invalid {p} event: {ev}")
    config, period = table[ev]
    if len(ap.parts) > 1 and ap.parts[1]:
        try:
            period = _int(ap.parts[1])
        except ValueError:
            raise fail(ap, f"Invalid count for {p} probe: {ap.parts[1]}") from None
    kind = sc.PERF_TYPE_SOFTWARE if p == "software" else sc.PERF_TYPE_HARDWARE
    return [ProbeInfo(name=f"{p}:{ev}:{period}", provider=p, prog_type=uapi.BPF_PROG_TYPE_PERF_EVENT,
                      ctx="perf_event", attach=(kind, config, "period", period, False), span=ap.span)]


def online_cpus() -> list[int]:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[FdHandle]:
    kind, config, mode, n, one_cpu = info.attach
    cpus = [0] if one_cpu else online_cpus()
    pid = env.pid if info.provider in ("profile", "software", "hardware") and env.pid > 0 else -1
    if pid > 0:
        cpus = [-1]
    handles: list[FdHandle] = []
    try:
        for cpu in cpus:
            fd = sc.perf_event_open(kind, config, pid=pid, cpu=cpu,
                                    sample_freq=n if mode == "freq" else 0,
                                    sample_period=n if mode == "period" else 0)
            handles.append(FdHandle(fd))
            sc.perf_attach_bpf(fd, prog_fd)
    except OSError as e:
        for h in handles:
            h.close()
        if info.provider == "hardware":
            raise OSError(e.errno, f"hardware event {info.name}: {e.strerror} "
                          "(this machine has no hardware PMU counters for perf)") from None
        raise
    return handles


TIME_UNITS = ("s", "ms", "us", "hz")   # what interval:/profile: take, as bpftrace 0.26 lists them


def listing(pattern: str, provider: str = "", verbose: bool = False) -> list[str]:
    """One provider's probes in bpftrace's order (sorted, as its std::set prints them):
    `software:cs:`, `interval:hz:`, ... ; no provider: software and hardware (older callers)."""
    if provider in ("interval", "profile"):
        return sorted(f"{provider}:{u}:" for u in TIME_UNITS)
    if provider in ("software", "hardware"):
        return sorted(f"{provider}:{n}:" for n in (SW_EVENTS if provider == "software" else HW_EVENTS))
    return [f"software:{n}:" for n in SW_EVENTS] + [f"hardware:{n}:" for n in HW_EVENTS]
