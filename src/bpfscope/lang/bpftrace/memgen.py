"""Code generation for memory: struct fields, pointer/array indexing, dereference, arrays.

A mixin of `codegen.ProgGen`. Every memory expression is first turned into a `Loc` — where
its bytes are — and then read: traced memory with bpf_probe_read_kernel/_user (never a
direct load, so a bad pointer yields zeros instead of a verifier rejection), the BPF stack
(struct values held in variables) with plain loads, the tracepoint record through ctx.
"""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from ..ebpf.emitter import CTX, Emitter, IntVal, Label
from ..ebpf.records import key_storage_type
from ..spec import EventSpec
from . import ast as A

MAX_STACK_INDEX_UNROLL = 64


class Loc:
    """Where a value's bytes are: space is kernel | user (address in `base`) | stack | ctx (at
    CTX + off, or through a `ctx` pointer in `base`)."""

    __slots__ = ("space", "base", "off")

    def __init__(self, space: str, base: IntVal | None, off: int) -> None:
        self.space = space
        self.base = base
        self.off = off

    def plus(self, n: int) -> Loc:
        return Loc(self.space, self.base, self.off + n)


class MemGen:
    # provided by ProgGen
    e: Emitter
    types: Any
    info: Any
    var_slots: dict[str, tuple[int, Type]]

    def t(self, e: A.Expr) -> Type:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_int(self, x: A.Expr) -> IntVal:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_mem(self, x: A.Expr, t: Type, off: int | None = None) -> int:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def truncate(self, v: IntVal, t: Type) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    # ------------------------------------------------------------------ classification
    def is_mem_expr(self, x: A.Expr) -> bool:
        """Whether x's value is read from memory through a Loc (fields, [], *)."""
        if isinstance(x, A.Field):
            return id(x) in self.types.members
        if isinstance(x, A.Index):
            return self.t(x.base).kind in (Kind.POINTER, Kind.ARRAY, Kind.STRING)
        if isinstance(x, A.Unop) and x.op == "*":
            return True
        return False

    # ------------------------------------------------------------------ locations
    def loc(self, x: A.Expr) -> Loc:
        e = self.e
        if isinstance(x, A.Field) and id(x) in self.types.members:
            m = self.types.members[id(x)]
            bt = self.t(x.base)
            if bt.kind is Kind.POINTER:
                return Loc(self.types.spaces[id(x)], self.hold(self.gen_int(x.base)), m.offset)
            return self.loc(x.base).plus(m.offset)
        if isinstance(x, A.Unop) and x.op == "*":
            return Loc(self.types.spaces[id(x)], self.hold(self.gen_int(x.operand)), 0)
        if isinstance(x, A.Index):
            bt = self.t(x.base)
            elem = self.t(x)
            esize = _elem_size(bt, elem)
            ci = self.types.const_int(x.index)
            if bt.kind is Kind.POINTER:
                base = self.hold(self.gen_int(x.base))
                if ci is not None:
                    return Loc(self.types.spaces[id(x)], base, ci * esize)
                self.add_scaled(base, x.index, esize)
                return Loc(self.types.spaces[id(x)], base, 0)
            bl = self.loc(x.base)
            if ci is not None:
                return bl.plus(ci * esize)
            if bl.space in ("kernel", "user") and bl.base is not None:
                self.add_scaled(bl.base, x.index, esize)
                return bl
            return self.stack_dynamic_index(x, bl, bt, esize)
        if isinstance(x, A.Var):
            off, _vt = self.var_slots[x.name]
            return Loc("stack", None, off)
        if isinstance(x, A.Field) and isinstance(x.base, A.Builtin) and x.base.name == "args":
            f = self.types.arg_field(x.name, x.span)
            if self.info.ctx == "tracepoint":
                return Loc("ctx", None, f.offset)
        xt = self.t(x)
        off = e.alloc(xt.size)
        self.gen_mem(x, xt, off)
        return Loc("stack", None, off)

    def address_of(self, x: A.Unop) -> IntVal:
        """`&x`: the address of a variable's stack slot, of a map value (0 when the key is
        absent) or of a field/element (base + offset, computed without reading)."""
        e = self.e
        a = x.operand
        if isinstance(a, A.Map):
            spec = self.spec(a.name)  # type: ignore[attr-defined]
            key = self.gen_key(a, spec)  # type: ignore[attr-defined]
            self.map_lookup(self.map_index(a.name), key)  # type: ignore[attr-defined]
            v = e.new_int()
            e.set_from(v, I.R0)
            return v
        loc = Loc("stack", None, self.var_slots[a.name][0]) if isinstance(a, A.Var) else self.loc(a)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R0
        if loc.space == "stack":
            e.emit(I.mov64_reg(r, I.R10))
        elif loc.space == "ctx" and loc.base is None:
            e.emit(I.mov64_reg(r, CTX))
        else:
            assert loc.base is not None
            rb = e.load(loc.base, I.R1)
            e.emit(I.mov64_reg(r, rb))
            if loc.base.reg != v.reg:
                e.release(loc.base)
        if loc.off:
            e.emit(I.alu64_imm(I.ADD, r, loc.off))
        e.set_from(v, r)
        return v

    def hold(self, v: IntVal) -> IntVal:
        """Keep an address where helper calls cannot clobber it (r7-r9 or a stack slot)."""
        return v

    def add_scaled(self, base: IntVal, index: A.Expr, esize: int) -> None:
        e = self.e
        iv = self.gen_int(index)
        ri = e.load(iv, I.R2)
        if ri != I.R2:
            e.emit(I.mov64_reg(I.R2, ri))
        e.release(iv)
        if esize != 1:
            e.emit(I.alu64_imm(I.MUL, I.R2, esize))
        rb = e.load(base, I.R1)
        e.emit(I.alu64_reg(I.ADD, rb, I.R2))
        e.set_from(base, rb)

    def stack_dynamic_index(self, x: A.Index, bl: Loc, bt: Type, esize: int) -> Loc:
        """a[i] on an array held on the BPF stack: select the element with compares (verifier-safe)."""
        e = self.e
        n = bt.count if bt.kind is Kind.ARRAY else bt.size
        if n > MAX_STACK_INDEX_UNROLL:
            raise CompileError(f"indexing an array of {n} elements held in a variable needs a constant index",
                               x.index.span)
        out = e.alloc(esize)
        e.zero(out, esize)
        iv = self.gen_int(x.index)
        done = Label("idx_done")
        for i in range(n):
            nxt = Label()
            r = e.load(iv, I.R1)
            e.jump(I.jmp_imm(I.JNE, r, i), nxt)
            self.read_into(bl.plus(i * esize), esize, out)
            e.ja(done)
            e.place(nxt)
        e.place(done)
        e.release(iv)
        return Loc("stack", None, out)

    # ------------------------------------------------------------------ reads
    def read_helper(self, space: str) -> str:
        return "probe_read_user" if space == "user" else "probe_read_kernel"

    def read_into(self, loc: Loc, size: int, dst: int, span: Any = None) -> None:
        """Copy `size` bytes at loc to r10+dst; `span`: the expression read, where -k reports a
        failed read (bpftrace 0.26 points at it), else the statement."""
        e = self.e
        if size <= 0:
            return
        if loc.space == "stack":
            e.copy(dst, loc.off, size)
            return
        if loc.space == "ctx" and loc.base is not None:
            self.ctx_copy(loc, size, dst)
            return
        e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, dst), I.mov64_imm(I.R2, size))
        if loc.space == "ctx":
            e.emit(I.mov64_reg(I.R3, CTX))
            helper = "probe_read_kernel"
        else:
            assert loc.base is not None
            r = e.load(loc.base, I.R3)
            if r != I.R3:
                e.emit(I.mov64_reg(I.R3, r))
            helper = self.read_helper(loc.space)
        if loc.off:
            e.emit(I.alu64_imm(I.ADD, I.R3, loc.off))
        e.call(helper)
        if loc.space != "ctx":   # -k: a failed read of traced memory is reported at its statement
            where = span if span is not None else e.spans[-1][1] if e.spans else None
            self.helper_check(helper, where)  # type: ignore[attr-defined]

    def ctx_copy(self, loc: Loc, size: int, dst: int) -> None:
        """Copy from the context through a `ctx` pointer with direct loads, the widest each
        offset allows: the verifier rewrites them (struct bpf_perf_event_data is not the
        kernel's layout, so bpf_probe_read_kernel would read other bytes)."""
        e = self.e
        assert loc.base is not None
        rb = e.load(loc.base, I.R1)
        o = 0
        while o < size:
            src = loc.off + o
            n = next(k for k in (8, 4, 2, 1) if k <= size - o and src % k == 0 and (dst + o) % k == 0)
            if self.info.ctx == "perf_event" and n < 8:
                e.emit(I.ldx(8, I.R0, rb, src & ~7))    # the verifier takes only whole u64 loads here
                if src & 7:
                    e.emit(I.alu64_imm(I.RSH, I.R0, 8 * (src & 7)))
            else:
                e.emit(I.ldx(n, I.R0, rb, src))
            e.emit(I.stx(n, I.R10, I.R0, dst + o))
            o += n

    def mem_int(self, x: A.Expr) -> IntVal:
        """An integer-like value (int, enum, bool, pointer, bitfield) read from memory."""
        e = self.e
        t = self.t(x)
        m = self.types.members.get(id(x)) if isinstance(x, A.Field) else None
        loc = self.loc(x)
        bits = m.bits if m is not None else 0
        shift = m.shift if m is not None else 0
        size = (shift + bits + 7) // 8 if bits else (t.size if t.size in (1, 2, 4, 8) else 8)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        if loc.space == "stack" and size in (1, 2, 4, 8):
            e.emit(I.ldx(size, r, I.R10, loc.off))
        elif loc.space == "ctx" and size in (1, 2, 4, 8):
            rb = CTX if loc.base is None else e.load(loc.base, I.R2)
            if self.info.ctx == "perf_event" and size < 8:   # whole u64 loads only: widen and shift
                e.emit(I.ldx(8, r, rb, loc.off & ~7))
                if loc.off & 7:
                    e.emit(I.alu64_imm(I.RSH, r, 8 * (loc.off & 7)))
                if not bits:
                    e.emit(I.alu64_imm(I.LSH, r, 64 - 8 * size), I.alu64_imm(I.RSH, r, 64 - 8 * size))
            else:
                e.emit(I.ldx(size, r, rb, loc.off))
        else:
            slot = e.alloc(8)
            e.emit(I.st_imm(8, I.R10, slot, 0))
            self.read_into(loc, size, slot, x.span)
            e.emit(I.ldx(8, r, I.R10, slot))
        if loc.base is not None and loc.base.reg != v.reg:
            e.release(loc.base)
        if bits:
            if shift:
                e.emit(I.alu64_imm(I.RSH, r, shift))
            if bits < 64:
                e.emit(I.alu64_imm(I.LSH, r, 64 - bits),
                       I.alu64_imm(I.ARSH if t.signed else I.RSH, r, 64 - bits))
            e.set_from(v, r)
            return v
        e.set_from(v, r)
        if t.kind is not Kind.POINTER:
            self.truncate(v, t)
        return v

    def mem_copy(self, x: A.Expr, t: Type, off: int) -> None:
        """A struct/array/string value read from memory into r10+off (t.size bytes, zero padded)."""
        e = self.e
        xt = self.t(x)
        loc = self.loc(x)
        n = min(xt.size, t.size)
        if loc.space != "stack":
            e.zero(off, t.size)
        elif t.size > n:
            e.zero(off + n, t.size - n)
        self.read_into(loc, n, off, x.span)
        if loc.base is not None:
            e.release(loc.base)

    def tuple_elem_mem(self, x: A.Field | A.Index, t: Type, off: int) -> None:
        """A non-integer element of a tuple/record (`$kv.0` of a multi-key map, `$t.e`)."""
        e = self.e
        bt = key_storage_type(self.t(x.base))
        if isinstance(x, A.Field):
            i = int(x.name) if x.name.isdigit() else bt.names.index(x.name)
        else:
            ci = self.types.const_int(x.index)
            assert ci is not None
            i = ci
        tmp = self.gen_mem(x.base, bt)
        et = bt.elems[i]
        n = min(et.size, t.size)
        e.copy(off, tmp + bt.offsets[i], n)
        if t.size > n:
            e.zero(off + n, t.size - n)

    def array_from_int(self, x: A.Cast, t: Type, off: int) -> None:
        """`(uint8[8])12345`: the integer's bytes, little endian, as an array."""
        e = self.e
        v = self.gen_int(x.operand)
        r = e.load(v, I.R1)
        e.zero(off, t.size)
        size = t.size if t.size in (1, 2, 4, 8) else 8
        e.emit(I.stx(size, I.R10, r, off))
        e.release(v)

    def int_from_array(self, x: A.Cast) -> IntVal:
        """`(uint64)$arr`: an array's bytes reinterpreted as an integer."""
        e = self.e
        st = self.t(x.operand)
        tmp = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, tmp, 0))
        src = self.gen_mem(x.operand, st)
        e.copy(tmp, src, min(8, st.size))
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(8, r, I.R10, tmp))
        e.set_from(v, r)
        self.truncate(v, self.t(x))
        return v

    def send_event(self, ev: EventSpec, args: list[A.Expr], arg_types: list[Type]) -> None:  # pragma: no cover
        raise NotImplementedError

    def ptr_arith(self, x: A.Binop) -> IntVal | None:
        """ptr ± int scales by the pointee's size, as in C; ptr - ptr counts elements."""
        lt, rt = self.t(x.left), self.t(x.right)
        lp, rp = lt.kind is Kind.POINTER, rt.kind is Kind.POINTER
        if x.op not in ("+", "-") or not (lp or rp):
            return None
        e = self.e
        if lp and rp:
            a = self.gen_int(x.left)
            b = self.gen_int(x.right)
            ra, rb = e.load(a, I.R1), e.load(b, I.R2)
            e.emit(I.alu64_reg(I.SUB, ra, rb))
            scale = pointee_size(self, lt)
            if scale > 1:
                ins = I.alu64_imm(I.DIV, ra, scale)
                ins.off = 1
                e.emit(ins)
            e.set_from(a, ra)
            e.release(b)
            return a
        ptr_x, int_x, pt = (x.left, x.right, lt) if lp else (x.right, x.left, rt)
        scale = pointee_size(self, pt)
        a = self.gen_int(ptr_x)
        b = self.gen_int(int_x)
        ra, rb = e.load(a, I.R1), e.load(b, I.R2)
        if scale != 1:
            if rb != I.R2:
                e.emit(I.mov64_reg(I.R2, rb))
                rb = I.R2
            e.emit(I.alu64_imm(I.MUL, rb, scale))
        e.emit(I.alu64_reg(I.ADD if x.op == "+" else I.SUB, ra, rb))
        e.set_from(a, ra)
        e.release(b)
        return a


def _elem_size(bt: Type, elem: Type) -> int:
    if bt.kind is Kind.STRING:
        return 1
    if bt.kind is Kind.ARRAY and bt.pointee is not None:
        return bt.pointee.size
    return elem.size if elem.size else 1


def pointee_size(gen: Any, t: Type) -> int:
    pt = gen.types.pointee(t)
    if pt is None or pt.kind is Kind.NONE or pt.size == 0:
        return 1
    return int(pt.size)
