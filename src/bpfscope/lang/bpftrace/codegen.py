"""Code generation: typed AST → eBPF instructions, one program per concrete attach point.

Design points (all about per-event cost and verifier friendliness):
- aggregations (count/sum/min/max/avg/stats/hist/lhist) live in per-CPU maps and are
  updated in place through the pointer map_lookup_elem returns; map_update_elem is only
  called the first time a key is seen on a CPU;
- keys and records are built once on the stack with every byte written (the verifier
  rejects reads of uninitialised stack), ints widened to 8 bytes;
- user-space actions (printf, print, exit, …) are records `u64 event_id, args…` sent
  through one ring buffer; a failed output bumps a per-CPU lost-events counter.
"""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import INT64, UINT64, Kind, Type, align8
from ..diagnostics import CompileError
from ..ebpf.arch import host as host_arch
from ..ebpf.byteloops import compare_bytes
from ..ebpf.emitter import CTX, Emitter, IntVal, Label
from ..ebpf.frame import SCRATCH_LIMIT, redirect_frame
from ..ebpf.helpererr import HelperErrGen
from ..ebpf.locarg import load_loc_arg
from ..ebpf.maps import BPF_NOEXIST, MapGen, array_slots, declared_map
from ..ebpf.outrecords import open_record, submit_record
from ..ebpf.records import key_storage_type
from ..ebpf.shared import SharedTables
from ..ebpf.stacks import get_stackid, record_pid, stack_map, user_stack
from ..spec import EventSpec, LocArg, MapSpec, ProbeInfo, ProgSpec
from . import ast as A
from .codegen_stdlib import StdlibGen
from .globgen import GlobGen
from .joingen import JoinGen
from .loopgen import LoopGen
from .memgen import Loc, MemGen, pointee_size
from .stdlib_types import const_eval
from .strsearch import StrSearchGen
from .tseriesgen import TSeriesGen
from .typecheck import AGG_FUNCS, MapTable, ProbeTypes, is_discard, positional_int

ARCH = host_arch()          # struct pt_regs of the machine the programs load on
PT_REGS_ARGS, PT_REGS_RET, PT_REGS_IP, PT_REGS_SP = ARCH.args, ARCH.ret, ARCH.ip, ARCH.sp

INT_KINDS = frozenset({Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER, Kind.KSYM, Kind.USERNAME,
                       Kind.STRERROR, Kind.KSTACK})

CMP_OPS = {"==": (I.JEQ, I.JEQ), "!=": (I.JNE, I.JNE), "<": (I.JLT, I.JSLT), "<=": (I.JLE, I.JSLE),
           ">": (I.JGT, I.JSGT), ">=": (I.JGE, I.JSGE)}
ARITH_OPS = {"+": I.ADD, "-": I.SUB, "*": I.MUL, "/": I.DIV, "%": I.MOD, "&": I.AND, "|": I.OR,
             "^": I.XOR, "<<": I.LSH, ">>": I.RSH}


def is_int_kind(t: Type) -> bool:
    return t.kind in INT_KINDS


class Shared(SharedTables):
    """State shared by all programs of one script: the script's maps first, then the back
    end's internal ones (ring buffer, stacks, …) as they are used."""

    def __init__(self, maps: MapTable, opts: dict[str, Any]) -> None:
        super().__init__(opts)
        self.table = maps
        max_keys = int(opts.get("max_map_keys", 4096))
        decls = opts.get("map_decls", {})
        for name, info in maps.maps.items():
            vt = info.value
            if vt is None:
                continue
            kt = info.key
            ksize = kt.size if kt is not None else 8
            if vt.kind in (Kind.HIST, Kind.LHIST, Kind.TSERIES):
                ksize = align8(ksize) + 8   # the u64 bucket/slot after the key, aligned
            if vt.kind is Kind.TSERIES:   # per (key, interval slot): value, meta, epoch
                mtype, vsize = uapi.BPF_MAP_TYPE_PERCPU_HASH, 24
            elif vt.kind in (Kind.COUNT, Kind.SUM):
                mtype, vsize = uapi.BPF_MAP_TYPE_PERCPU_HASH, 8
            elif vt.kind in (Kind.MIN, Kind.MAX, Kind.AVG, Kind.STATS):
                mtype, vsize = uapi.BPF_MAP_TYPE_PERCPU_HASH, 16
            elif vt.kind in (Kind.HIST, Kind.LHIST):
                mtype, vsize = uapi.BPF_MAP_TYPE_PERCPU_HASH, 8
            else:
                mtype, vsize = uapi.BPF_MAP_TYPE_HASH, max(8, vt.size)
            entries = max_keys if kt is not None or vt.kind in (Kind.HIST, Kind.LHIST) else 1
            if vt.kind is Kind.TSERIES:
                entries = max(max_keys, vt.params[1]) if kt is not None else vt.params[1]
            if name in decls:
                mtype, entries = declared_map(decls[name], mtype)
            elif kt is None and name in opts.get("agg_arrays", ()) and array_slots(vt):
                # keyless count/hist/lhist only ever aggregated and printed (lang.aggmaps): one
                # per-CPU array slot per value/bucket, looked up by index (inlined by the kernel)
                mtype, ksize, entries = uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, array_slots(vt)
            self.add(MapSpec(name, mtype, ksize, vsize, entries, kt, vt))

    def scratch_map(self, size: int) -> int:
        """The per-CPU frame of programs whose stack needs exceed 512 bytes (sized for the largest)."""
        if "$scratch" not in self.index:
            self.add(MapSpec("$scratch", uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, size, 1, None, UINT64,
                             internal=True))
        spec = self.specs[self.index["$scratch"]]
        spec.value_size = max(spec.value_size, size)
        return self.index["$scratch"]

    def bench_map(self) -> int:
        """Per-CPU elapsed-ns counters of bench: probes, indexed by probe number."""
        if "$bench" not in self.index:
            self.add(MapSpec("$bench", uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1024, None, UINT64,
                             internal=True))
        return self.index["$bench"]


class ProgGen(MapGen, MemGen, LoopGen, StdlibGen, JoinGen, TSeriesGen, HelperErrGen, GlobGen, StrSearchGen):
    """Generates one program: one probe body for one resolved attach point (memory reads: MemGen)."""
    shared: Shared

    def __init__(self, probe: A.Probe, info: ProbeInfo, types: ProbeTypes, shared: Shared, index: int,
                 big_frame: bool = False) -> None:
        self.probe = probe
        self.info = info
        self.types = types
        self.shared = shared
        self.index = index
        self.big_frame = big_frame
        self.frame_in_scratch = big_frame   # stays set while a loop body is generated (big_frame may not)
        self.e = Emitter(SCRATCH_LIMIT, (I.R7, I.R8)) if big_frame else Emitter()
        self.exit_label = Label("exit")
        self.var_slots: dict[str, tuple[int, Type]] = {}
        self.loops: list[tuple[Label, Label]] = []
        self.consts: list[tuple[int, str]] = []

    def t(self, e: A.Expr) -> Type:
        return self.types.of(e)

    # ------------------------------------------------------------------ driver
    def generate(self) -> ProgSpec:
        e = self.e
        e.emit(I.mov64_reg(CTX, I.R1))
        for name, vt in self.types.vars.items():
            if vt.kind is Kind.NONE:
                continue
            st = key_storage_type(vt) if is_int_kind(vt) else vt
            size = 8 if is_int_kind(st) else st.size
            off = e.alloc(size)
            e.zero(off, size)
            self.var_slots[name] = (off, st)
        self.setup_loops()
        bench_slot = self.special_prologue()
        if self.probe.predicate is not None:
            e.mark(self.probe.predicate.span)
            v = self.gen_int(self.probe.predicate)
            r = e.load(v, I.R1)
            e.jump(I.jmp_imm(I.JEQ, r, 0), self.exit_label)
            e.release(v)
        self.block(self.probe.body)
        e.place(self.exit_label)
        self.special_epilogue(bench_slot)
        e.emit(I.exit_())
        main, spans = e.finish(), e.spans
        if self.frame_in_scratch:
            main, spans = self.move_frame(main, spans)
        insns, spans = self.link(main, spans)
        if any(not -32768 <= ins.off <= 32767 for ins in insns):   # a jump or frame offset past s16
            raise CompileError(f"this probe's program is too large for BPF ({len(insns)} instructions: a jump "
                               "spans more than 32767 of them): try a smaller max_strlen or fewer unrolled "
                               "iterations", self.probe.span)
        return ProgSpec(self.info, insns, spans, self.index, self.consts, self.subprogs)

    def move_frame(self, main: list[I.Insn], spans: list[tuple[int, A.Span]]) -> tuple[
            list[I.Insn], list[tuple[int, A.Span]]]:
        """A frame bigger than the BPF stack (big structs, long strings) lives in a per-CPU
        scratch map value, as bpftrace does: r9 points at its end and every r10-relative access
        of the body goes through r9 instead (offsets unchanged)."""
        # loop bodies share this frame (see loopgen.shared_frame_callback): room for the deepest
        size = (max(self.e.max_sp, self.shared_cb_size) + 7) & ~7
        idx = self.shared.scratch_map(size)
        redirect_frame(main, self.real_stack_insns)
        assert main[0].code == I.mov64_reg(CTX, I.R1).code and main[0].dst == CTX
        pre = [I.mov64_reg(CTX, I.R1), I.st_imm(4, I.R10, -4, 0), *I.ld_map_fd(I.R1, idx),
               I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, -4), I.call(uapi.HELPER_ID["map_lookup_elem"]),
               I.jmp_imm(I.JNE, I.R0, 0, 2), I.mov64_imm(I.R0, 0), I.exit_(),
               I.mov64_reg(I.R9, I.R0), I.alu64_imm(I.ADD, I.R9, size)]
        n = len(pre) - 1   # the body's own `r6 = r1` is replaced by the prologue's
        self.consts[:] = [(i + n, name) for i, name in self.consts]
        for k, (em, local, cb) in enumerate(self.func_refs):
            if em is self.e:
                self.func_refs[k] = (em, local + n, cb)
        return pre + main[1:], [(i + n, sp) for i, sp in spans]

    def special_prologue(self) -> int:
        """test:/bench: probes report `return N` as the program's return value (a test passes
        on 0); a bench: probe also times its body with ktime_get_ns (returns that slot)."""
        e = self.main_e = self.e
        self.result_slot = 0
        if self.info.ctx == "iter":
            self.iter_null_skip()
        if self.info.provider not in ("test", "bench"):
            return 0
        self.result_slot = e.alloc(8)
        e.zero(self.result_slot, 8)
        if self.info.provider != "bench":
            return 0
        slot = e.alloc(8)
        e.call("ktime_get_ns")
        e.emit(I.stx(8, I.R10, I.R0, slot))
        return slot

    def iter_null_skip(self) -> None:
        """An iterator's last call passes a NULL object (the last pointer of its context, e.g.
        ctx->task, ctx->file, ctx->vma): the body does not run for it."""
        objs = [f for f in self.info.args if f.type.kind is Kind.POINTER and f.name != "meta"]
        if objs:
            self.e.emit(I.ldx(8, I.R1, CTX, objs[-1].offset))
            self.e.jump(I.jmp_imm(I.JEQ, I.R1, 0), self.exit_label)

    def special_epilogue(self, bench_slot: int) -> None:
        """r0 = the probe's return value; a bench: probe adds its elapsed ns to the per-CPU
        `$bench` counter of its probe index (the runtime divides by the runs it made)."""
        e = self.e
        if bench_slot:
            done = Label("bench_done")
            e.call("ktime_get_ns")
            e.emit(I.ldx(8, I.R1, I.R10, bench_slot), I.alu64_reg(I.SUB, I.R0, I.R1),
                   I.stx(8, I.R10, I.R0, bench_slot),
                   I.st_imm(4, I.R10, self.result_slot, self.index))   # the key (a bench's result is unused)
            self.map_lookup(self.shared.bench_map(), self.result_slot)
            e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
            e.emit(I.ldx(8, I.R1, I.R10, bench_slot), I.ldx(8, I.R2, I.R0, 0),
                   I.alu64_reg(I.ADD, I.R2, I.R1), I.stx(8, I.R0, I.R2, 0))
            e.place(done)
            e.emit(I.mov64_imm(I.R0, 0))
            return
        if self.result_slot:
            e.emit(I.ldx(8, I.R0, I.R10, self.result_slot))
        else:
            e.emit(I.mov64_imm(I.R0, 0))

    # ------------------------------------------------------------------ statements
    def block(self, b: A.Block) -> None:
        for i, s in enumerate(b.stmts):
            self.stmt(s)
            if _ends_flow(s):
                # what follows exit()/return/break/continue can never run (the verifier rejects it)
                if i + 1 < len(b.stmts):
                    self.shared.opts.setdefault("codegen_warnings", []).append(
                        ("Unreachable statement", b.stmts[i + 1].span))
                break

    def stmt(self, s: A.Stmt) -> None:
        e = self.e
        sp = e.sp
        e.mark(s.span)
        if isinstance(s, A.ExprStmt):
            self.expr_stmt(s.expr)
        elif isinstance(s, A.Assign):
            self.assign(s)
        elif isinstance(s, A.Let):
            if s.value is not None:
                self.assign(A.Assign(s.var, s.value, span=s.span))
            elif s.var.name in self.var_slots:
                voff, vt = self.var_slots[s.var.name]
                e.zero(voff, 8 if is_int_kind(vt) else vt.size)
        elif isinstance(s, A.Block):
            self.block(s)
        elif isinstance(s, A.If) and self.std_const_cond(s.cond) is not None:
            taken = s.then if self.std_const_cond(s.cond) else s.other  # only the live branch
            if taken is not None:
                self.block(taken)
        elif isinstance(s, A.If):
            other = Label("else")
            end = Label("endif")
            v = self.gen_int(s.cond)
            r = e.load(v, I.R1)
            e.release(v)
            e.jump(I.jmp_imm(I.JEQ, r, 0), other)
            self.block(s.then)
            if s.other is not None:
                e.ja(end)
            e.place(other)
            if s.other is not None:
                self.block(s.other)
            e.place(end)
        elif isinstance(s, A.Unroll):
            n = self.types.const_int(s.count)
            if n is None:
                raise CompileError("unroll() count must be a literal between 1 and 100", s.count.span)
            if not 1 <= n <= 100:   # located at `unroll (N)`, as 0.26
                head = A.Span(s.span.start, s.count.span.end + 1)   # through the `)` after the count
                raise CompileError(f"unroll {'maximum value is 100' if n > 100 else 'minimum value is 1'}", head)
            for _ in range(n):
                self.block(s.body)
        elif isinstance(s, A.While):
            top, end = Label("while"), Label("endwhile")
            e.place(top)
            v = self.gen_int(s.cond)
            r = e.load(v, I.R1)
            e.release(v)
            e.jump(I.jmp_imm(I.JEQ, r, 0), end)
            self.loops.append((top, end))
            self.block(s.body)
            self.loops.pop()
            e.ja(top)
            e.place(end)
        elif isinstance(s, A.For) and not isinstance(s.iterable, A.Range):
            self.for_map(s)
        elif isinstance(s, A.For):
            self.for_range(s)
        elif isinstance(s, A.Jump):
            if s.kind == "return":
                if s.value is not None and self.result_slot and e is self.main_e:
                    v = self.gen_int(s.value)
                    e.emit(I.stx(8, I.R10, e.load(v, I.R1), self.result_slot))
                    e.release(v)
                e.ja(self.exit_label)
            elif not self.loops:
                raise CompileError(f"'{s.kind}' statement is not allowed outside of a loop", s.span)
            else:
                top, end = self.loops[-1]
                e.ja(end if s.kind == "break" else top)
        else:
            raise CompileError(f"unsupported statement {type(s).__name__}", s.span)
        e.sp = sp
        e.free[:] = list(e.pool)

    def nested_stmts(self, stmts: list[A.Stmt]) -> None:
        """Statements inside an expression (block expressions): live temporaries stay reserved."""
        e = self.e
        saved = list(e.free)
        for st in stmts:
            self.stmt(st)
            e.free[:] = saved

    def expr_stmt(self, x: A.Expr) -> None:
        if isinstance(x, A.BlockExpr):
            self.nested_stmts(x.stmts)
            self.expr_stmt(x.value)
            return
        if isinstance(x, A.Call) and self.t(x).kind is Kind.NONE:
            self.call_stmt(x)
            return
        if isinstance(x, A.Ternary) and self.t(x).kind is Kind.NONE:   # cond ? printf(…) : …
            other, end = Label(), Label()
            c = self.gen_int(x.cond)
            r = self.e.load(c, I.R1)
            self.e.release(c)
            self.e.jump(I.jmp_imm(I.JEQ, r, 0), other)
            self.expr_stmt(x.then)
            self.e.ja(end)
            self.e.place(other)
            self.expr_stmt(x.other)
            self.e.place(end)
            return
        if is_int_kind(self.t(x)):
            self.e.release(self.gen_int(x))
        elif self.t(x).kind is not Kind.NONE:
            self.gen_mem(x, self.t(x))

    def assign(self, s: A.Assign) -> None:
        e = self.e
        tgt = s.target
        if is_discard(s):
            self.expr_stmt(s.value)
            return
        if isinstance(tgt, A.Var):
            off, vt = self.var_slots[tgt.name]
            if s.op:
                op = A.Binop(s.op, tgt, s.value, span=s.span)
                self.types.types[id(op)] = vt if vt.kind is Kind.POINTER else INT64
                self.types.types.setdefault(id(tgt), vt)
                v = self.gen_int(op)
                e.emit(I.stx(8, I.R10, e.load(v, I.R1), off))
                e.release(v)
            elif is_int_kind(vt):
                v = self.gen_int(s.value)
                e.emit(I.stx(8, I.R10, e.load(v, I.R1), off))
                e.release(v)
            else:
                self.gen_mem(s.value, vt, off)
            return
        assert isinstance(tgt, A.Map)
        spec = self.spec(tgt.name)
        if isinstance(s.value, A.Call) and s.value.name in AGG_FUNCS:
            self.aggregate(tgt, s.value, spec)
            return
        if s.op:
            value: A.Expr = A.Binop(s.op, A.Map(tgt.name, tgt.keys, span=tgt.span), s.value, span=s.span)
            ptr = spec.value_type is not None and spec.value_type.kind is Kind.POINTER and s.op in "+-"
            self.types.types[id(value)] = spec.value_type if ptr else INT64
            self.types.types[id(value.left)] = self.t(tgt)  # type: ignore[attr-defined]
        else:
            value = s.value
        if is_int_kind(spec.value_type):
            v = self.gen_int(value)
            key = self.gen_key(tgt, spec)
            val = e.alloc(8)
            e.emit(I.stx(8, I.R10, e.load(v, I.R1), val))
            e.release(v)
        else:
            val = e.alloc(spec.value_size)
            if spec.value_size > spec.value_type.size:
                e.zero(val, spec.value_size)
            self.gen_mem(value, spec.value_type, val)
            key = self.gen_key(tgt, spec)
        self.map_update(spec, key, val, 0)

    # ------------------------------------------------------------------ maps
    def spec(self, name: str) -> MapSpec:
        return self.shared.specs[self.shared.index[name]]

    def map_index(self, name: str) -> int:
        return self.shared.index[name]

    def gen_key(self, m: A.Map, spec: MapSpec, extra: int = 0) -> int:
        """Build the key of `m` on the stack (plus `extra` zeroed trailing bytes); returns its offset."""
        e = self.e
        kt = spec.key_type
        size = (kt.size if kt is not None else 8) + extra
        off = e.alloc(size)
        if kt is None:
            e.zero(off, size)
            return off
        if len(m.keys) == 1 and kt.kind not in (Kind.TUPLE,) or (len(m.keys) == 1 and kt.kind is Kind.TUPLE
                                                               and self.t(m.keys[0]).kind is Kind.TUPLE):
            if not is_int_kind(kt):
                e.zero(off, kt.size)
            self.gen_into(m.keys[0], kt, off)
        else:
            if any(not is_int_kind(x) for x in kt.elems) or kt.size != 8 * len(kt.elems):
                e.zero(off, kt.size)
            for k, et, eo in zip(m.keys, kt.elems, kt.offsets, strict=True):
                self.gen_into(k, et, off + eo)
        if extra:
            e.zero(off + size - extra, extra)
        return off

    def aggregate(self, m: A.Map, c: A.Call, spec: MapSpec) -> None:
        e = self.e
        kind = AGG_FUNCS[c.name]
        arg: IntVal | None = None
        if c.args and kind is not Kind.COUNT:
            arg = self.gen_int(c.args[0])
            # keep the argument in a stack slot: helper calls below clobber r1-r5
            if arg.reg >= 0:
                slot = IntVal(off=e.alloc(8))
                e.set_from(slot, arg.reg)
                e.release(arg)
                arg = slot
        if spec.map_type == uapi.BPF_MAP_TYPE_PERCPU_ARRAY:
            self.aggregate_array(kind, arg, spec)
            return
        extra = 0
        if kind in (Kind.HIST, Kind.LHIST, Kind.TSERIES):
            extra = spec.key_size - (spec.key_type.size if spec.key_type is not None else 8)
        key = self.gen_key(m, spec, extra)
        if kind is Kind.TSERIES:
            assert arg is not None
            self.tseries_update(spec, key, arg, self.types.tseries_clock.get(id(c)))
            return
        if kind is Kind.HIST:
            assert arg is not None
            self.hist_bucket(arg, key + spec.key_size - 8, spec.value_type.params[0])
        elif kind is Kind.LHIST:
            assert arg is not None
            lo, hi, step = spec.value_type.params
            self.lhist_bucket(arg, key + spec.key_size - 8, lo, hi, step)
        idx = self.map_index(spec.name)
        self.map_lookup(idx, key)
        init, done = Label("agg_init"), Label("agg_done")
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), init)
        # in place update through the returned pointer (per-CPU: no atomics needed)
        if kind in (Kind.COUNT, Kind.HIST, Kind.LHIST):
            e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0))
        elif kind is Kind.SUM:
            assert arg is not None
            e.emit(I.ldx(8, I.R1, I.R0, 0), I.ldx(8, I.R2, I.R10, arg.off), I.alu64_reg(I.ADD, I.R1, I.R2),
                   I.stx(8, I.R0, I.R1, 0))
        elif kind in (Kind.AVG, Kind.STATS):
            assert arg is not None
            e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0),
                   I.ldx(8, I.R1, I.R0, 8), I.ldx(8, I.R2, I.R10, arg.off), I.alu64_reg(I.ADD, I.R1, I.R2),
                   I.stx(8, I.R0, I.R1, 8))
        else:  # MIN / MAX: (value, is_set)
            assert arg is not None
            store = Label("mm_store")
            e.emit(I.ldx(8, I.R2, I.R10, arg.off), I.ldx(8, I.R3, I.R0, 8))
            e.jump(I.jmp_imm(I.JEQ, I.R3, 0), store)
            e.emit(I.ldx(8, I.R1, I.R0, 0))
            # keep current unless the new value is better
            e.jump(I.jmp_reg(I.JSGE if kind is Kind.MIN else I.JSLE, I.R2, I.R1), done)
            e.place(store)
            e.emit(I.stx(8, I.R0, I.R2, 0), I.mov64_imm(I.R3, 1), I.stx(8, I.R0, I.R3, 8))
        e.ja(done)
        e.place(init)
        val = e.alloc(spec.value_size)
        if kind in (Kind.COUNT, Kind.HIST, Kind.LHIST):
            e.emit(I.st_imm(8, I.R10, val, 1))
        elif kind is Kind.SUM:
            assert arg is not None
            e.emit(I.ldx(8, I.R1, I.R10, arg.off), I.stx(8, I.R10, I.R1, val))
        elif kind in (Kind.AVG, Kind.STATS):
            assert arg is not None
            e.emit(I.st_imm(8, I.R10, val, 1), I.ldx(8, I.R1, I.R10, arg.off), I.stx(8, I.R10, I.R1, val + 8))
        else:
            assert arg is not None
            e.emit(I.ldx(8, I.R1, I.R10, arg.off), I.stx(8, I.R10, I.R1, val), I.st_imm(8, I.R10, val + 8, 1))
        self.map_update(spec, key, val, BPF_NOEXIST)
        e.place(done)

    # ------------------------------------------------------------------ events
    def send_event(self, ev: EventSpec, args: list[A.Expr], arg_types: list[Type]) -> None:
        """An output record whose fields are the values of `args` (ebpf/outrecords.py)."""
        rec = open_record(self.e, self.shared, ev, arg_types)
        for i, (a, t) in enumerate(zip(args, arg_types, strict=True)):
            self.gen_into(a, t, rec.field(i))
        submit_record(self.e, self.shared, rec)

    def call_stmt(self, c: A.Call) -> None:
        n = c.name
        e = self.e
        if self.std_call_stmt(c):
            return
        if n == "join":
            self.gen_join(c)
            return
        if n in ("printf", "errorf", "warnf", "system", "cat", "debugf"):
            fmt = c.args[0]
            assert isinstance(fmt, A.Str)
            types = [self.storage(self.t(a)) for a in c.args[1:]]
            self.send_event(EventSpec(n, fmt=fmt.value, arg_types=types), c.args[1:], types)
        elif n == "print":
            a = c.args[0]
            if isinstance(a, A.Map) and not a.keys:
                top = self.types.const_int(c.args[1]) if len(c.args) > 1 else 0
                div = self.types.const_int(c.args[2]) if len(c.args) > 2 else 1
                self.send_event(EventSpec("print_map", map_name=a.name,
                                          extra={"top": top or 0, "div": div or 1, "nargs": len(c.args)}),
                                [], [])
            else:
                t = self.storage(self.t(a))
                self.send_event(EventSpec("print_value", arg_types=[t]), [a], [t])
        elif n in ("clear", "zero"):
            a = c.args[0]
            assert isinstance(a, A.Map)
            self.send_event(EventSpec(n, map_name=a.name), [], [])
        elif n == "delete":
            m = c.args[0]
            assert isinstance(m, A.Map)
            spec = self.spec(m.name)
            if self.bucketed(spec):     # every bucket of the key; empty ones fail quietly
                e.release(self.bucketed_key_op(m, spec, "map_delete_elem", c.span))
                return
            key = self.gen_key(m, spec)
            self.ld_map(I.R1, self.map_index(m.name))
            e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
            e.call("map_delete_elem")
            # bpftrace warns when a delete whose result is discarded fails, with or without -k
            self.helper_check("map_delete_elem", c.span, always=True)
        elif n == "exit":
            types = [INT64] if c.args else []
            self.send_event(EventSpec("exit"), c.args, types)
            e.ja(self.exit_label)
        elif n == "time":
            tfmt = c.args[0].value if c.args and isinstance(c.args[0], A.Str) else "%H:%M:%S\n"
            self.send_event(EventSpec("time", fmt=tfmt), [], [])
        else:
            t = self.t(c)
            if is_int_kind(t):
                e.release(self.gen_int(c))
            else:
                raise CompileError(f"{n}() is not supported yet by bpfscope", c.span)

    def storage(self, t: Type) -> Type:
        return key_storage_type(t)

    # ------------------------------------------------------------------ values into memory
    def gen_into(self, x: A.Expr, t: Type, off: int) -> None:
        """Write x's value with layout `t` at r10+off (ints as 8 bytes)."""
        if is_int_kind(t):
            v = self.gen_int(x)
            size = t.size if t.size in (1, 2, 4) and not t.params else 8   # a narrow tuple member: its own width
            self.e.emit(I.stx(size, I.R10, self.e.load(v, I.R1), off))
            self.e.release(v)
        else:
            self.gen_mem(x, t, off)

    def gen_mem(self, x: A.Expr, t: Type, off: int | None = None) -> int:
        """Materialise a non-integer value (string, tuple, stack, …) at r10+off with layout t."""
        e = self.e
        if off is None:
            off = e.alloc(t.size)
        xt = self.t(x)
        if self.std_gen_mem(x, t, off):
            return off
        if t.kind is Kind.STRING:
            self.gen_string(x, xt, t.size, off)
            return off
        if t.kind in (Kind.TUPLE, Kind.RECORD):
            if isinstance(x, (A.Tuple, A.Record)):
                e.zero(off, t.size)
                slots = list(zip(t.elems, t.offsets, strict=True))
                if isinstance(x, A.Record) and t.names and tuple(x.names) != t.names:
                    slots = [slots[t.names.index(n)] for n in x.names]  # fields by name, evaluated in order
                for el, (et, eo) in zip(x.elems, slots, strict=True):
                    self.gen_into(el, et, off + eo)
                return off
            if isinstance(x, A.Var):
                voff, vt = self.var_slots[x.name]
                if _same_layout(vt, t):
                    e.copy(off, voff, min(vt.size, t.size))
                else:       # narrow members (int32, enum) widened for a record, or back
                    e.zero(off, t.size)
                    self.relayout(voff, vt, off, t)
                return off
            if isinstance(x, A.Map):
                self.map_value_copy(x, off, t.size)
                return off
            if isinstance(x, (A.Field, A.Index)) and self.t(x.base).kind in (Kind.TUPLE, Kind.RECORD):
                self.tuple_elem_mem(x, t, off)
                return off
            if isinstance(x, A.BlockExpr):
                self.nested_stmts(x.stmts)
                return self.gen_mem(x.value, t, off)
            if isinstance(x, A.Ternary):
                self.ternary_mem(x, t, off)
                return off
            raise CompileError(f"cannot use a value of type {xt} here", x.span)
        if t.kind is Kind.USTACK and isinstance(x, (A.Var, A.Map, A.Field, A.Index)):
            # a user stack kept earlier (variable, map value, tuple field) is copied, not taken anew
            if isinstance(x, A.Var):
                voff, vt = self.var_slots[x.name]
                e.copy(off, voff, min(vt.size, t.size))
            elif isinstance(x, A.Map):
                self.map_value_copy(x, off, t.size)
            else:
                self.tuple_elem_mem(x, t, off)
            return off
        if t.kind is Kind.USTACK:
            user_stack(e, self.shared, off, PT_REGS_SP if self.info.user_entry else None,
                       build_id=t.mode == "build_id")
            return off
        if t.kind is Kind.USYM:
            v = self.gen_int(x.args[0] if isinstance(x, A.Call) else x)
            e.emit(I.stx(8, I.R10, e.load(v, I.R1), off))
            e.release(v)
            record_pid(e, self.shared, off + 8)
            return off
        if self.is_mem_expr(x):
            self.mem_copy(x, t, off)
            return off
        if isinstance(x, A.BlockExpr):
            self.nested_stmts(x.stmts)
            return self.gen_mem(x.value, t, off)
        if isinstance(x, (A.Field, A.Index)) and self.t(x.base).kind in (Kind.TUPLE, Kind.RECORD):
            self.tuple_elem_mem(x, t, off)
            return off
        if t.kind is Kind.ARRAY and isinstance(x, A.Cast) and self.t(x.operand).kind is Kind.STRING:
            st = self.t(x.operand)       # (uint8[4])"abc": the string's bytes, zero padded
            e.zero(off, t.size)
            self.gen_mem(x.operand, st, off)
            return off
        if t.kind is Kind.ARRAY and isinstance(x, A.Cast) and self.t(x.operand).kind is not Kind.ARRAY:
            self.array_from_int(x, t, off)
            return off
        if t.kind in (Kind.STRUCT, Kind.ARRAY):
            if isinstance(x, A.Builtin) and x.name == "args":
                e.zero(off, t.size)
                if self.info.ctx == "pt_regs":   # each field from its argument register
                    st = self.t(x)
                    for name, et, o in zip(st.names, st.elems, st.offsets, strict=True):
                        f = self.types.arg_field(name, x.span)
                        e.emit(I.ldx(et.size, I.R0, CTX, f.offset), I.stx(et.size, I.R10, I.R0, off + o))
                    return off
                self.read_into(Loc("ctx", None, 0), min(t.size, self.t(x).size), off)
                return off
            if isinstance(x, A.Var):
                voff, vt = self.var_slots[x.name]
                e.copy(off, voff, min(vt.size, t.size))
                return off
            if isinstance(x, A.Map):
                self.map_value_copy(x, off, t.size)
                return off
            if isinstance(x, A.Cast):
                return self.gen_mem(x.operand, t, off)
        raise CompileError(f"values of type {t} are not supported here yet", x.span)

    def ternary_mem(self, x: A.Ternary, t: Type, off: int) -> None:
        """cond ? a : b for a value laid out as `t` at r10+off."""
        e = self.e
        other, end = Label(), Label()
        c = self.gen_int(x.cond)
        r = e.load(c, I.R1)
        e.release(c)
        e.jump(I.jmp_imm(I.JEQ, r, 0), other)
        self.gen_mem(x.then, t, off)
        e.ja(end)
        e.place(other)
        self.gen_mem(x.other, t, off)
        e.place(end)

    def signed_divide(self, op: str, ra: int, rb: int) -> None:
        """ra = ra s/ rb or ra s% rb (truncating toward zero, C's rules) with unsigned
        instructions: divide the magnitudes, then negate the quotient when the signs differ
        and the remainder when the dividend was negative. r0 holds the sign flag."""
        e = self.e
        e.emit(I.mov64_imm(I.R0, 0))
        pos_a, pos_b, out = Label(), Label(), Label()
        e.jump(I.jmp_imm(I.JSGE, ra, 0), pos_a)
        e.emit(I.neg64(ra), I.mov64_imm(I.R0, 1))
        e.place(pos_a)
        e.jump(I.jmp_imm(I.JSGE, rb, 0), pos_b)
        e.emit(I.neg64(rb))
        if op == "/":
            e.emit(I.alu64_imm(I.XOR, I.R0, 1))
        e.place(pos_b)
        e.emit(I.alu64_reg(I.DIV if op == "/" else I.MOD, ra, rb))
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), out)
        e.emit(I.neg64(ra))
        e.place(out)

    @staticmethod
    def bucketed(spec: MapSpec) -> bool:
        """hist/lhist/tseries maps are keyed by (user key, bucket): one user key is many entries."""
        return spec.value_type.kind in (Kind.HIST, Kind.LHIST, Kind.TSERIES) and spec.key_type is not None

    def bucketed_key_op(self, m: A.Map, spec: MapSpec, helper: str, span: Any) -> IntVal:
        """delete()/has_key() of one user key of a bucketed map: the helper on every bucket of
        the key (unrolled; a hist has at most 64 << bits + 1 buckets); true if any succeeded."""
        e = self.e
        vt = spec.value_type
        if vt.kind is Kind.HIST:
            bits = vt.params[0] if vt.params else 0
            shift = 62 - bits
            nb = (shift << bits) + ((2**63 - 1) >> shift) + 2
        elif vt.kind is Kind.LHIST:
            lo, hi, step = vt.params
            nb = (hi - lo) // step + 2
        else:
            raise CompileError("delete() and has_key() of a tseries map key are not supported", span)
        if nb > 2048:
            raise CompileError(f"delete() and has_key() of this histogram's keys would touch {nb} buckets; "
                               "at most 2048 are supported", span)
        extra = spec.key_size - (spec.key_type.size if spec.key_type is not None else 8)
        key = self.gen_key(m, spec, extra)
        slot = key + spec.key_size - 8
        found = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, found, 0))
        for i in range(nb):
            e.emit(I.st_imm(8, I.R10, slot, i))
            self.ld_map(I.R1, self.map_index(m.name))
            e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
            e.call(helper)
            # delete succeeds with r0 == 0; lookup with a non-NULL pointer
            e.emit(I.jmp_imm(I.JNE if helper == "map_delete_elem" else I.JEQ, I.R0, 0, 1),
                   I.st_imm(8, I.R10, found, 1))
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(8, r, I.R10, found))
        e.set_from(v, r)
        return v

    def r0_test(self, nonzero: bool) -> IntVal:
        """A bool value: r0 != 0 (nonzero=True) or r0 == 0, e.g. after a map helper call."""
        e = self.e
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.mov64_imm(r, 1 if nonzero else 0))
        done = Label()
        e.jump(I.jmp_imm(I.JNE, I.R0, 0), done)
        e.emit(I.mov64_imm(r, 0 if nonzero else 1))
        e.place(done)
        e.set_from(v, r)
        return v

    def map_value_copy(self, m: A.Map, off: int, size: int) -> None:
        e = self.e
        spec = self.spec(m.name)
        key = self.gen_key(m, spec)
        self.map_lookup(self.map_index(m.name), key)
        self.helper_check("map_lookup_elem", m.span, null_is_error=True)
        e.zero(off, size)
        done = Label()
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
        o = 0
        while o + 8 <= size:
            e.emit(I.ldx(8, I.R1, I.R0, o), I.stx(8, I.R10, I.R1, off + o))
            o += 8
        while o < size:
            e.emit(I.ldx(1, I.R1, I.R0, o), I.stx(1, I.R10, I.R1, off + o))
            o += 1
        e.place(done)

    def gen_string(self, x: A.Expr, xt: Type, size: int, off: int) -> None:
        e = self.e
        if isinstance(x, A.Str) or (isinstance(x, A.Positional) and xt.kind is Kind.STRING):
            text = x.value if isinstance(x, A.Str) else self.types.positional[x.index - 1]
            data = text.encode("utf-8", "surrogateescape")[: size - 1]
            e.zero(off, size)
            e.store_bytes(off, data)
            return
        if self.std_gen_string(x, size, off):
            return
        if isinstance(x, A.Builtin) and x.name in ("comm", "pcomm"):
            if size > 16:
                e.zero(off + 16, size - 16)
            e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, min(16, size)))
            e.call("get_current_comm")
            return
        if isinstance(x, A.Builtin) and x.name == "probe":
            data = self.info.name.encode()[: size - 1]
            e.zero(off, size)
            e.store_bytes(off, data)
            return
        if isinstance(x, A.Var):
            voff, vt = self.var_slots[x.name]
            n = min(vt.size, size)
            e.copy(off, voff, n)
            if size > n:
                e.zero(off + n, size - n)
            return
        if isinstance(x, A.Map):
            self.map_value_copy(x, off, size)
            return
        if isinstance(x, A.Field) and isinstance(x.base, A.Builtin) and x.base.name == "args":
            f = self.types.arg_field(x.name, x.span)
            e.zero(off, size)
            if f.data_loc:
                e.emit(I.ldx(4, I.R3, CTX, f.offset), I.alu64_imm(I.AND, I.R3, 0xFFFF),
                       I.alu64_reg(I.ADD, I.R3, CTX))
                e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, size))
                e.call("probe_read_kernel_str")
                return
            n = min(size - 1 if size > 1 else 1, f.type.size)
            e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, n),
                   I.mov64_reg(I.R3, CTX), I.alu64_imm(I.ADD, I.R3, f.offset))
            e.call("probe_read_kernel")
            return
        if isinstance(x, A.Call) and x.name == "str":
            src = x.args[0]
            st = self.t(src)
            if st.kind is Kind.STRING:
                if len(x.args) == 2:
                    self.gen_string(src, st, min(size, xt.size), off)
                    if size >= xt.size:   # str(s, n): n - 1 characters and the NUL, as from memory
                        e.emit(I.st_imm(1, I.R10, off + xt.size - 1, 0))
                    if size > xt.size:
                        e.zero(off + xt.size, size - xt.size)
                else:
                    self.gen_string(src, st, size, off)
                return
            e.zero(off, size)
            n = min(size, xt.size)
            limit = self.runtime_str_limit(x, n)
            v = self.gen_int(src)
            r = e.load(v, I.R3)
            if r != I.R3:
                e.emit(I.mov64_reg(I.R3, r))
            e.release(v)
            # a raw kprobe argument may point to user memory (syscall arguments)
            either = (not self.user_ptr(src) and self.info.ctx == "pt_regs" and isinstance(src, A.Builtin)
                      and src.name.startswith("arg"))
            saved = e.alloc(8)
            e.emit(I.stx(8, I.R10, I.R3, saved))

            def read_size() -> None:
                if limit is None:
                    e.emit(I.mov64_imm(I.R2, n))
                    return
                ok = Label("str_len_ok")   # clamped where it is used: a scratch-map frame loses bounds
                e.emit(I.ldx(8, I.R2, I.R10, limit))
                e.jump(I.jmp_imm(I.JLE, I.R2, n), ok)   # unsigned: a negative length is too large too
                e.emit(I.mov64_imm(I.R2, n))
                e.place(ok)

            e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off))
            read_size()
            e.call("probe_read_user_str" if self.user_ptr(src) else "probe_read_kernel_str")
            if either:
                done = Label()
                e.jump(I.jmp_imm(I.JSGE, I.R0, 0), done)
                e.emit(I.ldx(8, I.R3, I.R10, saved), I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off))
                read_size()
                e.call("probe_read_user_str")
                e.place(done)
            if n > 1 and len(x.args) == 1:   # str(p, n) asks for n characters, not a truncation
                self.str_last_char(off, n, saved, self.user_ptr(src), either)
            return
        if isinstance(x, A.Ternary):
            other, end = Label(), Label()
            v = self.gen_int(x.cond)
            r = e.load(v, I.R1)
            e.release(v)
            e.jump(I.jmp_imm(I.JEQ, r, 0), other)
            self.gen_string(x.then, self.t(x.then), size, off)
            e.ja(end)
            e.place(other)
            self.gen_string(x.other, self.t(x.other), size, off)
            e.place(end)
            return
        if isinstance(x, A.Field) or isinstance(x, A.Index):
            # string element of a tuple held in a variable/map
            base_t = self.t(x.base)
            if base_t.kind in (Kind.TUPLE, Kind.RECORD):
                tmp = self.gen_mem(x.base, base_t)
                i = int(x.name) if isinstance(x, A.Field) and x.name.isdigit() else (
                    base_t.names.index(x.name) if isinstance(x, A.Field) else self.types.const_int(x.index))
                assert i is not None
                et = base_t.elems[i]
                n = min(et.size, size)
                e.copy(off, tmp + base_t.offsets[i], n)
                if size > n:
                    e.zero(off + n, size - n)
                return
        if self.is_mem_expr(x):
            self.mem_copy(x, Type(Kind.STRING, size=size), off)
            return
        if isinstance(x, A.BlockExpr):
            self.nested_stmts(x.stmts)
            self.gen_string(x.value, self.t(x.value), size, off)
            return
        if isinstance(x, A.Cast) and xt.kind is Kind.STRING:   # (string[N])s: s in N bytes
            n = min(size, xt.size)
            self.gen_string(x.operand, self.t(x.operand), n, off)
            if size > n:
                e.zero(off + n, size - n)
            return
        raise CompileError(f"cannot produce a string from this expression ({xt})", x.span)

    def user_ptr(self, x: A.Expr) -> bool:
        """Whether a pointer value points into user memory (probe-type default, args field flag)."""
        if isinstance(x, A.Call) and x.name in ("kptr", "uptr"):
            return x.name == "uptr"
        if isinstance(x, A.Field) and isinstance(x.base, A.Builtin) and x.base.name == "args":
            return self.types.arg_field(x.name, x.span).user or self.info.user_space
        t = self.t(x)
        if t.kind is Kind.POINTER and t.mode in ("user", "kernel"):
            return t.mode == "user"
        if isinstance(x, (A.Index, A.Field)) or (isinstance(x, A.Unop) and x.op == "*"):
            # a pointer loaded from user memory points into user memory (argv[i], ...)
            base = x.operand if isinstance(x, A.Unop) else x.base
            return self.user_ptr(base)
        return self.info.user_space

    # ------------------------------------------------------------------ integers
    def gen_int(self, x: A.Expr) -> IntVal:
        e = self.e
        xt = self.t(x)
        if isinstance(x, (A.Int, A.Bool)):
            v = e.new_int()
            e.set_imm(v, int(x.value))
            return v
        if isinstance(x, A.Positional):
            s = self.types.positional[x.index - 1] if x.index <= len(self.types.positional) else "0"
            v = e.new_int()
            n = positional_int(s)
            if n is None:
                raise CompileError(f"${x.index} is not an integer: '{s}'", x.span)
            e.set_imm(v, n)
            return v
        if isinstance(x, A.PositionalCount):
            v = e.new_int()
            e.set_imm(v, len(self.types.positional))
            return v
        if isinstance(x, A.Builtin):
            return self.builtin_int(x)
        if isinstance(x, A.Var):
            off, _ = self.var_slots[x.name]
            v = e.new_int()
            r = v.reg if v.reg >= 0 else I.R0
            e.emit(I.ldx(8, r, I.R10, off))
            if v.reg < 0:
                e.set_from(v, r)
            return v
        if isinstance(x, A.Map) and self.spec(x.name).value_type.is_aggregate:
            return self.std_map_read(x)  # per-CPU count/sum/min/max/avg, combined over CPUs
        if isinstance(x, A.Map):
            spec = self.spec(x.name)
            key = self.gen_key(x, spec)
            self.map_lookup(self.map_index(x.name), key)
            self.helper_check("map_lookup_elem", x.span, null_is_error=True)
            v = e.new_int()
            r = v.reg if v.reg >= 0 else I.R1
            skip = Label()
            e.emit(I.mov64_imm(r, 0))
            e.jump(I.jmp_imm(I.JEQ, I.R0, 0), skip)
            e.emit(I.ldx(8, r, I.R0, 0))
            e.place(skip)
            if v.reg < 0:
                e.set_from(v, r)
            return v
        if isinstance(x, A.Binop):
            return self.binop(x)
        if isinstance(x, A.Unop):
            return self.unop(x)
        if isinstance(x, A.Ternary):
            v = e.new_int()
            other, end = Label(), Label()
            c = self.gen_int(x.cond)
            r = e.load(c, I.R1)
            e.release(c)
            e.jump(I.jmp_imm(I.JEQ, r, 0), other)
            a = self.gen_int(x.then)
            e.set_from(v, e.load(a, I.R1))
            e.release(a)
            e.ja(end)
            e.place(other)
            b = self.gen_int(x.other)
            e.set_from(v, e.load(b, I.R1))
            e.release(b)
            e.place(end)
            return v
        if isinstance(x, A.IncDec):
            return self.incdec(x)
        if self.is_mem_expr(x):
            return self.mem_int(x)
        if isinstance(x, A.BlockExpr):
            self.nested_stmts(x.stmts)
            return self.gen_int(x.value)
        if isinstance(x, A.Identifier) and id(x) in self.types.sizes:
            v = e.new_int()
            e.set_imm(v, self.types.sizes[id(x)])
            return v
        if isinstance(x, A.Field):
            if isinstance(x.base, A.Builtin) and x.base.name == "args":
                return self.args_field(x)
            bt = self.t(x.base)
            if bt.kind in (Kind.TUPLE, Kind.RECORD):
                i = int(x.name) if x.name.isdigit() else bt.names.index(x.name)
                return self.tuple_elem(x.base, bt, i)
        if isinstance(x, A.Index):
            bt = self.t(x.base)
            if bt.kind in (Kind.TUPLE, Kind.RECORD):
                ci = self.types.const_int(x.index)
                assert ci is not None
                return self.tuple_elem(x.base, bt, ci)
        if isinstance(x, A.Cast):
            if self.t(x.operand).kind is Kind.ARRAY:
                return self.int_from_array(x)
            if self.t(x.operand).kind is Kind.STRING:   # (bool)"str": not empty
                st = self.t(x.operand)
                buf = self.gen_mem(x.operand, st)
                v = e.new_int()
                r = v.reg if v.reg >= 0 else I.R1
                e.emit(I.ldx(1, r, I.R10, buf))
                e.set_from(v, r)
                return self.to_bool(v)
            v = self.gen_int(x.operand)
            if xt.kind is Kind.BOOL and self.t(x.operand).kind is not Kind.BOOL:
                return self.to_bool(v)
            self.truncate(v, xt)
            return v
        if isinstance(x, (A.Sizeof, A.Offsetof)):
            v = e.new_int()
            e.set_imm(v, self.types.sizes[id(x)])
            return v
        if isinstance(x, A.Call):
            return self.call_int(x)
        raise CompileError(f"cannot use a value of type {xt} as an integer here", x.span)

    def relayout(self, src: int, st: Type, dst: int, t: Type) -> None:
        """Copy a tuple at r10+src laid out as `st` to r10+dst laid out as `t` (same members,
        integer widths may differ); dst is already zeroed."""
        e = self.e
        for se, so, de, do in zip(st.elems, st.offsets, t.elems, t.offsets, strict=True):
            if se.kind in (Kind.TUPLE, Kind.RECORD) and de.kind is se.kind:
                self.relayout(src + so, se, dst + do, de)
            elif is_int_kind(se) and is_int_kind(de) and se.size in (1, 2, 4, 8) and de.size in (1, 2, 4, 8):
                e.emit(I.ldx(se.size, I.R1, I.R10, src + so))
                if se.signed and se.size < 8:
                    sh = 64 - 8 * se.size
                    e.emit(I.alu64_imm(I.LSH, I.R1, sh), I.alu64_imm(I.ARSH, I.R1, sh))
                e.emit(I.stx(de.size, I.R10, I.R1, dst + do))
            else:
                e.copy(dst + do, src + so, min(se.size, de.size))

    def to_bool(self, v: IntVal) -> IntVal:
        """v := (v != 0), as a cast to bool gives."""
        e = self.e
        r = e.load(v, I.R1)
        done = Label()
        e.jump(I.jmp_imm(I.JEQ, r, 0), done)
        e.emit(I.mov64_imm(r, 1))
        e.place(done)
        e.set_from(v, r)
        return v

    def truncate(self, v: IntVal, t: Type) -> None:
        """Reduce v to t's width, sign- or zero-extending back to 64 bits."""
        if not t.is_int or t.size >= 8:
            return
        e = self.e
        r = e.load(v, I.R1)
        sh = 64 - 8 * t.size
        e.emit(I.alu64_imm(I.LSH, r, sh), I.alu64_imm(I.ARSH if t.signed else I.RSH, r, sh))
        e.set_from(v, r)

    def tuple_elem(self, base: A.Expr, bt: Type, i: int) -> IntVal:
        e = self.e
        sbt = key_storage_type(bt)
        tmp = self.gen_mem(base, sbt)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(8, r, I.R10, tmp + sbt.offsets[i]))
        e.set_from(v, r)
        return v

    def args_field(self, x: A.Field) -> IntVal:
        e = self.e
        f = self.types.arg_field(x.name, x.span)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        size = f.type.size if f.type.size in (1, 2, 4, 8) else 8
        if self.info.ctx == "args_array":
            e.emit(I.ldx(8, r, CTX, f.offset))
        else:
            e.emit(I.ldx(size, r, CTX, f.offset))
        if f.type.signed and size < 8:
            sh = 64 - 8 * size
            e.emit(I.alu64_imm(I.LSH, r, sh), I.alu64_imm(I.ARSH, r, sh))
        e.set_from(v, r)
        return v

    def builtin_int(self, x: A.Builtin) -> IntVal:
        e = self.e
        n = x.name
        v = e.new_int()

        def result(reg: int = I.R0) -> IntVal:
            e.set_from(v, reg)
            return v

        if n in ("pid", "tid"):
            from ..ebpf.pidns import emit_pid_tgid  # our PID namespace's view (bpftrace 0.26)

            emit_pid_tgid(e, n, init=id(x) in self.__dict__.get("_init_ns_ids", ()))
            return result()
        if n in ("uid", "gid"):
            e.call("get_current_uid_gid")
            if n == "gid":
                e.emit(I.alu64_imm(I.RSH, I.R0, 32))
            else:
                e.emit(I.Insn(I.ALU | I.MOV | I.X, I.R0, I.R0))
            return result()
        if n == "nsecs":
            e.call("ktime_get_boot_ns")  # bpftrace: nsecs defaults to the boot clock (strftime-able)
            return result()
        if n == "elapsed":
            e.call("ktime_get_ns")
            self.consts.append((len(e.insns), "start_ns"))
            e.emit(I.ld_imm64(I.R1, 0))
            e.emit(I.alu64_reg(I.SUB, I.R0, I.R1))
            return result()
        if n == "cpu":
            e.call("get_smp_processor_id")
            return result()
        if n == "numaid":
            e.call("get_numa_node_id")
            return result()
        if n == "cgroup":
            e.call("get_current_cgroup_id")
            return result()
        if n == "rand":
            e.call("get_prandom_u32")
            return result()
        if n == "ctx":
            return result(CTX)
        if n == "curtask":
            e.call("get_current_task")
            return result()
        if n == "jiffies":
            e.call("jiffies64")
            return result()
        if n == "ncpus":
            e.set_imm(v, int(self.shared.opts.get("ncpus", 1)))
            return v
        if n == "cpid":
            self.consts.append((len(e.insns), "cpid"))
            e.emit(I.ld_imm64(I.R0, 0))
            return result()
        if n == "username":
            e.call("get_current_uid_gid")
            e.emit(I.Insn(I.ALU | I.MOV | I.X, I.R0, I.R0))
            return result()
        if n.startswith("arg") and n[3:].isdigit() and self.info.loc_args is not None:
            i = int(n[3:])
            if i >= len(self.info.loc_args):
                raise CompileError(f"{n}: this USDT probe has {len(self.info.loc_args)} argument(s)", x.span)
            self.loc_arg(self.info.loc_args[i])
            return result()
        if n.startswith("arg") and n[3:].isdigit():
            i = int(n[3:])
            if self.info.ctx == "pt_regs":
                if i >= len(PT_REGS_ARGS):
                    raise CompileError(f"{n} is not available (at most {len(PT_REGS_ARGS)} register "
                                       "arguments)", x.span)
                e.emit(I.ldx(8, I.R0, CTX, PT_REGS_ARGS[i]))
            else:
                e.emit(I.ldx(8, I.R0, CTX, 8 * i))
            return result()
        if n == "retval":
            if self.info.ctx == "pt_regs":
                e.emit(I.ldx(8, I.R0, CTX, PT_REGS_RET))
            else:
                f = next((a for a in self.info.args if a.name == "$retval"), None)
                if f is None:
                    raise CompileError("retval is not available for this probe", x.span)
                e.emit(I.ldx(8, I.R0, CTX, f.offset))
            return result()
        if n == "func":
            if self.info.func_addr:
                e.emit(I.ld_imm64(I.R0, self.info.func_addr))
            elif self.info.func_helper or self.info.ctx != "pt_regs":
                e.emit(I.mov64_reg(I.R1, CTX))
                e.call("get_func_ip")
            else:
                e.emit(I.ldx(8, I.R0, CTX, PT_REGS_IP))
            return result()
        if n == "kstack":
            get_stackid(e, stack_map(self.shared, user=False))
            return result()
        if n == "usermode":
            if self.info.ctx == "none":
                e.set_imm(v, 1)        # begin/end run from bpfscope's own user-space code
                return v
            cs = ARCH.reg_offset("cs")
            assert cs is not None
            r = v.reg if v.reg >= 0 else I.R1
            user = Label()        # the interrupted context's privilege level: cs & 3 == 3
            e.emit(I.ldx(8, r, CTX, cs), I.alu64_imm(I.AND, r, 3))
            e.jump(I.jmp_imm(I.JEQ, r, 3), user)
            e.emit(I.mov64_imm(r, 0), I.ja(1))
            e.place(user)
            e.emit(I.mov64_imm(r, 1))
            e.set_from(v, r)
            return v
        e.release(v)
        std = self.std_builtin_int(x)
        if std is not None:
            return std
        raise CompileError(f"builtin {n} is not supported here", x.span)

    def loc_arg(self, a: LocArg) -> None:
        """r0 = a USDT argument, read from registers/user memory as its note describes."""
        load_loc_arg(self.e, a)

    def extend(self, r: int, size: int, signed: bool) -> None:
        """Truncate (or sign-extend) register r to `size` bytes."""
        if size >= 8:
            return
        sh = 64 - 8 * size
        self.e.emit(I.alu64_imm(I.LSH, r, sh), I.alu64_imm(I.ARSH if signed else I.RSH, r, sh))

    def call_int(self, c: A.Call) -> IntVal:
        e = self.e
        n = c.name
        std = self.std_call_int(c)
        if std is not None:
            return std
        if n == "kstack":
            return self.builtin_int(A.Builtin("kstack", span=c.span))
        if n == "ksym":
            return self.gen_int(c.args[0])
        if n in ("delete", "has_key") and self.bucketed(self.spec(c.args[0].name)):  # type: ignore[attr-defined]
            m = c.args[0]
            assert isinstance(m, A.Map)
            helper = "map_delete_elem" if n == "delete" else "map_lookup_elem"
            return self.bucketed_key_op(m, self.spec(m.name), helper, c.span)
        if n == "delete":   # used as a value: whether the key was there (no warning then)
            m = c.args[0]
            assert isinstance(m, A.Map)
            key = self.gen_key(m, self.spec(m.name))
            self.ld_map(I.R1, self.map_index(m.name))
            e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
            e.call("map_delete_elem")
            return self.r0_test(nonzero=False)   # delete() is true when it removed (r0 == 0)
        if n == "has_key":
            m = c.args[0]
            assert isinstance(m, A.Map)
            spec = self.spec(m.name)
            key = self.gen_key(m, spec)
            self.map_lookup(self.map_index(m.name), key)
            return self.r0_test(nonzero=True)
        if n == "reg":
            arg = c.args[0]
            assert isinstance(arg, A.Str)
            off = ARCH.reg_offset(arg.value)
            assert off is not None
            v = e.new_int()
            r = v.reg if v.reg >= 0 else I.R1
            e.emit(I.ldx(8, r, CTX, off))
            e.set_from(v, r)
            return v
        if n == "kaddr":
            arg = c.args[0]
            assert isinstance(arg, A.Str)
            v = e.new_int()
            e.set_imm(v, int(self.shared.opts["kaddr"](arg.value)))
            return v
        if n == "uaddr":
            arg = c.args[0]
            assert isinstance(arg, A.Str) and self.info.user_symbol is not None
            vaddr = self.info.user_symbol(arg.value)[0]
            v = e.new_int()
            if not self.info.pie:
                e.set_imm(v, vaddr)
                return v
            # runtime address = (probe's runtime address - its link-time address) + symbol's vaddr
            if self.info.has_retval:
                e.emit(I.mov64_reg(I.R1, CTX))
                e.call("get_func_ip")
            else:
                e.emit(I.ldx(8, I.R0, CTX, PT_REGS_IP))
            e.emit(I.ld_imm64(I.R1, (vaddr - self.info.loc_vaddr) & 0xFFFFFFFFFFFFFFFF),
                   I.alu64_reg(I.ADD, I.R0, I.R1))
            e.set_from(v, I.R0)
            return v
        if n == "bswap":
            v = self.gen_int(c.args[0])
            t = self.t(c.args[0])
            if t.size == 1:  # one byte: nothing to swap (0.26 returns the value as is)
                return v
            r = e.load(v, I.R1)
            e.emit(I.Insn(I.ALU | I.END | I.X, r, 0, 0, 8 * max(2, t.size if t.size in (2, 4, 8) else 8)))
            e.set_from(v, r)
            return v
        raise CompileError(f"{n}() is not supported yet by bpfscope", c.span)

    def incdec(self, x: A.IncDec) -> IntVal:
        e = self.e
        delta = 1 if x.op == "++" else -1
        tgt = x.target
        tt = self.t(tgt) if isinstance(tgt, A.Var) else self.spec(tgt.name).value_type  # type: ignore[attr-defined]
        if tt is not None and tt.kind is Kind.POINTER:
            delta *= pointee_size(self, tt)       # a pointer steps by its pointee, as in C
        if isinstance(tgt, A.Var):
            off, _ = self.var_slots[tgt.name]
            v = e.new_int()
            r = v.reg if v.reg >= 0 else I.R1
            e.emit(I.ldx(8, r, I.R10, off))
            if x.prefix:
                e.emit(I.alu64_imm(I.ADD, r, delta), I.stx(8, I.R10, r, off))
            else:
                e.emit(I.ldx(8, I.R2, I.R10, off), I.alu64_imm(I.ADD, I.R2, delta), I.stx(8, I.R10, I.R2, off))
            e.set_from(v, r)
            return v
        assert isinstance(tgt, A.Map)
        spec = self.spec(tgt.name)
        key = self.gen_key(tgt, spec)
        self.map_lookup(self.map_index(tgt.name), key)
        old = e.alloc(8)
        new = e.alloc(8)
        skip = Label()
        e.emit(I.mov64_imm(I.R1, 0))
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), skip)
        e.emit(I.ldx(8, I.R1, I.R0, 0))
        e.place(skip)
        e.emit(I.stx(8, I.R10, I.R1, old), I.alu64_imm(I.ADD, I.R1, delta), I.stx(8, I.R10, I.R1, new))
        self.map_update(spec, key, new, 0)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(8, r, I.R10, new if x.prefix else old))
        e.set_from(v, r)
        return v

    def unop(self, x: A.Unop) -> IntVal:
        e = self.e
        if x.op == "*":
            return self.mem_int(x)
        if x.op == "&":
            return self.address_of(x)
        v = self.gen_int(x.operand)
        r = e.load(v, I.R1)
        if x.op == "-":
            e.emit(I.neg64(r))
        elif x.op == "~":
            e.emit(I.alu64_imm(I.XOR, r, -1))
        elif x.op == "!":
            one = Label()
            e.jump(I.jmp_imm(I.JEQ, r, 0), one)
            e.emit(I.mov64_imm(r, 0), I.ja(1))
            e.place(one)
            e.emit(I.mov64_imm(r, 1))
        else:
            raise CompileError(f"unsupported operator {x.op}", x.span)
        e.set_from(v, r)
        return v

    def binop(self, x: A.Binop) -> IntVal:
        e = self.e
        op = x.op
        lt, rt = self.t(x.left), self.t(x.right)
        if op in ("&&", "||"):
            v = e.new_int()
            short = Label()
            end = Label()
            a = self.gen_int(x.left)
            r = e.load(a, I.R1)
            e.release(a)
            e.jump(I.jmp_imm(I.JEQ if op == "&&" else I.JNE, r, 0), short)
            b = self.gen_int(x.right)
            r = e.load(b, I.R1)
            e.release(b)
            e.jump(I.jmp_imm(I.JEQ if op == "&&" else I.JNE, r, 0), short)
            e.set_imm(v, 1 if op == "&&" else 0)
            e.ja(end)
            e.place(short)
            e.set_imm(v, 0 if op == "&&" else 1)
            e.place(end)
            return v
        if lt.kind is Kind.STRING and rt.kind is Kind.STRING:
            return self.strcmp(x)
        if lt.kind is Kind.TUPLE and rt.kind is Kind.TUPLE:
            return self.tuple_eq(x)
        if lt.kind is Kind.BUFFER and rt.kind is Kind.BUFFER:
            return self.buf_eq(x)
        pa = self.ptr_arith(x)
        if pa is not None:
            return pa
        signed = lt.signed or rt.signed
        a = self.gen_int(x.left)
        b = self.gen_int(x.right)
        ra = e.load(a, I.R1)
        rb = e.load(b, I.R2)
        if op in CMP_OPS:
            # as bpftrace (and C's conversions for 64-bit operands): a signed comparison only
            # when both sides are signed; `(uint64)0xffffffff00000000 > 0` is true
            jop = CMP_OPS[op][1 if lt.signed and rt.signed else 0]
            yes = Label()
            e.emit(I.mov64_imm(I.R0, 1))
            e.jump(I.jmp_reg(jop, ra, rb), yes)
            e.emit(I.mov64_imm(I.R0, 0))
            e.place(yes)
            e.set_from(a, I.R0)
        else:
            aop = ARITH_OPS[op]
            if op == ">>" and signed:
                aop = I.ARSH
            # C's conversions: a division is signed only when both operands are (nsecs / 1000
            # is unsigned); signed ones are built from unsigned ops, as BPF's sdiv/smod
            # instructions need kernel 6.6
            sdiv = op in ("/", "%") and lt.signed and rt.signed
            by_zero = op in ("/", "%") and not _nonzero_const(self, x.right)
            zero, done = Label(), Label()
            if by_zero:
                e.jump(I.jmp_imm(I.JEQ, rb, 0), zero)
            if sdiv:
                self.signed_divide(op, ra, rb)
            else:
                e.emit(I.alu64_reg(aop, ra, rb))
            e.set_from(a, ra)
            if by_zero:   # 0.26: the result is 1, and user space is told where
                e.ja(done)
                e.place(zero)
                e.set_imm(a, 1)
                self.send_event(EventSpec("runtime_warning", extra={"span": x.span, "msg": DIVIDE_BY_ZERO_MSG}),
                                [], [])
                e.place(done)
        e.release(b)
        return a

    def strcmp(self, x: A.Binop) -> IntVal:
        """String ==/!= by an unrolled byte loop that stops at the first NUL."""
        e = self.e
        lt, rt = self.t(x.left), self.t(x.right)
        lit: A.Str | None = x.right if isinstance(x.right, A.Str) else (
            x.left if isinstance(x.left, A.Str) else None)
        other = x.left if lit is x.right else x.right
        v = e.new_int()
        ne, eq, end = Label(), Label(), Label()
        if lit is not None:
            ot = self.t(other)
            buf = self.gen_mem(other, ot)
            data = lit.value.encode("utf-8", "surrogateescape") + b"\0"
            n = min(len(data), ot.size)
            for i in range(n):
                e.emit(I.ldx(1, I.R1, I.R10, buf + i))
                e.jump(I.jmp_imm(I.JNE, I.R1, data[i]), ne)
            e.ja(eq)
        else:
            a = self.gen_mem(x.left, lt)
            b = self.gen_mem(x.right, rt)
            compare_bytes(e, a, b, min(lt.size, rt.size), ne, nul=eq)
            e.ja(eq)
        return self.eq_result(v, x.op, ne, end, eq)


    def eq_result(self, v: IntVal, op: str, ne: Label, end: Label, eq: Label | None = None) -> IntVal:
        """v = (op is ==) at `eq` (or here), the opposite at `ne`: the tail of every ==/!= of
        values compared piece by piece."""
        e = self.e
        if eq is not None:
            e.place(eq)
        e.set_imm(v, 1 if op == "==" else 0)
        e.ja(end)
        e.place(ne)
        e.set_imm(v, 0 if op == "==" else 1)
        e.place(end)
        return v

    def runtime_str_limit(self, x: A.Call, n: int) -> int | None:
        """str(p, len) with a run-time len (bytes with the NUL, as a constant len): a stack slot
        holding it; None when len is absent or constant (then n is the size)."""
        if len(x.args) < 2 or self.types.const_int(x.args[1]) is not None:
            return None
        e = self.e
        v = self.gen_int(x.args[1])
        slot = e.alloc(8)
        e.emit(I.stx(8, I.R10, e.load(v, I.R2), slot))
        e.release(v)
        return slot

    def str_last_char(self, off: int, n: int, saved: int, user: bool, either: bool) -> None:
        """str() holds up to n characters, as 0.26's: when probe_read_str filled the n bytes
        (R0 == n), the n-th character replaces the NUL. A string of n or more characters then
        has no NUL in its buffer, which is how the printers know to add the `..` trailer."""
        e = self.e
        done = Label()

        def read_last(helper: str) -> None:
            e.emit(I.ldx(8, I.R3, I.R10, saved), I.alu64_imm(I.ADD, I.R3, n - 1),
                   I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off + n - 1), I.mov64_imm(I.R2, 1))
            e.call(helper)

        e.jump(I.jmp_imm(I.JNE, I.R0, n), done)
        read_last("probe_read_user" if user else "probe_read_kernel")
        if either:
            e.jump(I.jmp_imm(I.JSGE, I.R0, 0), done)
            read_last("probe_read_user")
        e.place(done)

    def buf_eq(self, x: A.Binop) -> IntVal:
        """Buffer ==/!=: the same length, then the same bytes up to it (bytes past a buffer's
        length are not part of its value)."""
        e = self.e
        lt, rt = self.t(x.left), self.t(x.right)
        a = self.gen_mem(x.left, lt)
        b = self.gen_mem(x.right, rt)
        v = e.new_int()
        ne, eq, end = Label(), Label(), Label()
        e.emit(I.ldx(4, I.R3, I.R10, a), I.ldx(4, I.R2, I.R10, b))
        e.jump(I.jmp_reg(I.JNE, I.R3, I.R2), ne)
        for i in range(min(lt.size, rt.size) - 4):
            e.jump(I.jmp_imm(I.JLE, I.R3, i), eq)
            e.emit(I.ldx(1, I.R1, I.R10, a + 4 + i), I.ldx(1, I.R2, I.R10, b + 4 + i))
            e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), ne)
        return self.eq_result(v, x.op, ne, end, eq)

    def tuple_eq(self, x: A.Binop) -> IntVal:
        """Tuple ==/!=: both laid out on the stack, then compared element by element (strings up
        to their NUL, integers by value whatever their widths, other values byte for byte)."""
        e = self.e
        lt, rt = self.t(x.left), self.t(x.right)
        a = self.gen_mem(x.left, lt)
        b = self.gen_mem(x.right, rt)
        v = e.new_int()
        ne, end = Label(), Label()
        self._elems_eq(lt, a, rt, b, ne)
        return self.eq_result(v, x.op, ne, end)

    def _elems_eq(self, lt: Type, a: int, rt: Type, b: int, ne: Label) -> None:
        e = self.e
        for et, eo, ft, fo in zip(lt.elems, lt.offsets, rt.elems, rt.offsets, strict=True):
            if et.kind is Kind.TUPLE:
                self._elems_eq(et, a + eo, ft, b + fo, ne)
            elif et.kind is Kind.STRING:
                done = Label()
                compare_bytes(e, a + eo, b + fo, min(et.size, ft.size), ne, nul=done)
                if et.size != ft.size:   # the longer one must end where the shorter does
                    longer, n = (a + eo, ft.size) if et.size > ft.size else (b + fo, et.size)
                    e.emit(I.ldx(1, I.R1, I.R10, longer + n))
                    e.jump(I.jmp_imm(I.JNE, I.R1, 0), ne)
                e.place(done)
            elif et.is_int and ft.is_int and et.size in (1, 2, 4, 8) and ft.size in (1, 2, 4, 8):
                for reg, ty, off in ((I.R1, et, a + eo), (I.R2, ft, b + fo)):
                    e.emit(I.ldx(ty.size, reg, I.R10, off))
                    if ty.signed and ty.size < 8:
                        sh = 64 - ty.size * 8
                        e.emit(I.alu64_imm(I.LSH, reg, sh), I.alu64_imm(I.ARSH, reg, sh))
                e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), ne)
            else:
                compare_bytes(e, a + eo, b + fo, min(et.size, ft.size), ne)


def _same_layout(a: Type, b: Type) -> bool:
    """Tuples whose members sit at the same offsets with the same widths (a plain copy will do)."""
    if a.kind not in (Kind.TUPLE, Kind.RECORD) or b.kind not in (Kind.TUPLE, Kind.RECORD):
        return True
    if len(a.elems) != len(b.elems) or a.offsets != b.offsets:
        return False
    return all(_same_layout(x, y) and (x.size == y.size or not (is_int_kind(x) and is_int_kind(y)))
               for x, y in zip(a.elems, b.elems, strict=True))


DIVIDE_BY_ZERO_MSG = ("Divide or modulo by 0 detected. This can lead to unexpected results. "
                      "1 is being used as the result.")


def _nonzero_const(gen: ProgGen, x: A.Expr) -> bool:
    """A divisor known not to be zero at compile time (no run-time check needed)."""
    v = const_eval(gen.types, x)
    return isinstance(v, int) and v != 0


def _ends_flow(s: A.Stmt) -> bool:
    """A statement after which the rest of its block is unreachable."""
    if isinstance(s, A.ExprStmt) and isinstance(s.expr, A.Call) and s.expr.name == "exit":
        return True
    return type(s).__name__ in ("Return", "Break", "Continue", "Jump")
