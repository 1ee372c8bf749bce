"""Executable mappings of every process, recorded by the kernel as they happen.

Why: a stack captured in BPF is symbolized later, at print time, when a short-lived
process (a `-c` command, a compiler pass) is gone and so is /proc/PID/maps. perf solves
this with PERF_RECORD_MMAP2 side-band records; so do we: one dummy software event per CPU
with `mmap2`, `comm` (exec) and `task` (fork/exit) records, read from its ring buffer.
Only PROT_EXEC mappings are reported, which is all symbolization needs.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from . import syscall
from .procmaps import MapEntry, ProcessMaps, is_file_backed

PERF_COUNT_SW_DUMMY = 9
_F_DISABLED = 1 << 0
_F_MMAP = 1 << 8
_F_COMM = 1 << 9
_F_TASK = 1 << 13
_F_MMAP2 = 1 << 23
_F_COMM_EXEC = 1 << 24

REC_LOST, REC_COMM, REC_EXIT, REC_FORK, REC_MMAP2 = 2, 3, 4, 7, 10
MISC_COMM_EXEC = 1 << 13
MISC_MMAP_BUILD_ID = 1 << 14

_PAGE = mmap.PAGESIZE


@dataclass
class _Proc:
    entries: dict[int, MapEntry] = field(default_factory=dict)   # start -> entry
    complete: bool = False   # exec'd (or forked from such) since we started: nothing missing
    exited: bool = False
    version: int = 0


class MmapTracker:
    """Per-CPU side-band rings; `drain()` folds new records into per-pid mapping tables.

    Exited processes are kept (their stacks are symbolized after they are gone), but only
    the most recent `max_exited` of them: a tracer running for days on a machine that
    starts thousands of processes an hour must not grow without bound."""

    def __init__(self, cpus: list[int], pages: int = 64, max_exited: int = 1024) -> None:
        self.rings: list[tuple[int, mmap.mmap]] = []
        self.procs: dict[int, _Proc] = {}
        self.exited: OrderedDict[int, None] = OrderedDict()   # exit order, oldest first
        self.max_exited = max_exited
        self.lost = 0
        flags = _F_MMAP | _F_MMAP2 | _F_COMM | _F_COMM_EXEC | _F_TASK
        try:
            for cpu in cpus:
                fd = syscall.perf_event_open(syscall.PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY, pid=-1,
                                             cpu=cpu, flags=flags)
                try:
                    m = mmap.mmap(fd, (1 + pages) * _PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                except OSError:
                    os.close(fd)
                    raise
                self.rings.append((fd, m))
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        for fd, m in self.rings:
            try:
                m.close()
            finally:
                os.close(fd)
        self.rings = []

    # ------------------------------------------------------------------ reading
    def drain(self) -> int:
        """Consume every pending record; returns how many were read."""
        n = 0
        for _fd, m in self.rings:
            head, tail, doff, dsize = struct.unpack_from("QQQQ", m, 1024)
            if head == tail:
                continue
            data = memoryview(m)[doff:doff + dsize]
            while tail < head:
                pos = tail % dsize
                hdr = _read(data, pos, 8, dsize)
                rtype, misc, size = struct.unpack("IHH", hdr)
                if size < 8:
                    break
                rec = _read(data, pos, size, dsize)
                self._record(rtype, misc, rec)
                tail += size
                n += 1
            data.release()
            struct.pack_into("Q", m, 1032, tail)
        return n

    def _record(self, rtype: int, misc: int, rec: bytes) -> None:
        if rtype == REC_MMAP2:
            pid, _tid, addr, length, pgoff = struct.unpack_from("IIQQQ", rec, 8)
            if misc & MISC_MMAP_BUILD_ID:
                dev, ino = "00:00", 0
            else:
                maj, mnr, ino, _gen = struct.unpack_from("IIQQ", rec, 40)
                dev = f"{maj:02x}:{mnr:02x}"
            prot, _flags = struct.unpack_from("II", rec, 64)
            raw = rec[72:]
            path = raw[:raw.find(b"\0")].decode("utf-8", "surrogateescape") if b"\0" in raw else ""
            perms = ("r" if prot & 1 else "-") + ("w" if prot & 2 else "-") + ("x" if prot & 4 else "-") + "p"
            p = self.procs.setdefault(pid, _Proc())
            end = addr + length
            for s in [s for s, e in p.entries.items() if s < end and e.end > addr]:
                del p.entries[s]   # a new mapping replaces what it overlaps
            p.entries[addr] = MapEntry(addr, end, perms, pgoff, dev, ino, path,
                                       path if is_file_backed(path) else "")
            p.version += 1
        elif rtype == REC_COMM and misc & MISC_COMM_EXEC:
            pid = struct.unpack_from("I", rec, 8)[0]
            old = self.procs.get(pid)
            self.procs[pid] = _Proc(complete=True, version=(old.version + 1) if old else 0)  # exec
            self.exited.pop(pid, None)
        elif rtype == REC_FORK:
            pid, ppid, tid, _ptid = struct.unpack_from("IIII", rec, 8)
            if pid == tid and pid != ppid and ppid in self.procs:
                parent = self.procs[ppid]
                self.procs[pid] = _Proc(dict(parent.entries), parent.complete)
                self.exited.pop(pid, None)   # a reused pid is a new process
        elif rtype == REC_EXIT:
            pid, _ppid, tid, _ptid = struct.unpack_from("IIII", rec, 8)
            if pid == tid and pid in self.procs:
                self.procs[pid].exited = True
                self.exited[pid] = None
                while len(self.exited) > self.max_exited:
                    old_pid, _ = self.exited.popitem(last=False)
                    self.procs.pop(old_pid, None)
        elif rtype == REC_LOST:
            self.lost += struct.unpack_from("Q", rec, 16)[0]

    def complete(self, pid: int) -> bool:
        """Whether every executable mapping of `pid` was recorded (it exec'd after we started)."""
        p = self.procs.get(pid)
        return p is not None and p.complete

    def version(self, pid: int) -> int:
        p = self.procs.get(pid)
        return -1 if p is None else p.version

    def snapshot(self, pid: int) -> ProcessMaps | None:
        """The recorded executable mappings of `pid` (None if it was never seen mapping code)."""
        p = self.procs.get(pid)
        if p is None or not p.entries:
            return None
        entries = tuple(sorted(p.entries.values(), key=lambda e: e.start))
        exe = next((e.path for e in entries if e.open_path), "")
        return ProcessMaps(pid, entries, "", exe, None, tuple(e.start for e in entries))

    def seen(self) -> list[int]:
        return list(self.procs)


def _read(data: memoryview, pos: int, size: int, dsize: int) -> bytes:
    if pos + size <= dsize:
        return bytes(data[pos:pos + size])
    first = dsize - pos
    return bytes(data[pos:]) + bytes(data[:size - first])
