"""Syntax tree of BCC's C subset. Every node has a span into the program text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Span


@dataclass
class TypeName:
    base: str                 # 'u32', 'unsigned long', 'struct key_t', 'void' ('typeof': of)
    ptr: int = 0
    span: Span = field(default_factory=Span)
    of: Any = None            # typeof(expression): the expression


@dataclass
class Node:
    span: Span


@dataclass
class Num(Node):
    value: int
    unsigned: bool = False
    long: bool = False


@dataclass
class Str(Node):
    value: str


@dataclass
class Name(Node):
    id: str


@dataclass
class Unary(Node):
    op: str                   # - ~ ! * & ++x --x x++ x--
    e: Any


@dataclass
class Binary(Node):
    op: str
    l: Any
    r: Any


@dataclass
class Assign(Node):
    op: str                   # = += -= ...
    target: Any
    value: Any


@dataclass
class Ternary(Node):
    cond: Any
    a: Any
    b: Any


@dataclass
class Cast(Node):
    type: TypeName
    e: Any


@dataclass
class CompoundLit(Node):
    """`(T){...}`: an unnamed object of type T, initialized from the list (C99)."""
    type: TypeName
    init: Any


@dataclass
class Sizeof(Node):
    type: TypeName | None
    e: Any = None


@dataclass
class Member(Node):
    e: Any
    name: str
    arrow: bool
    name_span: Span = field(default_factory=Span)


@dataclass
class Index(Node):
    e: Any
    idx: Any


@dataclass
class Call(Node):
    func: str
    args: list[Any]
    name_span: Span = field(default_factory=Span)


@dataclass
class MethodCall(Node):
    obj: str
    method: str
    args: list[Any]
    name_span: Span = field(default_factory=Span)


@dataclass
class InitList(Node):
    items: list[Any]


@dataclass
class Designated(Node):
    """`.field = value` inside an initializer list."""
    name: str
    value: Any


@dataclass
class Comma(Node):
    items: list[Any]


@dataclass
class Block(Node):
    stmts: list[Any]


@dataclass
class StmtExpr(Node):
    """GNU `({ stmts; value; })`: the block's statements, then its last expression's value."""
    body: Block


@dataclass
class Decl(Node):
    type: TypeName
    name: str
    dims: list[int]
    init: Any = None
    bits: int | None = None   # a struct member's bit-field width (`u8 flag:1;`)
    align: Any = None         # __attribute__((aligned(N))): N (an expression)


@dataclass
class ExprStmt(Node):
    e: Any


@dataclass
class If(Node):
    cond: Any
    then: Any
    orelse: Any = None


@dataclass
class Return(Node):
    e: Any = None


@dataclass
class LabelStmt(Node):
    """`name:` — a goto target (the statement after it follows as its own statement)."""
    name: str


@dataclass
class Goto(Node):
    name: str


@dataclass
class Loop(Node):
    """for (init; cond; step) body / while (cond) body / do body while (cond)."""
    init: list[Any]           # declarations or expression statements
    cond: Any                 # None: always true
    step: Any                 # expression or None
    body: Any
    post_test: bool = False   # do ... while


@dataclass
class Break(Node):
    pass


@dataclass
class Continue(Node):
    pass


@dataclass
class Switch(Node):
    e: Any
    body: list[Any]           # statements, with Case markers among them


@dataclass
class Case(Node):
    value: Any                # None: default


@dataclass
class Offsetof(Node):
    type: TypeName
    path: list[str]


@dataclass
class StructDef(Node):
    name: str                 # 'struct key_t'
    fields: list[Decl]
    union: bool = False
    packed: bool = False      # __attribute__((packed)) / __packed
    align: Any = None         # __attribute__((aligned(N))) on the struct: N (an expression)


@dataclass
class EnumDef(Node):
    name: str
    items: list[tuple[str, Any]]    # (name, value expression or None)


@dataclass
class Typedef(Node):
    name: str
    type: TypeName
    dims: list[int] = field(default_factory=list)


@dataclass
class MapDecl(Node):
    macro: str                # BPF_HASH, BPF_ARRAY, ...
    name: str
    args: list[Any]           # TypeName or expression per macro argument after the name


@dataclass
class Func(Node):
    name: str
    ret: TypeName
    params: list[Decl]
    body: Block
    tracepoint: tuple[str, str] | None = None
    static: bool = False      # not externally visible: never a program of its own (BCC)


@dataclass
class Program:
    items: list[Any]


def walk(node: Any) -> Any:
    """Every node under node (itself included), depth first: for the analyses that look at a
    whole body (labels and gotos, who calls whom, which variables a loop writes)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(reversed(n))
            continue
        if not isinstance(n, Node):
            continue
        yield n
        for k in n.__dataclass_fields__:
            v = getattr(n, k)
            if isinstance(v, (Node, list)):
                stack.append(v)
