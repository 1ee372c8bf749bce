"""Kernel log records of the window (`dmesg | tail`, limited to what happened while we watched).

/dev/kmsg is opened at the window's start and positioned at its end (SEEK_END), so reading it
at the end yields exactly the records logged during the window, each classified as one of
the kinds the 60-second analysis looks for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

KINDS: list[tuple[str, str, re.Pattern[str]]] = [
    ("oom", "memory", re.compile(r"out of memory|oom-kill|oom_reaper|invoked oom-killer|Memory cgroup out of memory",
                                 re.I)),
    ("segfault", "cpu", re.compile(r"segfault at|general protection|traps:|trap invalid opcode", re.I)),
    ("hung_task", "cpu", re.compile(r"blocked for more than \d+ seconds|hung_task|soft lockup|rcu.*stall", re.I)),
    ("io_error", "disk", re.compile(r"I/O error|blk_update_request|critical medium error|Buffer I/O error|"
                                    r"EXT4-fs error|XFS.*error|nvme.*timeout|ata\d+.*(failed|error)", re.I)),
    ("tcp_drop", "network", re.compile(r"TCP: .*(drop|out of memory|too many orphaned)|possible SYN flooding|"
                                       r"nf_conntrack: table full|dropping packet|link is down|NETDEV WATCHDOG",
                                       re.I)),
    ("mce", "cpu", re.compile(r"Machine check|mce:|Hardware Error", re.I)),
]

_DEV = re.compile(r"\b(dev(?:ice)?\s+|I/O error,? (?:dev )?)(\w+)")


@dataclass
class Record:
    level: int
    usec: int
    text: str
    kind: str
    resource: str

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "t_s": round(self.usec / 1e6, 6), "text": self.text, "kind": self.kind,
                "resource": self.resource}


def classify(text: str) -> tuple[str, str]:
    """(kind, resource) of one log line; ("other", "") when it matches none."""
    for kind, res, rx in KINDS:
        if rx.search(text):
            return kind, res
    return "other", ""


def parse(line: bytes) -> Record | None:
    """One /dev/kmsg record: `prio,seq,usec,flags;message`."""
    head, sep, msg = line.partition(b";")
    if not sep:
        return None
    f = head.split(b",")
    try:
        prio, usec = int(f[0]), int(f[2])
    except (IndexError, ValueError):
        return None
    text = msg.split(b"\n", 1)[0].decode("utf-8", "replace")
    kind, res = classify(text)
    return Record(prio & 7, usec, text, kind, res)


class KernelLog:
    """Open at the window's start; `read()` at its end returns the window's records."""

    def __init__(self, path: str = "/dev/kmsg") -> None:
        self.error: str | None = None
        self.fd = -1
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError as e:
            self.error = f"{path}: {e.strerror}"

    def read(self, limit: int = 10000) -> list[Record]:
        out: list[Record] = []
        if self.fd < 0:
            return out
        while len(out) < limit:
            try:
                data = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:   # records overwritten while we watched: go on from the next
                continue
            except OSError:
                break
            if not data:
                break
            r = parse(data)
            if r is not None:
                out.append(r)
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def summary(records: list[Record], tail: int = 20) -> dict[str, Any]:
    """Counts by kind, the classified records and the last lines (`dmesg | tail`)."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    kills = sum(1 for r in records if r.kind == "oom" and "Killed process" in r.text)
    return {"counts": counts, "oom_kills": kills, "errors": [r.as_dict() for r in records if r.kind != "other"][:200],
            "tail": [r.as_dict() for r in records[-tail:]], "total": len(records)}


def devices_named(records: list[dict[str, Any]]) -> set[str]:
    """Block devices named by I/O-error lines (to put the error on the right disk's row)."""
    out = set()
    for r in records:
        if r["kind"] == "io_error":
            m = _DEV.search(r["text"])
            if m:
                out.add(m.group(2))
    return out
