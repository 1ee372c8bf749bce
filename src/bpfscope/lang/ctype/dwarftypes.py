"""DWARF-described C types (a uprobe target's debug info) → our `Type`.

The runtime reads DWARF (kernel/dwarf.py) and hands its type descriptions in; this module
only needs their shape (`DwarfLike`), so `lang/` stays free of file reading. Structs come
out as value-only structs (names/elems/offsets), which is all `->`, `*` and print need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .types import UINT64, Kind, Type, int_type, pointer_type, string_type


class MemberLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> DwarfLike: ...
    @property
    def offset(self) -> int: ...


class DwarfLike(Protocol):
    @property
    def kind(self) -> str: ...        # "int" | "pointer" | "struct" | "union" | "array" | "none"
    @property
    def size(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def signed(self) -> bool: ...
    @property
    def char(self) -> bool: ...
    @property
    def target(self) -> DwarfLike | None: ...
    @property
    def count(self) -> int: ...
    @property
    def members(self) -> Sequence[MemberLike] | None: ...


def dwarf_type(d: DwarfLike) -> Type:
    """Our Type for a DWARF type; floats and other unrepresentable types become uint64."""
    k = d.kind
    if k == "int":
        return int_type(d.size if d.size in (1, 2, 4, 8) else 8, d.signed)
    if k == "pointer":
        return pointer_type(None if d.target is None or d.target.kind == "none" else dwarf_type(d.target))
    if k in ("struct", "union"):
        if d.members is None:
            return Type(Kind.STRUCT, size=d.size, name=d.name)
        ms = [(m.name, dwarf_type(m.type), m.offset) for m in d.members]
        return Type(Kind.STRUCT, size=d.size, name=d.name, names=tuple(n for n, _t, _o in ms),
                    elems=tuple(t for _n, t, _o in ms), offsets=tuple(o for _n, _t, o in ms))
    if k == "array" and d.target is not None:
        if d.target.kind == "int" and d.target.char:
            return string_type(d.count)   # char[N] prints as a string, as bpftrace does
        elem = dwarf_type(d.target)
        return Type(Kind.ARRAY, size=elem.size * d.count, pointee=elem, count=d.count, name=f"{elem}[{d.count}]")
    return UINT64
