"""BCC's text form of keys and leaves (table.key_sprintf/leaf_sprintf, key_scanf/leaf_scanf):
integers in hex (`0x2`), structs as `{ a b }`, arrays as `[ x y ]`, char arrays as quoted
strings — and back."""

from __future__ import annotations

import ctypes as ct
import re
from typing import Any

_TOKEN = re.compile(rb'\s*(?:(\{|\}|\[|\])|"((?:[^"\\]|\\.)*)"|(-?0[xX][0-9a-fA-F]+|-?\d+))')


def _fields(cls: Any) -> list[tuple[str, Any]]:
    """Members in order (padding the layout added left out)."""
    return [(f[0], f[1]) for f in cls._fields_ if not f[0].startswith("__pad")]


def _hex(v: int, size: int) -> bytes:
    return b"0x%x" % (v & ((1 << (8 * size)) - 1))


def _quoted(raw: bytes) -> bytes:
    return b'"' + raw.split(b"\0", 1)[0].replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _one(v: Any, ctype: Any) -> bytes:
    """A member or element read from its owner: ctypes gives ints and bytes for scalars/char arrays."""
    if isinstance(v, int):
        return _hex(v, ct.sizeof(ctype))
    if isinstance(v, bytes):
        return _quoted(v)
    return format_value(v)


def format_value(value: Any) -> bytes:
    """A key or leaf (a ctypes value, or a Python int) → BCC's text."""
    if isinstance(value, int):
        return b"0x%x" % value
    cls = type(value)
    if issubclass(cls, (ct.Structure, ct.Union)):
        return b"{ " + b" ".join(_one(getattr(value, n), t) for n, t in _fields(cls)) + b" }"
    if issubclass(cls, ct.Array):
        if cls._type_ is ct.c_char:
            return _quoted(bytes(value))
        return b"[ " + b" ".join(_one(v, cls._type_) for v in value) + b" ]"
    if hasattr(value, "value"):     # c_int and friends
        return _hex(value.value, ct.sizeof(value))
    raise TypeError(f"cannot format a {cls.__name__} as a table value")


def scanf(cls: Any, text: bytes | str) -> Any:
    """BCC's text → a new `cls` value."""
    data = text.encode() if isinstance(text, str) else text
    toks: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(data.rstrip()):
        m = _TOKEN.match(data, pos)
        if m is None:
            raise ValueError(f"cannot parse {data[pos:pos + 20]!r} as a table value")
        pos = m.end()
        if m.group(1):
            toks.append(("p", m.group(1)))
        elif m.group(2) is not None:
            toks.append(("s", re.sub(rb"\\(.)", rb"\1", m.group(2))))
        else:
            toks.append(("n", m.group(3)))
    obj = cls()
    k = _fill(obj, cls, toks, 0, None)
    if k != len(toks):
        raise ValueError("trailing text after the table value")
    return obj


def _num(tok: tuple[str, bytes]) -> int:
    if tok[0] != "n":
        raise ValueError(f"expected a number, found {tok[1]!r}")
    return int(tok[1], 0)


def _fill(owner: Any, cls: Any, toks: list[tuple[str, bytes]], k: int, setter: Any) -> int:
    """Parse a `cls` value at toks[k] into owner (or through setter); the next token index."""
    if issubclass(cls, (ct.Structure, ct.Union)):
        if toks[k] != ("p", b"{"):
            raise ValueError("expected '{'")
        k += 1
        target = owner if setter is None else getattr(owner, setter)   # a view into owner's bytes
        for name, ftype in _fields(cls):
            k = _fill(target, ftype, toks, k, name)
        if toks[k] != ("p", b"}"):
            raise ValueError("expected '}'")
        return k + 1
    if issubclass(cls, ct.Array) and cls._type_ is ct.c_char:
        if toks[k][0] != "s":
            raise ValueError("expected a quoted string")
        _set(owner, setter, toks[k][1])
        return k + 1
    if issubclass(cls, ct.Array):
        if toks[k] != ("p", b"["):
            raise ValueError("expected '['")
        k += 1
        arr = owner if setter is None else getattr(owner, setter)
        for i in range(cls._length_):
            el = cls._type_
            if issubclass(el, (ct.Structure, ct.Union, ct.Array)):
                k = _fill(arr[i], el, toks, k, None)
            else:
                arr[i] = _wrap(el, _num(toks[k]))
                k += 1
        if toks[k] != ("p", b"]"):
            raise ValueError("expected ']'")
        return k + 1
    _set(owner, setter, _wrap(cls, _num(toks[k])))
    return k + 1


def _wrap(cls: Any, v: int) -> int:
    bits = 8 * ct.sizeof(cls)
    v &= (1 << bits) - 1
    if cls(-1).value < 0 and v >> (bits - 1):
        v -= 1 << bits
    return v


def _set(owner: Any, name: str | None, v: Any) -> None:
    if name is None:
        if hasattr(owner, "value"):
            owner.value = v
            return
        raise ValueError("cannot store a scalar here")
    setattr(owner, name, v)
