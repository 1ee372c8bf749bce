"""join(argv [, sep]): print a NULL-terminated array of user strings (execve's argv).

The record (event id, count, JOIN_ARGS strings of max_strlen) is bigger than the BPF stack,
so it is built in a one-slot per-CPU array used as scratch space and sent from there.
"""

from __future__ import annotations

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import UINT64, string_type, tuple_type
from ..ebpf.emitter import Label
from ..spec import EventSpec, MapSpec
from . import ast as A
from .defaults import DEFAULT_MAX_STRLEN

JOIN_ARGS = 16   # as bpftrace: at most 16 elements are printed


class JoinGen:
    """Mixin for ProgGen (uses its emitter, maps and events)."""

    def gen_join(self, c: A.Call) -> None:
        e = self.e  # type: ignore[attr-defined]
        shared = self.shared  # type: ignore[attr-defined]
        slen = int(shared.opts.get("max_strlen", DEFAULT_MAX_STRLEN))
        sep = c.args[1].value if len(c.args) > 1 and isinstance(c.args[1], A.Str) else " "
        layout = tuple_type([UINT64, UINT64] + [string_type(slen)] * JOIN_ARGS)
        ev_id = shared.event(EventSpec("join", layout=layout, extra={"sep": sep}))
        name = f"$join{layout.size}"
        if name not in shared.index:
            shared.add(MapSpec(name, uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, layout.size, 1, None, UINT64,
                               internal=True))
        scratch = shared.index[name]
        rb = shared.ringbuf_map()
        # r6.. are the expression pool: keep everything in stack slots across helper calls
        base_slot, buf_slot, ptr_slot, key = e.alloc(8), e.alloc(8), e.alloc(8), e.alloc(8)
        v = self.gen_int(c.args[0])  # type: ignore[attr-defined]
        e.emit(I.stx(8, I.R10, e.load(v, I.R1), base_slot))
        e.release(v)
        e.emit(I.st_imm(8, I.R10, key, 0))
        self.map_lookup(scratch, key)  # type: ignore[attr-defined]
        end, send = Label("join_end"), Label("join_send")
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), end)
        e.emit(I.stx(8, I.R10, I.R0, buf_slot), I.st_imm(8, I.R0, 0, ev_id), I.st_imm(8, I.R0, 8, 0))
        for i in range(JOIN_ARGS):
            e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, ptr_slot), I.mov64_imm(I.R2, 8),
                   I.ldx(8, I.R3, I.R10, base_slot), I.alu64_imm(I.ADD, I.R3, 8 * i))
            e.call("probe_read_user")
            e.jump(I.jmp_imm(I.JNE, I.R0, 0), send)
            e.emit(I.ldx(8, I.R3, I.R10, ptr_slot))
            e.jump(I.jmp_imm(I.JEQ, I.R3, 0), send)
            e.emit(I.ldx(8, I.R1, I.R10, buf_slot), I.alu64_imm(I.ADD, I.R1, layout.offsets[2 + i]),
                   I.mov64_imm(I.R2, slen))
            e.call("probe_read_user_str")
            e.emit(I.ldx(8, I.R1, I.R10, buf_slot), I.st_imm(8, I.R1, 8, i + 1))
        e.place(send)
        self.ld_map(I.R1, rb)  # type: ignore[attr-defined]
        e.emit(I.ldx(8, I.R2, I.R10, buf_slot), I.mov64_imm(I.R3, layout.size), I.mov64_imm(I.R4, 0))
        e.call("ringbuf_output")
        e.place(end)
