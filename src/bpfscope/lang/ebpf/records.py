"""How values are laid out in map keys, map values and ring-buffer event records.

Shared by the type checkers (a map's key/value type is its storage type) and the code that
writes the bytes, so both agree on one layout.
"""

from __future__ import annotations

from ..ctype.types import Kind, Type, tuple_type


def key_storage_type(t: Type) -> Type:
    """How a value is laid out inside a map key/value/event record: ints widened to 8 bytes."""
    if t.kind in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER, Kind.KSYM, Kind.USERNAME,
                  Kind.STRERROR, Kind.KSTACK):
        return Type(t.kind, size=8, signed=t.signed, mode=t.mode, params=t.params, name=t.name,
                    pointee=t.pointee, enum_values=t.enum_values)
    if t.kind in (Kind.TUPLE, Kind.RECORD):
        return tuple_type([key_storage_type(e) for e in t.elems], t.names)
    return t
