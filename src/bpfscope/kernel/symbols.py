"""Address -> symbol for kernel and user stacks, with the formats bpftrace prints.

Frame strings (bpftrace 0.26, bcc/blazesym back ends):
  kstack frame   `func+off`            ksym()   `func`        unknown  `0x...`
  ustack frame   `func+off`            usym()   `func`        unknown  `0x...`
  perf mode user `func+off (/path)`    unknown `0x... ([unknown])`; kernel frames unchanged.
`format_stack` adds the per-mode line layout (`\\t<hex addr> <frame>` for perf, bare hex for
raw). C++ names are printed demangled, as bpftrace does by default.

Per-binary symbol tables live in an LRU keyed by path+device+inode+mtime, so thousands of
frames across many pids that share libc cost one table load.
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .elf import ElfError, open_elf
from .ksyms import KernelSymbols, format_addr, kernel_symbols
from .procmaps import MapEntry, ProcessMaps

__all__ = [
    "SymbolTable",
    "SymbolCache",
    "PerfMap",
    "UserSymbol",
    "Symbolizer",
    "StackMode",
    "format_stack",
    "usym",
]

StackMode = Literal["bpftrace", "perf", "raw"]

# st_type values worth symbolizing: NOTYPE, OBJECT, FUNC, GNU_IFUNC (not SECTION/FILE/TLS).
_USEFUL_TYPES = frozenset((0, 1, 2, 10))


def _priority(info: int) -> int:
    """Tie-break for aliases at one address: global functions first, then weak, then local."""
    t, b = info & 0xF, info >> 4
    func = t in (2, 10)
    return (0 if b == 1 else 1 if b == 2 else 2) + (0 if func else 3)


# _priority by st_info byte, -1 for types not worth symbolizing
_PRIO = tuple(_priority(i) if (i & 0xF) in _USEFUL_TYPES else -1 for i in range(256))


class SymbolTable:
    """Sorted symbols of one ELF object (plus its separate debug file if it is stripped)."""

    __slots__ = ("path", "starts", "ends", "_names", "_loads", "_decoded", "_offs", "_tabs")

    def __init__(
        self,
        path: str,
        rows: list[tuple[int, int, bytes]],
        loads: list[tuple[int, int, int]],
    ) -> None:
        self.path = path
        rows.sort(key=lambda r: r[0])  # stable: callers' alias preference order survives
        self.starts = array("Q", [r[0] for r in rows])
        self.ends = array("Q", [r[0] + r[1] for r in rows])
        self._names = [r[2] for r in rows]
        self._loads = loads  # (file offset, vaddr, filesz) of PT_LOAD segments
        self._decoded: dict[int, str] = {}
        self._offs: list[int] = []         # load(): names stay in the string tables until looked up
        self._tabs: list[bytes] = []

    @classmethod
    def load(cls, path: str) -> SymbolTable:
        """Read symbols of `path`; raises ElfError if it is not a readable ELF file."""
        ef = open_elf(path)
        # (start, size) -> (alias priority, name offset, string table): first best alias wins
        keyed: dict[tuple[int, int], tuple[int, int, bytes]] = {}
        prio = _PRIO

        def add(cols: Iterable[tuple[list[int], list[int], list[int], bytes]]) -> None:
            get = keyed.get
            for words, values, sizes, strtab in cols:
                for w, value, size in zip(words, values, sizes, strict=True):
                    # defined (shndx != 0), named, sized, at an address, of a useful type
                    if not size or not value or not w >> 48 or not w & 0xFFFFFFFF:
                        continue
                    pr = prio[(w >> 32) & 0xFF]
                    if pr < 0:
                        continue
                    key = (value, size)
                    old = get(key)
                    if old is None or pr < old[0]:
                        keyed[key] = (pr, w & 0xFFFFFFFF, strtab)

        add(ef.symbol_columns())
        if not ef.has_symtab:
            from .elf import find_debug_file

            dbg = find_debug_file(path)
            if dbg is not None:
                try:
                    add(open_elf(dbg).symbol_columns())
                except ElfError:
                    pass
        # Order ties (same start) by priority so the preferred alias is found first.
        tabs = list({id(tab): tab for _p, _o, tab in keyed.values()}.values())
        tab_no = {id(tab): i for i, tab in enumerate(tabs)}
        # name reference: string table offset << 3 | table number (a file and its debug file
        # have at most two symbol tables each)
        ordered = sorted([(v, p, s, off << 3 | tab_no[id(tab)]) for (v, s), (p, off, tab) in keyed.items()])
        loads = [(s.offset, s.vaddr, s.filesz) for s in ef.segments if s.type == 1]
        table = cls(path, [], loads)
        table.starts = array("Q", [r[0] for r in ordered])
        table.ends = array("Q", [r[0] + r[2] for r in ordered])
        table._offs = [r[3] for r in ordered]
        table._tabs = tabs
        return table

    def __len__(self) -> int:
        return len(self.starts)

    def offset_to_vaddr(self, offset: int) -> int | None:
        for off, vaddr, filesz in self._loads:
            if off <= offset < off + filesz:
                return offset - off + vaddr
        return None

    def name_at(self, i: int) -> str:
        name = self._decoded.get(i)
        if name is None:
            from .demangle import demangle

            if self._offs:
                ref = self._offs[i]
                tab, off = self._tabs[ref & 7], ref >> 3
                raw = tab[off:tab.find(b"\0", off)]
            else:
                raw = self._names[i]
            name = demangle(raw.decode("utf-8", "replace"))
            self._decoded[i] = name
        return name

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """(demangled name, offset) of the symbol whose [start, start+size) holds `vaddr`.

        Walks back over nested symbols like bcc, stopping once no earlier symbol can reach.
        """
        starts, ends = self.starts, self.ends
        i = bisect_right(starts, vaddr) - 1
        if i < 0:
            return None
        limit = starts[i]
        while i >= 0 and vaddr >= starts[i]:
            if vaddr < ends[i]:
                s = starts[i]
                while i > 0 and starts[i - 1] == s and ends[i - 1] > vaddr:
                    i -= 1
                return self.name_at(i), vaddr - s
            if limit > ends[i]:
                break
            i -= 1
        return None


class SymbolCache:
    """LRU of SymbolTables keyed by file identity (path, dev, inode, mtime)."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._tables: OrderedDict[tuple[str, int, int, int], SymbolTable | None] = OrderedDict()

    def get(self, path: str) -> SymbolTable | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_dev, st.st_ino, st.st_mtime_ns)
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        try:
            table: SymbolTable | None = SymbolTable.load(path)
        except (ElfError, OSError, ValueError):
            table = None
        self._tables[key] = table
        if len(self._tables) > self.size:
            self._tables.popitem(last=False)
        return table


class PerfMap:
    """Symbols of a JIT's /tmp/perf-PID.map ("START SIZE name" per line, hex)."""

    def __init__(self, path: str) -> None:
        self.path = path
        rows: list[tuple[int, int, str]] = []
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(" ", 2)
                    if len(parts) < 3:
                        continue
                    try:
                        rows.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
                    except ValueError:
                        continue
        except OSError:
            pass
        rows.sort(key=lambda r: r[0])
        self.starts = [r[0] for r in rows]
        self.rows = rows

    def lookup(self, addr: int) -> tuple[str, int] | None:
        # Entries may overlap (code re-JITted); check a few candidates below `addr`.
        i = bisect_right(self.starts, addr) - 1
        for j in range(i, max(i - 16, -1), -1):
            start, size, name = self.rows[j]
            if addr < start + size:
                return name, addr - start
        return None


@dataclass(frozen=True, slots=True)
class UserSymbol:
    name: str
    offset: int
    module: str


def _frame(name: str, off: int, module: str, offset: bool, perf: bool) -> str:
    s = f"{name}+{off}" if offset else name
    return f"{s} ({module})" if perf else s


def _unknown(addr: int, perf: bool) -> str:
    return format_addr(addr) + (" ([unknown])" if perf else "")


class Symbolizer:
    """Kernel + per-pid user symbolization with snapshot-based process maps.

    Call `capture(pid)` when a pid is first seen (e.g. on its first event) so its addresses
    can still be symbolized after it exits; `ustack`/`usym` capture on demand otherwise.
    """

    RECAPTURE_INTERVAL = 0.5  # seconds between re-reads of a live process's maps on a miss
    MAX_PIDS = 1024           # process snapshots kept; the oldest go first (long runs, process churn)

    def __init__(self, kernel: KernelSymbols | None = None, cache_size: int = 128,
                 background: bool = False) -> None:
        self.kernel = kernel if kernel is not None else kernel_symbols()
        self.cache = SymbolCache(cache_size)
        self._maps: OrderedDict[int, ProcessMaps] = OrderedDict()
        self._captured_at: OrderedDict[int, float] = OrderedDict()
        self._entry_tables: dict[tuple[str, str, int], SymbolTable | None] = {}
        self._perf_maps: dict[str, tuple[tuple[int, int], PerfMap]] = {}
        self._no_perf_map: dict[str, float] = {}
        self._no_perf_map_limit = 1024
        # background=True: each captured pid's binaries get their symbol tables loaded by a
        # worker thread while tracing goes on, so a print at exit finds them ready
        self.background = background
        self._lock = threading.Lock()          # table loads (worker and caller)
        self._pending: deque[str] = deque()
        self._queued: set[str] = set()         # paths ever queued (each is prewarmed once)
        self._worker_on = False

    # -- kernel ------------------------------------------------------------------------------
    def ksym(self, addr: int) -> str:
        """bpftrace ksym(): bare function name, or 0x... if unknown."""
        return self.kernel.ksym(addr, offset=False)

    def kstack(self, addrs: list[int], perf: bool = False) -> list[str]:
        """One `func+off` string per frame (perf mode adds nothing for kernel frames)."""
        k = self.kernel.ksym
        return [k(a, True) for a in addrs]

    # -- process maps --------------------------------------------------------------------------
    def capture(self, pid: int, prewarm: bool = False) -> ProcessMaps | None:
        """Snapshot pid's maps once (kept after exit). prewarm loads its binaries' symbols now,
        which matters for processes in another mount namespace (their files vanish with them)."""
        snap = self._maps.get(pid)
        if snap is None:
            snap = self._capture(pid)
            if snap is not None and prewarm:
                for e in snap.entries:
                    if e.executable and e.open_path:
                        self._table_for(e)
            elif snap is not None and self.background:
                self._prewarm_async(snap)
        return snap

    def _prewarm_async(self, snap: ProcessMaps) -> None:
        with self._lock:
            for e in snap.entries:
                if e.executable and e.open_path and e.open_path not in self._queued:
                    self._queued.add(e.open_path)
                    self._pending.append(e.open_path)
            if not self._pending or self._worker_on:
                return
            self._worker_on = True
        threading.Thread(target=self._prewarm_worker, name="symbols", daemon=True).start()

    def _prewarm_worker(self) -> None:
        # into the LRU cache only (bounded); a frame that needs the table pins it from there
        while True:
            with self._lock:
                if not self._pending:
                    self._worker_on = False
                    return
                path = self._pending.popleft()
                self.cache.get(path)

    def stop_prewarm(self) -> None:
        """Drop queued background loads (from now on only what is printed gets loaded)."""
        with self._lock:
            self._pending.clear()

    def _capture(self, pid: int) -> ProcessMaps | None:
        # every attempt is timed, failed ones too: a gone pid is not re-read for each of its frames
        self._captured_at[pid] = time.monotonic()
        self._captured_at.move_to_end(pid)
        try:
            snap = ProcessMaps.capture(pid)
        except OSError:
            return None
        if not snap.entries:
            return None   # a zombie's maps are empty: keep looking elsewhere (runtime's recorded maps)
        self._keep(snap)
        return snap

    def _keep(self, snap: ProcessMaps) -> None:
        """Store a snapshot, dropping the oldest beyond MAX_PIDS (and their capture times)."""
        self._maps[snap.pid] = snap
        self._maps.move_to_end(snap.pid)
        while len(self._maps) > self.MAX_PIDS:
            self._maps.popitem(last=False)
        while len(self._captured_at) > 2 * self.MAX_PIDS:
            self._captured_at.popitem(last=False)

    def _recently_captured(self, pid: int) -> bool:
        at = self._captured_at.get(pid)
        return at is not None and time.monotonic() - at <= self.RECAPTURE_INTERVAL

    def set_maps(self, snap: ProcessMaps) -> None:
        """Install an externally captured snapshot (e.g. captured by the runtime at exec)."""
        self._captured_at[snap.pid] = time.monotonic()
        self._keep(snap)

    def maps(self, pid: int) -> ProcessMaps | None:
        return self._maps.get(pid)

    def forget(self, pid: int) -> None:
        """Drop what is kept about `pid` (its snapshot, capture time, JIT symbol map): the
        caller knows no stack of it is left to symbolize. Symbol tables of its files stay
        (shared with other processes, bounded by the LRU)."""
        snap = self._maps.pop(pid, None)
        self._captured_at.pop(pid, None)
        for path in {f"/tmp/perf-{pid}.map", snap.perf_map if snap is not None else None}:
            if path:
                self._no_perf_map.pop(path, None)
                self._perf_maps.pop(path, None)

    def pids(self) -> list[int]:
        """Pids with a kept snapshot, oldest first."""
        return list(self._maps)

    def _entry(self, pid: int, addr: int) -> tuple[ProcessMaps | None, MapEntry | None]:
        snap = self._maps.get(pid)
        if snap is None:
            snap = None if self._recently_captured(pid) else self._capture(pid)
            if snap is None:
                return None, None
        e = snap.find(addr)
        if e is None and not self._recently_captured(pid):
            # New mappings since the snapshot (dlopen, JIT): re-read if the process still lives.
            fresh = self._capture(pid)
            if fresh is not None:
                snap = fresh
                e = snap.find(addr)
        return snap, e

    def _table_for(self, e: MapEntry) -> SymbolTable | None:
        key = (e.open_path, e.dev, e.inode)
        if key in self._entry_tables:
            return self._entry_tables[key]
        with self._lock:   # one load per file, whether the worker or the caller gets there first
            if key not in self._entry_tables:
                self._entry_tables[key] = self.cache.get(e.open_path)
            return self._entry_tables[key]

    def _perf_map(self, pid: int, snap: ProcessMaps | None) -> PerfMap | None:
        path = (snap.perf_map if snap is not None else None) or f"/tmp/perf-{pid}.map"
        now = time.monotonic()
        missing_at = self._no_perf_map.get(path)
        if missing_at is not None and now - missing_at <= self.RECAPTURE_INTERVAL:
            return None   # not stat()ed again for every unknown frame of this pid
        try:
            st = os.stat(path)
        except OSError:
            if len(self._no_perf_map) >= self._no_perf_map_limit:   # stale entries decide nothing
                self._no_perf_map = {k: t for k, t in self._no_perf_map.items()
                                     if now - t <= self.RECAPTURE_INTERVAL}
                self._no_perf_map_limit = max(1024, 2 * len(self._no_perf_map))
            self._no_perf_map[path] = now
            return None
        ident = (st.st_mtime_ns, st.st_size)
        cached = self._perf_maps.get(path)
        if cached is not None and cached[0] == ident:
            return cached[1]
        pm = PerfMap(path)
        self._perf_maps[path] = (ident, pm)
        return pm

    # -- user ---------------------------------------------------------------------------------
    def resolve_user(self, pid: int, addr: int) -> UserSymbol | None:
        """Structured lookup: (name, offset, module path as shown in maps)."""
        snap, e = self._entry(pid, addr)
        if e is not None and e.open_path:
            table = self._table_for(e)
            if table is not None:
                vaddr = table.offset_to_vaddr(e.file_offset(addr))
                if vaddr is not None:
                    hit = table.lookup(vaddr)
                    if hit is not None:
                        return UserSymbol(hit[0], hit[1], e.path)
            return None
        pm = self._perf_map(pid, snap)
        if pm is not None:
            hit = pm.lookup(addr)
            if hit is not None:
                return UserSymbol(hit[0], hit[1], pm.path)
        return None

    def usym(self, pid: int, addr: int, offset: bool = False, perf: bool = False) -> str:
        """bpftrace usym(): bare name (offset=False) or the `name+off` stack-frame form."""
        sym = self.resolve_user(pid, addr)
        if sym is None:
            return _unknown(addr, perf)
        return _frame(sym.name, sym.offset, sym.module, offset, perf)

    def ustack(self, pid: int, addrs: list[int], perf: bool = False) -> list[str]:
        """One frame string per address: `func+off`, or `func+off (module)` in perf mode."""
        return [self.usym(pid, a, offset=True, perf=perf) for a in addrs]


def usym(snapshot: ProcessMaps, addr: int, offset: bool = True, symbolizer: Symbolizer | None = None) -> str:
    """Symbolize one address against an explicit snapshot (the snapshot is not stored)."""
    sz = symbolizer if symbolizer is not None else _snapshot_symbolizer()
    saved = sz.maps(snapshot.pid)
    sz.set_maps(snapshot)
    try:
        return sz.usym(snapshot.pid, addr, offset=offset)
    finally:
        if saved is not None:
            sz.set_maps(saved)
        else:
            sz.forget(snapshot.pid)


_shared: Symbolizer | None = None


def _snapshot_symbolizer() -> Symbolizer:
    global _shared
    if _shared is None:
        _shared = Symbolizer()
    return _shared


def format_stack(addrs: list[int], frames: list[str], mode: StackMode = "bpftrace", indent: int = 8) -> str:
    """bpftrace's stack text: a leading newline, then one line per frame.

    bpftrace mode: `<indent spaces><frame>`; perf: `\\t<hex addr> <frame>`; raw: `<hex addr>`.
    """
    out = ["\n"]
    pad = " " * indent
    if mode == "raw":
        out.extend(f"{a:x}\n" for a in addrs)
    elif mode == "perf":
        out.extend(f"\t{a:x} {f}\n" for a, f in zip(addrs, frames, strict=True))
    else:
        out.extend(f"{pad}{f}\n" for f in frames)
    return "".join(out)
