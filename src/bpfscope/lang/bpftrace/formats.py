"""printf format strings: parse the conversion specifiers and check them at compile time."""

from __future__ import annotations

import re

from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from .ast import Span

SPEC_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?"
                     r"(?P<len>hh|h|ll|l|j|z|t|L)?(?P<conv>rx|rh|r|[diouxXcsSpeEfgGaA%])")
INT_CONVS = set("diouxXcp")


def specifiers(fmt: str) -> list[re.Match[str]]:
    """Conversion specifiers of a format string, `%%` excluded."""
    return [m for m in SPEC_RE.finditer(fmt) if m.group("conv") != "%"]


def bad_specifier(fmt: str) -> str | None:
    """The first '%...' sequence that is not a valid conversion, if any."""
    i = 0
    while True:
        i = fmt.find("%", i)
        if i < 0:
            return None
        m = SPEC_RE.match(fmt, i)
        if not m:
            return fmt[i:i + 2]
        i = m.end()


def check_printf(func: str, fmt: str, arg_types: list[Type], span: Span, fmt_span: Span) -> None:
    bad = bad_specifier(fmt)
    if bad is not None:
        raise CompileError(f"{func}: Unknown format string token: {bad}", fmt_span)
    specs = specifiers(fmt)
    if len(arg_types) < len(specs):
        raise CompileError(f"{func}: Not enough arguments for format string "
                           f"({len(arg_types)} supplied, {len(specs)} expected)", span)
    if len(arg_types) > len(specs):
        raise CompileError(f"{func}: Too many arguments for format string "
                           f"({len(arg_types)} supplied, {len(specs)} expected)", span)
    for m, t in zip(specs, arg_types, strict=True):
        conv = m.group("conv")
        if conv in INT_CONVS and not (t.is_int or t.kind in (Kind.POINTER, Kind.KSYM, Kind.USERNAME)):
            raise CompileError(f"{func}: %{conv} specifier expects a value of type integer "
                               f"({t} supplied)", span)
        if conv.startswith("r") and t.kind not in (Kind.BUFFER, Kind.STRING):
            raise CompileError(f"{func}: %{conv} specifier expects a value of type buffer ({t} supplied)", span)
