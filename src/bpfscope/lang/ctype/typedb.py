"""One C type namespace for a script: its own preamble definitions first, then kernel BTF.

Why one place: casts (`(struct sock *)arg0`), `sizeof`, `offsetof`, `curtask->...`,
tracepoint fields spelled `struct foo *` and preamble structs that embed kernel structs
all ask the same questions — what is this type, how big, where is member `x`. The BTF
side is reached through `btf_loader` (a callable the runtime supplies), called only when
the preamble does not answer, so scripts that never touch kernel types never load BTF.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from ..diagnostics import CompileError, Span
from .btftypes import BtfSource, Member
from .cdefs import BASE_WORDS, QUALIFIERS, CDecls, CRecord, CType, _canon_base
from .types import BOOL, Kind, Type, int_type, pointer_type, string_type, struct_ref

BASE_INTS: dict[str, tuple[int, bool]] = {
    "int8": (1, True), "uint8": (1, False), "int16": (2, True), "uint16": (2, False),
    "int32": (4, True), "uint32": (4, False), "int64": (8, True), "uint64": (8, False),
    "char": (1, True), "signed char": (1, True), "unsigned char": (1, False),
    "short": (2, True), "unsigned short": (2, False), "int": (4, True), "unsigned int": (4, False),
    "long": (8, True), "unsigned long": (8, False), "long long": (8, True), "unsigned long long": (8, False),
    "u8": (1, False), "u16": (2, False), "u32": (4, False), "u64": (8, False),
    "s8": (1, True), "s16": (2, True), "s32": (4, True), "s64": (8, True),
    "__u8": (1, False), "__u16": (2, False), "__u32": (4, False), "__u64": (8, False),
    "__s8": (1, True), "__s16": (2, True), "__s32": (4, True), "__s64": (8, True),
    "uint8_t": (1, False), "uint16_t": (2, False), "uint32_t": (4, False), "uint64_t": (8, False),
    "int8_t": (1, True), "int16_t": (2, True), "int32_t": (4, True), "int64_t": (8, True),
    "size_t": (8, False), "ssize_t": (8, True), "uintptr_t": (8, False), "intptr_t": (8, True),
    "float": (4, True), "double": (8, True),
}

_SPELLING_RE = re.compile(r"^(?P<base>[^*\[]*?)\s*(?P<ptr>(?:\*\s*(?:const\s*)?)*)\s*(?P<dims>(?:\[\s*\d*\s*\]\s*)*)$")


class TypeSpelling(Protocol):
    """A type as a front end spelled it in a cast/sizeof/declaration (bpftrace's ast.TypeName)."""
    name: str
    pointer: int
    array: int | None
    span: Span


class CSource(Protocol):
    """A script's C preamble: its text and where each chunk sits in the source (ast.Program)."""
    c_definitions: str
    c_spans: list[Span]


class TypeDB:
    def __init__(self, cdecls: CDecls | None = None, btf_loader: Callable[[], Any] | None = None) -> None:
        self.c = cdecls or CDecls()
        self._btf_loader = btf_loader
        self._btf: BtfSource | None = None
        self._btf_tried = False
        self._c_types: dict[str, Type] = {}
        self._layouts: dict[str, tuple[list[Member], int, int]] = {}
        self._complete: dict[str, Type] = {}
        self._busy: set[str] = set()

    # ------------------------------------------------------------------ sources
    @property
    def btf(self) -> BtfSource | None:
        if not self._btf_tried:
            self._btf_tried = True
            if self._btf_loader is not None:
                try:
                    raw = self._btf_loader()
                except Exception:  # no BTF on this kernel: kernel types are simply unknown
                    raw = None
                if raw is not None:
                    self._btf = BtfSource(raw)
        return self._btf

    def has_btf(self) -> bool:
        return self.btf is not None

    # ------------------------------------------------------------------ names
    def named(self, base: str) -> Type | None:
        """A base type spelling (no declarator) → Type, or None if unknown."""
        base = " ".join(w for w in base.split() if w not in QUALIFIERS)
        words = base.split()
        if words and all(w in BASE_WORDS for w in words):
            base = _canon_base(words)
        if base == "bool" or base == "_Bool":
            return BOOL
        if base == "void":
            return Type(Kind.NONE, name="void")
        if base in BASE_INTS:
            size, signed = BASE_INTS[base]
            return int_type(size, signed)
        if base in self._c_types:
            return self._c_types[base]
        kind, _, tag = base.partition(" ")
        if kind in ("struct", "union"):
            rec = self.c.records.get(base)
            if rec is not None and rec.fields is not None:
                t = self._c_types[base] = struct_ref(base, *self._c_layout(rec)[1:])
                return t
            if self.btf is not None:
                bt = self.btf.named(base)
                if bt is not None:
                    return bt
            if rec is not None:
                return struct_ref(base, 0)
            return None
        if kind == "enum":
            vals = self.c.enums.get(base)
            if vals is not None:
                t = Type(Kind.ENUM, size=self.c.enum_sizes.get(base, 4),
                         signed=any(v < 0 for _, v in vals), name=base,
                         enum_values=tuple((v, n) for n, v in vals))
                self._c_types[base] = t
                return t
            return self.btf.named(base) if self.btf is not None else None
        td = self.c.typedefs.get(base)
        if td is not None:
            if base in self._busy:
                return None
            self._busy.add(base)
            try:
                t2 = self.from_ctype(td)
            finally:
                self._busy.discard(base)
            self._c_types[base] = t2
            return t2
        if self.btf is not None and " " not in base:
            hit = self.btf.named(base)
            if hit is not None:
                return hit
        if " " not in base and base:  # bpftrace accepts `(task_struct *)` for `(struct task_struct *)`
            for kw in ("struct", "union"):
                if f"{kw} {base}" in self.c.records or self.btf is not None:
                    rec_t = self.named(f"{kw} {base}")
                    if rec_t is not None:
                        return rec_t
        return None

    def from_ctype(self, ct: CType, span: Span | None = None) -> Type:
        """A preamble C type (with pointer/array declarators) → Type."""
        if ct.funcptr:
            return pointer_type(None, f"{ct.base} (*)()")
        base = self.named(ct.base)
        if base is None:
            raise CompileError(f"Cannot resolve unknown type \"{ct.base}\"", span)
        t = base
        for _ in range(ct.pointer):
            t = pointer_type(None if t.kind is Kind.NONE else t, _ptr_name(t))
        for n in reversed(ct.dims):
            t = array_of(t, n, _is_char(ct.base) and not ct.pointer)
        return t

    def parse(self, spelling: str) -> Type | None:
        """A C spelling such as 'const char *', 'struct sk_buff *', 'u8[6]' → Type (None if unknown)."""
        m = _SPELLING_RE.match(spelling.strip())
        if m is None:
            return None
        base = self.named(m.group("base"))
        if base is None:
            return None
        t = base
        for _ in range(m.group("ptr").count("*")):
            t = pointer_type(None if t.kind is Kind.NONE else t, _ptr_name(t))
        dims = re.findall(r"\[\s*(\d*)\s*\]", m.group("dims"))
        for n in reversed(dims):
            t = array_of(t, int(n) if n else 0, _is_char(m.group("base")) and "*" not in m.group("ptr"))
        return t

    def from_typename(self, tn: TypeSpelling) -> Type:
        """A cast/sizeof/let type as the parser saw it → Type (located error if unknown)."""
        if tn.name == "string" and tn.array and not tn.pointer:   # 0.26's `(string[N])"..."`
            return string_type(tn.array)
        base = self.named(tn.name)
        if base is None:
            if tn.name.startswith(("struct ", "union ", "enum ")):
                raise CompileError(f"Cannot resolve unknown type \"{tn.name}\"", tn.span)
            raise CompileError(f"Cannot resolve unknown type \"{tn.name}\"", tn.span)
        t = base
        for _ in range(tn.pointer):
            t = pointer_type(None if t.kind is Kind.NONE else t, _ptr_name(t))
        if tn.array is not None:
            t = array_of(t, tn.array, _is_char(tn.name) and not tn.pointer)
        return t

    # ------------------------------------------------------------------ members
    def members(self, t: Type) -> list[Member]:
        if t.kind is not Kind.STRUCT:
            return []
        rec = self.c.records.get(t.name)
        if rec is not None and rec.fields is not None:
            return self._c_layout(rec)[0]
        if self.btf is not None:
            ms = self.btf.members(t)
            if ms is not None:
                return ms
        return []

    def member(self, t: Type, name: str) -> Member | None:
        """Member `name` of struct/union `t`, also through anonymous members (offset adjusted)."""
        ms = self.members(t)
        if not ms and t.names:  # a value-only struct such as `args`
            ms = [Member(n, et, o) for n, et, o in zip(t.names, t.elems, t.offsets, strict=True)]
        for m in ms:
            if m.name == name:
                return m
        for m in ms:
            if not m.name and m.type.kind is Kind.STRUCT:
                inner = self.member(m.type, name)
                if inner is not None:
                    return Member(inner.name, inner.type, m.offset + inner.offset, inner.shift, inner.bits)
        return None

    def is_defined(self, t: Type) -> bool:
        return bool(self.members(t)) or t.size > 0

    def complete(self, t: Type) -> Type:
        """`t` with every struct member laid out (names/elems/offsets), for storing and printing."""
        if t.kind is Kind.STRUCT:
            if t.elems or not t.name:
                return t
            hit = self._complete.get(t.name)
            if hit is not None:
                return hit
            if t.name in self._busy:
                return t
            self._busy.add(t.name)
            try:
                names: list[str] = []
                elems: list[Type] = []
                offs: list[int] = []
                for m in self.members(t):
                    mt = self.complete(m.type)
                    if not m.name and mt.kind is Kind.STRUCT:
                        names.extend(mt.names)
                        elems.extend(mt.elems)
                        offs.extend(m.offset + o for o in mt.offsets)
                        continue
                    if m.bits:
                        mt = Type(Kind.INT if mt.kind is not Kind.ENUM else Kind.ENUM, size=mt.size,
                                  signed=mt.signed, params=(m.shift, m.bits), name=mt.name,
                                  enum_values=mt.enum_values)
                    names.append(m.name)
                    elems.append(mt)
                    offs.append(m.offset)
                full = Type(Kind.STRUCT, size=t.size, name=t.name, names=tuple(names), elems=tuple(elems),
                            offsets=tuple(offs), align=t.align)
            finally:
                self._busy.discard(t.name)
            self._complete[t.name] = full
            return full
        if t.kind is Kind.ARRAY and t.pointee is not None and t.pointee.kind in (Kind.STRUCT, Kind.ARRAY):
            inner = self.complete(t.pointee)
            return Type(Kind.ARRAY, size=t.size, pointee=inner, count=t.count, name=t.name)
        return t

    def align_of(self, t: Type) -> int:
        k = t.kind
        if k in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER):
            return max(1, min(8, t.size))
        if k in (Kind.STRING,):
            return 1
        if k is Kind.ARRAY and t.pointee is not None:
            return self.align_of(t.pointee)
        if k is Kind.STRUCT:
            rec = self.c.records.get(t.name)
            if rec is not None and rec.fields is not None:
                return self._c_layout(rec)[2]
            if self.btf is not None:
                return self.btf.align(t)
        return 8

    def _c_layout(self, rec: CRecord) -> tuple[list[Member], int, int]:
        hit = self._layouts.get(rec.name)
        if hit is not None:
            return hit
        if rec.name in self._busy:
            raise CompileError(f"'{rec.name}' contains itself", self.c.spans.get(rec.name))
        self._busy.add(rec.name)
        try:
            members: list[Member] = []
            bit = 0
            size_bits = 0
            max_align = 1
            union = rec.kind == "union"
            span = self.c.spans.get(rec.name)
            for f in rec.fields or []:
                t = self.from_ctype(f.ctype, span)
                if t.kind is Kind.NONE:
                    raise CompileError(f"field '{f.name}' has incomplete type 'void'", span)
                if t.kind is Kind.STRUCT and t.size == 0 and not self.members(t):
                    raise CompileError(f"field '{f.name}' has incomplete type '{t.name}'", span)
                a = 1 if rec.packed else self.align_of(t)
                if f.bits is not None:
                    if not t.is_int:
                        raise CompileError(f"bit-field '{f.name}' has non-integral type", span)
                    unit = t.size * 8
                    start = 0 if union else bit
                    if f.bits == 0:
                        bit = -(-bit // unit) * unit
                        continue
                    if not rec.packed and start // unit != (start + f.bits - 1) // unit:
                        start = -(-start // unit) * unit
                    if f.name:
                        vt = t if t.kind in (Kind.ENUM, Kind.BOOL) else int_type(t.size, t.signed)
                        members.append(Member(f.name, vt, start // 8, start % 8, f.bits))
                    end = start + f.bits
                    if not union:
                        bit = end
                    size_bits = max(size_bits, end)
                    max_align = max(max_align, a)
                    continue
                start = 0 if union else -(-bit // (8 * a)) * (8 * a)
                members.append(Member(f.name, t, start // 8))
                end = start + 8 * t.size
                if not union:
                    bit = end
                size_bits = max(size_bits, end)
                max_align = max(max_align, a)
            size = -(-size_bits // 8)
            size = -(-size // max_align) * max_align
            out = (members, size, max_align)
        finally:
            self._busy.discard(rec.name)
        self._layouts[rec.name] = out
        return out

    # ------------------------------------------------------------------ enumerators
    def enum_constant(self, name: str) -> tuple[int, Type] | None:
        c = self.c.constants.get(name)
        if c is not None:
            t = self.named(c[1])
            assert t is not None
            return c[0], t
        if self.btf is not None:
            return self.btf.enum_constant(name)
        return None


def array_of(t: Type, n: int, chars: bool = False) -> Type:
    """C array of n elements; `chars` (element spelled char) makes it a string, as bpftrace prints."""
    if chars and t.kind is Kind.INT and t.size == 1:
        return string_type(n)
    return Type(Kind.ARRAY, size=t.size * n, pointee=t, count=n, name=f"{t}[{n}]")


def _ptr_name(t: Type) -> str:
    if t.kind is Kind.NONE:
        return "void *"
    s = str(t)
    if t.kind is Kind.INT:
        s = t.name or s
    return s + ("*" if s.endswith("*") else " *")


def _is_char(base: str) -> bool:
    words = [w for w in base.split() if w not in QUALIFIERS]
    return bool(words) and words[-1] == "char"


def typedb_for(program: CSource, opts: dict[str, Any]) -> TypeDB:
    """The TypeDB of one script: its preamble parsed, BTF through opts['btf'] (a loader callable)."""
    from .cdefs import parse_cdefs

    predefined = {"BPFTRACE_HAVE_BTF": "1"} if opts.get("have_btf") else {}
    db = TypeDB(None, opts.get("btf"))
    cd = parse_cdefs(program.c_definitions, program.c_spans, predefined, sizeof=lambda ct: _sizeof(db, ct))
    db.c = cd
    return db


def _sizeof(db: TypeDB, ct: CType) -> int | None:
    try:
        return db.from_ctype(ct).size
    except CompileError:
        return None
