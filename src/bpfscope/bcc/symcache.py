"""BCC's `SymbolCache(pid)`: resolve(addr, demangle) → (symbol, offset, module) and
resolve_name(module, name) → the symbol's address in that process, on bpfscope's symbol
tables (separate debug files found by build-id or .gnu_debuglink, as BCC finds them)."""

from __future__ import annotations

import os


def _b(x: str | bytes) -> str:
    return x.decode() if isinstance(x, bytes) else x


class SymbolCache:
    """Symbols of one process (pid < 0: the kernel's)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def resolve(self, addr: int, demangle: bool) -> tuple[bytes | None, int, bytes | None]:
        """(symbol, offset in it, module) as bytes; (None, offset in module, module) when only the
        module is known, (None, addr, None) when not even that. demangle=False gives the name
        as the symbol table spells it (a C++ name mangled)."""
        from .bpf import _resolve

        name, off, module = _resolve(addr, self.pid)
        if not module:
            return None, addr, None
        if name is None:
            return None, self._module_offset(addr), module.encode()
        if not demangle and self.pid >= 0:
            name = _mangled(module, name, self.pid)
        return name.encode("utf-8", "surrogateescape"), off, module.encode()

    def _module_offset(self, addr: int) -> int:
        from ..kernel.procmaps import ProcessMaps

        try:
            e = ProcessMaps.capture(self.pid).find(addr)
        except OSError:
            return addr
        return e.file_offset(addr) if e is not None else addr

    def resolve_name(self, module: str | bytes, name: str | bytes) -> int:
        """The run-time address of `name` (mangled or demangled) in `module` (a path or a
        library name such as b"c") in this process; -1 when there is no such symbol. Without a
        process (pid < 0) the link-time address."""
        from ..kernel import elf
        from .bpf import _user_path

        path = _user_path(_b(module), self.pid)
        if not path or not os.path.exists(path):
            return -1
        hit = elf.resolve_symbol(path, _b(name))
        if hit is None:
            return -1
        if self.pid < 0:
            return hit[0]
        off = elf.vaddr_to_file_offset(path, hit[0])
        if off is None:
            return -1
        from ..kernel.procmaps import ProcessMaps
        from .usdt import _runtime_address

        try:
            snap = ProcessMaps.capture(self.pid)
        except OSError:
            return -1
        addr = _runtime_address(snap, os.path.realpath(path), off)
        if addr is None:
            addr = _runtime_address(snap, path, off)
        return -1 if addr is None else addr


def _mangled(module: str, name: str, pid: int) -> str:
    """The symbol-table spelling of a demangled name (the first symbol that demangles to it)."""
    from ..kernel import elf
    from ..kernel.demangle import demangle

    path = module if os.path.exists(module) else f"/proc/{pid}/root{module}"
    try:
        syms = elf.symbols(path)
    except Exception:
        return name
    for s in syms:
        if s.name == name:
            return name
    for s in syms:
        if s.name.startswith("_Z") and demangle(s.name) == name:
            return s.name
    return name
