"""Resolve uprobe targets like bpftrace/bcc: `libc` -> /lib/.../libc.so.6, `bash` -> $PATH.

/etc/ld.so.cache is parsed directly (new format "glibc-ld.so.cache1.1", alone or after the
old "ld.so-1.7.0" table), exactly the data the dynamic loader itself uses.
"""

from __future__ import annotations

import os
import platform
import struct
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "LdCacheEntry",
    "parse_ld_cache",
    "ld_cache_entries",
    "find_library",
    "find_in_path",
    "resolve_target",
]

LD_SO_CACHE = "/etc/ld.so.cache"
_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_MAGIC = b"glibc-ld.so.cache1.1"

FLAG_TYPE_MASK = 0x00FF
FLAG_ELF_LIBC6 = 0x0003
FLAG_REQUIRED_MASK = 0xFF00
FLAG_X8664_LIB64 = 0x0300
FLAG_AARCH64_LIB64 = 0x0A00
FLAG_POWERPC_LIB64 = 0x0500
FLAG_S390_LIB64 = 0x0400
FLAG_RISCV_FLOAT_ABI_DOUBLE = 0x1000

_STD_DIRS = (
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
)


@dataclass(frozen=True, slots=True)
class LdCacheEntry:
    soname: str
    path: str
    flags: int


def _native_required_flag() -> int | None:
    m = platform.machine()
    return {
        "x86_64": FLAG_X8664_LIB64,
        "aarch64": FLAG_AARCH64_LIB64,
        "ppc64le": FLAG_POWERPC_LIB64,
        "ppc64": FLAG_POWERPC_LIB64,
        "s390x": FLAG_S390_LIB64,
    }.get(m)


def _flags_match(flags: int) -> bool:
    """Native 64-bit libc6 entries only (skip i386/x32 libraries sharing the cache)."""
    if flags & FLAG_TYPE_MASK != FLAG_ELF_LIBC6:
        return False
    want = _native_required_flag()
    return want is None or flags & FLAG_REQUIRED_MASK == want


def parse_ld_cache(data: bytes) -> list[LdCacheEntry]:
    """Entries of an ld.so.cache image, in file order (the loader's preference order)."""
    base = 0
    if data.startswith(_OLD_MAGIC):
        # Old table: magic[11] + nlibs u32, then 12-byte entries; the new table follows, aligned.
        (nlibs,) = struct.unpack_from("<I", data, 12)
        idx = data.find(_NEW_MAGIC, 16 + nlibs * 12)
        if idx < 0:
            raise ValueError("ld.so.cache: old format without a new-format table is not supported")
        base = idx
    if data[base : base + len(_NEW_MAGIC)] != _NEW_MAGIC:
        raise ValueError("ld.so.cache: bad magic")
    nlibs, _len_strings = struct.unpack_from("<II", data, base + 20)
    hdr = base + 48  # magic+version 20, nlibs, len_strings, flags+pad 4, ext offset, unused[3]
    # String offsets count from the new-format header (the file start when it stands alone).
    str_base = base

    def cstr(off: int) -> str:
        pos = str_base + off
        end = data.find(b"\0", pos)
        return data[pos:end].decode("utf-8", "replace")

    out: list[LdCacheEntry] = []
    for i in range(nlibs):
        flags, key, value, _osv, _hwcap = struct.unpack_from("<iIIIQ", data, hdr + i * 24)
        out.append(LdCacheEntry(cstr(key), cstr(value), flags))
    return out


@lru_cache(maxsize=4)
def _load_cache(path: str, mtime_ns: int) -> tuple[LdCacheEntry, ...]:
    try:
        with open(path, "rb") as f:
            return tuple(parse_ld_cache(f.read()))
    except (OSError, ValueError, struct.error):
        return ()


def ld_cache_entries(path: str = LD_SO_CACHE) -> tuple[LdCacheEntry, ...]:
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return ()
    return _load_cache(path, mtime)


def _library_in_process(name: str, pid: int) -> str | None:
    """A library already mapped by pid whose file name is lib<name>.* or lib<name>-*."""
    prefixes = (f"/lib{name}.", f"/lib{name}-")
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                base = path[path.rfind("/") :]
                if base.startswith(prefixes) and ".so" in base:
                    return f"/proc/{pid}/root{path}"
    except OSError:
        pass
    return None


def find_library(name: str, pid: int | None = None, cache_path: str = LD_SO_CACHE) -> str | None:
    """Path of a shared library given bcc-style: `c`/`libc` -> libc.so.6 via ld.so.cache.

    Accepts `libc`, `c`, `libc.so.6`. With pid, a library that process has mapped wins.
    Falls back to a scan of the standard library directories.
    """
    if "/" in name:
        return name if os.path.exists(name) else None
    bare = name[3:] if name.startswith("lib") else name
    stem = bare.split(".so", 1)[0]
    if pid is not None:
        hit = _library_in_process(stem, pid)
        if hit is not None:
            return hit
    exact = name if ".so" in name else None
    prefix = f"lib{stem}.so"
    for e in ld_cache_entries(cache_path):
        if not _flags_match(e.flags):
            continue
        if (exact is not None and e.soname == exact) or (exact is None and e.soname.startswith(prefix)):
            return e.path
    multiarch = f"/usr/lib/{platform.machine()}-linux-gnu"
    for d in (multiarch, f"/lib/{platform.machine()}-linux-gnu", *_STD_DIRS):
        if exact is not None:
            cand = os.path.join(d, exact)
            if os.path.isfile(cand):
                return cand
            continue
        try:
            names = sorted(n for n in os.listdir(d) if n.startswith(prefix))
        except OSError:
            continue
        if names:
            return os.path.join(d, names[0])
    return None


def find_in_path(name: str, env_path: str | None = None) -> str | None:
    """First executable `name` in $PATH (like which(1))."""
    paths = (env_path if env_path is not None else os.environ.get("PATH", "")).split(":")
    for d in paths:
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def resolve_target(target: str, pid: int | None = None) -> str | None:
    """uprobe/USDT target -> file path: paths as given (inside pid's root when pid is set),
    bare names through $PATH, then as libraries (`libc`)."""
    if "/" in target:
        if pid is not None:
            cand = f"/proc/{pid}/root{os.path.abspath(target)}"
            if os.path.exists(cand):
                return cand
        return target if os.path.exists(target) else None
    exe = find_in_path(target)
    if exe is not None:
        return exe
    return find_library(target, pid)
