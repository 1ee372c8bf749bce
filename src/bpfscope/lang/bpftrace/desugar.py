"""AST rewrites before type checking: bpftrace macros, C `#define`s in code, variable scopes.

- Macros are hygienic: a `$x` parameter binds the caller's variable, an `@m` parameter the
  caller's map, a bare `x` parameter is replaced by the argument expression at each use;
  variables a macro body creates are renamed so they cannot collide with the caller's,
  and a body may touch no other map or outer variable.
- A preamble `#define NAME <expr>` (strings, expressions; integers are already folded by
  the parser) replaces the identifier NAME in probe code.
- Scratch variables are block scoped, as in bpftrace ≥ 0.22: each declaration (`let`, first
  assignment, loop variable) gets a program-unique name, so later stages can treat
  variables as flat per probe; a use outside its block is "Undefined or undeclared".
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from ..diagnostics import CompileError
from . import ast as A

MAX_MACRO_DEPTH = 32
HIDDEN = "\u00a7"   # separates a variable's name from its scope suffix ($x§2)


def display(name: str) -> str:
    """A variable's name as the user wrote it."""
    return name.split(HIDDEN, 1)[0]


def map_children(node: A.Node, fn: Callable[[Any], Any]) -> None:
    for f in dataclasses.fields(node):
        if f.name in ("span", "type"):
            continue
        v = getattr(node, f.name)
        if isinstance(v, A.Node):
            setattr(node, f.name, fn(v))
        elif isinstance(v, list):
            setattr(node, f.name, [fn(x) if isinstance(x, A.Node) else x for x in v])
        elif isinstance(v, tuple) and v and isinstance(v[0], A.Node):
            setattr(node, f.name, tuple(fn(x) for x in v))


def rewrite(roots: Any, replace: Callable[[Any, Callable[[Any], Any]], Any]) -> None:
    """Walk every node under `roots`; where replace(node, visit) returns a node, that node takes
    the old one's place (`visit` lets it rewrite inside what it returns)."""
    def visit(n: Any) -> Any:
        new = replace(n, visit)
        if new is not None:
            return new
        if isinstance(n, A.Node):
            map_children(n, visit)
        return n

    for root in roots:
        visit(root)


# ------------------------------------------------------------------ #define
def substitute_defines(program: A.Program, macros: dict[str, str]) -> None:
    """Identifiers naming an object-like #define are replaced by the define's expression."""
    if not macros:
        return
    parsed: dict[str, A.Expr | None] = {}

    def expr_of(name: str, span: A.Span) -> A.Expr | None:
        if name not in parsed:
            parsed[name] = _parse_define(macros[name])
        e = parsed[name]
        if e is None:
            return None
        out = copy.deepcopy(e)
        _respan(out, span)
        return out

    def define(n: Any, visit: Callable[[Any], Any]) -> Any:
        if isinstance(n, A.Identifier) and n.name in macros:
            e = expr_of(n.name, n.span)
            if e is not None:
                return visit(e) if not _mentions(e, n.name) else e
        return None

    rewrite([*program.probes, *program.macros], define)


def _parse_define(body: str) -> A.Expr | None:
    from .parser import parse

    if not body.strip():
        return None
    try:
        prog = parse("begin { " + body + " }")
    except CompileError:
        return None
    if len(prog.probes) != 1 or len(prog.probes[0].body.stmts) != 1:
        return None
    st = prog.probes[0].body.stmts[0]
    return st.expr if isinstance(st, A.ExprStmt) else None


def _respan(n: Any, span: A.Span) -> None:
    if isinstance(n, A.Node):
        n.span = span
        for f in dataclasses.fields(n):
            if f.name not in ("span", "type"):
                _respan(getattr(n, f.name), span)
    elif isinstance(n, list):
        for x in n:
            _respan(x, span)


def _mentions(n: Any, name: str) -> bool:
    if isinstance(n, A.Identifier):
        return n.name == name
    if isinstance(n, A.Node):
        return any(_mentions(getattr(n, f.name), name) for f in dataclasses.fields(n)
                   if f.name not in ("span", "type"))
    if isinstance(n, list):
        return any(_mentions(x, name) for x in n)
    return False


def _is_stdlib(name: str) -> bool:
    from .parser import BUILTINS
    from .stdlib_types import CALLABLE_BUILTINS, KNOWN_FUNCS, STDLIB_FUNCS

    return name in STDLIB_FUNCS or name in CALLABLE_BUILTINS or name in BUILTINS or name in KNOWN_FUNCS


def _assigns(body: Any, var: str) -> bool:
    """Whether a macro body writes the variable `var` (then its argument must be a variable)."""
    for n in A.walk(body):
        target = n.target if isinstance(n, (A.Assign, A.IncDec)) else (n.var if isinstance(n, A.Let) else None)
        if isinstance(target, A.Var) and target.name == var:
            return True
        if isinstance(n, A.Unop) and n.op == "&" and isinstance(n.operand, A.Var) and n.operand.name == var:
            return True
    return False


# ------------------------------------------------------------------ macros
class MacroExpander:
    def __init__(self, macros: list[A.Macro]) -> None:
        self.macros: dict[str, dict[int, A.Macro]] = {}   # name -> arity -> macro (0.26 overloads)
        for m in macros:
            arities = self.macros.setdefault(m.name, {})
            if len(m.params) in arities:
                raise CompileError(f"Redefinition of macro: {m.name}", m.span)
            arities[len(m.params)] = m
        self.counter = 0
        self.depth = 0

    def run(self, program: A.Program) -> None:
        if not self.macros:
            return
        for p in program.probes:
            if p.predicate is not None:
                p.predicate = self.expr(p.predicate)
            self.block(p.body)

    def block(self, b: A.Block) -> None:
        b.stmts = [self.stmt(s) for s in b.stmts]

    def stmt(self, s: A.Stmt) -> A.Stmt:
        if isinstance(s, A.ExprStmt):
            call = s.expr
            name = call.name if isinstance(call, A.Call) else (
                call.name if isinstance(call, (A.Identifier, A.Builtin)) else None)
            if name is not None and self.applies(call, name):
                body = self.expand(call, name, statement=True)
                if isinstance(body, A.Block):
                    return body
                return A.ExprStmt(body, span=s.span)
        map_children(s, self.any)
        return s

    def any(self, n: Any) -> Any:
        if isinstance(n, A.Block):
            self.block(n)
            return n
        if isinstance(n, A.Stmt):
            return self.stmt(n)
        if isinstance(n, A.Expr):
            return self.expr(n)
        if isinstance(n, A.Node):
            map_children(n, self.any)
        return n

    def applies(self, call: A.Expr, name: str) -> bool:
        """A user macro replaces a call of its name, except a builtin's or stdlib function's
        call whose argument count differs (0.26: a macro overrides the same signature only)."""
        arities = self.macros.get(name)
        if not arities:
            return False
        nargs = len(call.args) if isinstance(call, A.Call) else 0
        return nargs in arities or not _is_stdlib(name)

    def expr(self, e: A.Expr) -> A.Expr:
        if isinstance(e, A.Call) and self.applies(e, e.name):
            r = self.expand(e, e.name, statement=False)
            assert isinstance(r, A.Expr)
            return r
        if isinstance(e, (A.Identifier, A.Builtin)) and 0 in self.macros.get(e.name, {}):
            r = self.expand(e, e.name, statement=False)
            assert isinstance(r, A.Expr)
            return r
        map_children(e, self.any)
        return e

    def expand(self, call: A.Expr, name: str, statement: bool) -> A.Expr | A.Block:
        args = call.args if isinstance(call, A.Call) else []
        arities = self.macros[name]
        m = arities.get(len(args)) or next(iter(arities.values()))
        if len(args) != len(m.params):
            raise CompileError(f"Call to {name}() has the wrong number of arguments: expected "
                               f"{len(m.params)}, got {len(args)}", call.span)
        if self.depth >= MAX_MACRO_DEPTH:
            raise CompileError(f"Macro recursion limit reached while expanding {name}()", call.span)
        var_map: dict[str, str] = {}
        map_map: dict[str, str] = {}
        expr_map: dict[str, A.Expr] = {}
        for p, a in zip(m.params, args, strict=True):
            if p.startswith("$"):
                if isinstance(a, A.Var):
                    var_map[p] = a.name
                elif _assigns(m.body, p):
                    raise CompileError(f"Mismatched arg. {name}() expects a variable for {p}", a.span)
                else:   # 0.26: any expression, substituted (and evaluated) at each use
                    expr_map[p] = a
            elif p.startswith("@"):
                if not isinstance(a, A.Map) or a.keys:
                    raise CompileError(f"Mismatched arg. {name}() expects a map for {p}", a.span)
                map_map[p] = a.name
            else:
                expr_map[p] = a
        self.counter += 1
        suffix = f"{HIDDEN}m{self.counter}"
        body = copy.deepcopy(m.body)
        _mark_expansion(body, call.span)

        def rename(n: Any) -> Any:
            if isinstance(n, A.Var):
                if n.name in expr_map:
                    return copy.deepcopy(expr_map[n.name])
                n.name = var_map.get(n.name, n.name + suffix)
                return n
            if isinstance(n, A.Map):
                if n.name not in map_map:
                    raise CompileError(f"Unhygienic access to map: {n.name}. Maps must be passed into "
                                       f"the macro as arguments", n.span)
                n.name = map_map[n.name]
                map_children(n, rename)
                return n
            if isinstance(n, A.Identifier) and n.name in expr_map:
                return copy.deepcopy(expr_map[n.name])
            if isinstance(n, A.Node):
                map_children(n, rename)
            return n

        rename(body)
        self.depth += 1
        try:
            if isinstance(body, A.BlockExpr):
                body.stmts = [self.stmt(s) for s in body.stmts]
                body.value = self.expr(body.value)
                body.span = call.span
                return body
            self.block(body)
        finally:
            self.depth -= 1
        if not statement:
            raise CompileError(f"Macro {name}() has no value and cannot be used as an expression", call.span)
        body.span = call.span
        return body


def _mark_expansion(n: Any, site: A.Span | None) -> None:
    """Spans of a macro body's copy say which call they were expanded from (diagnostics show
    it); arguments are substituted later and keep their own spans."""
    if site is None:
        return

    def mark(c: Any) -> Any:
        if isinstance(c, A.Node):
            sp = getattr(c, "span", None)
            if sp is not None and sp.expanded is None:
                c.span = A.Span(sp.start, sp.end, site)
            map_children(c, mark)
        return c

    mark(n)


# ------------------------------------------------------------------ scopes
class Scopes:
    """Renames each variable declaration to a unique name; uses resolve lexically."""

    def __init__(self) -> None:
        self.stack: list[dict[str, str]] = []
        self.counts: dict[str, int] = {}
        self.frames: list[int] = [0]          # stack index of the probe / loop-body function scope
        self.closed: list[set[str]] = [set()]  # implicit declarations of blocks already closed
        self.hoist: set[str] = set()
        self.hoisted: list[tuple[str, A.Span | None]] = []

    def run(self, program: A.Program) -> None:
        for p in program.probes:
            self.hoist = set()
            while True:
                try:
                    self._probe(p)
                    break
                except _Hoist as h:
                    # bpftrace 0.17 scoping: a variable first assigned inside an if/else block and
                    # used after it lives in the whole probe (0.17 scripts rely on it)
                    self.hoist.add(h.name)
                    self.hoisted.append((f"{display(h.name)} is used outside the block that first assigns it: "
                                         f"kept probe-wide as bpftrace 0.17 did (0.26 wants `let {display(h.name)};` "
                                         "before the block)", h.span))
                    _unrename(p)

    def _probe(self, p: A.Probe) -> None:
        self.counts = {}
        self.stack = [{}]
        self.frames = [0]
        self.closed = [set()]
        if p.predicate is not None:
            self.expr(p.predicate)
        self.stmts(p.body.stmts)

    def declare(self, var: A.Var, explicit: bool) -> None:
        name = var.name
        if explicit:
            for sc in self.stack:
                if name in sc:
                    raise CompileError(f"Variable {display(name)} was already declared. Variable shadowing "
                                       "is not allowed.", var.span)
        if not explicit and name in self.hoist:
            frame = self.stack[self.frames[-1]]
            if name in frame:
                var.name = frame[name]
                return
        n = self.counts.get(name, 0) + 1
        self.counts[name] = n
        unique = name if n == 1 else f"{name}{HIDDEN}{n}"
        if not explicit and name in self.hoist:
            self.stack[self.frames[-1]][name] = unique
        else:
            self.stack[-1][name] = unique
            if not explicit and len(self.stack) - 1 > self.frames[-1]:
                self.closed[-1].add(name)
        var.name = unique

    def resolve(self, var: A.Var) -> bool:
        for sc in reversed(self.stack):
            if var.name in sc:
                var.name = sc[var.name]
                return True
        return False

    def use(self, var: A.Var) -> None:
        if not self.resolve(var):
            if var.name in self.closed[-1] and var.name not in self.hoist:
                raise _Hoist(var.name, var.span)
            raise CompileError(f"Undefined or undeclared variable: {display(var.name)}", var.span)

    def scoped(self, stmts: list[A.Stmt], before: Callable[[], None] | None = None,
               frame: bool = False) -> None:
        self.stack.append({})
        if frame:   # a loop body is its own function (callback): nothing is hoisted out of it
            self.frames.append(len(self.stack) - 1)
            self.closed.append(set())
        try:
            if before is not None:
                before()
            self.stmts(stmts)
        finally:
            self.stack.pop()
            if frame:
                self.frames.pop()
                self.closed.pop()

    def stmts(self, stmts: list[A.Stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: A.Stmt) -> None:
        if isinstance(s, A.ExprStmt):
            self.expr(s.expr)
        elif isinstance(s, A.Let):
            if s.value is not None:
                self.expr(s.value)
            self.declare(s.var, explicit=True)
        elif isinstance(s, A.Assign):
            self.expr(s.value)
            tgt = s.target
            if isinstance(tgt, A.Var):
                if s.op:
                    self.use(tgt)
                elif not self.resolve(tgt):
                    self.declare(tgt, explicit=False)
            else:
                self.expr(tgt)
        elif isinstance(s, A.Block):
            self.scoped(s.stmts)
        elif isinstance(s, A.If):
            self.expr(s.cond)
            self.scoped(s.then.stmts)
            if s.other is not None:
                self.scoped(s.other.stmts)
        elif isinstance(s, A.While):
            self.expr(s.cond)
            self.scoped(s.body.stmts)
        elif isinstance(s, A.Unroll):
            self.expr(s.count)
            self.scoped(s.body.stmts)
        elif isinstance(s, A.For):
            self.expr(s.iterable)
            self.scoped(s.body.stmts, before=lambda: self.declare(s.var, explicit=False), frame=True)
        elif isinstance(s, A.Jump):
            if s.value is not None:
                self.expr(s.value)

    def expr(self, e: Any) -> None:
        if isinstance(e, A.Var):
            self.use(e)
            return
        if isinstance(e, A.BlockExpr):
            self.stack.append({})
            try:
                self.stmts(e.stmts)
                self.expr(e.value)
            finally:
                self.stack.pop()
            return
        if isinstance(e, A.IncDec) and isinstance(e.target, A.Var):
            self.use(e.target)
            return
        if isinstance(e, A.Node):
            for f in dataclasses.fields(e):
                if f.name not in ("span", "type"):
                    self.expr(getattr(e, f.name))
        elif isinstance(e, list):
            for x in e:
                self.expr(x)


class _Hoist(Exception):
    """Restart a probe's scoping with `name` probe-scoped (0.17 compatibility)."""

    def __init__(self, name: str, span: A.Span | None = None) -> None:
        super().__init__(name)
        self.name = name
        self.span = span


def _unrename(p: A.Probe) -> None:
    """Undo Scopes' renames in one probe, so it can be scoped again."""
    def walk(n: Any) -> None:
        if isinstance(n, A.Var):
            n.name = n.name.split(HIDDEN)[0]
        elif isinstance(n, A.Node):
            for f in dataclasses.fields(n):
                if f.name not in ("span", "type"):
                    walk(getattr(n, f.name))
        elif isinstance(n, list):
            for x in n:
                walk(x)

    walk([p.predicate, p.body])


# ------------------------------------------------------------------ builtin wrappers
BUILTIN_PREFIX = "__builtin_"


def unwrap_builtins(program: A.Program) -> None:
    """0.26's stdlib wraps each builtin in a macro: `comm`, `comm()` and `__builtin_comm` are one
    value. Runs after user macros, which may shadow the wrapper names."""
    from .parser import BUILTINS

    def visit(n: Any) -> Any:
        if isinstance(n, A.Builtin) and n.name.startswith(BUILTIN_PREFIX) and \
                n.name[len(BUILTIN_PREFIX):] in BUILTINS:
            return A.Builtin(n.name[len(BUILTIN_PREFIX):], span=n.span)
        if isinstance(n, A.Call) and not n.args and n.name in BUILTINS:
            return A.Builtin(n.name, span=n.span)
        if isinstance(n, A.Node):
            map_children(n, visit)
        return n

    for p in program.probes:
        p.predicate = visit(p.predicate)
        visit(p.body)
    for f in program.functions:
        visit(f.body)


AGGREGATIONS = ("count", "sum", "min", "max", "avg", "stats", "hist", "lhist", "tseries")


def sink_block_aggregations(program: A.Program) -> None:
    """`@m = { let $a = 100; avg($a) }`: an aggregation is a map's kind of value, so the block's
    statements run and the map takes the aggregation (0.26's "block expression with map
    assignment"), as `{ let $a = 100; @m = avg($a); }`."""
    def visit(n: Any) -> Any:
        if isinstance(n, A.Assign) and not n.op and isinstance(n.target, A.Map) and \
                isinstance(n.value, A.BlockExpr) and isinstance(n.value.value, A.Call) and \
                n.value.value.name in AGGREGATIONS:
            inner = A.Assign(n.target, n.value.value, span=n.span)
            return visit(A.Block([*n.value.stmts, inner], span=n.span))
        if isinstance(n, A.Node):
            map_children(n, visit)
        return n

    for p in program.probes:
        visit(p.body)


def desugar(program: A.Program, defines: dict[str, str]) -> list[tuple[str, A.Span | None]]:
    """All rewrites, in order: #define substitution, macro expansion, builtin wrappers, block
    aggregations, variable scopes."""
    substitute_defines(program, defines)
    MacroExpander(program.macros).run(program)
    unwrap_builtins(program)
    sink_block_aggregations(program)
    scopes = Scopes()
    scopes.run(program)
    return scopes.hoisted
