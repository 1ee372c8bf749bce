"""Builtins clang would expand in place: memset() as stores, and the min()/max() ternary whose
arms repeat the compared values (clang computes each once; the verifier needs that)."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from ..ebpf.emitter import IntVal, Label
from . import ast as A
from .lvalues import Gen
from .typenames import arith

# C comparison → (unsigned, signed) jump; the inverse comparison (a branch taken when false)
CMP = {"==": (I.JEQ, I.JEQ), "!=": (I.JNE, I.JNE), "<": (I.JLT, I.JSLT), ">": (I.JGT, I.JSGT),
       "<=": (I.JLE, I.JSLE), ">=": (I.JGE, I.JSGE)}
INVERSE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def min_max(g: Gen, x: A.Ternary) -> tuple[IntVal, Type] | None:
    """`a < b ? a : b` (min()/max() macros): an arm that repeats one side of the compare
    takes the value compared (clang's common subexpression), not a second load. The
    verifier bounds the register the compare saw; a fresh load of a sign-extended or
    converted variable would be unbounded again (`bpf_probe_read(buf, min(n, 64), p)`)."""
    c = x.cond
    if not (isinstance(c, A.Binary) and c.op in CMP and _pure(c.l) and _pure(c.r)
            and any(arm == side for arm in (x.a, x.b) for side in (c.l, c.r))):
        return None
    if any(g.dry(lambda side=side: g.rvalue(side)[1]).kind is Kind.POINTER for side in (c.l, c.r)):
        return None
    e = g.e
    a, at = g.rvalue(c.l)
    b, bt = g.rvalue(c.r)
    common = arith(at, bt)
    for v, vt in ((a, at), (b, bt)):
        r = e.load(v, I.R1)
        g.convert(r, vt, common)
        if v.reg < 0:
            e.set_from(v, r)
    other, done = Label("tern_b"), Label("tern_end")
    jop = CMP[INVERSE[c.op]][1 if common.signed else 0]
    e.jump(I.jmp_reg(jop, e.load(a, I.R1), e.load(b, I.R2)), other)
    out = e.new_int()
    types = []
    for arm, lab in ((x.a, done), (x.b, None)):
        if lab is None:
            e.place(other)
        if arm == c.l or arm == c.r:
            v, vt = (a, common) if arm == c.l else (b, common)
            e.set_from(out, e.load(v, I.R1))
        else:
            v, vt = g.rvalue(arm)
            e.set_from(out, e.load(v, I.R1))
            e.release(v)
        types.append(vt)
        if lab is not None:
            e.ja(lab)
    e.place(done)
    e.release(a)
    e.release(b)
    at, bt = types
    return out, (arith(at, bt) if at.kind is Kind.INT and bt.kind is Kind.INT else at)


def memset(g: Gen, x: A.Call) -> tuple[IntVal, Type]:
    """memset(p, c, n) with constant c and n (clang expands the builtin into stores)."""
    e = g.e
    if len(x.args) != 3:
        raise CompileError(f"{x.func}() takes 3 arguments, {len(x.args)} given", x.span)
    c, n = g.const_value(x.args[1]), g.const_value(x.args[2])
    if c is None or n is None or n < 0:
        raise CompileError(f"{x.func}() needs a constant value and size", x.span)
    p, pt = g.rvalue(x.args[0])
    if pt.kind is not Kind.POINTER or pt.mode == "kernel":
        raise CompileError(f"{x.func}() needs a pointer to the stack or a map value", x.args[0].span)
    rp = e.load(p, I.R1)
    o = 0
    while o < n:
        k = next(m for m in (8, 4, 2, 1) if n - o >= m)
        e.emit(I.ld_imm64(I.R0, int.from_bytes(bytes([c & 0xff]) * k, "little")),
               I.stx(k, rp, I.R0, o))
        o += k
    return p, pt


def _pure(x: Any) -> bool:
    """No side effects anywhere in x (evaluating it once or twice gives the same)."""
    return not any(isinstance(n, (A.Assign, A.Call, A.MethodCall)) or (isinstance(n, A.Unary) and n.op in
                   ("++x", "--x", "x++", "x--")) for n in A.walk(x))
