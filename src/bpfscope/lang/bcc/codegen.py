"""Lowering of one BCC function to eBPF through the shared emitter.

Every scalar value lives in a 64-bit temporary, kept normalized to its C type (sign- or
zero-extended from its width), so C's widths and signedness hold after each operation.
Locals live on the stack; `args->field` reads the tracepoint record in ctx directly;
map methods (lookup, update, increment, lookup_or_try_init, perf_submit...) call the map
helpers with BCC's semantics."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ..ctype.types import Kind, Type, int_type, pointer_type
from ..diagnostics import CompileError, Span
from ..ebpf.arch import host
from ..ebpf.emitter import CTX, Emitter, IntVal, Label
from ..spec import ArgField
from . import ast as A
from . import control, packet
from .builtins import CMP, INVERSE, memset, min_max
from .helpers import ATOMIC_ADD, BSWAP, HELPERS, INLINE
from .lvalues import LV
from .methods import method_call
from .printk import trace_printk
from .standins import SYSCALL_ARG_REGS, SYSCALL_FUNCS, StandIn
from .switchstacks import switch_stacks, switched_in_stackid
from .tables import TableSpec
from .typenames import (
    INT,
    VOID,
    arith,
    array_of,
    base_type,
    c_view,
    find_member,
    is_scalar,
    preserves,
    promote,
    spelled,
)

U64 = int_type(8, False)
INT128 = ("unsigned __int128", "__int128", "__uint128_t", "__int128_t")
BPF_NOEXIST = 1


class FuncGen:
    def __init__(self, tables: dict[str, tuple[int, TableSpec]], structs: dict[str, Type],
                 tp_args: list[ArgField] | None, consts: dict[str, int], kdb: Any = None,
                 funcs: dict[str, A.Func] | None = None) -> None:
        self.e = Emitter()
        self.kdb = kdb            # kernel types (ctype.typedb.TypeDB over BTF), or None
        self.tables = tables
        self.structs = structs
        self.tp_args = {a.name: a for a in tp_args or []}
        self.tp = tp_args is not None
        self.consts = consts
        self.scopes: list[dict[str, LV]] = [{}]
        self.warnings: list[tuple[Span, str]] = []     # what BCC's compiler warned about (printk formats)
        self.funcs = funcs or {}                       # the program's functions, inlined when called
        self.labels: list[dict[str, Label]] = []       # goto targets by name, innermost last
        self.targets: set[str] = set()                 # label names some goto jumps to
        self.gotos: list[tuple[Label, Any]] = []
        self.jumps: list[tuple[Label | None, Label | None]] = []   # (break, continue), innermost last
        self.inlining: list[tuple[str, Label, IntVal, Type]] = []  # (function, end, result, type)
        self.case_labels: dict[int, Label] = {}
        # a kprobe function run from a raw tracepoint (standins.py): its arguments read from the
        # tracepoint's args; with switch_in (finish_task_switch(prev) from sched_switch) prev is
        # args[1], and "current" (the task switched in) is args[2], `next`
        self.stand_in: StandIn | None = None
        self.switch_in = False
        self.switch_stacks: dict[tuple[int, int], int] = {}   # (stack table, flags) → slot of next's id
        self.usdt_args: list[Any] | None = None   # LocArgs of the USDT probe this function serves
        self.kernel_returns: set[int] = set()     # inlining depths whose function returned a kernel pointer

    # ------------------------------------------------------------------ driver
    def function(self, f: A.Func) -> list[I.Insn]:
        e = self.e
        e.emit(I.mov64_reg(CTX, I.R1))
        if self.stand_in is not None and self.stand_in.syscall_nr >= 0:
            self.syscall_filter(self.stand_in)
        for k, p in enumerate(f.params):
            pt = self.type_of(p.type, p.dims)
            if k == 0:        # the context (args, struct pt_regs *ctx, bpf_perf_event_data *)
                self.scopes[0][p.name] = LV("ctxptr", 0, pt)
                continue
            if self.stand_in is not None:
                self.stand_in_param(p, k, pt, f.name)
                continue
            # BCC's kprobe convention: later parameters are the probed function's arguments
            regs = host().args
            if k - 1 >= len(regs) or not is_scalar(pt):
                raise CompileError(f"parameter '{p.name}': only the first {len(regs)} integer or pointer "
                                   "arguments can be read", p.span)
            off = e.alloc(8)
            if f.name.startswith(SYSCALL_FUNCS):
                # BCC: a syscall__ function probes the syscall wrapper (__x64_sys_*), whose one
                # argument is the user's pt_regs: the syscall's arguments are read from there
                # (the 4th from r10, as the syscall convention passes it)
                sreg = host().regs.get(SYSCALL_ARG_REGS[k - 1], regs[k - 1])
                e.emit(I.st_imm(8, I.R10, off, 0), I.ldx(8, I.R3, CTX, regs[0]),
                       I.alu64_imm(I.ADD, I.R3, sreg), I.mov64_reg(I.R1, I.R10),
                       I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, 8))
                e.call("probe_read_kernel")
                e.emit(I.ldx(8, I.R0, I.R10, off))
            else:
                e.emit(I.ldx(8, I.R0, CTX, regs[k - 1]))
            self.normalize(I.R0, pt)
            e.emit(I.stx(8, I.R10, I.R0, off))
            # the probed function's pointer arguments point into the kernel: `*ppos` and
            # `sgs[i]` become probe reads, as BCC's rewriter makes them
            self.scopes[0][p.name] = LV("stack", off, kernel_ptr(pt) if pt.kind is Kind.POINTER else pt)
        self.labels.append({n: Label(n) for n in control.labels_in(f.body)})
        self.targets = control.goto_targets(f.body)
        if self.switch_in:
            off = e.alloc(8)
            e.emit(I.ldx(8, I.R0, CTX, 16), I.stx(8, I.R10, I.R0, off))       # raw tp args[2]: next
            task = base_type("struct task_struct", self.structs, f.span, self.kdb)
            self.scopes[0][SWITCH_NEXT] = LV("stack", off, kernel_ptr(pointer_type(task)))
            switch_stacks(self, f)
        self.stmt(f.body)
        if not self.terminates(f.body):
            e.emit(I.mov64_imm(I.R0, 0), I.exit_())
        for lab, g in self.gotos:
            if lab.pos < 0:
                raise CompileError(f"goto '{g.name}' jumps into a loop that was unrolled (not supported)",
                                   g.span)
        return e.finish()

    def syscall_filter(self, s: StandIn) -> None:
        """A syscall's stand-in runs only for its syscall: sys_enter's id is args[1]; sys_exit's
        is the user pt_regs' orig_ax (args[0]->orig_ax, as the tracepoint itself reads it)."""
        e = self.e
        if s.ret:
            off = e.alloc(8)
            e.emit(I.st_imm(8, I.R10, off, 0), I.ldx(8, I.R3, CTX, 0),
                   I.alu64_imm(I.ADD, I.R3, host().regs["orig_ax"]), I.mov64_reg(I.R1, I.R10),
                   I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, 8))
            e.call("probe_read_kernel")
            e.emit(I.ldx(8, I.R0, I.R10, off))
        else:
            e.emit(I.ldx(8, I.R0, CTX, 8))
        e.emit(I.jmp_imm(I.JEQ, I.R0, s.syscall_nr, 2), I.mov64_imm(I.R0, 0), I.exit_())

    def syscall_param(self, p: A.Decl, k: int, pt: Type, fname: str) -> None:
        """Parameter k of a syscall wrapper's kprobe function run from sys_enter: a syscall__
        function's k-th syscall argument, read from the user pt_regs (args[0]) as BCC reads it
        through the wrapper's; another function's only argument is that pt_regs pointer."""
        s = self.stand_in
        assert s is not None
        # another function's parameters are the wrapper's (its first: the user pt_regs); one
        # that is not a `struct pt_regs *` means the syscall's argument (statsnoop's
        # stat_entry(ctx, filename)), which is what sys_enter gives
        syscall_args = fname.startswith(SYSCALL_FUNCS) or not _is_pt_regs_ptr(pt)
        if s.ret or not is_scalar(pt) or k > len(SYSCALL_ARG_REGS):
            what = "sys_exit gives a kretprobe no arguments" if s.ret else \
                f"sys_enter gives {fname} the syscall's {len(SYSCALL_ARG_REGS)} integer or pointer arguments"
            raise CompileError(f"parameter '{p.name}': {what} (kprobes are missing)", p.span)
        e = self.e
        off = e.alloc(8)
        if syscall_args:
            e.emit(I.st_imm(8, I.R10, off, 0), I.ldx(8, I.R3, CTX, 0),
                   I.alu64_imm(I.ADD, I.R3, host().regs[SYSCALL_ARG_REGS[k - 1]]), I.mov64_reg(I.R1, I.R10),
                   I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, 8))
            e.call("probe_read_kernel")
            e.emit(I.ldx(8, I.R0, I.R10, off))
        else:
            e.emit(I.ldx(8, I.R0, CTX, 0))
        self.normalize(I.R0, pt)
        e.emit(I.stx(8, I.R10, I.R0, off))
        self.scopes[0][p.name] = LV("stack", off, kernel_ptr(pt) if pt.kind is Kind.POINTER else pt)

    def syscall_ctx_member(self, x: A.Member) -> LV:
        """ctx->REG in a syscall's stand-in: the wrapper's first argument (PT_REGS_PARM1, the
        user pt_regs) is sys_enter's args[0]; the return value (PT_REGS_RC) is sys_exit's args[1]."""
        s = self.stand_in
        assert s is not None
        want = "ax" if s.ret else "di"
        if x.name != want:
            raise CompileError(f"ctx->{x.name}: the {s.tracepoint} tracepoint standing in for {s.function} "
                               f"gives only ctx->{want} (kprobes are missing)", x.span)
        return LV("ctx", 8 if s.ret else 0, int_type(8, False))

    def stand_in_param(self, p: A.Decl, k: int, pt: Type, fname: str) -> None:
        """Parameter k (1-based after ctx) of a kprobe function run from a raw tracepoint: the
        function's k-th argument, read from the tracepoint's args where it gives it."""
        s = self.stand_in
        assert s is not None
        if s.syscall_nr >= 0:
            self.syscall_param(p, k, pt, fname)
            return
        if k - 1 >= len(s.args) or not is_scalar(pt):
            raise CompileError(f"parameter '{p.name}': the {s.tracepoint} tracepoint standing in for "
                               f"{s.function} gives only its first {len(s.args)} argument"
                               f"{'s' if len(s.args) != 1 else ''} (kprobes are missing)", p.span)
        off = self.e.alloc(8)
        self.e.emit(I.ldx(8, I.R0, CTX, 8 * s.args[k - 1]))
        self.normalize(I.R0, pt)
        self.e.emit(I.stx(8, I.R10, I.R0, off))
        self.scopes[0][p.name] = LV("stack", off, kernel_ptr(pt) if pt.kind is Kind.POINTER else pt)

    def terminates(self, s: Any) -> bool:
        return control.terminates(s, self.targets)

    def seq(self, stmts: list[Any], dead: bool = False) -> None:
        """Statements in order, skipping what no path reaches (the verifier rejects unreachable
        instructions) until a label that a goto targets, or a case."""
        for x in stmts:
            if dead and control.revives(x, self.targets):
                dead = False
            if dead:
                if isinstance(x, A.Decl):     # still in scope after a label further down
                    t = self.type_of(x.type, x.dims)
                    self.scopes[-1][x.name] = LV("stack", self.e.alloc(max(8, t.size)), t)
                continue
            self.stmt(x)
            if self.terminates(x):
                dead = True

    def type_of(self, tn: A.TypeName, dims: list[int] | None = None) -> Type:
        dims = self.dim_values(dims) if dims else dims
        if tn.base.startswith("struct tracepoint__"):
            return pointer_type(Type(Kind.STRUCT, name=tn.base))
        if tn.of is not None:   # typeof(expr)
            of = tn.of
            if isinstance(of, (A.Name, A.Member, A.Index)) or (isinstance(of, A.Unary) and of.op == "*"):
                t = spelled(self.dry(lambda: self.lvalue(of).type), tn.ptr)   # a struct or array too
            else:
                t = spelled(self.dry(lambda: self.rvalue(of)[1]), tn.ptr)
            return array_of(t, dims) if dims else t
        t = spelled(base_type(tn.base, self.structs, tn.span, self.kdb), tn.ptr)
        return array_of(t, dims) if dims else t

    def dim_values(self, dims: list[Any]) -> list[int]:
        """Array sizes: integers, or constant expressions the parser left (kernel enums)."""
        out = []
        for d in dims:
            v = d if isinstance(d, int) else self.const_value(d)
            if v == -1 and isinstance(d, int):    # `[]` outside an initialized local: a flexible
                v = 0                              # array member, no bytes of its own
            if v is None:
                raise CompileError("array size must be an integer constant", d.span)
            out.append(v)
        return out

    # ------------------------------------------------------------------ statements
    def stmt(self, s: Any) -> None:
        try:
            self._stmt(s)
        except CompileError as err:
            if err.span is None:   # raised deep in a value's lowering: point at the statement
                err.span = s.span
            raise

    def _stmt(self, s: Any) -> None:
        e = self.e
        e.mark(s.span)
        if isinstance(s, A.Block):
            self.scopes.append({})
            sp = e.sp
            self.seq(s.stmts)
            e.sp = sp            # the block's locals are gone: their slots serve the next block
            self.scopes.pop()
        elif isinstance(s, A.Loop):
            control.lower_loop(self, s)
        elif isinstance(s, A.Switch):
            control.lower_switch(self, s)
        elif isinstance(s, (A.Goto, A.Break, A.Continue)):
            e.ja(control.jump_target(self, s))
        elif isinstance(s, A.LabelStmt):
            for m in reversed(self.labels):
                if s.name in m:
                    e.place(m[s.name])
                    break
        elif isinstance(s, A.Case):
            e.place(self.case_labels[id(s)])
        elif isinstance(s, A.Decl):
            self.decl(s)
        elif isinstance(s, A.ExprStmt):
            sp = e.sp
            v = self.expr(s.e, want=False)
            if v is not None:
                e.release(v[0])
            if not any(isinstance(n, A.Str) for n in A.walk(s.e)):   # (a literal's copy may be pointed to)
                e.sp = sp        # the statement's temporaries (probe-read buffers, spills) are dead
        elif isinstance(s, A.If):
            els, done = Label("else"), Label("endif")
            self.cond_jump(s.cond, els, False)
            self.stmt(s.then)
            if s.orelse is not None and not self.terminates(s.then):
                e.ja(done)
            e.place(els)
            if s.orelse is not None:
                self.stmt(s.orelse)
                e.place(done)
        elif isinstance(s, A.Return) and self.inlining:
            _, end, out, rt = self.inlining[-1]
            if s.e is not None:
                rv, vt = self.rvalue(s.e)
                if vt.kind is Kind.POINTER and vt.mode == "kernel":
                    self.kernel_returns.add(len(self.inlining))   # the call's value points into the kernel
                r = e.load(rv, I.R1)
                self.normalize(r, rt)
                e.set_from(out, r)
                e.release(rv)
            e.ja(end)
        elif isinstance(s, A.Return):
            if s.e is not None:
                rv, _ = self.rvalue(s.e)
                self.to_reg(rv, I.R0)
                e.release(rv)
            else:
                e.emit(I.mov64_imm(I.R0, 0))
            e.emit(I.exit_())
        else:
            raise CompileError(f"unsupported statement {type(s).__name__}", s.span)

    def decl(self, d: A.Decl) -> None:
        if d.dims[:1] == [-1]:       # `char s[] = "..."` / `int a[] = {1, 2}`: the initializer sizes it
            n = (len(d.init.value) + 1 if isinstance(d.init, A.Str)
                 else len(d.init.items) if isinstance(d.init, A.InitList) else -1)
            if n < 0:
                raise CompileError(f"array '{d.name}' needs a size or an initializer", d.span)
            d = A.Decl(d.span, d.type, d.name, [n] + d.dims[1:], d.init)
        t = self.type_of(d.type, d.dims)
        if t.kind is Kind.NONE:
            raise CompileError(f"variable '{d.name}' declared void", d.span)
        off = self.e.alloc(max(8, t.size))
        lv = LV("stack", off, t)
        if isinstance(d.init, A.Str) and t.kind is Kind.ARRAY and t.pointee is not None and t.pointee.size == 1:
            data = d.init.value.encode()[:t.size]
            self.e.zero(off, (max(8, t.size) + 7) & ~7)
            self.e.store_bytes(off, data)
        elif d.init is None or isinstance(d.init, A.InitList):
            self.e.zero(off, (max(8, t.size) + 7) & ~7)   # BCC programs rely on zeroed padding
            if isinstance(d.init, A.InitList):
                self.init_list(lv, d.init)
        elif self.wide_const(lv, d.init):
            pass
        elif is_scalar(t):
            self.scopes[-1][d.name] = lv      # in scope in its own initializer (typeof(task))
            v, vt = self.rvalue(d.init)
            self.store(lv, v, vt)
            self.e.release(v)
            self.track_kernel(A.Name(d.span, d.name), lv, vt)
            lv = self.scopes[-1][d.name]          # (a kernel pointer from now on, maybe)
        else:
            src = self.lvalue(d.init)
            if src.type.size != t.size:
                raise CompileError("initializer type does not match", d.init.span)
            self.copy(lv, src)
        self.scopes[-1][d.name] = lv

    def wide_const(self, lv: LV, x: Any) -> bool:
        """`unsigned __int128 a = 0;` (and in initializer lists, assignments): a 16-byte
        integer set from a constant, as its two 64-bit halves."""
        if lv.type.name not in INT128 or lv.base != "stack":
            return False
        c = self.const_value(x)
        if c is None:
            return False
        c &= (1 << 128) - 1
        for half in (0, 1):
            v, _ = self.imm((c >> (64 * half)) & ((1 << 64) - 1), U64)
            self.store(LV(lv.base, lv.off + 8 * half, U64, lv.ptr), v, U64)
            self.e.release(v)
        return True

    def init_list(self, lv: LV, il: A.InitList) -> None:
        t = lv.type
        n = -1
        for item in il.items:
            n += 1
            named = None
            if isinstance(item, A.Designated):
                named = find_member(t, item.name) if t.kind is Kind.STRUCT else None
                if named is None:
                    raise CompileError(f"no member named '{item.name}' in {t.name or t}", item.span)
                if item.name in t.names:
                    n = t.names.index(item.name)
                item = item.value
            if named is not None:
                sub = sub_lv(lv, *named)
            elif t.kind is Kind.STRUCT and n < len(t.elems):
                sub = sub_lv(lv, t.offsets[n], t.elems[n])
            elif t.kind is Kind.ARRAY and t.pointee is not None and n < t.count:
                sub = LV(lv.base, lv.off + n * t.pointee.size, t.pointee, lv.ptr)
            elif is_scalar(t) and n == 0:
                sub = lv
            else:
                raise CompileError("too many initializers", item.span)
            while not isinstance(item, A.InitList) and sub.type.name not in INT128 and (
                    sub.type.kind in (Kind.STRUCT, Kind.ARRAY) and (sub.type.elems or sub.type.pointee)):
                # brace elision (`struct s v = {0};` whose first member is an array): the value
                # goes to the aggregate's first scalar
                st = sub.type
                first = st.elems[0] if st.kind is Kind.STRUCT else st.pointee
                assert first is not None
                sub = LV(sub.base, sub.off + (st.offsets[0] if st.kind is Kind.STRUCT else 0), first, sub.ptr)
            if isinstance(item, A.InitList):
                self.init_list(sub, item)
            elif self.wide_const(sub, item):
                pass
            else:
                v, vt = self.rvalue(item)
                self.store(sub, v, vt)
                self.e.release(v)

    # ------------------------------------------------------------------ memory
    def lookup_var(self, name: str) -> LV | None:
        for sc in reversed(self.scopes):
            if name in sc:
                return sc[name]
        return None

    def lvalue(self, x: Any) -> LV:
        if isinstance(x, A.Name):
            lv = self.lookup_var(x.id)
            if lv is None:
                raise CompileError(f"use of undeclared identifier '{x.id}'", x.span)
            return lv
        if isinstance(x, A.Member):
            if x.arrow:
                if isinstance(x.e, A.Name) and (lv := self.lookup_var(x.e.id)) is not None and lv.base == "ctxptr":
                    if self.tp:
                        return self.tp_field(x)
                    if self.stand_in is not None and self.stand_in.syscall_nr >= 0:
                        return self.syscall_ctx_member(x)
                    if lv.type.kind is Kind.POINTER and lv.type.pointee is not None:
                        return self.member(LV("ctx", 0, lv.type.pointee), x)   # ctx->ax (pt_regs)
                p, pt = self.rvalue(x.e)
                if pt.kind is not Kind.POINTER or pt.pointee is None or pt.pointee.kind is not Kind.STRUCT:
                    raise CompileError("'->' needs a pointer to a struct", x.e.span)
                return self.member(LV(self.space(pt), 0, pt.pointee, p), x)
            return self.member(self.lvalue(x.e), x)
        if isinstance(x, A.Unary) and x.op == "*":
            p, pt = self.rvalue(x.e)
            if pt.kind is not Kind.POINTER or pt.pointee is None:
                raise CompileError("cannot dereference this (not a typed pointer)", x.span)
            return LV(self.space(pt), 0, c_view(pt.pointee), p)
        if isinstance(x, A.Index):
            bt: Type | None = None if self._is_array(x.e) else self.dry(lambda: self.rvalue(x.e)[1])
            if bt is not None and bt.kind is Kind.POINTER and bt.pointee is not None:   # p[i] is *(p + i)
                p, _ = self.binary(A.Binary(x.span, "+", x.e, x.idx))
                return LV(self.space(bt), 0, c_view(bt.pointee), p)
            base = self.lvalue(x.e)
            if base.type.kind is not Kind.ARRAY or base.type.pointee is None:
                raise CompileError("subscript of a non-array", x.e.span)
            idx = self.const_value(x.idx)
            if idx is None and base.base in ("kmem", "ptr") and base.ptr is not None:
                return self.index_ptr(base, x.idx)   # &pid->numbers[level]: address arithmetic
            if idx is None and base.base == "stack":  # a local array: the verifier checks the bounds
                return self.index_ptr(LV("ptr", 0, base.type, self.address(base)), x.idx)
            flexible = base.type.count == 0          # `u64 args[0]` (bpf_raw_tracepoint_args)
            if idx is None or idx < 0 or not (flexible or idx < base.type.count):
                raise CompileError("array index must be a constant within the array's bounds", x.idx.span)
            el = base.type.pointee
            return LV(base.base, base.off + idx * el.size, el, base.ptr)
        if isinstance(x, A.CompoundLit):   # (T){...}: an unnamed stack object, zeroed, then initialized
            t = self.type_of(x.type, [])
            off = self.e.alloc(max(8, t.size))
            self.e.zero(off, (max(8, t.size) + 7) & ~7)
            lv = LV("stack", off, t)
            self.init_list(lv, x.init)
            return lv
        raise CompileError("expression is not assignable / has no address", x.span)

    def index_ptr(self, base: LV, idx_x: Any) -> LV:
        """arr[i] with a run-time i inside memory reached through a pointer: the element's
        address is computed (kernel memory is then read with a probe read, which checks it)."""
        assert base.ptr is not None and base.type.pointee is not None
        el = base.type.pointee
        i, it = self.rvalue(idx_x)
        e = self.e
        ri = e.load(i, I.R1)
        self.normalize(ri, it)
        if el.size != 1:
            e.emit(I.alu64_imm(I.MUL, ri, el.size))
        rp = e.load(base.ptr, I.R2)
        e.emit(I.alu64_reg(I.ADD, ri, rp))
        e.release(base.ptr)
        e.set_from(i, ri)
        return LV(base.base, base.off, el, i)

    def _is_array(self, x: Any) -> bool:
        try:
            return bool(self.dry(lambda: self.lvalue(x).type.kind is Kind.ARRAY))
        except CompileError:
            return False

    def track_kernel(self, target: Any, lv: LV, vt: Type) -> None:
        """A pointer variable given a kernel pointer points into kernel memory from then on:
        its dereferences become probe reads (BCC's rewriter follows such assignments too)."""
        if (isinstance(target, A.Name) and lv.base == "stack" and lv.type.kind is Kind.POINTER
                and vt.kind is Kind.POINTER and vt.mode == "kernel" and lv.type.mode != "kernel"):
            for sc in reversed(self.scopes):
                if target.id in sc:
                    sc[target.id] = LV("stack", lv.off, kernel_ptr(lv.type))
                    return

    def space(self, pt: Type) -> str:
        """Where a pointer points: kernel memory (BCC rewrites its dereferences into
        bpf_probe_read_kernel) for kernel structs and pointers read out of kernel memory;
        directly readable memory (map values, the stack) otherwise."""
        p = pt.pointee
        if p is not None and p.kind is Kind.STRUCT and p.name in packet.PACKET_STRUCTS and p.names:
            return "pkt"
        if pt.mode == "kernel" or (p is not None and p.kind is Kind.STRUCT and not p.names):
            return "kmem"
        return "ptr"

    def member(self, lv: LV, x: A.Member) -> LV:
        t = lv.type
        if t.kind is Kind.STRUCT and not t.names and self.kdb is not None:   # a kernel struct (BTF)
            m = self.kdb.member(t, x.name)
            if m is None:
                raise CompileError(f"no member named '{x.name}' in {t.name}", x.name_span)
            mt = c_view(m.type)
            if lv.base == "kmem" and mt.kind is Kind.POINTER:
                mt = Type(Kind.POINTER, size=8, pointee=mt.pointee, name=mt.name, mode="kernel")
            return LV(lv.base, lv.off + m.offset, mt, lv.ptr, (m.shift, m.bits) if m.bits else None)
        hit = find_member(t, x.name) if t.kind is Kind.STRUCT else None
        if hit is None:
            raise CompileError(f"no member named '{x.name}' in {t.name or t}", x.name_span)
        off, mt = hit
        if lv.base == "kmem" and mt.kind is Kind.POINTER:   # a pointer kept in kernel memory points there too
            mt = kernel_ptr(mt)
        return sub_lv(lv, off, mt)

    def tp_field(self, x: A.Member) -> LV:
        if not self.tp:
            raise CompileError("'args' is only available in TRACEPOINT_PROBE", x.span)
        f = self.tp_args.get(x.name)
        if f is None and x.name.startswith("data_loc_"):   # BCC's name for a __data_loc field's u32
            f = self.tp_args.get(x.name[len("data_loc_"):])
            if f is not None and f.data_loc:
                return LV("ctx", f.offset, int_type(4, False))
        if f is None:
            raise CompileError(f"no member named '{x.name}' in this tracepoint's args "
                               f"(fields: {', '.join(self.tp_args) or 'none'})", x.name_span)
        if f.data_loc:
            raise CompileError(f"__data_loc field '{x.name}' is not supported yet", x.name_span)
        # a pointer in the record is a kernel address (`(u8 *)args->skbaddr`): read with probe reads
        return LV("ctx", f.offset, kernel_ptr(f.type) if f.type.kind is Kind.POINTER else f.type)

    def _base_reg(self, lv: LV, scratch: int) -> int:
        if lv.base == "stack":
            return I.R10
        if lv.base == "ctx":
            return CTX
        if lv.ptr is None:     # `ctx`/`args` itself, an unrolled loop's constant: no memory behind it
            raise CompileError("this has no address in memory (the context pointer or a constant "
                               "cannot be modified or dereferenced this way)", None)
        return self.e.load(lv.ptr, scratch)

    def load(self, lv: LV) -> tuple[IntVal, Type]:
        t = lv.type
        if t.kind is Kind.ARRAY:   # decays to a pointer to its first element
            return self.address(lv), pointer_type(t.pointee, space="kernel" if lv.base == "kmem" else "")
        if not is_scalar(t):
            raise CompileError(f"a {t.name or t.kind.value} cannot be used as a value here", None)
        e = self.e
        size = t.size
        if lv.base == "const":     # an unrolled loop's variable
            return self.imm(lv.off, t)
        if lv.base == "pkt":
            return packet.load(self, lv)
        if lv.bits is not None:
            size = min(8, (lv.bits[0] + lv.bits[1] + 7) // 8)
            size = next(n for n in (1, 2, 4, 8) if n >= size)
        if lv.base == "kmem":
            tmp = self.kread(lv, size)
            e.emit(I.ldx(size, I.R0, I.R10, tmp))
            if t.kind is Kind.POINTER and t.mode != "kernel":   # read out of kernel memory: points there
                t = kernel_ptr(t)
        else:
            base = self._base_reg(lv, I.R1)
            if base == I.R10 and lv.off % size:     # a packed member on the stack: byte by byte
                e.emit(I.mov64_imm(I.R0, 0))
                for k in reversed(range(size)):
                    e.emit(I.alu64_imm(I.LSH, I.R0, 8), I.ldx(1, I.R2, base, lv.off + k),
                           I.alu64_reg(I.OR, I.R0, I.R2))
            else:
                e.emit(I.ldx(size, I.R0, base, lv.off))
            if lv.ptr is not None:
                e.release(lv.ptr)
        if lv.bits is not None:
            shift, width = lv.bits
            e.emit(I.alu64_imm(I.LSH, I.R0, 64 - shift - width),
                   I.alu64_imm(I.ARSH if t.signed else I.RSH, I.R0, 64 - width))   # a signed one: extended
        elif t.signed or size != t.size:   # ldx zero-extends: an unsigned load is already normalized
            self.normalize(I.R0, t)
        v = e.new_int()
        e.set_from(v, I.R0)
        return v, t

    def kread(self, lv: LV, size: int, dst: int | None = None) -> int:
        """bpf_probe_read_kernel(stack, size, ptr + off) → the stack offset read into. A failed
        read leaves zeroes (the slot is cleared first), as BCC's rewritten reads give."""
        e = self.e
        off = e.alloc(size) if dst is None else dst
        assert lv.ptr is not None
        r = e.load(lv.ptr, I.R3)
        if r != I.R3:
            e.emit(I.mov64_reg(I.R3, r))
        e.release(lv.ptr)
        if lv.off:
            e.emit(I.alu64_imm(I.ADD, I.R3, lv.off))
        e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, size))
        e.call("probe_read_kernel")
        return off

    def store(self, lv: LV, v: IntVal, vt: Type) -> None:
        t = lv.type
        if lv.base == "kmem":
            raise CompileError("kernel memory is read-only here (write a copy on the stack)", None)
        if lv.base == "pkt":
            packet.store(self, lv, v)
            return
        if not is_scalar(t):
            raise CompileError(f"cannot assign a scalar to a {t.name or t.kind.value}", None)
        e = self.e
        r = e.load(v, I.R2)
        # converted in the register first: a spill of a value that fits the slot keeps the
        # verifier's link between slot and register (a later `if (len > 64)` bounds both)
        self.convert(r, vt, t)
        base = self._base_reg(lv, I.R1)
        if lv.base == "ctx":
            raise CompileError("tracepoint args are read-only", None)
        if lv.bits is not None:       # a bit-field: its bits replaced in the storage unit
            shift, width = lv.bits
            mask = ((1 << width) - 1) << shift
            scratch = I.R0 if r != I.R0 and base != I.R0 else I.R3
            e.emit(I.mov64_reg(I.R4, r), I.alu64_imm(I.LSH, I.R4, 64 - width),
                   I.alu64_imm(I.RSH, I.R4, 64 - width - shift),
                   I.ldx(t.size, scratch, base, lv.off), I.ld_imm64(I.R5, ~mask & ((1 << 64) - 1)),
                   I.alu64_reg(I.AND, scratch, I.R5), I.alu64_reg(I.OR, scratch, I.R4),
                   I.stx(t.size, base, scratch, lv.off))
            if lv.ptr is not None:
                e.release(lv.ptr)
            return
        if base == I.R10 and lv.off % t.size:    # a packed member: the verifier wants aligned stack stores
            e.emit(I.mov64_reg(I.R4, r))
            for k in range(t.size):
                e.emit(I.stx(1, base, I.R4, lv.off + k), I.alu64_imm(I.RSH, I.R4, 8))
            return
        e.emit(I.stx(t.size, base, r, lv.off))
        if lv.ptr is not None:
            e.release(lv.ptr)

    def copy(self, dst: LV, src: LV) -> None:
        """Struct/array copy in 8/4/2/1-byte chunks (both sides start 8-aligned)."""
        e = self.e
        o, size = 0, dst.type.size
        if src.base == "kmem":
            if dst.base != "stack":
                tmp = self.kread(src, size)
                src = LV("stack", tmp, dst.type)
            else:
                self.kread(src, size, dst.off)
                return
        while o < size:
            n = next(k for k in (8, 4, 2, 1) if size - o >= k)
            e.emit(I.ldx(n, I.R0, self._base_reg(src, I.R1), src.off + o))
            e.emit(I.stx(n, self._base_reg(dst, I.R2), I.R0, dst.off + o))
            o += n
        for lv in (src, dst):
            if lv.ptr is not None:
                e.release(lv.ptr)

    def address(self, lv: LV) -> IntVal:
        e = self.e
        v = e.new_int()
        if lv.base == "stack":
            e.emit(I.mov64_reg(I.R0, I.R10), I.alu64_imm(I.ADD, I.R0, lv.off))
        elif lv.base in ("ptr", "kmem", "pkt"):     # a packet field's: its offset in the packet
            assert lv.ptr is not None
            r = e.load(lv.ptr, I.R1)
            e.emit(I.mov64_reg(I.R0, r), I.alu64_imm(I.ADD, I.R0, lv.off))
            e.release(lv.ptr)
        elif lv.base == "ctx":    # a tracepoint record's array: ctx + offset (helpers read it)
            e.emit(I.mov64_reg(I.R0, CTX), I.alu64_imm(I.ADD, I.R0, lv.off))
        else:
            raise CompileError("cannot take the address of this", None)
        e.set_from(v, I.R0)
        return v

    def convert(self, r: int, frm: Type, to: Type) -> None:
        """A register holding a value normalized to `frm` converted to `to`: shifts only when
        some value of frm is not one of to's. Shifting a register drops the verifier's link to
        the stack slot it was loaded from, so `if (len > 64)` would bound only a copy and
        `bpf_probe_read(buf, len, p)` would then see an unbounded u32."""
        if preserves(frm, to):
            return
        self.normalize(r, to)

    def normalize(self, r: int, t: Type) -> None:
        """Truncate/extend a register to t's width and signedness."""
        if t.kind is Kind.POINTER or t.size >= 8 or t.size == 0:
            return
        sh = 64 - 8 * t.size
        self.e.emit(I.alu64_imm(I.LSH, r, sh), I.alu64_imm(I.ARSH if t.signed else I.RSH, r, sh))

    def to_reg(self, v: IntVal, dst: int) -> None:
        r = self.e.load(v, dst)
        if r != dst:
            self.e.emit(I.mov64_reg(dst, r))

    # ------------------------------------------------------------------ expressions
    def const_value(self, x: Any) -> int | None:
        if isinstance(x, A.Num):
            return x.value
        if isinstance(x, A.Offsetof):
            return self.offsetof(x)
        if isinstance(x, A.Name) and (lv := self.lookup_var(x.id)) is not None and lv.base == "const":
            return lv.off
        if isinstance(x, A.Name) and self.lookup_var(x.id) is None:
            if x.id in self.consts:
                return self.consts[x.id]
            kc = self.kdb.enum_constant(x.id) if self.kdb is not None else None
            return kc[0] if kc is not None else None
        if isinstance(x, A.Cast):
            return self.const_value(x.e)
        if isinstance(x, A.Sizeof):
            return self.sizeof(x)
        if isinstance(x, A.Unary) and x.op in ("-", "~"):
            v = self.const_value(x.e)
            return None if v is None else (-v if x.op == "-" else ~v)
        if isinstance(x, A.Binary):
            a, b = self.const_value(x.l), self.const_value(x.r)
            if a is None or b is None:
                return None
            ops = {"+": a + b, "-": a - b, "*": a * b, "<<": a << b if b >= 0 else 0,
                   ">>": a >> b if b >= 0 else 0, "&": a & b, "|": a | b, "^": a ^ b}
            if x.op in ops:
                return ops[x.op]
        return None

    def offsetof(self, x: A.Offsetof) -> int:
        t, off = self.type_of(x.type), 0
        for name in x.path:
            if t.kind is Kind.STRUCT and not t.names and self.kdb is not None:   # a kernel struct
                m = self.kdb.member(t, name)
                if m is None:
                    raise CompileError(f"no member named '{name}' in {t.name}", x.span)
                off, t = off + m.offset, c_view(m.type)
            elif t.kind is Kind.STRUCT and (hit := find_member(t, name)) is not None:
                off, t = off + hit[0], hit[1]
            else:
                raise CompileError(f"no member named '{name}' in {t.name or t}", x.span)
        return off

    def sizeof(self, x: A.Sizeof) -> int:
        if x.type is not None:
            return self.type_of(x.type).size
        if isinstance(x.e, A.Name) and self.lookup_var(x.e.id) is None and x.e.id in self.tables:
            raise CompileError("sizeof of a table", x.span)
        if isinstance(x.e, (A.Name, A.Member, A.Index)) or (isinstance(x.e, A.Unary) and x.e.op == "*"):
            return self.dry(lambda: self.lvalue(x.e).type).size
        return self.dry(lambda: self.rvalue(x.e)[1]).size

    def dry(self, fn: Any) -> Any:
        """Run fn for the type it finds, then drop whatever code it emitted."""
        e = self.e
        mark = (len(e.insns), len(e._fixups), list(e.free), len(e.spans), e.sp)
        try:
            return fn()
        finally:
            del e.insns[mark[0]:], e._fixups[mark[1]:], e.spans[mark[3]:]
            e.free, e.sp = mark[2], mark[4]      # its stack slots too

    def rvalue(self, x: Any) -> tuple[IntVal, Type]:
        r = self.expr(x, want=True)
        assert r is not None
        return r

    def imm(self, value: int, t: Type) -> tuple[IntVal, Type]:
        v = self.e.new_int()
        value &= (1 << (8 * t.size)) - 1
        if t.signed and value >> (8 * t.size - 1):
            value -= 1 << (8 * t.size)
        self.e.set_imm(v, value)
        return v, t

    def expr(self, x: Any, want: bool = True) -> tuple[IntVal, Type] | None:
        e = self.e
        if isinstance(x, A.Num):
            if x.value >= 1 << 63 or (x.unsigned and x.long):
                t = U64
            elif x.long or x.value >= 1 << 31:
                t = int_type(8, not x.unsigned) if x.value < 1 << 63 else U64
            else:
                t = int_type(4, not x.unsigned) if x.value < 1 << 31 else int_type(8, True)
            return self.imm(x.value, t)
        if isinstance(x, A.Sizeof):
            return self.imm(self.sizeof(x), U64)
        if isinstance(x, A.Offsetof):
            return self.imm(self.offsetof(x), U64)
        if isinstance(x, A.Str):   # a string literal's value: a pointer to a copy on the stack
            data = x.value.encode() + b"\0"
            size = max(8, (len(data) + 7) & ~7)
            off = e.alloc(size)
            e.zero(off, size)
            e.store_bytes(off, data[:-1])
            v = e.new_int()
            e.emit(I.mov64_reg(I.R0, I.R10), I.alu64_imm(I.ADD, I.R0, off))
            e.set_from(v, I.R0)
            return v, pointer_type(int_type(1, True))
        if isinstance(x, A.Name):
            if self.lookup_var(x.id) is None:
                if x.id in self.consts:
                    return self.imm(self.consts[x.id], INT)
                kc = self.kdb.enum_constant(x.id) if self.kdb is not None else None
                if kc is not None:       # a kernel enumerator (TCP_CLOSE, IPPROTO_TCP...) from BTF
                    return self.imm(kc[0], INT if -(1 << 31) <= kc[0] < (1 << 31) else U64)
                if x.id in self.tables:
                    raise CompileError(f"table '{x.id}' can only be used through its methods "
                                       f"({x.id}.lookup(), ...)", x.span)
            lv = self.lvalue(x)
            if lv.base == "ctxptr":   # `args`/`ctx` itself: the context pointer
                v = e.new_int()
                e.set_from(v, CTX)
                return v, lv.type
            return self.load(lv)
        if isinstance(x, (A.Member, A.Index, A.CompoundLit)):
            return self.load(self.lvalue(x))
        if isinstance(x, A.Unary):
            return self.unary(x)
        if isinstance(x, A.Cast):
            t = self.type_of(x.type)
            v, _vt = self.rvalue(x.e)
            if t.kind is Kind.NONE:
                return v, VOID
            if is_scalar(t):
                r = e.load(v, I.R1)
                self.convert(r, _vt, t)
                if v.reg < 0:
                    e.set_from(v, r)
            if t.kind is Kind.POINTER and _vt.kind is Kind.POINTER and _vt.mode == "kernel":
                t = kernel_ptr(t)    # still kernel memory: (struct x *)task->field
            elif t.kind is Kind.POINTER and _vt.kind is Kind.INT and self.const_value(x.e) is None:
                # an address computed as an integer (`*(u8 *)((u64)&sk->field - 3)`): the verifier
                # never lets a program dereference a number, so BCC reads it with a probe read
                t = kernel_ptr(t)
            return v, t
        if isinstance(x, A.Binary):
            return self.binary(x)
        if isinstance(x, A.Assign):
            return self.assign(x, want)
        if isinstance(x, A.StmtExpr):
            stmts = x.body.stmts
            last = stmts[-1] if stmts and isinstance(stmts[-1], A.ExprStmt) else None
            if want and last is None:
                raise CompileError("this statement expression has no value (it must end in an expression)",
                                   x.span)
            self.scopes.append({})
            self.seq(stmts[:-1] if last is not None else stmts)
            res = self.expr(last.e, want) if last is not None else None
            self.scopes.pop()
            return res
        if isinstance(x, A.Comma):
            for item in x.items[:-1]:
                part = self.expr(item, want=False)
                if part is not None:
                    e.release(part[0])
            return self.expr(x.items[-1], want)
        if isinstance(x, A.Ternary) and (mm := min_max(self, x)) is not None:
            return mm
        if isinstance(x, A.Ternary):
            out = e.new_int()
            other, done = Label("tern_b"), Label("tern_end")
            self.cond_jump(x.cond, other, False)
            a, at = self.rvalue(x.a)
            e.set_from(out, e.load(a, I.R1))
            e.release(a)
            e.ja(done)
            e.place(other)
            b, bt = self.rvalue(x.b)
            e.set_from(out, e.load(b, I.R1))
            e.release(b)
            e.place(done)
            return out, (arith(at, bt) if at.kind is Kind.INT and bt.kind is Kind.INT else at)
        if isinstance(x, A.Call):
            return self.call(x)
        if isinstance(x, A.MethodCall):
            if self.switch_in and x.method == "get_stackid":
                return switched_in_stackid(self, x)
            if self.switch_in and x.method == "get_stack":
                raise CompileError("get_stack() would take the stack of the task switched out, not in "
                                   "(sched_switch standing in for finish_task_switch)", x.name_span)
            return method_call(self, x)
        raise CompileError(f"unsupported expression {type(x).__name__}", x.span)

    def unary(self, x: A.Unary) -> tuple[IntVal, Type]:
        e = self.e
        if x.op == "&":
            lv = self.lvalue(x.e)
            return self.address(lv), pointer_type(lv.type, space="kernel" if lv.base == "kmem" else "")
        if x.op == "*":
            return self.load(self.lvalue(x))
        if x.op in ("++x", "--x", "x++", "x--"):
            lv = self.lvalue(x.e)
            if lv.base == "ctxptr":
                raise CompileError("the context pointer cannot be modified (copy it to a local first)", x.span)
            v, t = self.load(LV(lv.base, lv.off, lv.type, lv.ptr))
            r = e.load(v, I.R1)
            old = e.new_int()
            e.set_from(old, r)
            r = e.load(v, I.R1)
            step = (t.pointee.size if t.kind is Kind.POINTER and t.pointee else 1)
            e.emit(I.alu64_imm(I.ADD, r, step if "+" in x.op else -step))   # no SUB: the verifier
            # refuses subtraction from a stack pointer, an added negative step is fine
            self.normalize(r, t)
            e.set_from(v, r)
            if lv.ptr is not None:
                lv = self.lvalue(x.e)
            self.store(lv, v, t)
            if x.op.startswith("x"):
                e.release(v)
                return old, t
            e.release(old)
            return v, t
        v, t = self.rvalue(x.e)
        r = e.load(v, I.R1)
        if x.op == "!":
            done = Label("not")
            e.emit(I.mov64_imm(I.R0, 1))
            e.jump(I.jmp_imm(I.JEQ, r, 0), done)
            e.emit(I.mov64_imm(I.R0, 0))
            e.place(done)
            e.set_from(v, I.R0)
            return v, INT
        t = promote(t)
        if x.op == "-":
            e.emit(I.neg64(r))
        elif x.op == "~":
            e.emit(I.alu64_imm(I.XOR, r, -1))
        self.normalize(r, t)
        e.set_from(v, r)
        return v, t

    _ALU = {"+": I.ADD, "-": I.SUB, "*": I.MUL, "/": I.DIV, "%": I.MOD, "&": I.AND, "|": I.OR,
            "^": I.XOR, "<<": I.LSH, ">>": I.RSH}
    _CMP = CMP

    def binary(self, x: A.Binary) -> tuple[IntVal, Type]:
        e = self.e
        if x.op in ("&&", "||"):
            out = e.new_int()
            done = Label("logic")
            e.set_imm(out, 0 if x.op == "&&" else 1)
            a, _ = self.rvalue(x.l)
            r = e.load(a, I.R1)
            e.release(a)
            e.jump(I.jmp_imm(I.JEQ if x.op == "&&" else I.JNE, r, 0), done)
            b, _ = self.rvalue(x.r)
            r = e.load(b, I.R1)
            e.release(b)
            e.jump(I.jmp_imm(I.JEQ if x.op == "&&" else I.JNE, r, 0), done)
            e.set_imm(out, 1 if x.op == "&&" else 0)
            e.place(done)
            return out, INT
        a, at = self.rvalue(x.l)
        b, bt = self.rvalue(x.r)
        ptr_arith = at.kind is Kind.POINTER and x.op in ("+", "-") and bt.kind is not Kind.POINTER
        t = at if ptr_arith else arith(at, bt) if x.op not in ("<<", ">>") else promote(at)
        ra = e.load(a, I.R1)
        rb = e.load(b, I.R2)
        if at.kind is not Kind.POINTER and bt.kind is not Kind.POINTER:
            common = arith(at, bt)   # both operands converted first (-7 < 0xffffffffu is 1 in C)
            self.convert(ra, at, common if x.op not in ("<<", ">>") else t)
            if x.op not in ("<<", ">>"):
                self.convert(rb, bt, common)
        if x.op in self._CMP:
            signed = arith(at, bt).signed if at.kind is not Kind.POINTER else False
            op = self._CMP[x.op][1 if signed else 0]
            done = Label("cmp")
            e.emit(I.mov64_imm(I.R0, 1))
            e.jump(I.jmp_reg(op, ra, rb), done)
            e.emit(I.mov64_imm(I.R0, 0))
            e.place(done)
            e.set_from(a, I.R0)
            e.release(b)
            return a, INT
        if ptr_arith and at.pointee is not None and at.pointee.size > 1:
            e.emit(I.alu64_imm(I.MUL, rb, at.pointee.size))
        if ptr_arith and x.op == "-":     # p - n as p + (-n) (see unary: no SUB on stack pointers)
            e.emit(I.neg64(rb))
            x = A.Binary(x.span, "+", x.l, x.r)
        if at.kind is Kind.POINTER and bt.kind is Kind.POINTER and x.op == "-":   # elements apart
            e.emit(I.alu64_reg(I.SUB, ra, rb))
            size = at.pointee.size if at.pointee is not None else 1
            if size > 1:
                e.emit(I.Insn(I.ALU64 | I.DIV | I.K, ra, 0, 1, size))   # signed (BPF_SDIV, cpu v4)
            e.set_from(a, ra)
            e.release(b)
            return a, int_type(8, True)
        alu = self._ALU.get(x.op)
        if alu is None:
            raise CompileError(f"operator '{x.op}' is not supported", x.span)
        ins = I.alu64_reg(alu, ra, rb)
        if t.signed and x.op in ("/", "%"):
            ins.off = 1          # BPF_SDIV / BPF_SMOD (cpu v4)
        if t.signed and x.op == ">>":
            ins = I.alu64_reg(I.ARSH, ra, rb)
        e.emit(ins)
        self.normalize(ra, t)
        e.set_from(a, ra)
        e.release(b)
        return a, t

    _INVERSE = INVERSE

    def cond_jump(self, x: Any, target: Label, when: bool) -> None:
        """Jump to target when x's truth is `when`, branching on the operands themselves so
        the verifier sees `if (p == 0)` on the pointer (null checks of lookups)."""
        e = self.e
        if isinstance(x, A.Unary) and x.op == "!":
            self.cond_jump(x.e, target, not when)
            return
        if isinstance(x, A.Binary) and x.op in ("&&", "||"):
            short = (x.op == "||")         # || jumps on the first true operand, && on the first false
            if when == short:
                self.cond_jump(x.l, target, when)
                self.cond_jump(x.r, target, when)
            else:
                skip = Label("cond_skip")
                self.cond_jump(x.l, skip, not when)
                self.cond_jump(x.r, target, when)
                e.place(skip)
            return
        if isinstance(x, A.Binary) and x.op in self._CMP:
            a, at = self.rvalue(x.l)
            op = x.op if when else self._INVERSE[x.op]
            c = self.const_value(x.r)
            ptr = at.kind is Kind.POINTER
            common = at if ptr else None
            if c is None or not ptr:
                b, bt = self.rvalue(x.r)
                ptr = ptr or bt.kind is Kind.POINTER
                common = None if ptr else arith(at, bt)
                ra = e.load(a, I.R1)
                rb = e.load(b, I.R2)
                if common is not None:
                    self.convert(ra, at, common)
                    self.convert(rb, bt, common)
                jop = self._CMP[op][1 if common is not None and common.signed else 0]
                e.jump(I.jmp_reg(jop, ra, rb), target)
                e.release(a)
                e.release(b)
                return
            ra = e.load(a, I.R1)
            if -(1 << 31) <= c < (1 << 31):
                e.jump(I.jmp_imm(self._CMP[op][0], ra, c), target)
            else:
                e.emit(I.ld_imm64(I.R2, c))
                e.jump(I.jmp_reg(self._CMP[op][0], ra, I.R2), target)
            e.release(a)
            return
        v, _ = self.rvalue(x)
        r = e.load(v, I.R1)
        e.release(v)
        e.jump(I.jmp_imm(I.JNE if when else I.JEQ, r, 0), target)

    def assign(self, x: A.Assign, want: bool) -> tuple[IntVal, Type] | None:
        e = self.e
        if x.op == "=":
            if isinstance(x.value, A.InitList):
                raise CompileError("assigning an initializer list is not supported", x.value.span)
            if not self._scalar_target(x.target):
                if not self.wide_const(self.lvalue(x.target), x.value):
                    self.copy(self.lvalue(x.target), self.lvalue(x.value))
                return self.imm(0, INT) if want else None
            v, vt = self.rvalue(x.value)
            lv = self.lvalue(x.target)
            self.track_kernel(x.target, lv, vt)
            r = e.load(v, I.R2)
            self.convert(r, vt, lv.type)
            e.set_from(v, r)
            self.store(lv, v, vt)
            return v, lv.type
        op = x.op[:-1]
        v, t = self.binary(A.Binary(x.span, op, x.target, x.value))
        lv = self.lvalue(x.target)
        r = e.load(v, I.R2)
        self.convert(r, t, lv.type)
        if v.reg < 0:
            e.set_from(v, r)
        self.store(lv, v, t)
        return v, lv.type

    def _scalar_target(self, target: Any) -> bool:
        return bool(self.dry(lambda: is_scalar(self.lvalue(target).type)))

    # ------------------------------------------------------------------ helpers
    def call(self, x: A.Call) -> tuple[IntVal, Type]:
        e = self.e
        f = self.funcs.get(x.func)
        if f is not None and self.lookup_var(x.func) is None:
            if not f.static:      # BCC's front end refuses these: each non-static function is a program
                raise CompileError("cannot call non-static helper function", x.name_span,
                                   hint=f"declare it 'static' (or 'static inline') to call {x.func}() here")
            return control.inline_call(self, f, x)
        if self.switch_in and x.func in SWITCHED_IN:
            return self.rvalue(SWITCHED_IN[x.func](x))
        if self.switch_in and x.func in CURRENT_TASK:
            raise CompileError(f"{x.func}() is about the task switched in, which the sched_switch "
                               "tracepoint standing in for finish_task_switch cannot give", x.name_span)
        if x.func in ("incr_cksum_l3", "incr_cksum_l4"):
            return packet.csum_call(self, x)
        if x.func in BSWAP:
            if len(x.args) != 1:
                raise CompileError(f"{x.func}() takes 1 argument", x.span)
            v, _ = self.rvalue(x.args[0])
            r = e.load(v, I.R1)
            bits = BSWAP[x.func]
            e.emit(I.Insn(I.ALU | I.END | I.X, r, 0, 0, bits))   # to big endian: a swap on this host
            e.set_from(v, r)
            return v, int_type(bits // 8, False)
        if x.func in INLINE:
            if len(x.args) != 1:
                raise CompileError(f"{x.func}() takes 1 argument", x.span)
            v, _ = self.rvalue(x.args[0])
            r = e.load(v, I.R1)
            if x.func == "bpf_log2":
                e.emit(I.mov64_reg(I.R1, r), I.alu64_imm(I.LSH, I.R1, 32), I.alu64_imm(I.RSH, I.R1, 32))
                r = I.R1
            self.log2(r)
            e.set_from(v, I.R0)
            return v, int_type(4, False)
        if x.func in ATOMIC_ADD:
            return self.atomic_add(x)
        if x.func in ("__builtin_memcpy", "memcpy"):   # from anywhere: a kernel read into dst
            x = A.Call(x.span, "bpf_probe_read_kernel", [x.args[0], x.args[2], x.args[1]] if len(x.args) == 3
                       else x.args, x.name_span)
        if x.func in ("__builtin_memset", "memset"):
            return memset(self, x)
        if x.func == "bpf_trace_printk":
            return trace_printk(self, x)
        if x.func in ("bpf_usdt_readarg", "bpf_usdt_readarg_p"):
            from .usdtargs import readarg

            return readarg(self, x, self.usdt_args)
        h = HELPERS.get(x.func)
        if h is None:
            raise CompileError(f"unknown function '{x.func}' (not a BPF helper bpfscope's BCC compiler "
                               "knows)", x.name_span)
        if len(x.args) != h.nargs:
            raise CompileError(f"{x.func}() takes {h.nargs} argument{'s' if h.nargs != 1 else ''}, "
                               f"{len(x.args)} given", x.span)
        vals = [self.rvalue(a)[0] for a in x.args]
        for k, v in enumerate(vals):
            self.to_reg(v, I.R1 + k)
        for v in vals:
            e.release(v)
        e.call(h.kernel)
        out = e.new_int()
        rt = pointer_type(None) if h.ret == "void *" else base_type(h.ret, {}, x.span)
        self.normalize(I.R0, rt)
        e.set_from(out, I.R0)
        return out, rt

    def atomic_add(self, x: A.Call) -> tuple[IntVal, Type]:
        """lock_xadd(p, v) / __sync_fetch_and_add(p, v): one atomic add to *p (4 or 8 bytes)."""
        e = self.e
        if len(x.args) != 2:
            raise CompileError(f"{x.func}() takes 2 arguments", x.span)
        p, pt = self.rvalue(x.args[0])
        if pt.kind is not Kind.POINTER or pt.pointee is None or pt.pointee.size not in (4, 8):
            raise CompileError(f"{x.func}() needs a pointer to a 4- or 8-byte integer", x.args[0].span)
        v, _ = self.rvalue(x.args[1])
        rp = e.load(p, I.R1)
        rv = e.load(v, I.R2)
        e.emit(I.atomic_add(pt.pointee.size, rp, rv, 0))
        e.release(p)
        e.release(v)
        return self.imm(0, INT)

    def log2(self, r: int) -> None:
        """r0 = BCC's bpf_log2l(r): floor(log2(v)) + 1, and 1 for 0."""
        e = self.e
        e.emit(I.mov64_reg(I.R3, r), I.mov64_imm(I.R0, 1))
        for s in (32, 16, 8, 4, 2, 1):
            skip = Label()
            e.emit(I.mov64_reg(I.R4, I.R3), I.alu64_imm(I.RSH, I.R4, s))
            e.jump(I.jmp_imm(I.JEQ, I.R4, 0), skip)
            e.emit(I.mov64_reg(I.R3, I.R4), I.alu64_imm(I.ADD, I.R0, s))
            e.place(skip)

    def table(self, name: str, span: Span) -> tuple[int, TableSpec]:
        t = self.tables.get(name)
        if t is None:
            raise CompileError(f"'{name}' is not a table declared in this program", span)
        return t


SWITCH_NEXT = "__bpfscope_switch_next"


def _next_field(sp: Span, name: str, ctype: str) -> A.Cast:
    return A.Cast(sp, A.TypeName(ctype), A.Member(sp, A.Name(sp, SWITCH_NEXT), name, True, sp))


def _next_comm(x: A.Call) -> A.Node:
    """bpf_get_current_comm(buf, size) about `next`: its comm (NUL-padded in the kernel) copied."""
    sp = x.span
    if len(x.args) != 2:
        raise CompileError(f"{x.func}() takes 2 arguments, {len(x.args)} given", sp)
    comm = A.Member(sp, A.Name(sp, SWITCH_NEXT), "comm", True, sp)
    return A.Comma(sp, [A.Call(sp, "bpf_probe_read_kernel", [x.args[0], x.args[1], comm], x.name_span),
                        A.Num(sp, 0)])


# what the helpers would say about the task switched in, read from `next`
SWITCHED_IN = {
    "bpf_get_current_pid_tgid": lambda x: A.Binary(x.span, "|", A.Binary(x.span, "<<",
                                                                         _next_field(x.span, "tgid", "u64"),
                                                                         A.Num(x.span, 32)),
                                                   _next_field(x.span, "pid", "u32")),
    "bpf_get_current_comm": _next_comm,
    "bpf_get_current_task": lambda x: A.Cast(x.span, A.TypeName("u64"), A.Name(x.span, SWITCH_NEXT)),
}

# helpers about the current task that switch_in cannot redirect to `next`
CURRENT_TASK = frozenset({"bpf_get_current_task_btf",
                          "bpf_get_current_uid_gid", "bpf_get_current_cgroup_id", "bpf_get_stackid",
                          "bpf_get_stack", "bpf_send_signal", "bpf_send_signal_thread"})


def sub_lv(lv: LV, off: int, t: Type) -> LV:
    """Member (off, t) of the struct at lv; a bit-field's type carries (shift, width)."""
    if t.kind is Kind.INT and len(t.params) == 2:
        return LV(lv.base, lv.off + off, int_type(t.size, t.signed), lv.ptr, (t.params[0], t.params[1]))
    return LV(lv.base, lv.off + off, t, lv.ptr)


def kernel_ptr(t: Type) -> Type:
    return Type(Kind.POINTER, size=8, pointee=t.pointee, name=t.name, mode="kernel")



def _is_pt_regs_ptr(t: Type) -> bool:
    p = t.pointee if t.kind is Kind.POINTER else None
    return p is not None and p.kind is Kind.STRUCT and (p.name or "").split()[-1] == "pt_regs"
