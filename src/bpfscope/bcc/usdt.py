"""BCC's `USDT` class: the statically defined probes of a binary or of a running process
(`.note.stapsdt`, read by kernel.usdt_notes, the notes bpfscope's bpftrace `usdt:` provider
reads), enable_probe(probe, fn_name), and what BPF(usdt_contexts=[...]) needs: for each
enabled function the argument layouts its locations use (bpf_usdt_readarg reads them) and
the uprobes to open, with the semaphore raised by the kernel (ref_ctr_offset). As in BCC, a
context made for a pid also raises the semaphores of the probes it enables in that process's
memory (scripts such as ustat attach the uprobes themselves, with no ref_ctr_offset), and lowers
them again when the context is dropped or the interpreter exits."""

from __future__ import annotations

import os
import struct
import sys
import weakref
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from .errors import Unsupported


class USDTException(Unsupported):
    """BCC's error for a USDT context that cannot be made or a probe that cannot be enabled
    (scripts catch it by name: ustat skips a process that went away)."""


def _b(x: str | bytes) -> str:
    return x.decode() if isinstance(x, bytes) else x


_CTYPES = {(1, False): "uint8_t", (1, True): "int8_t", (2, False): "uint16_t", (2, True): "int16_t",
           (4, False): "uint32_t", (4, True): "int32_t", (8, False): "uint64_t", (8, True): "int64_t"}


class USDTProbeArgument:
    """One argument at one location, described as tplist -vv prints it."""

    def __init__(self, arg: Any) -> None:
        self.arg = arg
        self.size = arg.size
        self.signed = arg.signed

    def __str__(self) -> str:
        a = self.arg
        sign = "signed" if a.signed else "unsigned"
        spec = a.text.rpartition("@")[2] or a.text      # as the note spells it
        kind = {"const": "constant", "reg": "register"}.get(a.kind, "memory")
        where = f"{kind} {a.value}" if a.kind == "const" else f"{kind} {spec}"
        return f"{a.size} {sign} bytes @ {where}"


class USDTProbeLocation:
    def __init__(self, loc: Any) -> None:
        self.loc = loc
        self.address = loc.pc
        self.bin_path = loc.path.encode()
        self.num_arguments = len(loc.args)

    def get_argument(self, index: int) -> USDTProbeArgument:
        return USDTProbeArgument(self.loc.args[index])

    def __str__(self) -> str:
        return f"{self.loc.path} 0x{self.address:x}"


class USDTProbe:
    """All locations of one provider:name in one object file."""

    def __init__(self, locs: list[Any]) -> None:
        first = locs[0]
        self.locs = locs
        self.provider = first.provider.encode()
        self.name = first.name.encode()
        self.bin_path = first.path.encode()
        self.semaphore = first.semaphore
        self.num_locations = len(locs)
        self.num_arguments = len(first.args)

    def short_name(self) -> str:
        return f"{self.provider.decode()}:{self.name.decode()}"

    def get_location(self, index: int) -> USDTProbeLocation:
        return USDTProbeLocation(self.locs[index])

    def __str__(self) -> str:
        sema = f"0x{self.semaphore:x}" if self.semaphore else "none"
        return f"{self.bin_path.decode()} {self.short_name()} [sema {sema}]"


@dataclass
class Enabled:
    """A function enabled on a probe: one layout per distinct argument spec among its
    locations (the program is compiled once per layout), each with its (path, offset, sem)."""
    fn_name: str
    probe: str
    pid: int
    layouts: list[tuple[list[Any], list[tuple[str, int, int]]]] = field(default_factory=list)


class USDT:
    def __init__(self, pid: int | None = None, path: str | bytes | None = None) -> None:
        self.pid = int(pid) if pid else -1
        self.path = _b(path) if path else ""
        if self.pid <= 0 and not self.path:
            raise USDTException("USDT: either a pid or a binary path must be specified")
        self._enabled: list[tuple[str, str]] = []
        self._raised: list[tuple[int, int]] = []      # (pid, address) of semaphores we raised
        self._locs = self._read_locations()
        weakref.finalize(self, _lower_semaphores, self._raised)

    def _objects(self) -> list[str]:
        from ..kernel.ldcache import resolve_target

        if self.path:
            target = self.path
            if self.pid > 0 and target.startswith("/"):
                inside = f"/proc/{self.pid}/root{target}"    # the path as the process sees it
                if os.path.exists(inside):
                    return [inside]
            found = target if os.path.exists(target) else resolve_target(target)
            if not found:
                raise USDTException(f"USDT: {target}: no such binary or library")
            return [found]
        from ..kernel.procmaps import ProcessMaps

        try:
            snap = ProcessMaps.capture(self.pid)
        except OSError:
            raise USDTException(f"USDT failed to instrument PID {self.pid}: no such process") from None
        return list(snap.paths())

    def _read_locations(self) -> list[Any]:
        from ..kernel import usdt_notes

        out: list[Any] = []
        for p in self._objects():
            try:
                out.extend(usdt_notes.list_usdt(p))
            except (OSError, ValueError):
                if self.path:
                    raise USDTException(f"USDT: {p}: cannot read its USDT notes") from None
        return out

    # ------------------------------------------------------------------ listing
    def enumerate_probes(self) -> list[USDTProbe]:
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for loc in self._locs:
            groups.setdefault((loc.path, loc.provider, loc.name), []).append(loc)
        return [USDTProbe(v) for v in groups.values()]

    def _matching(self, probe: str) -> list[Any]:
        prov, _, name = probe.rpartition(":")
        return [loc for loc in self._locs if loc.name == name and (not prov or loc.provider == prov)]

    def get_probe_arg_ctype(self, probe_name: str | bytes, arg_index: int) -> str:
        locs = self._matching(_b(probe_name))
        if not locs or arg_index >= len(locs[0].args):
            raise USDTException(f"USDT probe {_b(probe_name)} has no argument #{arg_index + 1}")
        a = locs[0].args[arg_index]
        return _CTYPES.get((a.size, a.signed), "uint64_t")

    # ------------------------------------------------------------------ enabling
    def enable_probe(self, probe: str | bytes, fn_name: str | bytes) -> None:
        probe, fn = _b(probe), _b(fn_name)
        if not self._matching(probe):
            where = self.path or f"process {self.pid}"
            raise USDTException(f"Failed to enable USDT probe {probe}: {where} has no such probe "
                                "(tplist-bpfcc -l BINARY lists its probes)")
        if self.pid > 0:
            self._raise_semaphores(self._matching(probe))
        self._enabled.append((probe, fn))

    def _raise_semaphores(self, locs: list[Any]) -> None:
        """Add 1 to each location's semaphore in the process (a u16 in its .probes data)."""
        from ..kernel.procmaps import ProcessMaps

        todo = {(loc.path, loc.semaphore_offset) for loc in locs if loc.semaphore_offset}
        if not todo:
            return
        try:
            snap = ProcessMaps.capture(self.pid)
        except OSError:
            raise USDTException(f"USDT failed to instrument PID {self.pid}: no such process") from None
        for path, off in sorted(todo):
            addr = _runtime_address(snap, path, off)
            if addr is None or not _add_u16(self.pid, addr, 1):
                raise USDTException(f"Failed to enable USDT probe {self._matching_name(locs)}: cannot "
                                    f"raise its semaphore in process {self.pid}")
            self._raised.append((self.pid, addr))

    @staticmethod
    def _matching_name(locs: list[Any]) -> str:
        return f"{locs[0].provider}:{locs[0].name}"

    def enable_probe_or_bail(self, probe: str | bytes, fn_name: str | bytes) -> None:
        try:
            self.enable_probe(probe, fn_name)
        except USDTException as e:
            print(f"Error attaching USDT probes: {e}")
            sys.exit(1)

    def get_text(self) -> str:
        """BCC prepends generated readarg functions; ours are compiled in, so only a note."""
        return "".join(f"/* USDT {p} -> {fn}: arguments read by bpf_usdt_readarg */\n"
                       for p, fn in self._enabled)

    def get_context(self) -> USDT:
        return self

    def enumerate_active_probes(self) -> list[tuple[bytes, bytes, int, int]]:
        return [(loc.path.encode(), fn.encode(), loc.pc, self.pid)
                for p, fn in self._enabled for loc in self._matching(p)]

    def enabled(self, ignore_pid: bool) -> list[Enabled]:
        out = []
        for probe, fn in self._enabled:
            e = Enabled(fn, probe, -1 if ignore_pid else self.pid)
            by_spec: dict[tuple[str, str], int] = {}
            for loc in self._matching(probe):
                if loc.pc_offset is None:
                    raise USDTException(f"USDT probe {probe}: location 0x{loc.pc:x} is outside "
                                        f"{loc.path}'s loadable segments")
                key = (loc.path, loc.arg_string)
                if key not in by_spec:
                    by_spec[key] = len(e.layouts)
                    e.layouts.append((_loc_args(probe, loc), []))
                e.layouts[by_spec[key]][1].append((loc.path, loc.pc_offset, loc.semaphore_offset or 0))
            _declare_sizes(e.layouts)
            out.append(e)
        return out


def _declare_sizes(layouts: list[tuple[list[Any], list[tuple[str, int, int]]]]) -> None:
    """Each argument's readarg size is the largest over the probe's locations (BCC reads every
    location's value into that one type), so one `&var` suits them all."""
    import dataclasses

    n = max((len(args) for args, _ in layouts), default=0)
    for i in range(n):
        size = max(abs(args[i].size) for args, _ in layouts if i < len(args))
        for args, _ in layouts:
            if i < len(args):
                args[i] = dataclasses.replace(args[i], decl_size=size)


def _loc_args(probe: str, loc: Any) -> list[Any]:
    """The note's argument specs in the compiler's terms (the bpftrace provider's conversion)."""
    from ..lang.diagnostics import CompileError
    from ..runtime.probes.usdt import _loc_args as convert

    try:
        return convert(SimpleNamespace(span=None), loc)   # type: ignore[arg-type]
    except CompileError as e:
        raise USDTException(f"USDT probe {probe}: {e.msg if hasattr(e, 'msg') else e}") from None


def _runtime_address(snap: Any, path: str, file_off: int) -> int | None:
    """Where the byte at `file_off` of `path` sits in the process (the mapping holding it)."""
    for e in snap.entries:
        if path in (e.open_path, e.path) and e.offset <= file_off < e.offset + (e.end - e.start):
            return int(e.start + file_off - e.offset)
    return None


def _add_u16(pid: int, addr: int, delta: int) -> bool:
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
    except OSError:
        return False
    try:
        raw = os.pread(fd, 2, addr)
        if len(raw) != 2:
            return False
        (v,) = struct.unpack("=H", raw)
        os.pwrite(fd, struct.pack("=H", max(0, min(0xFFFF, v + delta))), addr)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _lower_semaphores(raised: list[tuple[int, int]]) -> None:
    """Undo _raise_semaphores (the process may be gone: nothing to undo then)."""
    while raised:
        pid, addr = raised.pop()
        _add_u16(pid, addr, -1)


def usdt_probes(contexts: list[Any], ignore_pid: bool) -> list[Enabled]:
    out: list[Enabled] = []
    for c in contexts:
        out.extend(c.enabled(ignore_pid))
    return out
