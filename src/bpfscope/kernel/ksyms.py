"""Kernel symbols from /proc/kallsyms: loaded once, lazily, and looked up by bisection.

Addresses are kept in an `array('Q')` (built with one bytes.fromhex call) and names stay as
raw kallsyms lines decoded only when a lookup hits, so a ~120k-line kallsyms loads in well
under 100 ms. Data symbols (b/B/d/D/r/R) are skipped for address lookups, as bcc does, so a
text address never resolves to a neighbouring variable; `kaddr` still finds every symbol.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_right

__all__ = ["KernelSymbols", "kernel_symbols", "ksym", "kaddr", "format_addr"]

KALLSYMS = "/proc/kallsyms"
_DATA_TYPES = frozenset(b"bBdDrR")


def format_addr(addr: int) -> str:
    """How bpftrace prints an unresolved address (C++ `void*` streaming): `0x` + lower hex."""
    return "0x0" if addr == 0 else f"{addr:#x}"


class KernelSymbols:
    """Sorted kernel symbol table; thread-safe lazy load."""

    def __init__(self, path: str = KALLSYMS) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = False
        self._addrs: array[int] = array("Q")
        self._lines: list[bytes] = []
        self._types = b""
        self._by_name: dict[str, int] | None = None
        self._preloading = False

    # -- loading ----------------------------------------------------------------------------
    def preload(self) -> None:
        """Start loading in a background thread (kallsyms takes ~0.1 s to read and parse), so
        stacks printed later, e.g. at exit, do not wait for it; lookups block until it is done."""
        if self._loaded or self._preloading:
            return
        self._preloading = True
        threading.Thread(target=self._ensure, name="kallsyms", daemon=True).start()

    def _ensure(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        # Fast path: every line is "<16 hex> <type> <name>[\t[module]]".
        try:
            hexes = b"".join([ln[:16] for ln in lines])
            addrs = array("Q", bytes.fromhex(hexes.decode("ascii")))
            if len(addrs) != len(lines) or any(ln[16:17] != b" " for ln in lines[:64]):
                raise ValueError
            if addrs.itemsize != 8:
                raise ValueError
            import sys

            if sys.byteorder == "little":
                addrs.byteswap()
            types = bytes([ln[17] for ln in lines])
        except (ValueError, IndexError):
            addrs, lines, types = self._slow_parse(lines)
        # kallsyms is sorted on current kernels; sort only when it is not.
        if any(a > b for a, b in zip(addrs, addrs[1:], strict=False)):
            order = sorted(range(len(addrs)), key=addrs.__getitem__)
            addrs = array("Q", [addrs[i] for i in order])
            lines = [lines[i] for i in order]
            types = bytes([types[i] for i in order])
        self._addrs, self._lines, self._types = addrs, lines, types

    @staticmethod
    def _slow_parse(lines: list[bytes]) -> tuple[array[int], list[bytes], bytes]:
        addrs: array[int] = array("Q")
        keep: list[bytes] = []
        types = bytearray()
        for ln in lines:
            parts = ln.split(None, 2)
            if len(parts) < 3 or len(parts[1]) != 1:
                continue
            try:
                addrs.append(int(parts[0], 16))
            except ValueError:
                continue
            types.append(parts[1][0])
            # Normalize to the fixed layout the lazy name decoder expects.
            keep.append(b"%016x %c %s" % (addrs[-1], parts[1][0], parts[2]))
        return addrs, keep, bytes(types)

    @staticmethod
    def _name(line: bytes) -> str:
        rest = line[19:]
        tab = rest.find(b"\t")
        if tab >= 0:
            rest = rest[:tab]
        return rest.decode("utf-8", "replace")

    # -- queries ----------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """False when kallsyms is unreadable or addresses are hidden (kptr_restrict)."""
        self._ensure()
        return bool(self._addrs) and self._addrs[-1] != 0

    def __len__(self) -> int:
        self._ensure()
        return len(self._addrs)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the nearest text symbol at or below `addr`, or None."""
        self._ensure()
        addrs = self._addrs
        i = bisect_right(addrs, addr) - 1
        types = self._types
        while i >= 0 and types[i] in _DATA_TYPES:
            i -= 1
        if i < 0 or addrs[i] == 0:
            return None
        # Among aliases at one address, report the first listed (bcc's choice is unstable).
        start = addrs[i]
        while i > 0 and addrs[i - 1] == start and types[i - 1] not in _DATA_TYPES:
            i -= 1
        return self._name(self._lines[i]), addr - start

    def ksym(self, addr: int, offset: bool = False) -> str:
        """bpftrace's ksym(): bare `name`; kstack frames use offset=True: `name+off`.

        Unknown addresses print as `0x...`.
        """
        hit = self.lookup(addr)
        if hit is None:
            return format_addr(addr)
        name, off = hit
        return f"{name}+{off}" if offset else name

    def kaddr(self, name: str) -> int | None:
        """Address of a kernel symbol by exact name (first match in kallsyms order)."""
        self._ensure()
        if self._by_name is None:
            table: dict[str, int] = {}
            for a, ln in zip(self._addrs, self._lines, strict=True):
                n = self._name(ln)
                if n not in table:
                    table[n] = a
            self._by_name = table
        return self._by_name.get(name)


_default: KernelSymbols | None = None


def kernel_symbols() -> KernelSymbols:
    """Process-wide shared table (kallsyms is read once per process)."""
    global _default
    if _default is None:
        _default = KernelSymbols()
    return _default


def ksym(addr: int, offset: bool = False) -> str:
    return kernel_symbols().ksym(addr, offset)


def kaddr(name: str) -> int | None:
    return kernel_symbols().kaddr(name)
