"""Immutable snapshots of /proc/PID/maps.

A BPF stack arrives after the fact; by then a short-lived process may be gone and its maps
with it. The runtime captures a `ProcessMaps` the first time it sees a pid and keeps it, so
addresses stay symbolizable after exit (the mapped files usually still exist on disk).
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass, field

__all__ = ["MapEntry", "ProcessMaps", "is_file_backed"]

_DELETED = " (deleted)"


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One mapping. `path` is as the kernel shows it; `open_path` is where to read the file."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    open_path: str
    deleted: bool = False

    @property
    def executable(self) -> bool:
        return "x" in self.perms

    def file_offset(self, addr: int) -> int:
        """File offset that `addr` maps to."""
        return addr - self.start + self.offset


def is_file_backed(path: str) -> bool:
    """Real files have absolute paths; [heap], [vdso], anon mappings do not."""
    return path.startswith("/") and not path.startswith("//anon")


def _same_mount_ns(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    except OSError:
        return True


@dataclass(frozen=True)
class ProcessMaps:
    """Snapshot of a process's mappings, sorted by start address."""

    pid: int
    entries: tuple[MapEntry, ...]
    root: str = ""
    exe: str = ""
    perf_map: str | None = None
    _starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def capture(cls, pid: int) -> ProcessMaps:
        """Read /proc/PID/maps now. Raises OSError if the process is gone."""
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        root = "" if _same_mount_ns(pid) else f"/proc/{pid}/root"
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = ""
        if exe.endswith(_DELETED):
            exe = exe[: -len(_DELETED)]
        return cls.parse(pid, text, root=root, exe=exe, perf_map=_find_perf_map(pid, root))

    @classmethod
    def parse(
        cls, pid: int, text: str, root: str = "", exe: str = "", perf_map: str | None = None
    ) -> ProcessMaps:
        """Build a snapshot from maps text (separate from capture() so it is testable)."""
        entries: list[MapEntry] = []
        strings = _strings
        if len(strings) > 65536:   # a bound, not a cache: existing snapshots keep their copies
            strings.clear()
        for line in text.splitlines():
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            rng, perms, off, dev, inode = parts[:5]
            path = parts[5].strip() if len(parts) > 5 else ""
            lo, _, hi = rng.partition("-")
            deleted = path.endswith(_DELETED)
            if deleted:
                path = path[: -len(_DELETED)]
            open_path = root + path if is_file_backed(path) else ""
            # snapshots of many processes share these few strings (long runs, process churn)
            perms, dev = strings.setdefault(perms, perms), strings.setdefault(dev, dev)
            path, open_path = strings.setdefault(path, path), strings.setdefault(open_path, open_path)
            entries.append(
                MapEntry(
                    int(lo, 16), int(hi, 16), perms, int(off, 16), dev, int(inode), path, open_path, deleted
                )
            )
        entries.sort(key=lambda e: e.start)
        return cls(pid, tuple(entries), root, exe, perf_map, tuple(e.start for e in entries))

    def find(self, addr: int) -> MapEntry | None:
        """The mapping containing `addr`, or None."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0:
            e = self.entries[i]
            if addr < e.end:
                return e
        return None

    def base(self, entry: MapEntry) -> int:
        """Lowest start address of the file's mappings: the load base of that object."""
        return min(
            (e.start - e.offset for e in self.entries if e.path == entry.path and e.inode == entry.inode),
            default=entry.start - entry.offset,
        )

    def paths(self) -> list[str]:
        """Distinct file-backed executable mappings (for pre-warming symbol caches)."""
        seen: dict[str, None] = {}
        for e in self.entries:
            if e.executable and e.open_path:
                seen.setdefault(e.open_path, None)
        return list(seen)


_strings: dict[str, str] = {}


def _find_perf_map(pid: int, root: str) -> str | None:
    """/tmp/perf-PID.map of a JIT runtime; inside a container, named by the namespaced pid."""
    cands = [f"/tmp/perf-{pid}.map"]
    if root:
        nspid = _ns_pid(pid)
        cands.insert(0, f"{root}/tmp/perf-{nspid}.map")
    for c in cands:
        if os.path.isfile(c):
            return c
    return None


def _ns_pid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return pid
