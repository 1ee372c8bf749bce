"""AST of the bpftrace language.

Every node carries a `Span` (byte offsets into the source) so that any later
stage — semantic analysis, code generation, even a verifier rejection — can
point at the exact text with bpftrace's `file:line:col-col` and `~~~`.
Semantic analysis fills `Expr.type` in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import field
from typing import Any

from ..ctype.types import Type
from ..diagnostics import Span
from ..records import record

NOSPAN = Span()


@record(eq=False)
class Node:
    span: Span = field(default=NOSPAN, kw_only=True)


# ---------------------------------------------------------------- expressions
@record(eq=False)
class Expr(Node):
    type: Type | None = field(default=None, kw_only=True, repr=False)


@record(eq=False)
class Int(Expr):
    value: int
    # explicit suffix or duration unit is folded into value by the parser


@record(eq=False)
class Str(Expr):
    value: str


@record(eq=False)
class Bool(Expr):
    value: bool


@record(eq=False)
class Builtin(Expr):
    """comm, pid, tid, nsecs, args, retval, arg0, kstack, curtask, probe, ..."""
    name: str


@record(eq=False)
class Var(Expr):
    """$name (scratch variable)."""
    name: str


@record(eq=False)
class Positional(Expr):
    """$1, $2, ... (index >= 1); $# is PositionalCount."""
    index: int


@record(eq=False)
class PositionalCount(Expr):
    pass


@record(eq=False)
class Map(Expr):
    """@name or @name[k1, k2]; keys is empty for a scalar map. `@` alone has name '@'."""
    name: str
    keys: list[Expr] = field(default_factory=list)


@record(eq=False)
class Call(Expr):
    name: str
    args: list[Expr] = field(default_factory=list)


@record(eq=False)
class Binop(Expr):
    op: str  # + - * / % & | ^ << >> == != < <= > >= && ||
    left: Expr
    right: Expr


@record(eq=False)
class Unop(Expr):
    op: str  # ! ~ - * (deref) & (address-of)
    operand: Expr


@record(eq=False)
class IncDec(Expr):
    op: str  # "++" or "--"
    prefix: bool
    target: Expr  # Var or Map


@record(eq=False)
class Ternary(Expr):
    cond: Expr
    then: Expr
    other: Expr


@record(eq=False)
class Field(Expr):
    """expr.name, expr->name; also tuple .0 (name is the digits)."""
    base: Expr
    name: str
    arrow: bool = False


@record(eq=False)
class Index(Expr):
    """expr[index] on arrays, pointers and tuples."""
    base: Expr
    index: Expr


@record(eq=False)
class TypeName(Node):
    """A C-ish type spelling: 'struct task_struct', 'uint32', 'int8[4]', with pointer depth."""
    name: str
    pointer: int = 0
    array: int | None = None
    of: Expr | None = None    # typeof(expr): the expression whose type this is (not evaluated)


@record(eq=False)
class Cast(Expr):
    to: TypeName
    operand: Expr


@record(eq=False)
class Tuple(Expr):
    elems: list[Expr]


@record(eq=False)
class Record(Expr):
    names: list[str]
    elems: list[Expr]


@record(eq=False)
class Sizeof(Expr):
    target: TypeName | Expr


@record(eq=False)
class Offsetof(Expr):
    target: TypeName | Expr
    fields: list[str]


@record(eq=False)
class BlockExpr(Expr):
    """{ stmt; stmt; expr } used as an expression."""
    stmts: list[Stmt]
    value: Expr


@record(eq=False)
class Range(Expr):
    """a..b in `for ($i : a..b)`."""
    low: Expr
    high: Expr


@record(eq=False)
class Identifier(Expr):
    """A bare identifier that is not a builtin: enum constants, macro names, map-decl kinds."""
    name: str


# ---------------------------------------------------------------- statements
@record(eq=False)
class Stmt(Node):
    pass


@record(eq=False)
class ExprStmt(Stmt):
    expr: Expr


@record(eq=False)
class Assign(Stmt):
    """target = value; target op= value (op is '' for plain assignment)."""
    target: Expr  # Var, Map, or Field of Var/Map for records
    value: Expr
    op: str = ""


@record(eq=False)
class Let(Stmt):
    """let $x [: type] [= value];"""
    var: Var
    decl_type: TypeName | None = None
    value: Expr | None = None


@record(eq=False)
class Block(Stmt):
    stmts: list[Stmt] = field(default_factory=list)


@record(eq=False)
class If(Stmt):
    cond: Expr
    then: Block
    other: Block | None = None  # `else if` is an If inside a Block


@record(eq=False)
class Unroll(Stmt):
    count: Expr
    body: Block


@record(eq=False)
class While(Stmt):
    cond: Expr
    body: Block


@record(eq=False)
class For(Stmt):
    """for ($kv : @map) {...} or for ($i : a..b) {...}"""
    var: Var
    iterable: Expr  # Map (without keys) or Range
    body: Block


@record(eq=False)
class Jump(Stmt):
    kind: str  # "break" | "continue" | "return"
    value: Expr | None = None


# ---------------------------------------------------------------- top level
@record(eq=False)
class AttachPoint(Node):
    """One attach point as written, e.g. 'tracepoint:syscalls:sys_enter_openat'.

    `provider` is the canonical long name (tracepoint, kprobe, uprobe, begin, ...);
    `parts` are the remaining ':'-separated fields, with paths and C++ names kept whole.
    """
    raw: str
    provider: str
    parts: list[str] = field(default_factory=list)


@record(eq=False)
class Probe(Node):
    attach_points: list[AttachPoint]
    predicate: Expr | None
    body: Block


@record(eq=False)
class MapDecl(Node):
    """let @name = hash(N) | lruhash(N) | percpuhash(N) | percpulruhash(N); (top level)"""
    name: str
    kind: str
    max_entries: int


@record(eq=False)
class Macro(Node):
    name: str
    params: list[str]  # '$x' or '@x' or bare identifiers
    body: BlockExpr | Block


@record(eq=False)
class Function(Node):
    """fn name($a: type, ...): type { ... }"""
    name: str
    params: list[tuple[str, TypeName]]
    ret: TypeName | None
    body: Block


@record(eq=False)
class Program(Node):
    probes: list[Probe] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_spans: dict[str, Span] = field(default_factory=dict)
    map_decls: list[MapDecl] = field(default_factory=list)
    macros: list[Macro] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    c_definitions: str = ""  # preprocessor lines and struct/union/enum/typedef text, raw
    c_spans: list[Span] = field(default_factory=list)  # where each joined chunk sits in the source


def walk(node: Any) -> Iterator[Node]:
    """Every AST node below (and including) `node`, depth first."""
    if isinstance(node, Node):
        yield node
        for f in dataclasses.fields(node):
            if f.name in ("span", "type"):
                continue
            yield from walk(getattr(node, f.name))
    elif isinstance(node, list):
        for x in node:
            yield from walk(x)
