"""Output records: how a BPF program hands user space an action (printf, print, exit, …).

A record is `u64 event id, fields…`, built once on the BPF stack with every byte written and
sent through the script's one ring buffer; the id indexes the script's event table (`EventSpec`:
how runtime/decode.py reads the fields). A record the ring buffer cannot take bumps a per-CPU
lost-events counter, which user space reports.
"""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import INT64, UINT64, Type, tuple_type
from ..spec import EventSpec, MapSpec
from .emitter import Label
from .maps import MapGen


class RecordTables:
    """Mixin of the script-wide tables: the event table, the ring buffer, the lost counter."""
    opts: dict[str, Any]
    events: list[EventSpec]
    ringbuf: int
    lost: int

    def add(self, spec: MapSpec) -> int:  # pragma: no cover - the tables
        raise NotImplementedError

    def ringbuf_map(self) -> int:
        if self.ringbuf < 0:
            size = int(self.opts.get("ringbuf_size", 1 << 22))
            self.ringbuf = self.add(MapSpec("$ringbuf", uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, size, None, INT64,
                                            internal=True))
            self.lost = self.add(MapSpec("$lost", uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1, None, UINT64,
                                         internal=True))
        return self.ringbuf

    def event(self, ev: EventSpec) -> int:
        self.events.append(ev)
        return len(self.events) - 1


class RecordGen(MapGen):
    """Mixin of a program generator, which supplies `shared` and `gen_into`."""

    def send_event(self, ev: EventSpec, args: list[Any], arg_types: list[Type]) -> None:
        e = self.e
        rb = self.shared.ringbuf_map()  # type: ignore[attr-defined]
        layout = tuple_type([UINT64] + arg_types)
        ev.layout = layout
        ev_id = self.shared.event(ev)  # type: ignore[attr-defined]
        off = e.alloc(layout.size)
        e.zero(off, layout.size)
        e.emit(I.st_imm(8, I.R10, off, ev_id))
        for a, t, o in zip(args, arg_types, layout.offsets[1:], strict=True):
            self.gen_into(a, t, off + o)  # type: ignore[attr-defined]
        self.ld_map(I.R1, rb)
        e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, off), I.mov64_imm(I.R3, layout.size),
               I.mov64_imm(I.R4, 0))
        e.call("ringbuf_output")
        ok = Label("sent")
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
        key = e.alloc(8)
        e.emit(I.st_imm(4, I.R10, key, 0), I.st_imm(4, I.R10, key + 4, 0))
        self.map_lookup(self.shared.lost, key)  # type: ignore[attr-defined]
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
        e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0))
        e.place(ok)
