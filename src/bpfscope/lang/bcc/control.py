"""Control flow of BCC's C beyond if/else: goto and labels, for/while/do loops with
break/continue, switch, and calls to the program's own functions (inlined at each call).

Loops whose trip count is known at compile time (`for (int i = 1; i < MAXARG; i++)`, the
variable not written in the body) are unrolled, as clang does for BCC's `#pragma unroll`:
each copy sees the variable as a constant, so `argv[i]`-style indexing gets constant
offsets, and the program also loads on kernels older than 5.3 (no bounded-loop support in
the verifier). Other loops are emitted as real loops with a backward jump, which kernels
≥ 5.3 accept when the verifier can see them end (bpfscope needs ≥ 5.8 anyway).

Functions here take the generator (codegen.FuncGen) as `g`, as methods.py does, so this
module and codegen need not import each other both ways."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from ..ebpf.emitter import IntVal, Label
from . import ast as A
from .lvalues import LV
from .typenames import INT, is_scalar

UNROLL_LIMIT = 128        # iterations; longer counted loops stay loops
INLINE_DEPTH = 16


# ---------------------------------------------------------------------- analyses (AST only)
def terminates(s: Any, targets: frozenset[str] | set[str] = frozenset()) -> bool:
    """Control never reaches the end of s. `targets`: label names some goto jumps to (a label
    after a return makes what follows reachable again)."""
    if isinstance(s, (A.Return, A.Goto, A.Break, A.Continue)):
        return True
    if isinstance(s, A.Block):
        return seq_ends_dead(s.stmts, targets)
    if isinstance(s, A.If):
        return s.orelse is not None and terminates(s.then, targets) and terminates(s.orelse, targets)
    if isinstance(s, A.Loop):
        c = s.cond
        if s.post_test and isinstance(c, A.Num) and c.value == 0:     # do { } while (0)
            return terminates(s.body, targets) and not _direct(s.body, (A.Break, A.Continue))
        forever = c is None or (isinstance(c, A.Num) and c.value != 0)
        return forever and not _direct(s.body, (A.Break,))
    if isinstance(s, A.Switch):
        return (any(isinstance(x, A.Case) and x.value is None for x in s.body)
                and seq_ends_dead(s.body, targets, dead=True) and not _direct(s.body, (A.Break,)))
    return False


def seq_ends_dead(stmts: list[Any], targets: frozenset[str] | set[str], dead: bool = False) -> bool:
    for x in stmts:
        if dead and revives(x, targets):
            dead = False
        if not dead and terminates(x, targets):
            dead = True
    return dead


def revives(x: Any, targets: frozenset[str] | set[str]) -> bool:
    """x is a place jumps land on: a goto's label, a case of a switch."""
    return isinstance(x, A.Case) or (isinstance(x, A.LabelStmt) and x.name in targets)


def _direct(body: Any, kinds: tuple[type, ...]) -> bool:
    """A break/continue in body that belongs to the loop/switch around body (not to one inside)."""
    stack = [body]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
            continue
        if isinstance(n, kinds):
            return True
        if isinstance(n, A.Block):
            stack.extend(n.stmts)
        elif isinstance(n, A.If):
            stack.extend([n.then] + ([n.orelse] if n.orelse is not None else []))
        elif isinstance(n, A.Switch) and A.Continue in kinds:
            stack.extend(n.body)     # a continue inside a switch belongs to the loop around it
    return False


def labels_in(body: Any) -> set[str]:
    return {n.name for n in A.walk(body) if isinstance(n, A.LabelStmt)}


def goto_targets(body: Any) -> set[str]:
    return {n.name for n in A.walk(body) if isinstance(n, A.Goto)}


def callees(body: Any) -> set[str]:
    return {n.func for n in A.walk(body) if isinstance(n, A.Call)}


def _writes(body: Any, name: str) -> bool:
    for n in A.walk(body):
        if isinstance(n, A.Assign) and isinstance(n.target, A.Name) and n.target.id == name:
            return True
        if isinstance(n, A.Unary) and n.op in ("&", "++x", "--x", "x++", "x--") \
                and isinstance(n.e, A.Name) and n.e.id == name:
            return True
        if isinstance(n, A.Decl) and n.name == name:
            return True
    return False


def counted(s: A.Loop) -> tuple[str, Any, str, Any, Any] | None:
    """(variable, initial value expr, comparison, bound expr, step expr) of
    `for (i = A; i OP B; i += S)` whose body leaves i alone, else None."""
    if s.post_test or s.cond is None or s.step is None or len(s.init) != 1:
        return None
    init = s.init[0]
    if isinstance(init, A.Decl) and not init.dims and init.init is not None:
        name, start = init.name, init.init
    elif isinstance(init, A.ExprStmt) and isinstance(init.e, A.Assign) and init.e.op == "=" \
            and isinstance(init.e.target, A.Name):
        name, start = init.e.target.id, init.e.value
    else:
        return None
    c = s.cond
    if not isinstance(c, A.Binary) or c.op not in ("<", "<=", ">", ">=", "!="):
        return None
    if isinstance(c.l, A.Name) and c.l.id == name:
        op, bound = c.op, c.r
    elif isinstance(c.r, A.Name) and c.r.id == name:
        op, bound = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!="}[c.op], c.l
    else:
        return None
    st = s.step
    if isinstance(st, A.Unary) and st.op in ("++x", "x++", "--x", "x--") and isinstance(st.e, A.Name) \
            and st.e.id == name:
        step: Any = A.Num(st.span, 1 if "+" in st.op else -1)
    elif isinstance(st, A.Assign) and st.op in ("+=", "-=") and isinstance(st.target, A.Name) \
            and st.target.id == name:
        step = st.value if st.op == "+=" else A.Unary(st.span, "-", st.value)
    else:
        return None
    if _writes(s.body, name) or _writes(bound, name):
        return None
    return name, start, op, bound, step


def trip_values(start: int, op: str, bound: int, step: int, t: Type) -> tuple[list[int], int] | None:
    """The variable's value in each iteration and after the loop, in t's width; None when the
    loop runs more than UNROLL_LIMIT times (or forever)."""
    bits = 8 * t.size

    def wrap(v: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if t.signed and v >> (bits - 1) else v

    ok = {"<": lambda v: v < bound, "<=": lambda v: v <= bound, ">": lambda v: v > bound,
          ">=": lambda v: v >= bound, "!=": lambda v: v != bound}[op]
    v = wrap(start)
    out: list[int] = []
    while ok(v):
        if len(out) == UNROLL_LIMIT:
            return None
        out.append(v)
        v = wrap(v + step)
    return out, v


# ---------------------------------------------------------------------- lowering
def lower_loop(g: Any, s: A.Loop) -> None:
    e = g.e
    g.scopes.append({})
    sp = e.sp
    for x in s.init:
        g.stmt(x)
    brk = Label("break")
    plan = _unroll_plan(g, s)
    if plan is not None:
        name, lv, values, final = plan
        for v in values:
            cont = Label("continue")
            _store_const(g, lv, v)          # the variable stays current for after a break
            g.scopes.append({name: LV("const", v, lv.type)})
            g.jumps.append((brk, cont))
            g.labels.append({n: Label(n) for n in labels_in(s.body)})
            g.stmt(s.body)
            g.labels.pop()
            g.jumps.pop()
            g.scopes.pop()
            e.place(cont)
            if terminates(s.body, g.targets) and not _direct(s.body, (A.Continue,)):
                break                       # later copies would be unreachable
        else:
            _store_const(g, lv, final)
    else:
        top, cont = Label("loop"), Label("continue")
        const = 1 if s.cond is None else g.const_value(s.cond)
        if const == 0 and not s.post_test:
            e.place(brk)
            g.scopes.pop()
            e.sp = sp
            return
        e.place(top)
        if not s.post_test and const is None:
            g.cond_jump(s.cond, brk, False)
        g.jumps.append((brk, cont))
        g.stmt(s.body)
        g.jumps.pop()
        e.place(cont)
        if not terminates(s.body, g.targets) or _direct(s.body, (A.Continue,)):
            if s.step is not None:
                v = g.expr(s.step, want=False)
                if v is not None:
                    e.release(v[0])
            if s.post_test and const is None:
                g.cond_jump(s.cond, top, True)
            elif const or not s.post_test:
                e.ja(top)
    e.place(brk)
    g.scopes.pop()
    e.sp = sp


def _unroll_plan(g: Any, s: A.Loop) -> tuple[str, LV, list[int], int] | None:
    m = counted(s)
    if m is None:
        return None
    name, start, op, bound, step = m
    lv = g.lookup_var(name)
    if lv is None or lv.base != "stack" or lv.type.kind is not Kind.INT:
        return None
    a, b, d = g.const_value(start), g.const_value(bound), g.const_value(step)
    if a is None or b is None or not d:
        return None
    tv = trip_values(a, op, b, d, lv.type)
    return None if tv is None else (name, lv, tv[0], tv[1])


def _store_const(g: Any, lv: LV, v: int) -> None:
    val, _ = g.imm(v, lv.type)
    g.store(lv, val, lv.type)
    g.e.release(val)


def lower_switch(g: Any, s: A.Switch) -> None:
    e = g.e
    v, _t = g.rvalue(s.e)
    r = e.load(v, I.R1)
    brk, default = Label("break"), None
    for c in s.body:
        if not isinstance(c, A.Case):
            continue
        lab = g.case_labels[id(c)] = Label("case")
        if c.value is None:
            default = lab
            continue
        cv = g.const_value(c.value)
        if cv is None:
            raise CompileError("case value must be an integer constant", c.value.span)
        if -(1 << 31) <= cv < (1 << 31):
            e.jump(I.jmp_imm(I.JEQ, r, cv), lab)
        else:
            e.emit(I.ld_imm64(I.R2, cv & ((1 << 64) - 1)))
            e.jump(I.jmp_reg(I.JEQ, r, I.R2), lab)
    e.release(v)
    e.ja(default or brk)
    g.jumps.append((brk, None))
    g.scopes.append({})
    sp = e.sp
    g.seq(s.body, dead=True)
    e.sp = sp
    g.scopes.pop()
    g.jumps.pop()
    e.place(brk)


def jump_target(g: Any, s: Any) -> Label:
    """Where goto/break/continue go."""
    if isinstance(s, A.Goto):
        for m in reversed(g.labels):
            if s.name in m:
                lab: Label = m[s.name]
                g.gotos.append((lab, s))
                return lab
        raise CompileError(f"use of undeclared label '{s.name}'", s.span)
    want = 0 if isinstance(s, A.Break) else 1
    for pair in reversed(g.jumps):
        if pair[want] is not None:
            return pair[want]    # type: ignore[no-any-return]
    raise CompileError(f"'{'break' if want == 0 else 'continue'}' statement not in a loop"
                       + (" or switch" if want == 0 else ""), s.span)


def inline_call(g: Any, f: A.Func, x: A.Call) -> tuple[IntVal, Type]:
    """A call to one of the program's own functions, inlined: arguments evaluated in the
    caller and bound to the parameters (by value, converted to the parameter's type; the
    context pointer passed through), the body lowered with only its own names in scope,
    `return` storing the result and jumping to the end. BCC's clang inlines these too
    (BPF programs of that time could not call functions)."""
    e = g.e
    if any(n == f.name for n, *_ in g.inlining):
        raise CompileError(f"recursive call to '{f.name}' (BPF programs cannot recurse)", x.name_span)
    if len(g.inlining) >= INLINE_DEPTH:
        raise CompileError(f"calls nested deeper than {INLINE_DEPTH} functions", x.name_span)
    params = f.params
    if len(x.args) != len(params):
        raise CompileError(f"{f.name}() takes {len(params)} argument{'s' if len(params) != 1 else ''}, "
                           f"{len(x.args)} given", x.span)
    rt = g.type_of(f.ret)
    out = e.new_int()
    e.set_imm(out, 0)
    sp = e.sp
    bound: dict[str, LV] = {}
    for p, a in zip(params, x.args, strict=True):
        pt = g.type_of(p.type, p.dims)
        if isinstance(a, A.Name) and (lv := g.lookup_var(a.id)) is not None and lv.base == "ctxptr":
            bound[p.name] = lv
            continue
        if is_scalar(pt):
            val, vt = g.rvalue(a)
            off = e.alloc(8)
            r = e.load(val, I.R2)
            g.normalize(r, pt)
            e.emit(I.stx(8, I.R10, r, off))
            e.release(val)
            if pt.kind is Kind.POINTER and vt.kind is Kind.POINTER and vt.mode == "kernel":
                pt = Type(Kind.POINTER, size=8, pointee=pt.pointee, name=pt.name, mode="kernel")
            bound[p.name] = LV("stack", off, pt)
        else:                    # a struct by value: copied
            src = g.lvalue(a)
            off = e.alloc(max(8, pt.size))
            dst = LV("stack", off, pt)
            g.copy(dst, src)
            bound[p.name] = dst
    end = Label("return")
    saved = (g.scopes, g.labels, g.jumps)
    hidden = {k: v for k, v in g.scopes[0].items() if k.startswith("__bpfscope_")}   # compiler-made names
    g.scopes, g.labels, g.jumps = [hidden, bound], [{n: Label(n) for n in labels_in(f.body)}], []
    g.targets = g.targets | goto_targets(f.body)
    g.inlining.append((f.name, end, out, rt))
    depth = len(g.inlining)
    g.kernel_returns.discard(depth)
    try:
        g.stmt(f.body)
    finally:
        g.inlining.pop()
        g.scopes, g.labels, g.jumps = saved
    if depth in g.kernel_returns and rt.kind is Kind.POINTER:   # `return skb->head + off;`
        rt = Type(Kind.POINTER, size=8, pointee=rt.pointee, name=rt.name, mode="kernel")
    g.kernel_returns.discard(depth)
    e.place(end)
    e.sp = sp
    return out, (rt if rt.kind is not Kind.NONE else INT)
