"""Bytes from maps and ring-buffer records → Python values, by Type.

Stacks and symbols are resolved here (through a Symbolizer) so the printers only
ever see finished strings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from ..lang.ctype.types import Kind, Type

_INT = {(1, False): "<B", (1, True): "<b", (2, False): "<H", (2, True): "<h", (4, False): "<I",
        (4, True): "<i", (8, False): "<Q", (8, True): "<q"}


class Decoder:
    """Decodes values; `stack(kind, id, pid, mode, limit)` and `sym(kind, addr, pid)` resolve stacks."""

    def __init__(self, stack: Callable[[Kind, int, int, Type], list[str]] | None = None,
                 sym: Callable[[Kind, int, int], str] | None = None) -> None:
        self.stack = stack
        self.sym = sym

    def decode(self, data: bytes | memoryview, off: int, t: Type) -> Any:
        k = t.kind
        if len(t.params) == 2 and k in (Kind.INT, Kind.ENUM, Kind.BOOL):  # a struct bitfield
            shift, bits = t.params
            word = int.from_bytes(bytes(data[off:off + (shift + bits + 7) // 8]), "little")
            v = (word >> shift) & ((1 << bits) - 1)
            if t.signed and v >> (bits - 1):
                v -= 1 << bits
            return bool(v) if k is Kind.BOOL else v
        if k in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER, Kind.USERNAME, Kind.STRERROR):
            size = t.size if t.size in (1, 2, 4, 8) else 8
            v = struct.unpack_from(_INT[(size, t.signed)], data, off)[0]
            if k is Kind.BOOL:
                return bool(v)
            if k is Kind.USERNAME:
                return _username(v)
            if k is Kind.STRERROR:  # strerror / signal_name / syscall_name
                from .stdlib_values import named_int

                return named_int(t, v)
            return v
        if k is Kind.STRING:
            raw = bytes(data[off:off + t.size])
            n = raw.find(b"\0")
            return (raw if n < 0 else raw[:n]).decode("utf-8", "surrogateescape")
        if k in (Kind.TUPLE, Kind.RECORD, Kind.STRUCT):
            return tuple(self.decode(data, off + o, e) for e, o in zip(t.elems, t.offsets, strict=True))
        if k is Kind.KSTACK:
            sid = struct.unpack_from("<q", data, off)[0]
            return self.stack(k, sid, 0, t) if self.stack else []
        if k is Kind.USTACK:
            sid, pid = struct.unpack_from("<qQ", data, off)
            return self.stack(k, sid, pid, t) if self.stack else []
        if k is Kind.KSYM:
            addr = struct.unpack_from("<Q", data, off)[0]
            return self.sym(k, addr, 0) if self.sym else hex(addr)
        if k is Kind.USYM:
            addr, pid = struct.unpack_from("<QQ", data, off)
            return self.sym(k, addr, pid) if self.sym else hex(addr)
        if k is Kind.ARRAY and t.pointee is not None:
            es = t.pointee.size
            return tuple(self.decode(data, off + i * es, t.pointee) for i in range(t.count))
        if k in _STDLIB_KINDS:
            from .stdlib_values import decode as stdlib_decode

            return stdlib_decode(data, off, t)
        return bytes(data[off:off + t.size])


_STDLIB_KINDS = (Kind.BUFFER, Kind.INET, Kind.MAC, Kind.TIMESTAMP, Kind.CGROUP_PATH)


_PLAIN_INTS = (Kind.INT, Kind.ENUM, Kind.POINTER, Kind.BOOL)


def record_unpacker(elems: Sequence[Type], offsets: Sequence[int]) -> Callable[[bytes], tuple[Any, ...]] | None:
    """One struct.Struct for a record whose fields are all plain integers or strings: gives the
    values Decoder.decode would, field by field, in a single unpack_from (the per-event hot path
    of printf). None when some field needs the general decoder (stacks, symbols, tuples...)."""
    fmt = ["<"]
    pos = 0
    strs: list[int] = []
    bools: list[int] = []
    for i, (t, off) in enumerate(zip(elems, offsets, strict=True)):
        if off < pos:
            return None
        if off > pos:
            fmt.append(f"{off - pos}x")
        if t.kind in _PLAIN_INTS and t.size in (1, 2, 4, 8):
            fmt.append(_INT[(t.size, t.signed)][1])
            if t.kind is Kind.BOOL:
                bools.append(i)
        elif t.kind is Kind.STRING and t.size > 0:
            fmt.append(f"{t.size}s")
            strs.append(i)
        else:
            return None
        pos = off + t.size
    unpack = struct.Struct("".join(fmt)).unpack_from
    if not strs and not bools:
        return unpack

    def run(data: bytes) -> tuple[Any, ...]:
        vals = list(unpack(data))
        for i in strs:
            vals[i] = vals[i].partition(b"\0")[0].decode("utf-8", "surrogateescape")
        for i in bools:
            vals[i] = bool(vals[i])
        return tuple(vals)

    return run


def _username(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)
