"""Bytes from maps and ring-buffer records → Python values, by Type.

Stacks and symbols are resolved here (through a Symbolizer) so the printers only
ever see finished strings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..lang.types import Kind, Type

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
        if k in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER, Kind.USERNAME, Kind.STRERROR):
            size = t.size if t.size in (1, 2, 4, 8) else 8
            v = struct.unpack_from(_INT[(size, t.signed)], data, off)[0]
            if k is Kind.BOOL:
                return bool(v)
            if k is Kind.USERNAME:
                return _username(v)
            return v
        if k is Kind.STRING:
            raw = bytes(data[off:off + t.size])
            n = raw.find(b"\0")
            return (raw if n < 0 else raw[:n]).decode("utf-8", "surrogateescape")
        if k in (Kind.TUPLE, Kind.RECORD):
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
        return bytes(data[off:off + t.size])


def _username(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)
