"""tseries(value, interval_ns, num_intervals[, agg]): a ring of `num_intervals` slots per map
key, in a per-CPU hash keyed by (key, slot).

Each slot holds {value, meta, epoch}: epoch = ktime_get_tai_ns() / interval_ns (TAI: whole
seconds off the wall clock, so intervals start on round times), slot = epoch %
num_intervals. A slot whose epoch is stale is restarted; otherwise the new value is folded in
(no agg: last write wins, meta = its timestamp; avg: value is the sum and meta the count;
min/max/sum). User space (runtime/tseries.py) merges the CPUs' copies of each slot and
lays the latest `num_intervals` epochs out in time order.
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ebpf.emitter import IntVal, Label
from ..spec import MapSpec
from . import ast as A

BPF_NOEXIST = 1
AGG_NONE, AGG_AVG, AGG_MAX, AGG_MIN, AGG_SUM = range(5)


class TSeriesGen:
    """Mixin for ProgGen (uses its emitter and map helpers)."""

    def tseries_update(self, spec: MapSpec, key: int, arg: IntVal, clock: A.Expr | None = None) -> None:
        """clock: an expression read instead of the TAI clock (bpftrace's BPFTRACE_DUMMY_TS_MAP)."""
        e = self.e  # type: ignore[attr-defined]
        interval, intervals, agg = spec.value_type.params
        signed = spec.value_type.signed
        now, epoch = e.alloc(8), e.alloc(8)
        if clock is None:
            e.call("ktime_get_tai_ns")
        else:
            t = self.gen_int(clock)  # type: ignore[attr-defined]
            r = e.load(t, I.R0)
            if r != I.R0:
                e.emit(I.mov64_reg(I.R0, r))
            e.release(t)
        e.emit(I.stx(8, I.R10, I.R0, now), I.mov64_reg(I.R1, I.R0))
        e.emit(I.ld_imm64(I.R2, interval), I.alu64_reg(I.DIV, I.R1, I.R2), I.stx(8, I.R10, I.R1, epoch))
        e.emit(I.ld_imm64(I.R2, intervals), I.alu64_reg(I.MOD, I.R1, I.R2),
               I.stx(8, I.R10, I.R1, key + spec.key_size - 8))
        self.map_lookup(self.map_index(spec.name), key)  # type: ignore[attr-defined]
        init, reset, done = Label("ts_init"), Label("ts_reset"), Label("ts_done")
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), init)
        e.emit(I.ldx(8, I.R3, I.R0, 16), I.ldx(8, I.R4, I.R10, epoch))
        e.jump(I.jmp_reg(I.JNE, I.R3, I.R4), reset)
        # same interval: fold the value in (r0 = slot, r2 = value)
        e.emit(I.ldx(8, I.R2, I.R10, arg.off))
        if agg == AGG_NONE:
            e.emit(I.stx(8, I.R0, I.R2, 0), I.ldx(8, I.R1, I.R10, now), I.stx(8, I.R0, I.R1, 8))
        elif agg in (AGG_AVG, AGG_SUM):
            e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_reg(I.ADD, I.R1, I.R2), I.stx(8, I.R0, I.R1, 0))
            if agg == AGG_AVG:
                e.emit(I.ldx(8, I.R1, I.R0, 8), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 8))
        else:
            keep = I.JSGE if signed else I.JGE
            if agg == AGG_MAX:
                keep = I.JSLE if signed else I.JLE
            e.emit(I.ldx(8, I.R1, I.R0, 0))
            e.jump(I.jmp_reg(keep, I.R2, I.R1), done)
            e.emit(I.stx(8, I.R0, I.R2, 0))
        e.ja(done)
        # a slot left over from an older interval: start it again
        e.place(reset)
        e.emit(I.ldx(8, I.R2, I.R10, arg.off), I.stx(8, I.R0, I.R2, 0))
        self._ts_meta(I.R1, agg, now)
        e.emit(I.stx(8, I.R0, I.R1, 8), I.ldx(8, I.R1, I.R10, epoch), I.stx(8, I.R0, I.R1, 16))
        e.ja(done)
        e.place(init)
        val = e.alloc(24)
        e.emit(I.ldx(8, I.R1, I.R10, arg.off), I.stx(8, I.R10, I.R1, val))
        self._ts_meta(I.R1, agg, now)
        e.emit(I.stx(8, I.R10, I.R1, val + 8), I.ldx(8, I.R1, I.R10, epoch), I.stx(8, I.R10, I.R1, val + 16))
        self.map_update(spec, key, val, BPF_NOEXIST)  # type: ignore[attr-defined]
        e.place(done)

    def _ts_meta(self, reg: int, agg: int, now: int) -> None:
        """The first meta of an interval: its write time (no agg), a count of 1 (avg), else 0."""
        e = self.e  # type: ignore[attr-defined]
        if agg == AGG_NONE:
            e.emit(I.ldx(8, reg, I.R10, now))
        else:
            e.emit(I.mov64_imm(reg, 1 if agg == AGG_AVG else 0))
