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
    if not isinstance(c.args[0], A.Str):
        raise CompileError("First argument to 'getopt' must be a string literal.", c.args[0].span)
    if len(c.args) > 3:
        raise CompileError("The 'getopt' function can take a maximum of three arguments and a minimum of one "
                           "argument.", c.span)
    if len(c.args) == 3 and not isinstance(c.args[2], A.Str):
        raise CompileError("Function 'getopt' requires the third parameter to be a string literal.",
                           c.args[2].span)
    if len(c.args) == 1:
        return None
    d = c.args[1]
    if not isinstance(d, (A.Int, A.Str, A.Bool)):
        raise CompileError("Second argument to 'getopt' must be a string literal, integer literal, or a "
                           "boolean literal.", d.span)
    return d


# integer option values take bpftrace's duration suffixes (`--t=1m` is 60e9 ns)
_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
          "d": 86400 * 10**9}


def _parse_int(text: str) -> int:
    """bpftrace's integer option parser; ValueError carries its message."""
    body = text.replace("_", "")
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    digits = len(body) - len(body.lstrip("0123456789")) if not body.lower().startswith("0x") else len(body)
    if body.lower().startswith("0x"):
        try:
            return sign * int(body, 16)
        except ValueError:
            raise ValueError(f"invalid integer: {text}") from None
    if digits == 0:
        raise ValueError(f"invalid integer: {text}")
    n, rest = int(body[:digits]), body[digits:]
    if rest[:1] in ("e", "E") and rest[1:].isdigit() and n <= 9 and int(rest[1:]) <= 16:
        return sign * n * 10 ** int(rest[1:])
    if rest:
        if rest not in _UNITS:
            raise ValueError(f"invalid trailing bytes: {text}")
        n *= _UNITS[rest]
    return sign * n


def _option_error(name: str, given: str, err: str) -> CompileError:
    return CompileError(f"program command line option --{name} {err} (value: {given})")


def _value(c: A.Call, name: str, default: A.Expr | None, given: str | None) -> A.Expr:
    """The literal an option's command-line text stands for; `--name` alone (given None) is `true`."""
    if default is None or isinstance(default, A.Bool):
        if given is None:
            return A.Bool(True, span=c.span)
        v = given.lower()
        if v in TRUTHY or v in FALSY:
            return A.Bool(v in TRUTHY, span=c.span)
        raise _option_error(name, given, "expects a boolean (e.g. 'true')")
    if isinstance(default, A.Str):
        if given is None:
            raise _option_error(name, "true", "expects a string")
        return A.Str(given, span=c.span)
    if given is None:
        raise _option_error(name, "true", "expects an integer")
    try:
        n = _parse_int(given)
    except ValueError as e:
        raise _option_error(name, given, str(e)) from None
    if not -(1 << 63) <= n < (1 << 64):
        raise _option_error(name, given, "value is out of range")
    return A.Int(n, span=c.span)


def _literal_text(e: A.Expr | None) -> str:
    if e is None or isinstance(e, A.Bool):
        return "true" if isinstance(e, A.Bool) and e.value else "false"
    return str(e.value) if isinstance(e, (A.Int, A.Str)) else ""


class _Rewriter:
    def __init__(self, named: dict[str, str | None]) -> None:
        self.named = named
        self.defaults: dict[str, A.Expr | None] = {}
        self.descriptions: dict[str, str] = {}

    def call(self, c: A.Call) -> A.Expr:
        default = _default(c)
        first = c.args[0]
        assert isinstance(first, A.Str)
        name = first.value
        if name in self.defaults and _literal_text(self.defaults[name]) != _literal_text(default):
            raise CompileError(f"Command line option '{name}' needs to have the same default value in all "
                               f"places it is used. Previous default value: "
                               f"{_literal_text(self.defaults[name])}", c.span)
        desc = c.args[2].value if len(c.args) == 3 and isinstance(c.args[2], A.Str) else ""
        if desc and self.descriptions.get(name, desc) != desc:
            raise CompileError(f"Command line option '{name}' must have the same description in all places "
                               "it's used. Hint: You can wrap it in a macro", c.span)
        if desc:
            self.descriptions[name] = desc
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


def unknown_options_error(unexpected: list[str], expected: list[str]) -> CompileError:
    """0.26's report of options no getopt() asks for; `--help` alone only lists the expected ones."""
    err = "unexpected program command line options: "
    has_err = False
    for i, name in enumerate(unexpected):
        if name == "help":
            continue
        has_err = True
        err += f"--{name}" + (", " if i != len(unexpected) - 1 else "")
    hint = ("expected program options: " + ", ".join(f"--{n}" for n in expected)) if expected else \
        "no custom program options defined."
    return CompileError(err if has_err else "", hint=hint)


def apply_named_params(program: A.Program, named: dict[str, str | None]) -> None:
    """Replace every getopt() call by its value; error on options nobody asks for."""
    asked: list[str] = []   # checked first: bad calls are compile errors, options come after
    for c in A.walk([program.probes, program.functions]):
        if isinstance(c, A.Call) and c.name == "getopt":
            _default(c)
            first = c.args[0]
            assert isinstance(first, A.Str)
            if first.value not in asked:
                asked.append(first.value)
    unused = [n for n in named if n not in asked]
    if unused:
        raise unknown_options_error(unused, asked)
    rw = _Rewriter(named)
    program.probes = rw.visit(program.probes)
    program.functions = rw.visit(program.functions)
