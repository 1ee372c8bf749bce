"""Output records: how a BPF program hands user space an action (printf, print, exit, a
warning, a pid's first sight, …).

A record is `u64 event id, fields…` laid out by `record_layout`, built once on the BPF stack with
every byte written (the verifier rejects reads of uninitialised stack) and sent through the
script's one ring buffer; the id indexes the script's event table (`EventSpec`: how
runtime/decode.py reads the fields). A record the ring buffer cannot take bumps a per-CPU
lost-records counter, which user space reports. Fields are written by the caller, between
`open_record` and `submit_record`, so this knows no source language.
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ctype.types import UINT64, Type, tuple_type
from ..spec import EventSpec
from .emitter import Emitter, Label
from .shared import SharedTables


class Record:
    """A record being built at r10+off."""
    __slots__ = ("off", "layout", "ringbuf")

    def __init__(self, off: int, layout: Type, ringbuf: int) -> None:
        self.off = off
        self.layout = layout
        self.ringbuf = ringbuf

    def field(self, i: int) -> int:
        """Stack offset (from r10) of field i (0: the first after the event id)."""
        return self.off + self.layout.offsets[i + 1]


def record_layout(field_types: list[Type]) -> Type:
    """The record's layout: the u64 event id, then the fields (ints already widened to 8 bytes
    by the caller: `records.key_storage_type`)."""
    return tuple_type([UINT64] + field_types)


def open_record(e: Emitter, tables: SharedTables, ev: EventSpec, field_types: list[Type]) -> Record:
    """Register `ev` (its layout filled in), reserve its record on the stack, zeroed, with the
    event id written. The ring buffer is created before the caller's fields are generated
    (maps are numbered in first-use order)."""
    rb = tables.ringbuf_map()
    layout = record_layout(field_types)
    ev.layout = layout
    ev_id = tables.event(ev)
    off = e.alloc(layout.size)
    e.zero(off, layout.size)
    e.emit(I.st_imm(8, I.R10, off, ev_id))
    return Record(off, layout, rb)


def submit_record(e: Emitter, tables: SharedTables, rec: Record) -> None:
    """Send the record; a failure counts as one lost record."""
    ringbuf_output(e, rec.ringbuf, rec.off, rec.layout.size)
    count_lost(e, tables.lost)


def send_record(e: Emitter, tables: SharedTables, ev: EventSpec) -> None:
    """A record without fields (map full, clear, zero, time)."""
    submit_record(e, tables, open_record(e, tables, ev, []))


def ringbuf_output(e: Emitter, ringbuf: int, off: int, size: int) -> None:
    """r0 = bpf_ringbuf_output(ringbuf, r10+off, size, 0)."""
    e.emit(I.ld_map_fd(I.R1, ringbuf), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, off),
           I.mov64_imm(I.R3, size), I.mov64_imm(I.R4, 0))
    e.call("ringbuf_output")


def count_lost(e: Emitter, lost: int) -> None:
    """After a ring-buffer output: when r0 says it failed, add one to this CPU's slot 0 of the
    per-CPU array `lost`."""
    ok = Label("sent")
    e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
    key = e.alloc(8)
    e.emit(I.st_imm(4, I.R10, key, 0), I.st_imm(4, I.R10, key + 4, 0), I.ld_map_fd(I.R1, lost),
           I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
    e.call("map_lookup_elem")
    e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
    e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0))
    e.place(ok)
