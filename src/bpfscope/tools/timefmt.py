"""Time columns as BCC's tools print them.

BPF's `nsecs` is CLOCK_MONOTONIC, the same clock as `time.monotonic_ns()`, so an event's
wall-clock time is its timestamp plus one offset taken at start.
"""

from __future__ import annotations

import time


def hms(t: float | None = None) -> str:
    """"%H:%M:%S" local time (BCC's -T / "TIME" columns)."""
    return time.strftime("%H:%M:%S", time.localtime(t))


def hms_utc(t: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def hms_ms(t: float) -> str:
    """"%H:%M:%S.mmm" (exitsnoop-style timestamps with milliseconds)."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


class Clock:
    """Converts BPF monotonic timestamps (ns) into wall-clock seconds and seconds since a start."""

    def __init__(self) -> None:
        self.start_ns = time.monotonic_ns()
        self.offset = time.time() - self.start_ns / 1e9
        self.first_ns: int | None = None

    def wall(self, ns: int) -> float:
        return ns / 1e9 + self.offset

    def since_start(self, ns: int) -> float:
        return (ns - self.start_ns) / 1e9

    def since_first(self, ns: int) -> float:
        """Seconds since the first event seen (BCC's "-t: TIME(s)" of most snoops)."""
        if self.first_ns is None:
            self.first_ns = ns
        return (ns - self.first_ns) / 1e9
