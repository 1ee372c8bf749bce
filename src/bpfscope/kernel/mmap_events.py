"""Executable mappings of every process, recorded by the kernel as they happen.

Why: a stack captured in BPF is symbolized later, at print time, when a short-lived
process (a `-c` command, a compiler pass) is gone and so is /proc/PID/maps. perf solves
this with PERF_RECORD_MMAP2 side-band records; so do we: one dummy software event per CPU
with `mmap2`, `comm` (exec) and `task` (fork/exit) records, read from its ring buffer.
Only PROT_EXEC mappings are reported, which is all symbolization needs.

The records cover every process on the machine, but only those whose stacks the tracer
takes matter after exit: the caller marks them with `keep(pid)`, and the record of any
other process is dropped once the caller has read its own events past the exit (`reap()`). A kept process's record lives
until `forget(pid)` (the caller knows nothing refers to it any more) or, as a backstop,
until `max_exited` newer kept processes have exited. Strings are interned: thousands of
records share a handful of paths.

Each CPU has its own ring, so a process's records are read out of order when it moved
between CPUs: its exit may be read before an mmap or even its fork from another ring.
Every record carries its time (sample_id_all), and an exited pid's late records, older
than its exit, are ignored instead of bringing a dead process back for good.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from . import syscall
from .procmaps import MapEntry, ProcessMaps, is_file_backed

PERF_COUNT_SW_DUMMY = 9
_F_DISABLED = 1 << 0
_F_MMAP = 1 << 8
_F_COMM = 1 << 9
_F_TASK = 1 << 13
_F_SAMPLE_ID_ALL = 1 << 18
_F_MMAP2 = 1 << 23
PERF_SAMPLE_TIME = 1 << 2
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
    exit_gen: int = 0        # the drain that read its exit
    version: int = 0
    since: int = 0           # time of the fork/exec that started it (0: before we started)
    last: int = 0            # time of the newest mapping record applied


class MmapTracker:
    """Per-CPU side-band rings; `drain()` folds new records into per-pid mapping tables.

    Exited processes marked with `keep()` are kept (their stacks are symbolized after they
    are gone) until `forget()`, and at most the most recent `max_exited` of them: a tracer
    running for days on a machine that starts thousands of processes an hour must not grow
    without bound. Others go at `reap(gen)` once the caller has read its own event buffer
    up to where it stood at the end of drain number `gen` (`self.gen` after that drain):
    a `keep()` the process asked for before it exited has been seen by then."""

    def __init__(self, cpus: list[int], pages: int = 64, max_exited: int = 1024) -> None:
        self.rings: list[tuple[int, mmap.mmap]] = []
        self.procs: dict[int, _Proc] = {}
        self.exited: OrderedDict[int, int] = OrderedDict()   # kept pid -> exit gen, oldest first
        self.gen = 0                         # drains so far
        self.max_exited = max_exited
        self.kept: set[int] = set()          # pids whose records outlive their exit
        self.exits = 0                       # exits of kept pids read so far
        self._dying: deque[tuple[int, int]] = deque()   # (exit gen, pid), exited and not kept
        self._strings: dict[str, str] = {}   # paths, devices, permissions: one copy each
        # pid -> exit time, for exits read in this drain and the one before (a late record
        # from another CPU's ring is read by then: it was written before the exit)
        self._gone: dict[int, int] = {}
        self._gone_old: dict[int, int] = {}
        self.lost = 0
        flags = _F_MMAP | _F_MMAP2 | _F_COMM | _F_COMM_EXEC | _F_TASK | _F_SAMPLE_ID_ALL
        try:
            for cpu in cpus:
                fd = syscall.perf_event_open(syscall.PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY, pid=-1,
                                             cpu=cpu, flags=flags, sample_type=PERF_SAMPLE_TIME)
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
        self.gen += 1
        self._gone_old, self._gone = self._gone, {}
        recs: list[tuple[int, int, int, bytes]] = []
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
                recs.append((_time(rec), rtype, misc, rec))
                tail += size
            data.release()
            struct.pack_into("Q", m, 1032, tail)
        # in time order: one CPU's ring can hold a process's exit while another still holds
        # its exec and mappings (it moved between CPUs), and the exit must come last
        recs.sort(key=lambda r: r[0])
        for _t, rtype, misc, rec in recs:
            self._record(rtype, misc, rec)
        return len(recs)

    def _stale(self, pid: int, rec: bytes) -> bool:
        """Whether `rec` (of `pid`) predates the exit of the process that had this pid, read
        by an earlier drain (its CPU's ring was read after that exit's)."""
        gone = self._gone.get(pid)
        if gone is None:
            gone = self._gone_old.get(pid)
        return gone is not None and _time(rec) < gone

    def _late(self, pid: int) -> None:
        """A record of a process whose exit was read before it: applied, and the process stays
        exited (reaped as any exited process, kept if the caller keeps it)."""
        p = self.procs[pid]
        if p.exited:
            return
        p.exited, p.exit_gen = True, self.gen
        if pid in self.kept:
            self.exited.setdefault(pid, self.gen)
        else:
            self._dying.append((self.gen, pid))

    def _record(self, rtype: int, misc: int, rec: bytes) -> None:
        if rtype == REC_MMAP2:
            pid, _tid, addr, length, pgoff = struct.unpack_from("IIQQQ", rec, 8)
            late = self._stale(pid, rec)
            if misc & MISC_MMAP_BUILD_ID:
                dev, ino = "00:00", 0
            else:
                maj, mnr, ino, _gen = struct.unpack_from("IIQQ", rec, 40)
                dev = f"{maj:02x}:{mnr:02x}"
            prot, _flags = struct.unpack_from("II", rec, 64)
            raw = rec[72:]
            path = raw[:raw.find(b"\0")].decode("utf-8", "surrogateescape") if b"\0" in raw else ""
            perms = _PERMS[prot & 7]
            strings = self._strings
            path = strings.setdefault(path, path)
            dev = strings.setdefault(dev, dev)
            if len(strings) > 65536:   # a bound, not a cache: existing records keep their copies
                strings.clear()
            p = self.procs.setdefault(pid, _Proc())
            end = addr + length
            for s in [s for s, e in p.entries.items() if s < end and e.end > addr]:
                del p.entries[s]   # a new mapping replaces what it overlaps
            p.entries[addr] = MapEntry(addr, end, perms, pgoff, dev, ino, path,
                                       path if is_file_backed(path) else "")
            p.version += 1
            p.last = max(p.last, _time(rec))
            if late:
                self._late(pid)
        elif rtype == REC_COMM and misc & MISC_COMM_EXEC:
            pid = struct.unpack_from("I", rec, 8)[0]
            at = _time(rec)
            old = self.procs.get(pid)
            if self._stale(pid, rec):
                if old is not None and old.last > at:   # its new image's mappings came first
                    old.complete = True
                    return
                self.procs[pid] = _Proc(complete=True, version=(old.version + 1) if old else 0, since=at)
                self._late(pid)
                return
            self.procs[pid] = _Proc(complete=True, version=(old.version + 1) if old else 0,   # exec
                                    since=at)
            self.exited.pop(pid, None)
        elif rtype == REC_FORK:
            pid, ppid, tid, _ptid = struct.unpack_from("IIII", rec, 8)
            if pid == tid and pid != ppid and ppid in self.procs and not self._stale(pid, rec):
                parent = self.procs[ppid]
                self.procs[pid] = _Proc(dict(parent.entries), parent.complete, since=_time(rec))
                self.exited.pop(pid, None)   # a reused pid is a new process
        elif rtype == REC_EXIT:
            pid, _ppid, tid, _ptid = struct.unpack_from("IIII", rec, 8)
            if pid != tid:
                return
            at = self._gone[pid] = struct.unpack_from("Q", rec, 24)[0]   # the exit's time
            rp = self.procs.get(pid)
            if rp is not None and rp.since > at:
                return   # read late: an earlier process with this pid, not the one recorded
            if pid in self.kept:
                if rp is None:   # older than us, never mapped code since: its exit still counts
                    rp = self.procs[pid] = _Proc()
                rp.exited, rp.exit_gen = True, self.gen
                self.exited[pid] = self.gen
                self.exited.move_to_end(pid)
                self.exits += 1
                while len(self.exited) > self.max_exited:
                    old_pid, _ = self.exited.popitem(last=False)
                    self.procs.pop(old_pid, None)
                    self.kept.discard(old_pid)
            elif rp is not None:
                rp.exited, rp.exit_gen = True, self.gen
                self._dying.append((self.gen, pid))
                if len(self._dying) > 4 * self.max_exited:   # the caller lags far behind: a
                    self.reap(self._dying[0][0])              # bound still, oldest exits first
        elif rtype == REC_LOST:
            self.lost += struct.unpack_from("Q", rec, 16)[0]

    def keep(self, pid: int) -> None:
        """Keep `pid`'s record after it exits (its stacks may be symbolized later)."""
        self.kept.add(pid)
        p = self.procs.get(pid)
        if p is not None and p.exited and pid not in self.exited:   # its exit was read first
            self.exited[pid] = p.exit_gen
            self.exits += 1

    def forget(self, pid: int) -> None:
        """Drop everything about `pid` (nothing refers to it any more); a live process
        with this pid is recorded afresh from its next mapping on."""
        self.kept.discard(pid)
        self.exited.pop(pid, None)
        self.procs.pop(pid, None)

    def reap(self, gen: int) -> int:
        """Drop the records of processes not kept whose exit was read by drain `gen` or
        earlier; returns how many."""
        n = 0
        dying = self._dying
        while dying and dying[0][0] <= gen:
            pid = dying.popleft()[1]
            p = self.procs.get(pid)
            if p is not None and p.exited and pid not in self.kept:
                del self.procs[pid]
                n += 1
        return n

    def exited_kept(self, gen: int) -> list[int]:
        """Kept pids whose process has exited (and was not replaced by a new one) with the
        exit read by drain `gen` or earlier, oldest first."""
        return [pid for pid, g in self.exited.items()
                if g <= gen and (p := self.procs.get(pid)) is not None and p.exited]

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


# mmap2 prot bits (read, write, exec) -> the perms column of /proc/PID/maps, one string each
_PERMS = tuple(("r" if p & 1 else "-") + ("w" if p & 2 else "-") + ("x" if p & 4 else "-") + "p" for p in range(8))


def _time(rec: bytes) -> int:
    """A record's time: the sample_id trailer (PERF_SAMPLE_TIME only) ends every record."""
    return int(struct.unpack_from("Q", rec, len(rec) - 8)[0])


def _read(data: memoryview, pos: int, size: int, dsize: int) -> bytes:
    if pos + size <= dsize:
        return bytes(data[pos:pos + size])
    first = dsize - pos
    return bytes(data[pos:]) + bytes(data[:size - first])
