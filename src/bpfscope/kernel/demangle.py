"""C++ name demangling through libstdc++'s `__cxa_demangle`, loaded lazily with ctypes.

bpftrace prints and matches demangled names; writing an Itanium demangler is out of scope,
and libstdc++ is on nearly every system. When it is missing, names are returned unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any

__all__ = ["demangle", "is_mangled", "strip_params", "available"]

_impl: Any = None
_free: Any = None
_loaded = False


def _load() -> None:
    global _impl, _free, _loaded
    _loaded = True
    for name in ("libstdc++.so.6", ctypes.util.find_library("stdc++")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            fn = lib.__cxa_demangle
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free.restype = None
        _impl, _free = fn, libc.free
        return


def available() -> bool:
    """Whether a real demangler could be loaded."""
    if not _loaded:
        _load()
    return _impl is not None


def is_mangled(name: str) -> bool:
    """Itanium-ABI mangled symbol (what g++/clang++ emit on Linux)."""
    return name.startswith("_Z")


@lru_cache(maxsize=65536)
def demangle(name: str) -> str:
    """Demangled form of `name`, or `name` itself if it is not mangled or cannot be demangled."""
    if not name.startswith("_Z"):
        return name
    if not _loaded:
        _load()
    if _impl is None:
        return name
    status = ctypes.c_int(0)
    ptr = _impl(name.encode(), None, None, ctypes.byref(status))
    if not ptr:
        return name
    try:
        if status.value != 0:
            return name
        raw = ctypes.string_at(ptr)
        return raw.decode("utf-8", "replace")
    finally:
        _free(ptr)


def strip_params(demangled: str) -> str:
    """`ns::f(int)` -> `ns::f`: bpftrace matches a spec without '(' against this form."""
    i = demangled.find("(")
    return demangled if i < 0 else demangled[:i]
