"""BCC's table methods with BCC's semantics: lookup, update, insert, delete, increment,
lookup_or_try_init (lookup_or_init), perf_submit, ringbuf_output, get_stackid.

BPF_PERF_OUTPUT tables are perf event arrays: perf_submit is bpf_perf_event_output into the
current CPU's buffer (BCC's rewrite); BPF_STACK_TRACE's get_stackid(ctx, flags) is
bpf_get_stackid(ctx, table, flags)."""

from __future__ import annotations

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import Kind, Type, pointer_type
from ..diagnostics import CompileError
from ..ebpf.emitter import IntVal, Label
from . import ast as A
from .lvalues import LV, Gen
from .tables import TableSpec
from .typenames import INT

BPF_ANY, BPF_NOEXIST = 0, 1
_NARGS = {"lookup": (1, 1), "update": (2, 2), "insert": (2, 2), "delete": (1, 1), "increment": (1, 2),
          "atomic_increment": (1, 2), "lookup_or_try_init": (2, 2), "lookup_or_init": (2, 2),
          "perf_submit": (3, 3), "ringbuf_output": (3, 3), "get_stackid": (2, 2), "call": (2, 2),
          "ringbuf_reserve": (1, 1), "ringbuf_submit": (2, 2), "ringbuf_discard": (2, 2),
          "ringbuf_query": (1, 1)}
BPF_F_CURRENT_CPU = 0xFFFFFFFF


def method_call(g: Gen, x: A.MethodCall) -> tuple[IntVal, Type]:
    idx, spec = g.table(x.obj, x.span)
    lo_hi = _NARGS.get(x.method)
    if lo_hi is None:
        raise CompileError(f"unknown table method '{x.method}' (supported: {', '.join(_NARGS)})", x.name_span)
    if not lo_hi[0] <= len(x.args) <= lo_hi[1]:
        raise CompileError(f"{x.obj}.{x.method}() takes {lo_hi[0]}"
                           + (f" or {lo_hi[1]}" if lo_hi[1] != lo_hi[0] else "") + " arguments", x.span)
    e = g.e
    if (spec.map_type == uapi.BPF_MAP_TYPE_PROG_ARRAY) != (x.method == "call"):
        raise CompileError(f"{x.obj}.call() needs a BPF_PROG_ARRAY table" if x.method == "call"
                           else f"{x.obj} is a BPF_PROG_ARRAY table: use {x.obj}.call(ctx, index)", x.name_span)
    if x.method == "call":         # bpf_tail_call(ctx, table, index): returns only when it fails
        ctx, _ = g.rvalue(x.args[0])
        i, _ = g.rvalue(x.args[1])
        g.to_reg(ctx, I.R1)
        g.to_reg(i, I.R3)
        e.release(ctx)
        e.release(i)
        e.emit(I.ld_map_fd(I.R2, idx))
        e.call("tail_call")
        return g.imm(0, INT)          # the helper leaves no result (BCC's call() is void)
    if spec.map_type == uapi.BPF_MAP_TYPE_STACK_TRACE or x.method == "get_stackid":
        return _get_stackid(g, x, idx, spec)
    if x.method in ("ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query"):
        return _ringbuf_op(g, x, idx, spec)
    if spec.output:
        if x.method not in ("perf_submit", "ringbuf_output"):
            raise CompileError(f"{x.obj} is an output table: use {x.obj}.perf_submit()", x.name_span)
        data = x.args[1] if x.method == "perf_submit" else x.args[0]
        size = x.args[2] if x.method == "perf_submit" else x.args[1]
        if isinstance(data, A.Unary) and data.op == "&":
            t = g.dry(lambda: g.lvalue(data.e).type)
            if spec.event is None:
                spec.event = t
        n = g.const_value(size)
        perf = spec.map_type == uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY
        if (n is None and not perf) or (n is not None and n <= 0):
            raise CompileError("the record size must be a positive constant (sizeof(data))", size.span)
        if perf:
            if x.method != "perf_submit":
                raise CompileError(f"{x.obj} is a BPF_PERF_OUTPUT table: use {x.obj}.perf_submit()",
                                   x.name_span)
            ctx, _ = g.rvalue(x.args[0])
            p, _ = g.rvalue(data)
            # a run-time size (BCC allows one; the verifier wants it bounded, as for the helper)
            sz = g.rvalue(size)[0] if n is None else None
            g.to_reg(ctx, I.R1)
            g.to_reg(p, I.R4)
            if sz is not None:
                g.to_reg(sz, I.R5)
                e.release(sz)
            elif n is not None:
                e.emit(I.mov64_imm(I.R5, n))
            e.release(ctx)
            e.release(p)
            e.emit(I.ld_map_fd(I.R2, idx), I.ld_imm64(I.R3, BPF_F_CURRENT_CPU))
            e.call("perf_event_output")
            return _result(g, INT)
        assert n is not None
        p, _ = g.rvalue(data)
        g.to_reg(p, I.R2)
        e.release(p)
        g.e.emit(I.ld_map_fd(I.R1, idx), I.mov64_imm(I.R3, n), I.mov64_imm(I.R4, 0))
        e.call("ringbuf_output")
        return _result(g, INT)
    if x.method in ("perf_submit", "ringbuf_output"):
        raise CompileError(f"{x.method}() needs a BPF_PERF_OUTPUT/BPF_RINGBUF_OUTPUT table", x.name_span)
    if x.method in ("increment", "atomic_increment"):
        key = _key_by_value(g, x.args[0], spec.key)
        inc = x.args[1] if len(x.args) > 1 else A.Num(x.span, 1)
        ptr = _lookup_or_init(g, idx, key, None, spec.leaf)
        done = Label("inc_done")
        r = e.load(ptr, I.R1)
        e.jump(I.jmp_imm(I.JEQ, r, 0), done)
        v, _ = g.rvalue(inc)
        rv = e.load(v, I.R2)
        if spec.leaf.kind is not Kind.INT or spec.leaf.size not in (4, 8):
            raise CompileError("increment() needs an integer leaf of 4 or 8 bytes", x.span)
        r = e.load(ptr, I.R1)
        e.emit(I.atomic_add(spec.leaf.size, r, rv, 0))
        e.release(v)
        e.release(ptr)
        e.place(done)
        return g.imm(0, INT)
    key_v, _ = g.rvalue(x.args[0])
    if x.method == "lookup":
        g.to_reg(key_v, I.R2)
        e.release(key_v)
        e.emit(I.ld_map_fd(I.R1, idx))
        e.call("map_lookup_elem")
        return _result(g, pointer_type(spec.leaf))
    if x.method in ("lookup_or_try_init", "lookup_or_init"):
        init_v, _ = g.rvalue(x.args[1])
        ptr = _lookup_or_init(g, idx, key_v, init_v, spec.leaf)
        e.release(key_v)
        e.release(init_v)
        if x.method == "lookup_or_init":   # BCC's older form returns 0 from the function when both lookups fail
            ok = Label("init_ok")
            e.jump(I.jmp_imm(I.JNE, e.load(ptr, I.R1), 0), ok)
            inl = getattr(g, "inlining", [])     # inside an inlined void function: a bare return
            void = bool(inl) and inl[-1][3].kind is Kind.NONE
            g.stmt(A.Return(x.span, None if void else A.Num(x.span, 0)))
            e.place(ok)
        return ptr, pointer_type(spec.leaf)
    if x.method == "delete":
        g.to_reg(key_v, I.R2)
        e.release(key_v)
        e.emit(I.ld_map_fd(I.R1, idx))
        e.call("map_delete_elem")
        return _result(g, INT)
    val_v, _ = g.rvalue(x.args[1])
    g.to_reg(key_v, I.R2)
    g.to_reg(val_v, I.R3)
    e.release(key_v)
    e.release(val_v)
    e.emit(I.ld_map_fd(I.R1, idx), I.mov64_imm(I.R4, BPF_NOEXIST if x.method == "insert" else BPF_ANY))
    e.call("map_update_elem")
    return _result(g, INT)


def _get_stackid(g: Gen, x: A.MethodCall, idx: int, spec: TableSpec) -> tuple[IntVal, Type]:
    """stack_traces.get_stackid(ctx, flags): the stack's id in the table (>= 0) or -errno."""
    if spec.map_type != uapi.BPF_MAP_TYPE_STACK_TRACE:
        raise CompileError(f"get_stackid() needs a BPF_STACK_TRACE table; '{x.obj}' is a {spec.macro}",
                           x.name_span)
    if x.method != "get_stackid":
        raise CompileError(f"{x.obj} is a BPF_STACK_TRACE table: its method is get_stackid(ctx, flags)",
                           x.name_span)
    from ..ebpf.stacks import get_stackid

    e = g.e
    ctx, _ = g.rvalue(x.args[0])
    flags, _ = g.rvalue(x.args[1])
    g.to_reg(ctx, I.R1)
    g.to_reg(flags, I.R3)
    e.release(ctx)
    e.release(flags)
    get_stackid(e, idx, None, ctx=I.R1)      # the back end's call; ctx and flags already in r1/r3
    return _result(g, INT)


def _ringbuf_op(g: Gen, x: A.MethodCall, idx: int, spec: TableSpec) -> tuple[IntVal, Type]:
    """BPF_RINGBUF_OUTPUT's reserve(size) → a record pointer or NULL (its size a constant, as
    the verifier wants), submit(ptr, flags) / discard(ptr, flags) to hand it over or drop it,
    query(flags) → bpf_ringbuf_query (BPF_RB_RING_SIZE...)."""
    from .tables import U64
    from .typenames import VOID

    if spec.map_type != uapi.BPF_MAP_TYPE_RINGBUF:
        raise CompileError(f"{x.method}() needs a BPF_RINGBUF_OUTPUT table; '{x.obj}' is a {spec.macro}",
                           x.name_span)
    e = g.e
    if x.method == "ringbuf_reserve":
        n = g.const_value(x.args[0])
        if n is None or n <= 0:
            raise CompileError("the record size must be a positive constant (sizeof(struct ...))",
                               x.args[0].span)
        e.emit(I.ld_map_fd(I.R1, idx), I.mov64_imm(I.R2, n), I.mov64_imm(I.R3, 0))
        e.call("ringbuf_reserve")
        return _result(g, pointer_type(VOID))
    if x.method == "ringbuf_query":
        flags, _ = g.rvalue(x.args[0])
        g.to_reg(flags, I.R2)
        e.release(flags)
        e.emit(I.ld_map_fd(I.R1, idx))
        e.call("ringbuf_query")
        return _result(g, U64)
    p, _ = g.rvalue(x.args[0])
    flags, _ = g.rvalue(x.args[1])
    g.to_reg(p, I.R1)
    g.to_reg(flags, I.R2)
    e.release(p)
    e.release(flags)
    e.call(x.method)
    return g.imm(0, INT)


def _result(g: Gen, t: Type) -> tuple[IntVal, Type]:
    out = g.e.new_int()
    if t.kind is Kind.INT:
        g.normalize(I.R0, t)
    g.e.set_from(out, I.R0)
    return out, t


def _key_by_value(g: Gen, k: A.Node, kt: Type) -> IntVal:
    """increment(key): BCC passes the key by value; a pointer to a stack copy goes to the helper."""
    e = g.e
    if kt.kind is Kind.INT:
        v, _ = g.rvalue(k)
        off = e.alloc(8)
        e.emit(I.stx(kt.size, I.R10, e.load(v, I.R1), off))
        e.release(v)
    else:
        src = g.lvalue(k)
        if src.type.size != kt.size:
            raise CompileError(f"key type does not match the table's ({kt.name or kt})", k.span)
        if src.base == "stack":
            off = src.off
        else:
            off = e.alloc(kt.size)
            g.copy(LV("stack", off, kt), src)
    p = e.new_int()
    e.emit(I.mov64_reg(I.R0, I.R10), I.alu64_imm(I.ADD, I.R0, off))
    e.set_from(p, I.R0)
    return p


def _lookup_or_init(g: Gen, idx: int, key: IntVal, init: IntVal | None, leaf: Type) -> IntVal:
    """lookup; when missing: insert `init` (zeroes if None) with BPF_NOEXIST, look up again."""
    e = g.e
    out = e.new_int()
    found = Label("found")
    g.to_reg(key, I.R2)
    e.emit(I.ld_map_fd(I.R1, idx))
    e.call("map_lookup_elem")
    e.jump(I.jmp_imm(I.JNE, I.R0, 0), found)
    if init is None:
        zoff = e.alloc(leaf.size)
        e.zero(zoff, (leaf.size + 7) & ~7)
        e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, zoff))
    else:
        g.to_reg(init, I.R3)
    g.to_reg(key, I.R2)
    e.emit(I.ld_map_fd(I.R1, idx), I.mov64_imm(I.R4, BPF_NOEXIST))
    e.call("map_update_elem")
    g.to_reg(key, I.R2)
    e.emit(I.ld_map_fd(I.R1, idx))
    e.call("map_lookup_elem")
    e.place(found)
    e.set_from(out, I.R0)
    return out
