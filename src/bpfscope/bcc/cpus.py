"""CPU lists as /sys gives them ("0-3,5"), for per-CPU perf events and bcc.utils."""

from __future__ import annotations


def cpu_range(path: str) -> list[int]:
    out: list[int] = []
    with open(path) as fh:
        for part in fh.read().strip().split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def online_cpus() -> list[int]:
    return cpu_range("/sys/devices/system/cpu/online")


def possible_cpus() -> list[int]:
    return cpu_range("/sys/devices/system/cpu/possible")
