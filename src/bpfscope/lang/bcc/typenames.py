"""C types of BCC programs: spellings → `Type`, C struct layout, and the integer rules
(promotions, usual arithmetic conversions) that decide widths and signedness."""

from __future__ import annotations

from typing import Any

from ..ctype.typedb import BASE_INTS
from ..ctype.types import Kind, Type, int_type, pointer_type
from ..diagnostics import CompileError, Span

# kernel typedefs BCC programs use without a header (BTF has them; these are their ABI widths)
KERNEL_TYPEDEFS: dict[str, tuple[int, bool]] = {
    "pid_t": (4, True), "uid_t": (4, False), "gid_t": (4, False), "dev_t": (4, False),
    "sector_t": (8, False), "umode_t": (2, False), "loff_t": (8, True), "gfp_t": (4, False),
    "bool": (1, False), "_Bool": (1, False), "__be16": (2, False), "__be32": (4, False),
    "__be64": (8, False), "__le16": (2, False), "__le32": (4, False), "__le64": (8, False),
    "u_int8_t": (1, False), "u_int16_t": (2, False), "u_int32_t": (4, False), "u_int64_t": (8, False),
    "off_t": (8, True), "time64_t": (8, True), "ktime_t": (8, True), "clockid_t": (4, True),
    "blkcnt_t": (8, False), "__kernel_size_t": (8, False), "atomic_t": (4, True),
}
_KEYWORDS = {"void", "unsigned", "signed", "int", "long", "short", "char", "struct", "union",
             "enum", "const", "volatile", "__user", "static", "__int128", "__uint128_t", "__int128_t"}
CHAR = int_type(1, True)
INT = int_type(4, True)
UINT = int_type(4, False)
VOID = Type(Kind.NONE, name="void")


def is_type_word(w: str) -> bool:
    return w in _KEYWORDS or w in BASE_INTS or w in KERNEL_TYPEDEFS


INT128 = ("unsigned __int128", "__int128", "__uint128_t", "__int128_t")


def align_of(t: Type) -> int:
    if t.kind in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER):
        return max(1, t.size)
    if t.kind is Kind.ARRAY and t.name in INT128:    # held as two u64, aligned as the 16-byte integer
        return 16
    if t.kind is Kind.ARRAY and t.pointee is not None:
        return align_of(t.pointee)
    if t.kind is Kind.STRUCT:
        return t.params[0] if t.params else max((align_of(e) for e in t.elems), default=1)
    return 1


ANON = "__anon_member"     # names of anonymous struct/union members (C11): their members are reached directly


def struct_type(name: str, fields: list[tuple[str, Type]], union: bool = False,
                bits: list[int | None] | None = None, packed: bool = False,
                aligns: list[int | None] | None = None, align: int | None = None) -> Type:
    """C layout (System V): natural alignment, size rounded up to the strictest member's
    alignment. A bit-field takes the next bits of its type's storage unit, or starts the next
    unit if it would straddle one (width 0: the next unit); its member type is an INT whose
    params are (shift within the unit, width), at the unit's offset. An unnamed member
    (name "") is anonymous if a struct or union, padding if a bit-field. packed: members at
    byte alignment; aligns: members' aligned(N); align: the struct's own aligned(N) — a struct
    whose alignment differs from its members' natural one keeps it in params[0]."""
    names: list[str] = []
    elems: list[Type] = []
    offs: list[int] = []
    bit = size_bits = 0
    al = 1
    for k, (n, ft) in enumerate(fields):
        w = bits[k] if bits is not None else None
        a = 1 if packed else align_of(ft)
        if aligns is not None and aligns[k] is not None:
            a = max(a, aligns[k] or 1)
        if w is not None:
            if ft.kind not in (Kind.INT, Kind.BOOL, Kind.ENUM):
                raise CompileError(f"bit-field '{n}' has a non-integral type", None)
            unit = 8 * ft.size
            if not 0 <= w <= unit:
                raise CompileError(f"width of bit-field '{n}' ({w} bits) exceeds its type's", None)
            start = 0 if union else bit
            if w == 0:
                bit = -(-bit // unit) * unit
                continue
            if start // unit != (start + w - 1) // unit and not packed:
                start = -(-start // unit) * unit
            base = start // 8 * 8 if packed else start // unit * unit
            if n:
                names.append(n)
                elems.append(Type(Kind.INT, size=ft.size, signed=ft.signed, name=ft.name,
                                  params=(start - base, w)))
                offs.append(base // 8)
            end = start + w
        else:
            start = 0 if union else -(-bit // (8 * a)) * (8 * a)
            names.append(n or f"{ANON}{k}")
            elems.append(ft)
            offs.append(start // 8)
            end = start + 8 * ft.size
        if not union:
            bit = end
        size_bits = max(size_bits, end)
        al = max(al, a)
    size = -(-size_bits // 8)
    natural = max((align_of(e) for e in elems), default=1)
    if align is not None:
        al = max(al, align)
    size = (size + al - 1) & ~(al - 1)
    return Type(Kind.STRUCT, size=size, elems=tuple(elems), names=tuple(names), offsets=tuple(offs), name=name,
                params=(al,) if al != natural else ())


def find_member(t: Type, name: str) -> tuple[int, Type] | None:
    """(offset, type) of member `name` of a program-defined struct, also inside anonymous
    members (C11), where it is reached as if it were the outer struct's."""
    if name in t.names:
        k = t.names.index(name)
        return t.offsets[k], t.elems[k]
    for n, et, off in zip(t.names, t.elems, t.offsets, strict=True):
        if n.startswith(ANON) and et.kind is Kind.STRUCT:
            hit = find_member(et, name)
            if hit is not None:
                return off + hit[0], hit[1]
    return None


def array_of(t: Type, dims: list[int]) -> Type:
    for n in reversed(dims):
        t = Type(Kind.ARRAY, size=t.size * n, pointee=t, count=n, name=f"{t.name or t}[{n}]")
    return t


def base_type(base: str, structs: dict[str, Type], span: Span, kdb: Any = None) -> Type:
    """'unsigned long' / 'u32' / 'struct key_t' / 'void' → Type (structs: defined in the program,
    typedefs too; kdb: the kernel's types from BTF, a `ctype.typedb.TypeDB`)."""
    if base == "void":
        return VOID
    if base in BASE_INTS:
        size, signed = BASE_INTS[base]
        return Type(Kind.INT, size=size, signed=signed, name=base)
    if base in KERNEL_TYPEDEFS:
        size, signed = KERNEL_TYPEDEFS[base]
        return Type(Kind.INT, size=size, signed=signed, name=base)
    if base in INT128:
        return Type(Kind.ARRAY, size=16, pointee=int_type(8, False), count=2, name=base)
    if base.startswith("enum "):
        return Type(Kind.INT, size=4, signed=True, name=base)
    if base in structs:
        return structs[base]
    if kdb is not None:
        kt = kdb.named(base)
        if kt is not None:
            return c_view(kt)
    if base.startswith(("struct ", "union ")):
        raise CompileError(f"{base} is neither defined in this program nor a kernel type (BTF)", span)
    raise CompileError(f"unknown type '{base}'", span)


def c_view(t: Type) -> Type:
    """A BTF-derived type as this compiler sees C: char arrays are arrays (not bpftrace strings)."""
    if t.kind is Kind.STRING:
        return Type(Kind.ARRAY, size=t.size, pointee=CHAR, count=t.size, name=f"char[{t.size}]")
    if t.kind is Kind.BOOL:
        return int_type(t.size or 1, False)
    return t


def spelled(base: Type, ptr: int) -> Type:
    t = base
    for _ in range(ptr):
        t = pointer_type(None if t.kind is Kind.NONE else t)
    return t


def from_format(ctype: str, size: int, signed: bool) -> Type:
    """A tracefs format field's C spelling → Type (what `args->field` reads)."""
    c = " ".join(w for w in ctype.replace("*", " * ").split() if w not in ("const", "volatile", "__user"))
    if "[" in c:
        base = c[: c.index("[")].strip()
        n = c[c.index("[") + 1: c.index("]")]
        elem = from_format(base, 1 if base.endswith("char") else max(1, size // max(1, int(n or 1))), signed)
        return array_of(elem, [int(n)] if n.isdigit() else [0])
    if "*" in c:
        base = c.replace("*", "").strip()
        pointee = VOID if base == "void" else (
            int_type(*BASE_INTS[base]) if base in BASE_INTS else int_type(1, True) if base == "char" else None)
        return pointer_type(None if pointee is None or pointee.kind is Kind.NONE else pointee)
    words = c.split()
    key = " ".join(w for w in words if w != "signed") or "int"
    if key in BASE_INTS and BASE_INTS[key][0] <= size:
        return int_type(*BASE_INTS[key])
    if key in KERNEL_TYPEDEFS and KERNEL_TYPEDEFS[key][0] <= size:
        return int_type(*KERNEL_TYPEDEFS[key])
    return int_type(size if size in (1, 2, 4, 8) else 8, signed)


# ---------------------------------------------------------------- integer rules
def promote(t: Type) -> Type:
    """Integer promotion: anything narrower than int becomes int."""
    if t.kind is Kind.POINTER:
        return int_type(8, False)
    if t.size < 4:
        return INT
    return int_type(t.size, t.signed)


def arith(a: Type, b: Type) -> Type:
    """The usual arithmetic conversions (LP64)."""
    a, b = promote(a), promote(b)
    if a.size != b.size:
        return a if a.size > b.size else b
    return int_type(a.size, a.signed and b.signed)


def is_scalar(t: Type) -> bool:
    return t.kind in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER)


def preserves(frm: Type, to: Type) -> bool:
    """Is every value of integer type frm also one of to's (C's conversion changes nothing)?"""
    if to.kind is Kind.POINTER or to.size >= 8 or to.size == 0:
        return True                # 64 bits: normalize() does nothing either
    if frm.kind is Kind.POINTER or frm.size == 0 or frm.size > to.size:
        return False
    if frm.signed:
        return to.signed
    return frm.size < to.size or not to.signed
