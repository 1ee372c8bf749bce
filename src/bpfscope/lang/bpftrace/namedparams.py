"""Named program parameters: `getopt("name", default)` against `-- --name=value` on the
command line.

bpftrace 0.26 fixes each parameter's type by its default (no default or a bool default:
bool; a string: string; an integer: integer) and rejects values of the wrong type and
options no `getopt` asks for. Values are known before compilation, so every call is
replaced by a literal of that type here and the rest of the compiler never sees getopt.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..diagnostics import CompileError
from . import ast as A

TRUTHY = ("1", "true", "")
FALSY = ("0", "false")


def _default(c: A.Call) -> A.Expr | None:
    """The call's default value literal (None: a bool option), checked as bpftrace does."""
    if not c.args:
        raise CompileError("getopt() requires at least one argument (0 provided)", c.span)
    if len(c.args) > 3:
        raise CompileError(f"getopt() takes up to 3 arguments ({len(c.args)} provided)", c.span)
    if not isinstance(c.args[0], A.Str):
        raise CompileError("First argument to 'getopt' must be a string literal.", c.args[0].span)
    if len(c.args) == 3 and not isinstance(c.args[2], A.Str):
        raise CompileError("Third argument to 'getopt' (the description) must be a string literal.",
                           c.args[2].span)
    if len(c.args) == 1:
        return None
    d = c.args[1]
    if not isinstance(d, (A.Int, A.Str, A.Bool)):
        raise CompileError("Second argument to 'getopt' must be a string literal, integer literal, or a "
                           "boolean literal.", d.span)
    return d


def _value(c: A.Call, name: str, default: A.Expr | None, given: str) -> A.Expr:
    if default is None or isinstance(default, A.Bool):
        v = given.lower()
        if v in TRUTHY or v in FALSY:
            return A.Bool(v in TRUTHY, span=c.span)
        raise CompileError(f"Command line option '{name}' is expecting a boolean (e.g. 1, 'true'). "
                           f"Got: {given}", c.span)
    if isinstance(default, A.Str):
        return A.Str(given, span=c.span)
    try:
        n = int(given, 0)
    except ValueError:
        raise CompileError(f"Command line option '{name}' is expecting an integer. Got: {given}",
                           c.span) from None
    if not -(1 << 63) <= n < (1 << 64):
        raise CompileError(f"Value for command line option '{name}' is out of range. Got: {given}", c.span)
    return A.Int(n, span=c.span)


def _literal_text(e: A.Expr | None) -> str:
    if e is None or isinstance(e, A.Bool):
        return "true" if isinstance(e, A.Bool) and e.value else "false"
    return str(e.value) if isinstance(e, (A.Int, A.Str)) else ""


class _Rewriter:
    def __init__(self, named: dict[str, str]) -> None:
        self.named = named
        self.defaults: dict[str, A.Expr | None] = {}

    def call(self, c: A.Call) -> A.Expr:
        default = _default(c)
        first = c.args[0]
        assert isinstance(first, A.Str)
        name = first.value
        if name in self.defaults and _literal_text(self.defaults[name]) != _literal_text(default):
            raise CompileError(f"Command line option '{name}' needs to have the same default value in all "
                               f"places it is used. Previous default value: "
                               f"{_literal_text(self.defaults[name])}", c.span)
        self.defaults[name] = default
        if name in self.named:
            return _value(c, name, default, self.named[name])
        if default is None:
            return A.Bool(False, span=c.span)
        return dataclasses.replace(default, span=c.span)

    def visit(self, node: Any) -> Any:
        """Rewrite below `node`; returns the node to put in its place."""
        if isinstance(node, list):
            return [self.visit(x) for x in node]
        if not isinstance(node, A.Node):
            return node
        for f in dataclasses.fields(node):
            if f.name in ("span", "type"):
                continue
            v = getattr(node, f.name)
            if isinstance(v, (A.Node, list)):
                setattr(node, f.name, self.visit(v))
        if isinstance(node, A.Call) and node.name == "getopt":
            return self.call(node)
        return node


def apply_named_params(program: A.Program, named: dict[str, str]) -> None:
    """Replace every getopt() call by its value; error on options nobody asks for."""
    rw = _Rewriter(named)
    program.probes = rw.visit(program.probes)
    program.functions = rw.visit(program.functions)
    unused = [n for n in named if n not in rw.defaults]
    if unused:
        raise CompileError("Unexpected command line options: " + ", ".join(unused))
