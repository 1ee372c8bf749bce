"""Map operations: lookup and update through the helpers, aggregations updated in place in
per-CPU maps (the value `map_lookup_elem` returns is written directly; `map_update_elem` only
runs the first time a key is seen on a CPU), keyless count/hist/lhist in per-CPU arrays,
histogram bucket indices, map types of declarations. `MapGen` is a mixin of a front end's
program generator, which supplies `map_index` and `shared` (its `SharedTables`)."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import Kind, Type
from ..spec import EventSpec, MapSpec
from .emitter import Emitter, IntVal, Label
from .helpererr import E2BIG, HelperErrGen
from .outrecords import send_record

# aggregations kept per CPU and updated in place (summed/merged when read)
PERCPU_KINDS = (Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG)
BPF_NOEXIST = 1


def array_slots(vt: Type) -> int:
    """Slots of a keyless count/hist/lhist kept in a per-CPU array (0: too many, use a hash).
    hist: indices up to (64 - bits) << bits (see hist_bucket); lhist: 0 .. (hi - lo) // step + 1."""
    if vt.kind is Kind.COUNT:
        return 1
    if vt.kind is Kind.HIST:
        bits = vt.params[0] if vt.params else 0
        n = ((64 - bits) << bits) + 1
    elif vt.kind is Kind.LHIST:
        lo, hi, step = vt.params
        n = (hi - lo) // step + 2
    else:
        return 0
    return n if n <= 4096 else 0


def declared_map(decl: tuple[str, int, Any], default_type: int) -> tuple[int, int]:
    """(BPF map type, max entries) of a `let @m = kind(N);` declaration. Aggregations keep their
    per-CPU layout (they are updated in place without atomics), in the LRU flavour if asked."""
    kind, entries, _span = decl
    percpu_default = default_type == uapi.BPF_MAP_TYPE_PERCPU_HASH
    lru = kind in ("lruhash", "percpulruhash")
    percpu = percpu_default or kind in ("percpuhash", "percpulruhash")
    if lru:
        return (uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH if percpu else uapi.BPF_MAP_TYPE_LRU_HASH), entries
    return (uapi.BPF_MAP_TYPE_PERCPU_HASH if percpu else uapi.BPF_MAP_TYPE_HASH), entries


class MapGen(HelperErrGen):
    e: Emitter

    def map_index(self, name: str) -> int:  # pragma: no cover - the front end's generator
        raise NotImplementedError

    def ld_map(self, reg: int, idx: int) -> None:
        self.e.emit(I.ld_map_fd(reg, idx))

    def map_update(self, spec: MapSpec, key: int, val: int, flags: int) -> None:
        e = self.e
        self.ld_map(I.R1, self.map_index(spec.name))
        e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key),
               I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, val), I.mov64_imm(I.R4, flags))
        e.call("map_update_elem")
        self.helper_check("map_update_elem", e.spans[-1][1] if e.spans else None)
        self.warn_map_full(spec)

    def map_lookup(self, idx: int, key: int) -> None:
        """r0 = lookup(map idx, r10+key)."""
        self.ld_map(I.R1, idx)
        self.e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
        self.e.call("map_lookup_elem")

    def aggregate_array(self, kind: Kind, arg: IntVal | None, spec: MapSpec) -> None:
        """count/hist/lhist in a per-CPU array: the slot index (0, or the bucket) is the key and
        the slot always exists, so no first-time update path."""
        e = self.e
        key = e.alloc(8)
        if kind is Kind.HIST:
            assert arg is not None
            self.hist_bucket(arg, key, spec.value_type.params[0])
        elif kind is Kind.LHIST:
            assert arg is not None
            lo, hi, step = spec.value_type.params
            self.lhist_bucket(arg, key, lo, hi, step)
        else:
            e.emit(I.st_imm(8, I.R10, key, 0))
        self.map_lookup(self.map_index(spec.name), key)
        done = Label("agg_done")
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
        e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0))
        e.place(done)

    def hist_bucket(self, arg: IntVal, dst: int, bits: int) -> None:
        """bucket index of a log2 histogram → u64 at r10+dst (scheme of runtime/output.hist_bucket_index)."""
        e = self.e
        done = Label("hb_done")
        v, p, t = I.R1, I.R2, I.R3
        e.emit(I.ldx(8, v, I.R10, arg.off), I.mov64_imm(I.R4, 0))
        e.jump(I.jmp_imm(I.JSLT, v, 0), done)
        n2 = 2 << bits  # values below 2N map to index v+1
        e.emit(I.mov64_reg(I.R4, v), I.alu64_imm(I.ADD, I.R4, 1))
        e.jump(I.jmp_imm(I.JLT, v, n2), done)
        # p = floor(log2 v)
        e.emit(I.mov64_imm(p, 0), I.mov64_reg(I.R5, v))
        for s in (32, 16, 8, 4, 2, 1):
            skip = Label()
            e.emit(I.mov64_reg(t, I.R5), I.alu64_imm(I.RSH, t, s))
            e.jump(I.jmp_imm(I.JEQ, t, 0), skip)
            e.emit(I.mov64_reg(I.R5, t), I.alu64_imm(I.ADD, p, s))
            e.place(skip)
        # index = ((p - bits) << bits) + (v >> (p - bits)) + 1
        e.emit(I.mov64_reg(t, p), I.alu64_imm(I.SUB, t, bits), I.mov64_reg(I.R4, v),
               I.alu64_reg(I.RSH, I.R4, t), I.alu64_imm(I.LSH, t, bits), I.alu64_reg(I.ADD, I.R4, t),
               I.alu64_imm(I.ADD, I.R4, 1))
        e.place(done)
        e.emit(I.stx(8, I.R10, I.R4, dst))

    def lhist_bucket(self, arg: IntVal, dst: int, lo: int, hi: int, step: int) -> None:
        e = self.e
        done = Label("lh_done")
        last = (hi - lo) // step + 1
        e.emit(I.ldx(8, I.R1, I.R10, arg.off), I.mov64_imm(I.R4, 0))
        e.jump(I.jmp_imm(I.JSLT, I.R1, lo), done)
        e.emit(I.mov64_imm(I.R4, last))
        e.jump(I.jmp_imm(I.JSGE, I.R1, hi), done)
        e.emit(I.mov64_reg(I.R4, I.R1), I.alu64_imm(I.SUB, I.R4, lo), I.alu64_imm(I.DIV, I.R4, step),
               I.alu64_imm(I.ADD, I.R4, 1))
        e.place(done)
        e.emit(I.stx(8, I.R10, I.R4, dst))

    def warn_map_full(self, spec: Any) -> None:
        """After map_update_elem: report -E2BIG (map full) to user space, as bpftrace always does."""
        e = self.e
        ok = Label("upd_ok")
        e.jump(I.jmp_imm(I.JNE, I.R0, -E2BIG), ok)
        span = e.spans[-1][1] if e.spans else None
        msg = ("Map full; can't update element.\nTry increasing max_map_keys config or manually setting the "
               "max entries in a map declaration e.g. `let @a = hash(5000)`\n"
               "Additional Info - helper: map_update_elem, retcode: -7")
        send_record(e, self.shared, EventSpec("map_full", fmt=msg, map_name=spec.name, extra={"span": span}))
        e.place(ok)
