"""ctypes classes from the compiler's C layouts: what BCC hands to Python for keys, leaves
and perf events (`table.Key`, `table.Leaf`, `table.event(data)`)."""

from __future__ import annotations

import ctypes as ct
from typing import Any

from ..lang.ctype.types import Kind, Type

_INTS = {(1, True): ct.c_byte, (1, False): ct.c_ubyte, (2, True): ct.c_short, (2, False): ct.c_ushort,
         (4, True): ct.c_int, (4, False): ct.c_uint, (8, True): ct.c_longlong, (8, False): ct.c_ulonglong}


def ctype_of(t: Type) -> Any:
    if t.kind in (Kind.INT, Kind.BOOL, Kind.ENUM):
        return _INTS[(t.size, t.signed)]
    if t.kind is Kind.POINTER:
        return ct.c_ulonglong
    if t.kind is Kind.ARRAY and t.pointee is not None:
        el = t.pointee
        if el.kind is Kind.INT and el.size == 1:
            return ct.c_char * t.count      # BCC exposes char arrays as bytes
        return ctype_of(el) * t.count
    if t.kind is Kind.STRUCT:
        return struct_class(t)
    raise TypeError(f"no ctypes layout for {t}")


def struct_class(t: Type) -> Any:
    """A ctypes.Structure laid out like the C struct (checked against the compiler's offsets)."""
    fields: list[tuple[Any, ...]] = [
        (n, ctype_of(e), e.params[1]) if e.kind is Kind.INT and len(e.params) == 2    # a bit-field
        else (n, ctype_of(e)) for n, e in zip(t.names, t.elems, strict=True)]
    name = (t.name or "anon").replace("struct ", "").replace("union ", "")
    base = ct.Union if t.name.startswith("union ") else ct.Structure
    body: dict[str, Any] = {"_fields_": fields}
    anon = [n for n in t.names if n.startswith("__anon_member")]   # C11 anonymous members: ev.retval
    if anon:
        body["_anonymous_"] = anon
    cls = type(name, (base,), body)
    if _matches(cls, t):
        return cls
    if base is ct.Structure and all(len(f) == 2 for f in fields):
        # alignment ctypes cannot express (__int128's 16, aligned(N), packed): explicit padding
        cls = type(name, (base,), {**body, "_pack_": 1, "_fields_": _padded(fields, t)})
        if _matches(cls, t):
            return cls
    for n, off in zip(t.names, t.offsets, strict=True):
        if getattr(cls, n).offset != off:
            raise TypeError(f"ctypes layout of {t.name}.{n} differs from the compiler's")
    raise TypeError(f"ctypes size of {t.name} differs from the compiler's")


def _matches(cls: Any, t: Type) -> bool:
    return ct.sizeof(cls) == t.size and all(getattr(cls, n).offset == off
                                            for n, off in zip(t.names, t.offsets, strict=True))


def _padded(fields: list[tuple[Any, ...]], t: Type) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    at = 0
    for (n, c), off in zip(fields, t.offsets, strict=True):
        if off > at:
            out.append((f"__pad{len(out)}", ct.c_ubyte * (off - at)))
        out.append((n, c))
        at = off + ct.sizeof(c)
    if t.size > at:
        out.append((f"__pad{len(out)}", ct.c_ubyte * (t.size - at)))
    return out
