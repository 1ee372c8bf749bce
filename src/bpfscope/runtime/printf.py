"""bpftrace's printf(): format-string parsing (compile time) and rendering (run time).

Semantics are C's printf applied to 64-bit values, as bpftrace does: without a
length modifier d/i/u/o/x/X convert through a 32-bit C int (``%d`` of
0x1ffffffff prints -1, ``%x`` of -1 prints ffffffff -- checked against the
installed bpftrace 0.17, and tests/runtime/call "printf_length_modifiers"
expects ``%hhx %hx %x %jx`` of 0x12345678abcdef to give
``ef cdef 78abcdef 12345678abcdef``).  ``l``/``ll``/``j``/``z``/``t`` use 64 bits.
The ``0`` flag pads with zeros (bpftrace PR #4510 restored this for 0.24+).

``%s`` accepts any value and prints its text form (the same text ``print``
uses); ``%r`` prints a buffer with printable ASCII kept and other bytes as
``\\xNN``; ``%rx`` escapes every byte; ``%rh`` prints space-separated hex pairs
(expectations from tests/runtime/call "buf", "buf_no_ascii",
"buf_no_ascii_no_escaping").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bpfscope.lang.ctype.types import Kind, Type

# Conversion-specifier grammar of src/format_string.cpp (FormatSpec::regex),
# with rx/rh tried before r and a ``0`` flag.  ``%%`` is a literal percent.
_SPEC_RE = re.compile(
    r"%%|%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?"
    r"(?P<len>[hlLjzt]*)(?P<conv>rx|rh|r|[diouxXeEfFgGaAcspn])"
)

_INT_CONVS = frozenset("diouxXcp")
_BUF_CONVS = frozenset({"r", "rx", "rh"})
_SUPPORTED = _INT_CONVS | _BUF_CONVS | {"s"}
_INTEGERISH = (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER)


@dataclass(frozen=True)
class FormatSpec:
    """One parsed ``%...`` conversion."""

    flags: str
    width: int | None
    precision: int | None
    length: str
    conv: str

    @property
    def text(self) -> str:
        return self.length + self.conv


def _parse(fmt: str) -> tuple[list[str], list[FormatSpec]]:
    """Split into literal fragments (len(specs)+1 of them) and conversions."""
    frags: list[str] = []
    specs: list[FormatSpec] = []
    cur: list[str] = []
    pos = 0
    for m in _SPEC_RE.finditer(fmt):
        cur.append(fmt[pos:m.start()])
        pos = m.end()
        if m.group(0) == "%%":
            cur.append("%")
            continue
        w, p = m.group("width"), m.group("prec")
        specs.append(FormatSpec(
            flags=m.group("flags") or "",
            width=int(w) if w and w != "*" else None,
            precision=int(p) if p and p != "*" else None,
            length=m.group("len") or "",
            conv=m.group("conv"),
        ))
        frags.append("".join(cur))
        cur = []
    cur.append(fmt[pos:])
    frags.append("".join(cur))
    return frags, specs


# Run-time rendering parses each format once (the event hot path), not once per event.
_parsed = functools.lru_cache(maxsize=512)(_parse)


def printf_specifiers(fmt: str) -> list[str]:
    """Conversion specifiers of *fmt* in order (length modifier included, e.g. "llu").

    Raises ValueError("unsupported format specifier: X") as bpftrace 0.26's
    FormatString::check does for conversions it cannot print (floats, %n).
    """
    out = []
    for s in _parse(fmt)[1]:
        if s.conv not in _SUPPORTED:
            raise ValueError(f"unsupported format specifier: {s.conv}")
        out.append(s.text)
    return out


def check_printf_args(fmt: str, arg_types: list[Type]) -> None:
    """Argument count/type check with bpftrace 0.26's messages (FormatString::check)."""
    specs = _parse(fmt)[1]
    if len(arg_types) < len(specs):
        raise ValueError(f"not enough arguments for format string ({len(arg_types)} supplied, "
                         f"{len(specs)} expected)")
    if len(arg_types) > len(specs):
        raise ValueError(f"too many arguments for format string ({len(arg_types)} supplied, "
                         f"{len(specs)} expected)")
    for s, t in zip(specs, arg_types, strict=True):
        if s.conv not in _SUPPORTED:
            raise ValueError(f"unsupported format specifier: {s.conv}")
        ok = (s.conv == "s" or (s.conv in _INT_CONVS and t.kind in _INTEGERISH)
              or (s.conv in _BUF_CONVS and t.kind is Kind.BUFFER))
        if not ok:
            raise ValueError(f"unsupported format specifier for type '{t}': {s.conv}")


_BITS = {"hh": 8, "h": 16, "": 32, "l": 64, "ll": 64, "j": 64, "z": 64, "t": 64, "L": 64}


def _as_int(v: object) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    raise TypeError(f"invalid integer conversion: {v!r}")


def _wrap(v: int, bits: int, signed: bool) -> int:
    mask = (1 << bits) - 1
    v &= mask
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def _pad(body: str, spec: FormatSpec, sign: str = "", prefix: str = "", numeric: bool = False) -> str:
    width = spec.width or 0
    total = len(sign) + len(prefix) + len(body)
    if total >= width:
        return sign + prefix + body
    fill = width - total
    if "-" in spec.flags:
        return sign + prefix + body + " " * fill
    if numeric and "0" in spec.flags and spec.precision is None:
        return sign + prefix + "0" * fill + body
    return " " * fill + sign + prefix + body


def _fmt_int(v: int, spec: FormatSpec) -> str:
    conv = spec.conv
    bits = _BITS.get(spec.length, 64)
    signed = conv in "di"
    n = _wrap(v, bits, signed)
    sign = ""
    if signed:
        if n < 0:
            sign, n = "-", -n
        elif "+" in spec.flags:
            sign = "+"
        elif " " in spec.flags:
            sign = " "
    base = {"o": "o", "x": "x", "X": "X"}.get(conv, "d")
    body = format(n, base)
    if spec.precision is not None:
        body = "" if (spec.precision == 0 and n == 0) else body.rjust(spec.precision, "0")
    prefix = ""
    if "#" in spec.flags and n != 0:
        prefix = {"x": "0x", "X": "0X"}.get(conv, "")
        if conv == "o" and not body.startswith("0"):
            body = "0" + body
    return _pad(body, spec, sign, prefix, numeric=True)


def _fmt_buffer(data: bytes, conv: str) -> str:
    if conv == "rh":
        return " ".join(f"{b:02x}" for b in data)
    if conv == "rx":
        return "".join(f"\\x{b:02x}" for b in data)
    from bpfscope.runtime.output import hex_format_buffer

    return hex_format_buffer(data)


def format_printf(fmt: str, args: list[tuple[object, Type]]) -> str:
    """Render printf(fmt, args...) as bpftrace prints it; args are (decoded value, Type)."""
    from bpfscope.runtime.output import format_value

    frags, specs = _parsed(fmt)
    out = [frags[0]]
    for i, spec in enumerate(specs):
        if i >= len(args):
            out.append(frags[i + 1])
            continue
        value, t = args[i]
        conv = spec.conv
        if conv in _BUF_CONVS and isinstance(value, (bytes, bytearray)):
            piece = _pad(_fmt_buffer(bytes(value), conv), spec)
        elif conv == "c":
            piece = _pad(chr(_as_int(value) & 0xFF), spec)
        elif conv == "p":
            piece = _pad(hex(_as_int(value) & (2**64 - 1)), spec)
        elif conv in "diouxX" and not isinstance(value, str) and t.kind is not Kind.ENUM:
            piece = _fmt_int(_as_int(value), spec)
        elif conv in "diouxX" and t.kind is Kind.ENUM and isinstance(value, int):
            piece = _fmt_int(value, spec)
        else:
            # %s: the value's text form; %d of an enum given as a name falls here too.
            text = format_value(value, t)
            if spec.precision is not None:
                text = text[: spec.precision]
            piece = _pad(text, spec)
        out.append(piece)
        out.append(frags[i + 1])
    return "".join(out)


def _int_conv(bits: int, signed: bool) -> Callable[[object], int]:
    mask = (1 << bits) - 1
    if signed:
        half = 1 << (bits - 1)
        return lambda v: ((int(v) & mask) ^ half) - half  # type: ignore[call-overload]
    return lambda v: int(v) & mask  # type: ignore[call-overload]


def _str_conv(t: Type) -> Callable[[object], str]:
    from bpfscope.runtime.output import format_value

    size = t.size

    def conv(v: object) -> str:
        s = str(v)
        # an ASCII string shorter than its buffer has no truncation trailer: skip the general path
        return s if len(s) < size and s.isascii() else format_value(s, t)

    return conv


def compile_printf(fmt: str, arg_types: Sequence[Type]) -> Callable[[Sequence[object]], str]:
    """A renderer for one printf() call site, for the event hot path: the format is parsed once
    and, when every conversion is a plain one (``%d %u %x %o %s`` and length modifiers, no
    flags, width or precision) on integers or strings, a line costs one Python %-format.
    Anything else falls back to format_printf; both render identically."""
    frags, specs = _parsed(fmt)
    types = list(arg_types)

    def slow(vals: Sequence[object]) -> str:
        return format_printf(fmt, list(zip(vals, types, strict=True)))

    if len(specs) != len(types):
        return slow
    pieces = [frags[0].replace("%", "%%")]
    convs: list[Callable[[object], object] | None] = []
    for spec, t, frag in zip(specs, types, frags[1:], strict=True):
        if spec.flags or spec.width is not None or spec.precision is not None:
            return slow
        if spec.conv in ("d", "i", "u", "o", "x", "X") and t.kind in (Kind.INT, Kind.BOOL, Kind.POINTER):
            pieces.append("%" + ("d" if spec.conv in "iu" else spec.conv))
            convs.append(_int_conv(_BITS.get(spec.length, 64), spec.conv in "di"))
        elif spec.conv == "s" and t.kind is Kind.STRING:
            pieces.append("%s")
            convs.append(_str_conv(t))
        elif spec.conv == "s" and t.kind is Kind.INT:
            pieces.append("%d")
            convs.append(None)
        else:
            return slow
        pieces.append(frag.replace("%", "%%"))
    template = "".join(pieces)
    if not any(convs):
        return lambda vals: template % tuple(vals)
    fns = [c if c is not None else _identity for c in convs]
    return lambda vals: template % tuple([f(v) for f, v in zip(fns, vals)])  # noqa: B905


def _identity(v: object) -> object:
    return v
