"""Type operations of the bpftrace checkers: merging the types a map/variable is given, the
type of a map loop's variable. Below typecheck and vartypes so neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import replace

from ..ctype.types import INT64, Kind, Type, tuple_type
from ..diagnostics import CompileError, Span
from ..ebpf.maps import PERCPU_KINDS


def unify(old: Type | None, new: Type, what: str, span: Span) -> Type:
    """Merge two types seen for one map/variable: strings grow, ints widen, kinds must agree."""
    if old is None or old.kind is Kind.NONE:
        return new
    if new.kind is Kind.NONE:
        return old
    if old.kind is Kind.POINTER and new.kind is Kind.POINTER and replace(old, mode="") == replace(new, mode=""):
        return old          # the same pointer seen from a cast and from BTF: only the address space differs
    int_like = {Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER}
    if old.kind in int_like and new.kind in int_like:
        return Type(Kind.INT, size=8, signed=old.signed or new.signed) if old != new else old
    if old.kind != new.kind:
        raise CompileError(f"Type mismatch for {what}: trying to assign value of type '{new}' "
                           f"when map already contains a value of type '{old}'", span)
    if old.kind is Kind.STRING:
        return old if old.size >= new.size else new
    if old.kind is Kind.RECORD and set(old.names) == set(new.names) and old.names != new.names:
        by_name = dict(zip(new.names, new.elems, strict=True))
        new = tuple_type([by_name[n] for n in old.names], old.names)  # records match fields by name
    if old.kind in (Kind.TUPLE, Kind.RECORD):
        if len(old.elems) != len(new.elems) or (old.kind is Kind.RECORD and old.names != new.names):
            raise CompileError(f"Type mismatch for {what}: trying to assign value of type '{new}' "
                               f"when map already contains a value of type '{old}'", span)
        elems = [unify(a, b, what, span) for a, b in zip(old.elems, new.elems, strict=True)]
        return tuple_type(elems, old.names)
    if old.kind in (Kind.HIST, Kind.LHIST) and old.params != new.params:
        raise CompileError(f"Different lhist bounds in a single map unsupported: {what}", span)
    if old.kind is Kind.TSERIES and old.params != new.params:
        raise CompileError(f"Different tseries parameters (interval, intervals, aggregation) in a single map "
                           f"unsupported: {what}", span)
    return old


def kv_type(key: Type | None, value: Type | None) -> Type:
    """The loop variable of `for ($kv : @m)`: (key, value) with the map's storage types."""
    k = key if key is not None else INT64
    v = value if value is not None else INT64
    if v.kind in PERCPU_KINDS:
        v = INT64
    return tuple_type([k, v])
