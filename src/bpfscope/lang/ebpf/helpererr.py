"""`-k`: report BPF helper failures to user space, located at the expression that called the
helper, as bpftrace does (map lookups of a missing key, deletes of a missing key, failed
updates). Without -k nothing is emitted.

The record is (event id, retcode); r0 is restored afterwards so the caller's own handling of
the helper's result is unchanged.
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ctype.types import INT64, UINT64, tuple_type
from ..diagnostics import Span
from ..spec import EventSpec
from .emitter import Label

E2BIG, EEXIST = 7, 17


class HelperErrGen:
    """Mixin for ProgGen (uses its emitter, shared tables and map helpers)."""

    def helper_check(self, helper: str, span: Span | None, null_is_error: bool = False,
                     always: bool = False) -> None:
        """After `helper` returned in r0: on failure send a helper_error event (with -k, or
        `always`: a statement-level delete())."""
        shared = self.shared  # type: ignore[attr-defined]
        if not shared.opts.get("helper_errors") and not always:
            return
        e = self.e  # type: ignore[attr-defined]
        ok = Label("helper_ok")
        if null_is_error:   # map_lookup_elem: NULL is the failure, reported with retcode 0
            e.jump(I.jmp_imm(I.JNE, I.R0, 0), ok)
        else:
            e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
            if helper == "map_update_elem":   # map full is always reported; a lost insert race is not an error
                e.jump(I.jmp_imm(I.JEQ, I.R0, -E2BIG), ok)
                e.jump(I.jmp_imm(I.JEQ, I.R0, -EEXIST), ok)
        layout = tuple_type([UINT64, INT64])
        ev_id = shared.event(EventSpec("helper_error", arg_types=[INT64], layout=layout,
                                       extra={"span": span, "helper": helper}))
        rec = e.alloc(16)
        e.emit(I.stx(8, I.R10, I.R0, rec + 8), I.st_imm(8, I.R10, rec, ev_id))
        self.ld_map(I.R1, shared.ringbuf_map())  # type: ignore[attr-defined]
        e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, rec), I.mov64_imm(I.R3, 16),
               I.mov64_imm(I.R4, 0))
        e.call("ringbuf_output")
        e.emit(I.ldx(8, I.R0, I.R10, rec + 8))
        e.place(ok)
