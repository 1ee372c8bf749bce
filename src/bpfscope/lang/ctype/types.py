"""Value types of the bpftrace language.

One immutable `Type` describes every value the compiler moves around: how many
bytes it takes in BPF memory, and how user space decodes and prints it. The
printers (runtime/output) and the code generator both key off `Type.kind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    NONE = "none"          # statements, void calls
    INT = "int"            # size 1/2/4/8, signed or not
    BOOL = "bool"
    STRING = "string"      # NUL-padded char[size]
    BUFFER = "buffer"      # buf(): u32 length + bytes[size-4]
    TUPLE = "tuple"        # elems, packed at `offsets`
    RECORD = "record"      # named tuple: names + elems
    POINTER = "pointer"    # pointee: Type (a struct/int/...)
    STRUCT = "struct"      # name, fields (BTF or C definition)
    ARRAY = "array"        # elem Type, count
    KSTACK = "kstack"      # u64 stack id (+ mode/limit in `stack_mode`/`limit`)
    USTACK = "ustack"      # u64 stack id + u64 pid (for symbolization)
    KSYM = "ksym"          # u64 kernel address printed as symbol
    USYM = "usym"          # u64 address + u64 pid
    INET = "inet"          # ntop(): u64 family + 16 bytes
    MAC = "mac"            # macaddr(): 6 bytes
    USERNAME = "username"  # u64 uid printed as user name
    TIMESTAMP = "timestamp"  # strftime(): u64 ns + format id
    CGROUP_PATH = "cgroup_path"
    STRERROR = "strerror"  # u64 errno printed as message
    ENUM = "enum"          # int with a symbolic name table
    # map aggregations (only as map values)
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    AVG = "avg"
    STATS = "stats"
    HIST = "hist"
    LHIST = "lhist"
    TSERIES = "tseries"


AGGREGATES = frozenset(
    {Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG, Kind.STATS, Kind.HIST, Kind.LHIST, Kind.TSERIES}
)


@dataclass(frozen=True)
class Type:
    kind: Kind
    size: int = 0
    signed: bool = False
    elems: tuple[Type, ...] = ()
    names: tuple[str, ...] = ()        # record field names / struct field names
    offsets: tuple[int, ...] = ()      # byte offsets of elems (tuples, records, structs)
    name: str = ""                     # struct/enum name, or C type spelling
    pointee: Type | None = None        # POINTER / ARRAY element
    count: int = 0                     # ARRAY length
    params: tuple[int, ...] = ()       # LHIST (min, max, step); HIST (bits,); stack (limit,)
    mode: str = ""                     # stack mode: bpftrace | perf | raw
    enum_values: tuple[tuple[int, str], ...] = field(default=(), compare=False)
    align: int = field(default=0, compare=False)   # STRUCT/TUPLE/RECORD alignment (0: unknown, 8)

    # --- predicates -------------------------------------------------------
    @property
    def is_int(self) -> bool:
        return self.kind in (Kind.INT, Kind.BOOL, Kind.ENUM)

    @property
    def is_aggregate(self) -> bool:
        return self.kind in AGGREGATES

    def __str__(self) -> str:  # spelled as bpftrace's type names in messages
        k = self.kind
        if k is Kind.INT:
            return f"{'int' if self.signed else 'uint'}{self.size * 8}"
        if k is Kind.STRING:
            return f"string[{self.size}]"
        if k is Kind.TUPLE:
            return "(" + ",".join(str(e) for e in self.elems) + ")"
        if k is Kind.RECORD:
            return "(" + ",".join(f"{n}={e}" for n, e in zip(self.names, self.elems, strict=True)) + ")"
        if k is Kind.POINTER:
            if self.name:
                return self.name
            return f"{self.pointee} *" if self.pointee is not None else "void *"
        if k in (Kind.STRUCT, Kind.ENUM) and self.name:
            return self.name
        if k is Kind.ARRAY:
            return f"{self.pointee}[{self.count}]"
        if k is Kind.BUFFER:
            return f"buffer[{self.size - 4}]"
        if k in (Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG, Kind.STATS):
            return f"{k.value}_t"
        return k.value


def int_type(size: int = 8, signed: bool = True) -> Type:
    return Type(Kind.INT, size=size, signed=signed)


INT64 = int_type(8, True)
UINT64 = int_type(8, False)
UINT32 = int_type(4, False)
INT32 = int_type(4, True)
BOOL = Type(Kind.BOOL, size=1)
NONE = Type(Kind.NONE)


def string_type(size: int) -> Type:
    return Type(Kind.STRING, size=size)


def align8(n: int) -> int:
    return (n + 7) & ~7


def tuple_type(elems: list[Type] | tuple[Type, ...], names: tuple[str, ...] = ()) -> Type:
    """Lay elements out as bpftrace's tuples: each at its in-tuple alignment, the whole padded to
    the largest one, so `((int32)1, struct {int m; int n;})` takes 12 bytes and `(int8, int8)` 2."""
    offs: list[int] = []
    off = 0
    biggest = 1
    for e in elems:
        a = _align_of(e)
        biggest = max(biggest, a)
        off = (off + a - 1) & ~(a - 1)
        offs.append(off)
        off += e.size
    size = (off + biggest - 1) & ~(biggest - 1) if elems else 0
    kind = Kind.RECORD if names else Kind.TUPLE
    return Type(kind, size=size, elems=tuple(elems), names=names, offsets=tuple(offs), align=biggest)


def _align_of(t: Type) -> int:
    """bpftrace's in-tuple alignment: byte arrays 1, integers 1/2/4/8 by size, aggregates their own."""
    if t.kind in (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER):
        return t.size if t.size <= 2 else 4 if t.size <= 4 else 8
    if t.kind in (Kind.STRING, Kind.BUFFER, Kind.MAC):
        return 1
    if t.kind is Kind.ARRAY and t.pointee is not None:
        return _align_of(t.pointee)
    if t.kind in (Kind.STRUCT, Kind.TUPLE, Kind.RECORD) and t.align:
        return min(8, t.align)
    return 8


def stack_type(kind: Kind, mode: str = "bpftrace", limit: int = 127) -> Type:
    """kstack: u64 stack id; ustack: u64 stack id + u64 pid (needed to symbolize later)."""
    return Type(kind, size=8 if kind is Kind.KSTACK else 16, mode=mode, params=(limit,))


def pointer_type(pointee: Type | None, name: str = "", space: str = "") -> Type:
    """A pointer; `name` is its C spelling, `space` is "user", "kernel" or "" (the probe's default)."""
    if not name:
        name = (str(pointee) if pointee is not None else "void") + " *"
        name = name.replace("* *", "**")
    return Type(Kind.POINTER, size=8, pointee=pointee, name=name, mode=space)


def struct_ref(name: str, size: int, align: int = 0) -> Type:
    """A struct/union by name only (members are looked up on demand through the TypeDB)."""
    return Type(Kind.STRUCT, size=size, name=name, align=align)
