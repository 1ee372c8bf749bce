"""A user-space function's parameters and their C types, from the binary's DWARF (-g).

Why: bpftrace types a uprobe's `args` from DWARF (`args.n`, `print(args)`, `-lv` listing).
Only what that needs is read: a function's formal parameters, and their types as far as
values, pointers, structs/unions (members, for `->`) and arrays go.

pyelftools does the parsing; it is imported only here and only when `args` is used on a
uprobe. Parsed binaries are cached by (path, inode, mtime, size): a second probe on the same
binary reuses them. The compile unit holding a function is found through .debug_aranges
when the binary has it (big binaries: no walk over every unit).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DwarfError", "DwarfType", "DwarfMember", "Param", "function_params", "has_debug_info", "source_line"]

# DW_ATE_* base type encodings
_ATE_BOOLEAN, _ATE_FLOAT, _ATE_SIGNED, _ATE_SIGNED_CHAR, _ATE_UNSIGNED, _ATE_UNSIGNED_CHAR = 2, 4, 5, 6, 7, 8
_QUALIFIERS = ("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type", "DW_TAG_atomic_type",
               "DW_TAG_typedef")
_MAX_DEPTH = 4          # struct members followed through pointers this deep (self-referencing lists)


class DwarfError(Exception):
    """The debug info could not be read (corrupt or unsupported DWARF)."""


@dataclass(frozen=True)
class DwarfMember:
    name: str
    type: DwarfType
    offset: int


@dataclass(frozen=True)
class DwarfType:
    """A C type as DWARF describes it.

    kind: "int" | "pointer" | "struct" | "union" | "array" | "none" (float, void, unknown)
    name: bpftrace's spelling (`int`, `int*`, `struct Foo*`, `const char*`), typedefs kept
    members: struct/union members; None when not followed (too deep, or a declaration only)
    """
    kind: str
    size: int
    name: str
    signed: bool = False
    char: bool = False                  # a 1-byte character type (char arrays are strings)
    target: DwarfType | None = None     # pointee / array element
    count: int = 0                      # array length
    members: tuple[DwarfMember, ...] | None = None


@dataclass(frozen=True)
class Param:
    name: str            # "" for an unnamed parameter
    type: DwarfType


_cache: dict[tuple[str, int, int, int, int], Any] = {}
_CACHED = 4            # binaries kept parsed (their debug sections stay in memory)


def _key(path: str) -> tuple[str, int, int, int, int]:
    st = os.stat(path)
    return (path, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class _Binary:
    """One opened binary's DWARF, with the functions looked up so far."""

    def __init__(self, path: str) -> None:
        from elftools.elf.elffile import ELFFile

        with open(path, "rb") as f:   # the debug sections are copied into memory: no fd kept
            ef = ELFFile(f)
            # .eh_frame alone counts as "DWARF" to pyelftools: ask for .debug_info itself
            self.has_info = any(ef.get_section_by_name(n) is not None for n in (".debug_info", ".zdebug_info"))
            self.dwarf = ef.get_dwarf_info() if self.has_info else None
        self.funcs: dict[str, list[Param] | None] = {}
        self.memo: dict[tuple[int, int], DwarfType] = {}   # (DIE offset, depth): types shared by functions
        self._aranges: Any = False    # False: not read yet; None: unusable
        self._units: dict[int, tuple[dict[str, Any], dict[int, Any]]] = {}
        self._lines: dict[int, tuple[list[int], list[tuple[str, int] | None]]] = {}   # CU offset → rows

    def line_at(self, vaddr: int) -> tuple[str, int] | None:
        """(source file, line) of the instruction at `vaddr`, from its unit's line program."""
        assert self.dwarf is not None
        if self._aranges is False:
            try:
                self._aranges = self.dwarf.get_aranges()
            except Exception:
                self._aranges = None
        offs: list[int]
        if self._aranges is not None:
            off = self._aranges.cu_offset_at_addr(vaddr)
            offs = [off] if off is not None else []
        else:
            offs = [cu.cu_offset for cu in self.dwarf.iter_CUs()]
        for off in offs:
            addrs, rows = self._line_rows(off)
            i = bisect.bisect_right(addrs, vaddr) - 1
            if i >= 0 and rows[i] is not None:
                return rows[i]
        return None

    def _line_rows(self, cu_offset: int) -> tuple[list[int], list[tuple[str, int] | None]]:
        """A unit's line table as sorted addresses and the (file, line) each starts (None after
        an end of sequence: the addresses past it belong to no line of this unit)."""
        hit = self._lines.get(cu_offset)
        if hit is not None:
            return hit
        assert self.dwarf is not None
        cu = self.dwarf.get_CU_at(cu_offset)
        lp = self.dwarf.line_program_for_CU(cu)
        pairs: list[tuple[int, tuple[str, int] | None]] = []
        if lp is not None:
            top = cu.get_top_DIE()
            comp = top.attributes.get("DW_AT_comp_dir")
            comp_dir = comp.value.decode(errors="replace") if comp is not None else ""
            v5 = lp.header.version >= 5
            dirs = [d.decode(errors="replace") if isinstance(d, bytes) else str(d)
                    for d in lp.header.get("include_directory", [])]
            files: list[str] = []
            for fe in lp.header.get("file_entry", []):
                name = fe.name.decode(errors="replace") if isinstance(fe.name, bytes) else str(fe.name)
                di = fe.dir_index if v5 else fe.dir_index - 1   # DWARF 4: 0 is the compilation directory
                d = dirs[di] if 0 <= di < len(dirs) else comp_dir
                path = os.path.join(d, name) if d else name
                files.append(os.path.normpath(os.path.join(comp_dir, path)) if comp_dir else path)
            for entry in lp.get_entries():
                st = entry.state
                if st is None:
                    continue
                if st.end_sequence:
                    pairs.append((st.address, None))
                    continue
                fi = st.file if v5 else st.file - 1
                if 0 <= fi < len(files):
                    pairs.append((st.address, (files[fi], st.line)))
        pairs.sort(key=lambda p: p[0])
        hit = self._lines[cu_offset] = ([a for a, _ in pairs], [r for _, r in pairs])
        return hit

    def params(self, func: str, vaddr: int | None) -> list[Param] | None:
        if func not in self.funcs:
            die = self._subprogram(func, vaddr)
            die = None if die is None else _origin(die)
            self.funcs[func] = None if die is None else [
                Param(_name(p), _type(p, 0, self.memo))
                for p in die.iter_children() if p.tag == "DW_TAG_formal_parameter"]
        return self.funcs[func]

    def _subprogram(self, func: str, vaddr: int | None) -> Any:
        """The function's DIE: through .debug_aranges when the address is known (libc's walk
        over every unit takes seconds), else by name over every unit."""
        assert self.dwarf is not None
        if vaddr is not None:
            if self._aranges is False:
                try:
                    self._aranges = self.dwarf.get_aranges()   # parsed and sorted once
                except Exception:   # broken .debug_aranges: walk every unit
                    self._aranges = None
            ar = self._aranges
            off = ar.cu_offset_at_addr(vaddr) if ar is not None else None
            if off is not None:
                names, addrs = self._index(off)
                return names.get(func) or addrs.get(vaddr)
            if ar is not None:   # the table covers every unit: the address has none (assembly)
                return None
        for cu in self.dwarf.iter_CUs():
            names, _addrs = self._index(cu.cu_offset)
            if func in names:
                return names[func]
        return None

    def _index(self, cu_offset: int) -> tuple[dict[str, Any], dict[int, Any]]:
        """A unit's defined functions by name (and linkage name), and by entry address (an alias
        such as libc's `malloc` is described as `__libc_malloc`)."""
        hit = self._units.get(cu_offset)
        if hit is None:
            names: dict[str, Any] = {}
            addrs: dict[int, Any] = {}
            assert self.dwarf is not None
            for die in self.dwarf.get_CU_at(cu_offset).get_top_DIE().iter_children():
                if die.tag != "DW_TAG_subprogram" or "DW_AT_declaration" in die.attributes:
                    continue
                low = die.attributes.get("DW_AT_low_pc")
                if low is None and "DW_AT_ranges" not in die.attributes:
                    continue
                for n in (_name(die), _linkage_name(die)):
                    if n:
                        names.setdefault(n, die)
                if low is not None and low.form == "DW_FORM_addr":
                    addrs.setdefault(low.value, die)
            hit = self._units[cu_offset] = (names, addrs)
        return hit


def _linkage_name(die: Any) -> str:
    at = die.attributes.get("DW_AT_linkage_name")
    v = at.value if at is not None else b""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _origin(die: Any) -> Any:
    """An out-of-line instance's abstract origin carries its names and types."""
    for a in ("DW_AT_abstract_origin", "DW_AT_specification"):
        if a in die.attributes and not any(c.tag == "DW_TAG_formal_parameter" for c in die.iter_children()):
            return _origin(die.get_DIE_from_attribute(a))
    return die


def _name(die: Any) -> str:
    at = die.attributes.get("DW_AT_name")
    if at is None:
        for a in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if a in die.attributes:
                return _name(die.get_DIE_from_attribute(a))
        return ""
    v = at.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _target(die: Any) -> Any:
    if "DW_AT_type" in die.attributes:
        return die.get_DIE_from_attribute("DW_AT_type")
    if "DW_AT_abstract_origin" in die.attributes:   # a concrete parameter of an inlined/cloned function
        return _target(die.get_DIE_from_attribute("DW_AT_abstract_origin"))
    return None


def _spell(die: Any) -> str:
    """bpftrace's spelling of a type: pointers as `T*`, `struct X`, typedef names kept."""
    if die is None:
        return "void"
    tag = die.tag
    if tag in ("DW_TAG_base_type", "DW_TAG_typedef"):
        return _name(die)
    if tag == "DW_TAG_pointer_type":
        inner = _target(die)
        return "void*" if inner is None else _spell(inner) + "*"
    if tag in ("DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_enumeration_type"):
        word = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}.get(tag, "enum")
        return f"{word} {_name(die) or '<anonymous>'}"
    if tag == "DW_TAG_const_type":
        inner = _target(die)
        if inner is not None and inner.tag == "DW_TAG_pointer_type":
            return _spell(inner) + " const"
        return "const " + _spell(inner)
    return "<unknown type>"


def _peel(die: Any) -> Any:
    while die is not None and die.tag in _QUALIFIERS:
        die = _target(die)
    return die


def _size(die: Any) -> int:
    at = die.attributes.get("DW_AT_byte_size")
    return int(at.value) if at is not None and isinstance(at.value, int) else 0


def _type(holder: Any, depth: int, memo: dict[tuple[int, int], DwarfType]) -> DwarfType:
    """The type of a parameter/member DIE (its DW_AT_type)."""
    return _convert(_target(holder), depth, memo)


def _convert(die: Any, depth: int, memo: dict[tuple[int, int], DwarfType]) -> DwarfType:
    if die is None:
        return DwarfType("none", 0, "void")
    key = (die.offset, depth)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _convert_new(die, depth, memo)
    return hit


def _convert_new(die: Any, depth: int, memo: dict[tuple[int, int], DwarfType]) -> DwarfType:
    name = _spell(die)
    t = _peel(die)
    if t is None:
        return DwarfType("none", 0, "void")
    tag = t.tag
    size = _size(t)
    if tag == "DW_TAG_base_type":
        enc = t.attributes["DW_AT_encoding"].value if "DW_AT_encoding" in t.attributes else 0
        if enc in (_ATE_SIGNED, _ATE_SIGNED_CHAR):
            return DwarfType("int", size, name, signed=True, char=enc == _ATE_SIGNED_CHAR)
        if enc in (_ATE_UNSIGNED, _ATE_UNSIGNED_CHAR, _ATE_BOOLEAN):
            return DwarfType("int", size, name, char=enc == _ATE_UNSIGNED_CHAR)
        return DwarfType("none", size, name)
    if tag == "DW_TAG_enumeration_type":
        return DwarfType("int", size or 4, name)
    if tag == "DW_TAG_pointer_type":
        inner = _target(t)
        return DwarfType("pointer", size or 8, name, target=None if inner is None else _convert(inner, depth + 1, memo))
    if tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
        members = None
        if depth <= _MAX_DEPTH and "DW_AT_declaration" not in t.attributes:
            members = tuple(DwarfMember(_name(m), _type(m, depth + 1, memo), _member_offset(m))
                            for m in t.iter_children() if m.tag == "DW_TAG_member")
        return DwarfType("struct" if tag == "DW_TAG_structure_type" else "union", size, name, members=members)
    if tag == "DW_TAG_array_type":
        elem = _type(t, depth, memo)
        dims = [_count(s) for s in t.iter_children() if s.tag == "DW_TAG_subrange_type"] or [0]
        out = elem
        for n in reversed(dims):
            out = DwarfType("array", out.size * n, f"{out.name}[{n}]", target=out, count=n)
        return out
    return DwarfType("none", size, name)


def _member_offset(m: Any) -> int:
    at = m.attributes.get("DW_AT_data_member_location")
    if at is not None and isinstance(at.value, int):
        return int(at.value)
    bit = m.attributes.get("DW_AT_data_bit_offset")
    return int(bit.value) // 8 if bit is not None else 0


def _count(sub: Any) -> int:
    if "DW_AT_count" in sub.attributes:
        return int(sub.attributes["DW_AT_count"].value)
    if "DW_AT_upper_bound" in sub.attributes and isinstance(sub.attributes["DW_AT_upper_bound"].value, int):
        return int(sub.attributes["DW_AT_upper_bound"].value) + 1
    return 0


def _binary(path: str) -> _Binary:
    key = _key(path)
    b = _cache.get(key)
    if b is None:
        try:
            b = _Binary(path)
        except ImportError:
            raise DwarfError("reading DWARF needs pyelftools (pip install pyelftools)") from None
        except Exception as e:   # pyelftools raises its own errors on malformed input
            raise DwarfError(f"{path}: {e}") from None
        while len(_cache) >= _CACHED:
            del _cache[next(iter(_cache))]
        _cache[key] = b
    return b


def has_debug_info(path: str) -> bool:
    """Whether `path` carries .debug_info (after `strip -g` it does not)."""
    return _binary(path).has_info


def function_params(path: str, func: str, vaddr: int | None = None) -> list[Param] | None:
    """`func`'s parameters in order, from `path`'s DWARF or its separate debug file
    (build-id / .gnu_debuglink). None: no debug info; [] also when the debug info does not
    describe `func` (as bpftrace: no parameters). `vaddr` (the symbol's address) finds the
    unit through .debug_aranges."""
    from . import elf

    found = False
    for cand in (path, elf.find_debug_file(path)):
        if cand is None:
            continue
        b = _binary(cand)
        if not b.has_info:
            continue
        found = True
        try:
            got = b.params(func, vaddr)
        except Exception as e:   # malformed DWARF: say so instead of a traceback
            raise DwarfError(f"{cand}: {e}") from None
        if got is not None:
            return got
    return [] if found else None


def source_line(path: str, vaddr: int) -> tuple[str, int] | None:
    """(source file, line) of `vaddr` in `path` from its DWARF line table (or its separate debug
    file's); None without debug info. What bpftrace 0.26 appends to a ustack frame (`@file:line`)."""
    from . import elf

    for cand in (path, elf.find_debug_file(path)):
        if cand is None:
            continue
        try:
            b = _binary(cand)
            if b.has_info:
                return b.line_at(vaddr)
        except Exception:   # unreadable or malformed DWARF: the frame is shown without a line
            return None
    return None
