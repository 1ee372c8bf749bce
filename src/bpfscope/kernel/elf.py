"""A small, fast ELF64 reader for what tracing needs: symbols, segments, notes.

pyelftools builds a Python object per symbol and per section and is roughly an order of
magnitude slower on large symbol tables; symbolization and uprobe resolution only need a
handful of fields, so this module reads them straight out of an mmap with `struct`.

Only ELF64 is supported (both byte orders); that covers every target bpfscope runs on.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "ElfError",
    "ElfFile",
    "ElfSymbol",
    "Section",
    "Segment",
    "open_elf",
    "symbols",
    "function_symbols",
    "resolve_symbol",
    "vaddr_to_file_offset",
    "is_pie",
    "build_id",
    "debuglink",
    "find_debug_file",
    "wildcard_match",
    "match_functions",
]

ET_EXEC = 2
ET_DYN = 3
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_DYNSYM = 11
SHN_UNDEF = 0
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000
NT_GNU_BUILD_ID = 3

STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_TLS = range(7)
STT_GNU_IFUNC = 10
_TYPE_NAMES = {
    STT_NOTYPE: "NOTYPE",
    STT_OBJECT: "OBJECT",
    STT_FUNC: "FUNC",
    STT_SECTION: "SECTION",
    STT_FILE: "FILE",
    STT_COMMON: "COMMON",
    STT_TLS: "TLS",
    STT_GNU_IFUNC: "IFUNC",
}
_BIND_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "UNIQUE"}

DEBUG_ROOT = "/usr/lib/debug"


class ElfError(Exception):
    """The file is missing, not ELF, or not a layout this reader handles."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


class ElfSymbol(NamedTuple):
    """One symbol; `type` is readelf's spelling ("FUNC", "OBJECT", "IFUNC", ...)."""

    name: str
    value: int
    size: int
    type: str
    bind: str
    shndx: int


class ElfFile:
    """Read-only view of one ELF64 file, mapped once; cheap to keep in a cache."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size < 64:
                    raise ElfError(f"{path}: not an ELF file (too small)")
                self._map: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise ElfError(f"{path}: {e.strerror or e}") from e
        self.identity = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        m = self._map
        if m[:4] != b"\x7fELF":
            raise ElfError(f"{path}: not an ELF file")
        if m[4] != 2:
            raise ElfError(f"{path}: only ELF64 is supported")
        self._e = "<" if m[5] == 1 else ">"
        bo = self._e
        (
            self.e_type,
            self.machine,
            _version,
            self.entry,
            phoff,
            shoff,
            _flags,
            _ehsize,
            phentsize,
            phnum,
            shentsize,
            shnum,
            shstrndx,
        ) = struct.unpack_from(bo + "HHIQQQIHHHHHH", m, 16)
        self.segments: tuple[Segment, ...] = tuple(
            Segment(t, fl, off, va, fsz, msz)
            for t, fl, off, va, _pa, fsz, msz, _al in (
                struct.unpack_from(bo + "IIQQQQQQ", m, phoff + i * phentsize) for i in range(phnum)
            )
        )
        raw = [struct.unpack_from(bo + "IIQQQQIIQQ", m, shoff + i * shentsize) for i in range(shnum)]
        names = b""
        if 0 < shstrndx < len(raw):
            so, ss = raw[shstrndx][4], raw[shstrndx][5]
            names = bytes(m[so : so + ss])
        self.sections: tuple[Section, ...] = tuple(
            Section(_cstr(names, r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[9]) for r in raw
        )
        self._by_name = {s.name: s for s in self.sections}
        self._symbols: list[ElfSymbol] | None = None

    # -- basic facts -------------------------------------------------------------------
    @property
    def is_dyn(self) -> bool:
        """ET_DYN: a shared object or a PIE; its addresses are relative to a load bias."""
        return self.e_type == ET_DYN

    @property
    def is_pie(self) -> bool:
        """A position-independent *executable* (ET_DYN with an interpreter or DF_1_PIE)."""
        if self.e_type != ET_DYN:
            return False
        if any(s.type == PT_INTERP for s in self.segments):
            return True
        return bool(self._dynamic_value(DT_FLAGS_1) & DF_1_PIE)

    def section(self, name: str) -> Section | None:
        return self._by_name.get(name)

    def section_data(self, sec: Section) -> bytes:
        if sec.type == SHT_NOBITS:
            return b""
        return bytes(self._map[sec.offset : sec.offset + sec.size])

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self._map[offset : offset + size])

    # -- address translation -----------------------------------------------------------
    def vaddr_to_offset(self, vaddr: int) -> int | None:
        """File offset backing `vaddr` (what uprobes and ref_ctr_offset want), via PT_LOAD."""
        for s in self.segments:
            if s.type == PT_LOAD and s.vaddr <= vaddr < s.vaddr + s.filesz:
                return vaddr - s.vaddr + s.offset
        return None

    def offset_to_vaddr(self, offset: int) -> int | None:
        """Link-time address of a file offset: how a mapped address turns into a symbol key."""
        for s in self.segments:
            if s.type == PT_LOAD and s.offset <= offset < s.offset + max(s.filesz, 1):
                return offset - s.offset + s.vaddr
        return None

    # -- notes ---------------------------------------------------------------------------
    def notes(self, section_name: str | None = None) -> Iterator[tuple[str, int, bytes]]:
        """(owner name, type, desc) of notes in one section, or in every note section."""
        secs = (
            [self._by_name.get(section_name)]
            if section_name
            else [s for s in self.sections if s.type == SHT_NOTE]
        )
        for sec in secs:
            if sec is None or sec.type != SHT_NOTE:
                continue
            yield from _iter_notes(self.section_data(sec), self._e)

    def build_id(self) -> str | None:
        for name, ntype, desc in self.notes(".note.gnu.build-id"):
            if name == "GNU" and ntype == NT_GNU_BUILD_ID:
                return desc.hex()
        for name, ntype, desc in self.notes():
            if name == "GNU" and ntype == NT_GNU_BUILD_ID:
                return desc.hex()
        return None

    def debuglink(self) -> tuple[str, int] | None:
        """(file name, CRC32) from .gnu_debuglink, if present."""
        sec = self._by_name.get(".gnu_debuglink")
        if sec is None:
            return None
        data = self.section_data(sec)
        end = data.find(b"\0")
        if end <= 0:
            return None
        crc_at = (end + 4) & ~3
        if crc_at + 4 > len(data):
            return None
        (crc,) = struct.unpack_from(self._e + "I", data, crc_at)
        return data[:end].decode("utf-8", "replace"), crc

    # -- symbols ---------------------------------------------------------------------------
    @property
    def has_symtab(self) -> bool:
        return any(s.type == SHT_SYMTAB for s in self.sections)

    def symbols(self) -> list[ElfSymbol]:
        """Symbols of .symtab then .dynsym (duplicates of name+value dropped)."""
        if self._symbols is None:
            out: list[ElfSymbol] = []
            seen: set[tuple[str, int]] = set()
            for kind in (SHT_SYMTAB, SHT_DYNSYM):
                for sec in self.sections:
                    if sec.type != kind:
                        continue
                    for sym in self._read_symtab(sec):
                        key = (sym.name, sym.value)
                        if key not in seen:
                            seen.add(key)
                            out.append(sym)
            self._symbols = out
        return self._symbols

    def raw_symbol_rows(self) -> Iterator[tuple[bytes, int, int, int]]:
        """(name bytes, value, size, st_info) of defined symbols: the hot path for symbolizers."""
        for kind in (SHT_SYMTAB, SHT_DYNSYM):
            for sec in self.sections:
                if sec.type != kind or not sec.entsize or sec.link >= len(self.sections):
                    continue
                strsec = self.sections[sec.link]
                strtab = self.section_data(strsec)
                data = self.section_data(sec)
                data = data[: len(data) - len(data) % 24]
                for name_off, info, _other, shndx, value, size in struct.iter_unpack(
                    self._e + "IBBHQQ", data
                ):
                    if shndx == SHN_UNDEF or not name_off:
                        continue
                    end = strtab.find(b"\0", name_off)
                    yield strtab[name_off:end], value, size, info

    def symbol_columns(self) -> Iterator[tuple[list[int], list[int], list[int], bytes]]:
        """Per symbol table (.symtab, then .dynsym): the raw Elf64_Sym columns as int lists,
        (first words, st_value, st_size, string table). A first word packs st_name (low 32
        bits), st_info (bits 32-39) and st_shndx (bits 48-63). Three C-level list builds
        per table instead of a Python tuple per symbol: what makes big tables load fast."""
        swap = self._e != ("<" if sys.byteorder == "little" else ">")
        for kind in (SHT_SYMTAB, SHT_DYNSYM):
            for sec in self.sections:
                if sec.type != kind or not sec.entsize or sec.link >= len(self.sections):
                    continue
                strtab = self.section_data(self.sections[sec.link])
                data = self.section_data(sec)
                n = len(data) // 24
                if swap:   # foreign byte order: re-pack each entry as the host's
                    rows = struct.iter_unpack(self._e + "IBBHQQ", data[:n * 24])
                    data = b"".join(struct.pack("=QQQ", nm | (i << 32) | (o << 40) | (sh << 48), v, sz)
                                    for nm, i, o, sh, v, sz in rows)
                words = memoryview(data[:n * 24]).cast("Q")
                yield words[0::3].tolist(), words[1::3].tolist(), words[2::3].tolist(), strtab

    def _read_symtab(self, sec: Section) -> Iterator[ElfSymbol]:
        if not sec.entsize or sec.link >= len(self.sections):
            return
        strtab = self.section_data(self.sections[sec.link])
        data = self.section_data(sec)
        data = data[: len(data) - len(data) % 24]
        for name_off, info, _other, shndx, value, size in struct.iter_unpack(self._e + "IBBHQQ", data):
            if not name_off:
                continue
            t = info & 0xF
            b = info >> 4
            yield ElfSymbol(
                _cstr(strtab, name_off),
                value,
                size,
                _TYPE_NAMES.get(t, str(t)),
                _BIND_NAMES.get(b, str(b)),
                shndx,
            )

    def _dynamic_value(self, tag: int) -> int:
        for s in self.segments:
            if s.type != PT_DYNAMIC:
                continue
            data = self.read(s.offset, s.filesz)
            for d_tag, d_val in struct.iter_unpack(self._e + "qQ", data[: len(data) - len(data) % 16]):
                if d_tag == 0:
                    break
                if d_tag == tag:
                    return int(d_val)
        return 0


def _cstr(table: bytes, off: int) -> str:
    end = table.find(b"\0", off)
    return table[off : end if end >= 0 else len(table)].decode("utf-8", "replace")


def _iter_notes(data: bytes, e: str) -> Iterator[tuple[str, int, bytes]]:
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(e + "III", data, pos)
        pos += 12
        name = data[pos : pos + namesz].rstrip(b"\0").decode("utf-8", "replace")
        pos += (namesz + 3) & ~3
        desc = data[pos : pos + descsz]
        pos += (descsz + 3) & ~3
        yield name, ntype, desc


# -- a small cache of open files -----------------------------------------------------------
_CACHE: OrderedDict[str, ElfFile] = OrderedDict()
_CACHE_SIZE = 64


def open_elf(path: str) -> ElfFile:
    """Cached ElfFile for `path`, reopened when the file's inode/mtime/size changed."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ElfError(f"{path}: {e.strerror or e}") from e
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    ef = _CACHE.get(path)
    if ef is not None and ef.identity == ident:
        _CACHE.move_to_end(path)
        return ef
    ef = ElfFile(path)
    _CACHE[path] = ef
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ef


# -- module-level convenience API -----------------------------------------------------------
def symbols(path: str) -> list[ElfSymbol]:
    """All named symbols of .symtab and .dynsym (plus a separate debug file's .symtab)."""
    ef = open_elf(path)
    out = list(ef.symbols())
    if not ef.has_symtab:
        dbg = find_debug_file(path)
        if dbg is not None:
            seen = {(s.name, s.value) for s in out}
            out.extend(s for s in open_elf(dbg).symbols() if (s.name, s.value) not in seen)
    return out


def function_symbols(path: str) -> list[ElfSymbol]:
    """Defined FUNC/IFUNC symbols: the candidates bpftrace offers for uprobe attachment."""
    return [s for s in symbols(path) if s.type in ("FUNC", "IFUNC") and s.shndx != SHN_UNDEF and s.value]


def resolve_symbol(path: str, name: str) -> tuple[int, int] | None:
    """(vaddr, size) of a function or object named `name` (mangled or demangled C++ too)."""
    syms = [s for s in symbols(path) if s.shndx != SHN_UNDEF and s.value]
    for s in syms:
        if s.name == name:
            return s.value, s.size
    from .demangle import demangle, strip_params

    want_full = "(" in name
    for s in syms:
        if not s.name.startswith("_Z"):
            continue
        dem = demangle(s.name)
        if dem == name or (not want_full and strip_params(dem) == name):
            return s.value, s.size
    return None


def vaddr_to_file_offset(path: str, vaddr: int) -> int | None:
    """File offset of a link-time virtual address, via the PT_LOAD program headers."""
    return open_elf(path).vaddr_to_offset(vaddr)


def is_pie(path: str) -> bool:
    """True for ET_DYN objects (PIE executables and shared libraries): load-bias relative."""
    return open_elf(path).is_dyn


def build_id(path: str) -> str | None:
    return open_elf(path).build_id()


def debuglink(path: str) -> tuple[str, int] | None:
    return open_elf(path).debuglink()


def _crc_matches(path: str, crc: int) -> bool:
    value = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                value = zlib.crc32(chunk, value)
    except OSError:
        return False
    return value == crc


def find_debug_file(path: str, root: str = "") -> str | None:
    """Separate debug file for `path`: by build-id first, then by .gnu_debuglink (CRC-checked).

    `root` prefixes the debug directories, e.g. /proc/PID/root for another mount namespace.
    """
    try:
        ef = open_elf(path)
    except ElfError:
        return None
    bid = ef.build_id()
    if bid and len(bid) > 2:
        cand = f"{root}{DEBUG_ROOT}/.build-id/{bid[:2]}/{bid[2:]}.debug"
        if os.path.isfile(cand):
            return cand
    link = ef.debuglink()
    if link is None:
        return None
    name, crc = link
    real = os.path.realpath(path)
    d = os.path.dirname(real)
    rel_d = d[len(root) :] if root and d.startswith(root) else d
    for cand in (
        os.path.join(d, name),
        os.path.join(d, ".debug", name),
        f"{root}{DEBUG_ROOT}{rel_d}/{name}",
    ):
        if cand != real and os.path.isfile(cand) and _crc_matches(cand, crc):
            return cand
    return None


# -- wildcard matching like bpftrace (only '*' is special) -------------------------------------
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)


def wildcard_match(pattern: str, name: str) -> bool:
    """bpftrace's wildcard: '*' matches any run of characters; nothing else is special."""
    if "*" not in pattern:
        return pattern == name
    return _wildcard_regex(pattern).fullmatch(name) is not None


def match_functions(path: str, pattern: str) -> list[str]:
    """Raw (mangled) names of functions in `path` matching a uprobe function spec.

    Like bpftrace: with '*' the raw name or the full demangled name may match; without it the
    raw name must be equal, or a C++ symbol whose demangled name (without parameters, unless
    the spec itself has '(') is equal. Sorted and unique, as bpftrace's std::set.
    """
    from .demangle import demangle, strip_params

    out: set[str] = set()
    rx = _wildcard_regex(pattern) if "*" in pattern else None
    want_full = "(" in pattern
    for s in function_symbols(path):
        name = s.name
        if rx is not None:
            if rx.fullmatch(name) or (name.startswith("_Z") and rx.fullmatch(demangle(name))):
                out.add(name)
        elif name == pattern:
            out.add(name)
        elif name.startswith("_Z"):
            dem = demangle(name)
            if (dem if want_full else strip_params(dem)) == pattern:
                out.add(name)
    return sorted(out)
