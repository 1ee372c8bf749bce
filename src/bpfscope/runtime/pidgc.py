"""Which exited processes can be forgotten: none of their stacks or symbols is left to print.

Why: a user stack or symbol is a (stack id or address, pid) pair symbolized at print time,
so the runtime keeps each such process's mappings after it exits (kernel.mmap_events,
kernel.symbols). A tracer left running under process churn would grow by one process's
worth of mappings, snapshots and cached frames per exit. A process's state is only needed
while some map still holds a key or value naming its pid, or an event naming it is still
unread: this module finds the pids for which neither is true.

The scan reads every key of the maps that can hold a stack, so it runs in batches: once
enough exited pids have piled up that the scan's cost is small per pid.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ..kernel.maps import Map
from ..lang.ctype.types import Kind, Type
from ..lang.spec import MapSpec

MIN_BATCH = 32        # exits of kept pids between two scans, at least
KEYS_PER_PID = 64     # ... and one per this many map entries read by the previous scan


def pid_offsets(t: Type | None, base: int = 0) -> list[int] | None:
    """Byte offsets of the pid half of every user stack/symbol in a value of type `t`
    (at `base`); None when `t` holds one where they cannot be located."""
    if t is None:
        return []
    if t.kind in (Kind.USTACK, Kind.USYM):
        return [base + 8]   # (stack id | address, pid): the pid's low 32 bits
    if t.kind in (Kind.TUPLE, Kind.RECORD, Kind.STRUCT) and len(t.offsets) == len(t.elems):
        out: list[int] = []
        for e, o in zip(t.elems, t.offsets, strict=True):
            sub = pid_offsets(e, base + o)
            if sub is None:
                return None
            out += sub
        return out
    if t.kind is Kind.ARRAY and t.pointee is not None:
        sub = pid_offsets(t.pointee, 0)
        if sub is None:
            return None
        return [base + i * t.pointee.size + o for i in range(t.count) for o in sub]
    return None if _mentions(t) else []


def _mentions(t: Type) -> bool:
    if t.kind in (Kind.USTACK, Kind.USYM):
        return True
    return any(_mentions(e) for e in t.elems) or (t.pointee is not None and _mentions(t.pointee))


def referenced_pids(maps: Iterable[tuple[MapSpec, Map]]) -> tuple[set[int] | None, int]:
    """Pids named by a user stack/symbol in any map key or value, and how many entries were
    read. None when some map holds them where they cannot be read back (keep everything)."""
    pids: set[int] = set()
    read = 0
    for spec, m in maps:
        koffs = pid_offsets(spec.key_type)
        voffs = pid_offsets(spec.value_type)
        if koffs is None or voffs is None or (voffs and m.percpu):
            return None, read
        if not koffs and not voffs:
            continue
        kb, vb, n = m.items_blob()
        read += n
        ks, vs = m.key_size, m.stride
        for base, size, offs, blob in ((0, ks, koffs, kb), (0, vs, voffs, vb)):
            for off in offs:
                if off + 4 > size:
                    return None, read
                pids.update(struct.unpack_from("<I", blob, base + i * size + off)[0] for i in range(n))
    return pids, read


class ExitedPidCollector:
    """Decides, batch by batch, which kept exited pids to forget.

    Only pids whose exit was read by tracker drain `safe_gen` or earlier are judged: the
    caller has read its event buffer past where it stood then, so events the process sent
    before exiting (a printf of its stack) have been handled."""

    def __init__(self) -> None:
        self.batch = MIN_BATCH
        self.mark = 0          # tracker.exits at the previous scan
        self.forgotten = 0

    def step(self, tracker: Any, maps: list[tuple[MapSpec, Map]], seen: Map | None,
             safe_gen: int) -> set[int]:
        """Returns the pids to forget now (already forgotten by `tracker` and removed from
        the BPF program's first-sight map)."""
        if tracker.exits - self.mark < self.batch:
            return set()
        cands = set(tracker.exited_kept(safe_gen))
        if not cands:
            return set()
        # First let the pids be reported afresh: a new process reusing one takes a stack
        # either before this (its fork record is read by the drain below: it is alive, not
        # a candidate any more) or after it (its first-sight event keeps it again).
        if seen is not None:
            for pid in cands:
                seen.delete(struct.pack("<I", pid))
        tracker.drain()
        cands &= set(tracker.exited_kept(safe_gen))
        refs, read = referenced_pids(maps)
        dead = cands - refs if refs is not None else set()
        for pid in dead:
            tracker.forget(pid)
        self.forgotten += len(dead)
        # the next scan waits for more exits when this one read much or freed little (all
        # still referenced): its cost stays a small constant per exit
        self.mark = tracker.exits
        self.batch = max(MIN_BATCH, read // KEYS_PER_PID, len(tracker.exited) // 2)
        return dead
