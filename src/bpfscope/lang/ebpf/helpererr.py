"""`-k`: report BPF helper failures to user space, located at the expression that called the
helper, as bpftrace does (map lookups of a missing key, deletes of a missing key, failed
updates). Without -k nothing is emitted.

The record is (event id, retcode); r0 is restored afterwards so the caller's own handling of
the helper's result is unchanged.
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ctype.types import INT64
from ..diagnostics import Span
from ..spec import EventSpec
from .emitter import Emitter, Label
from .outrecords import record_layout, ringbuf_output
from .shared import SharedTables

E2BIG, EEXIST = 7, 17


class HelperErrGen:
    """Mixin of a program generator (uses its emitter and shared tables)."""
    e: Emitter
    shared: SharedTables

    def helper_check(self, helper: str, span: Span | None, null_is_error: bool = False,
                     always: bool = False) -> None:
        """After `helper` returned in r0: on failure send a helper_error event (with -k, or
        `always`: a statement-level delete())."""
        shared = self.shared
        if not shared.opts.get("helper_errors") and not always:
            return
        e = self.e
        ok = Label("helper_ok")
        if null_is_error:   # map_lookup_elem: NULL is the failure, reported with retcode 0
            e.jump(I.jmp_imm(I.JNE, I.R0, 0), ok)
        else:
            e.jump(I.jmp_imm(I.JEQ, I.R0, 0), ok)
            if helper == "map_update_elem":   # map full is always reported; a lost insert race is not an error
                e.jump(I.jmp_imm(I.JEQ, I.R0, -E2BIG), ok)
                e.jump(I.jmp_imm(I.JEQ, I.R0, -EEXIST), ok)
        layout = record_layout([INT64])
        ev_id = shared.event(EventSpec("helper_error", arg_types=[INT64], layout=layout,
                                       extra={"span": span, "helper": helper}))
        rec = e.alloc(16)
        e.emit(I.stx(8, I.R10, I.R0, rec + 8), I.st_imm(8, I.R10, rec, ev_id))
        ringbuf_output(e, shared.ringbuf_map(), rec, 16)   # a lost report is not counted
        e.emit(I.ldx(8, I.R0, I.R10, rec + 8))
        e.place(ok)
