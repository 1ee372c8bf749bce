"""Lazy reader of BPF Type Format (BTF) blobs: vmlinux, kernel modules, programs.

Why lazy: the kernel's BTF holds ~130k types, and a one-liner such as
``curtask->pid`` needs exactly one of them.  Constructing a `Btf` therefore
does a single tight pass that records where each type starts (sizes follow
from kind and vlen alone), and nothing else.  A name lookup finds the name in
the string section with ``bytes.find`` and then the types whose ``name_off``
points there with another ``bytes.find`` over the type section, checked
against the recorded starts.  Types are decoded one at a time, on demand, and
cached.

Split BTF (``/sys/kernel/btf/<module>``) continues the ids and string offsets
of its base; a `Btf` built with ``base=`` delegates lower ids to the base.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import NamedTuple

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
MODULES_DIR = "/sys/kernel/btf"
BTF_MAGIC = 0xEB9F

# Index = BTF_KIND_* value.
KIND_NAMES: tuple[str, ...] = (
    "unknown", "int", "ptr", "array", "struct", "union", "enum", "fwd", "typedef",
    "volatile", "const", "restrict", "func", "func_proto", "var", "datasec", "float",
    "decl_tag", "type_tag", "enum64",
)
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}
_MAX_KIND = len(KIND_NAMES) - 1

# Words (u32) following the 3-word btf_type header: fixed extra + per-vlen entry.
_EXTRA_WORDS = {1: 1, 3: 3, 14: 1, 17: 1}
_VLEN_WORDS = {4: 3, 5: 3, 6: 2, 13: 2, 15: 3, 19: 3}

# Kinds that are only aliases/qualifiers of another type (skipped by resolve()).
_MODIFIERS = frozenset((KIND_CODES["typedef"], KIND_CODES["const"], KIND_CODES["volatile"],
                        KIND_CODES["restrict"], KIND_CODES["type_tag"]))
_QUALIFIERS = frozenset(("const", "volatile", "restrict"))
_POINTER_SIZE = 8

# Above this many raw byte-pattern hits for one name, build the full name index instead.
_CANDIDATE_LIMIT = 256


def _step_tables() -> tuple[list[int], list[int]]:
    """Step tables indexed by the info word's top byte (kind plus kind_flag bit).

    An unknown kind gets a huge step so the offset pass overruns and reports it.
    """
    base = [1 << 40] * 256
    per = [0] * 256
    for top in range(256):
        kind = top & 0x1F
        if top & 0x60 or not 1 <= kind <= _MAX_KIND:
            continue
        base[top] = 3 + _EXTRA_WORDS.get(kind, 0)
        per[top] = _VLEN_WORDS.get(kind, 0)
    return base, per


_STEP_BASE, _STEP_PER = _step_tables()


class BtfError(Exception):
    """Malformed BTF, or a question BTF cannot answer (e.g. sizeof(void))."""


class Member(NamedTuple):
    """A struct/union member.  ``bit_offset`` is relative to its own container."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


class BtfType:
    """One decoded BTF type; fields that do not apply to ``kind`` keep defaults.

    ``size`` is set for int/struct/union/enum/enum64/datasec/float; ``type`` is
    the referenced id for ptr/typedef/qualifiers/func/var/type_tag/decl_tag and
    the return type of a func_proto (and the element type of an array).
    int: ``signed``/``is_char``/``is_bool``, ``bits``, ``int_offset``.
    array: ``elem_type``, ``index_type``, ``nelems``.
    struct/union: ``members``; enum/enum64: ``values`` as (name, value);
    func_proto: ``params`` as (name, type id); datasec: ``secinfo`` as
    (var type, offset, size); func/var: ``linkage``; decl_tag: ``component_idx``.
    (A plain slotted class rather than a dataclass: dataclass creation alone
    costs milliseconds of CLI startup.)
    """

    __slots__ = ("id", "kind", "name", "vlen", "kflag", "size", "type", "signed", "is_char",
                 "is_bool", "bits", "int_offset", "elem_type", "index_type", "nelems", "members",
                 "values", "params", "secinfo", "linkage", "component_idx")

    def __init__(self, id: int, kind: str, name: str = "", vlen: int = 0, kflag: bool = False) -> None:
        self.id = id
        self.kind = kind
        self.name = name
        self.vlen = vlen
        self.kflag = kflag
        self.size = 0
        self.type = 0
        self.signed = False
        self.is_char = False
        self.is_bool = False
        self.bits = 0
        self.int_offset = 0
        self.elem_type = 0
        self.index_type = 0
        self.nelems = 0
        self.members: list[Member] = []
        self.values: list[tuple[str, int]] = []
        self.params: list[tuple[str, int]] = []
        self.secinfo: list[tuple[int, int, int]] = []
        self.linkage = 0
        self.component_idx = -1

    def __repr__(self) -> str:
        fields = [f"id={self.id}", f"kind={self.kind!r}", f"name={self.name!r}"]
        for slot in self.__slots__[3:]:
            val = getattr(self, slot)
            if val and not (slot == "component_idx" and val == -1):
                fields.append(f"{slot}={val!r}")
        return f"BtfType({', '.join(fields)})"


class FuncSignature(NamedTuple):
    """Parameters ``(name, type id)`` and return type id of a function prototype."""

    params: list[tuple[str, int]]
    ret_type: int


_VOID = BtfType(id=0, kind="void", name="void")


class Btf:
    """A parsed BTF blob (optionally split on top of ``base``).  See module doc."""

    _vmlinux: Btf | None = None
    _modules: dict[str, Btf] = {}

    def __init__(self, data: bytes, base: Btf | None = None, *, infos: list[int] | None = None) -> None:
        if len(data) < 24:
            raise BtfError("BTF blob too short")
        magic = struct.unpack_from("<H", data)[0]
        if magic == BTF_MAGIC:
            endian = "<"
        elif magic == 0x9FEB:
            endian = ">"
        else:
            raise BtfError(f"bad BTF magic {magic:#x}")
        _, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            endian + "HBBIIIII", data)
        if version != 1:
            raise BtfError(f"unsupported BTF version {version}")
        t_start = hdr_len + type_off
        s_start = hdr_len + str_off
        if t_start + type_len > len(data) or s_start + str_len > len(data) or type_len % 4:
            raise BtfError("BTF sections exceed the blob")
        self._data = data
        self._base = base
        self._type_start = t_start
        self._type_end = t_start + type_len
        self._strs = data[s_start:s_start + str_len]
        words = array("I")
        words.frombytes(data[t_start:t_start + type_len])
        if (endian == "<") != (sys.byteorder == "little"):
            words.byteswap()
        self._endian = endian
        self._words = words
        # word index of each type's info word (`infos`: a saved index, used when it fits the blob)
        self._infos = infos if infos is not None and _fits(infos, words) else _scan_offsets(words)
        self.start_id: int = base.end_id if base is not None else 1
        self.end_id: int = self.start_id + len(self._infos)
        self._str_base = base._str_end if base is not None else 0
        self._str_end: int = self._str_base + str_len
        self._cache: dict[int, BtfType] = {}
        self._name_index: dict[int, list[int]] | None = None

    # -- construction ---------------------------------------------------------------

    @classmethod
    def vmlinux(cls) -> Btf:
        """The running kernel's BTF, parsed once per process; its type index is kept between
        runs (_saved_index: the blob cannot change before a reboot)."""
        if cls._vmlinux is None:
            with open(VMLINUX_PATH, "rb") as f:
                data = f.read()
            saved = _saved_index(len(data))
            btf = cls(data, infos=saved)
            if btf._infos is not saved:
                _save_index(len(data), btf._infos)
            cls._vmlinux = btf
        return cls._vmlinux

    @classmethod
    def from_file(cls, path: str, base: Btf | None = None) -> Btf:
        with open(path, "rb") as f:
            return cls(f.read(), base)

    @classmethod
    def from_bytes(cls, data: bytes, base: Btf | None = None) -> Btf:
        """Parse a raw blob, e.g. a program's BTF from BPF_BTF_GET_INFO."""
        return cls(bytes(data), base)

    @classmethod
    def module(cls, name: str) -> Btf:
        """A kernel module's split BTF, on top of vmlinux (cached per process)."""
        if "/" in name or name in ("", ".", ".."):
            raise BtfError(f"bad module name {name!r}")
        btf = cls._modules.get(name)
        if btf is None:
            btf = cls._modules[name] = cls.from_file(f"{MODULES_DIR}/{name}", cls.vmlinux())
        return btf

    @property
    def base(self) -> Btf | None:
        return self._base

    # -- raw access -----------------------------------------------------------------

    def __len__(self) -> int:
        """Number of types in this blob (excluding void and any base's types)."""
        return len(self._infos)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start_id, self.end_id))

    def ids(self, kind: str | None = None) -> Iterator[int]:
        """Own type ids in order, optionally only those of one kind (no decoding)."""
        if kind is None:
            yield from range(self.start_id, self.end_id)
            return
        code = KIND_CODES[kind]
        words, start = self._words, self.start_id
        for idx, info_at in enumerate(self._infos):
            if (words[info_at] >> 24) & 0x1F == code:
                yield start + idx

    def _own(self, type_id: int) -> int:
        """Info-word index of one of our own ids."""
        idx = type_id - self.start_id
        if idx < 0 or type_id >= self.end_id:
            raise BtfError(f"type id {type_id} out of range")
        return self._infos[idx]

    def kind_of(self, type_id: int) -> str:
        """Kind name of a type without decoding it ("void" for id 0)."""
        if type_id == 0:
            return "void"
        if type_id < self.start_id and self._base is not None:
            return self._base.kind_of(type_id)
        return KIND_NAMES[(self._words[self._own(type_id)] >> 24) & 0x1F]

    def name_of(self, type_id: int) -> str:
        """Name of a type without decoding it ("" if anonymous)."""
        if type_id == 0:
            return "void"
        if type_id < self.start_id and self._base is not None:
            return self._base.name_of(type_id)
        return self.string(self._words[self._own(type_id) - 1])

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` (split offsets continue the base's)."""
        if offset < self._str_base:
            assert self._base is not None
            return self._base.string(offset)
        rel = offset - self._str_base
        strs = self._strs
        if rel >= len(strs):
            raise BtfError(f"string offset {offset} out of range")
        end = strs.find(b"\0", rel)
        return strs[rel:end if end >= 0 else len(strs)].decode("utf-8", "replace")

    # -- lookup ---------------------------------------------------------------------

    def _string_offsets(self, needle: bytes) -> list[int]:
        """All string-section offsets (global numbering) holding exactly ``needle``."""
        found = self._base._string_offsets(needle) if self._base is not None else []
        strs, pat, pos = self._strs, b"\0" + needle + b"\0", 0
        while (hit := strs.find(pat, pos)) >= 0:
            found.append(self._str_base + hit + 1)
            pos = hit + 1
        return found

    def _own_ids_named(self, name_off: int) -> list[int]:
        """Own type ids whose name_off is ``name_off``, without scanning every type."""
        if self._name_index is not None:
            return self._name_index.get(name_off, [])
        import re  # lazily: a literal regex scans ~4x faster than bytes.find here

        pat = re.compile(re.escape(struct.pack(self._endian + "I", name_off)))
        lo = self._type_start
        infos, n = self._infos, len(self._infos)
        out: list[int] = []
        hits = 0
        for match in pat.finditer(self._data, lo, self._type_end):
            rel = match.start() - lo
            if rel & 3:
                continue
            hits += 1
            if hits > _CANDIDATE_LIMIT:
                return self._build_name_index().get(name_off, [])
            info_at = rel // 4 + 1
            idx = bisect_left(infos, info_at)
            if idx < n and infos[idx] == info_at:
                out.append(self.start_id + idx)
        return out

    def _build_name_index(self) -> dict[int, list[int]]:
        index: dict[int, list[int]] = {}
        words, start = self._words, self.start_id
        for idx, info_at in enumerate(self._infos):
            off = words[info_at - 1]
            if off:
                lst = index.get(off)
                if lst is None:
                    index[off] = [start + idx]
                else:
                    lst.append(start + idx)
        self._name_index = index
        return index

    def find_all(self, name: str, kind: str | None = None) -> list[int]:
        """Ids (ascending, base first) of every type called ``name`` [of ``kind``]."""
        if not name:
            return []
        code = KIND_CODES[kind] if kind is not None else -1
        if code == 0:
            raise BtfError(f"unknown BTF kind {kind!r}")
        offsets = self._string_offsets(name.encode())
        return self._find_offsets(offsets, code)

    def _find_offsets(self, offsets: list[int], code: int) -> list[int]:
        out = self._base._find_offsets(offsets, code) if self._base is not None else []
        own: list[int] = []
        for off in offsets:
            own.extend(self._own_ids_named(off))
        if code >= 0:
            words, infos, start = self._words, self._infos, self.start_id
            own = [i for i in own if (words[infos[i - start]] >> 24) & 0x1F == code]
        own.sort()
        return out + own

    def find(self, name: str, kind: str | None = None) -> int | None:
        """Lowest id of a type called ``name`` [of ``kind``], or None."""
        found = self.find_all(name, kind)
        return found[0] if found else None

    # -- decoding -------------------------------------------------------------------

    def get(self, type_id: int) -> BtfType:
        """Decoded type ``type_id`` (id 0 is void); decoded once, then cached."""
        if type_id == 0:
            return _VOID
        if type_id < self.start_id and self._base is not None:
            return self._base.get(type_id)
        t = self._cache.get(type_id)
        if t is None:
            t = self._cache[type_id] = self._decode(type_id)
        return t

    def _decode(self, type_id: int) -> BtfType:
        w = self._words
        at = self._own(type_id)
        info = w[at]
        code = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        kind = KIND_NAMES[code]
        sz = w[at + 1]
        s = self.string
        t = BtfType(id=type_id, kind=kind, name=s(w[at - 1]), vlen=vlen, kflag=kflag)
        x = at + 2  # first word after the header
        if kind in ("int", "struct", "union", "enum", "enum64", "datasec", "float"):
            t.size = sz
        elif kind != "fwd":
            t.type = sz
        if kind == "int":
            enc = w[x]
            t.signed, t.is_char, t.is_bool = bool(enc >> 24 & 1), bool(enc >> 24 & 2), bool(enc >> 24 & 4)
            t.int_offset, t.bits = (enc >> 16) & 0xFF, enc & 0xFF
        elif kind == "array":
            t.elem_type, t.index_type, t.nelems = w[x], w[x + 1], w[x + 2]
            t.type = t.elem_type
        elif kind in ("struct", "union"):
            for i in range(x, x + 3 * vlen, 3):
                off = w[i + 2]
                if kflag:
                    t.members.append(Member(s(w[i]), w[i + 1], off & 0xFFFFFF, off >> 24))
                else:
                    t.members.append(Member(s(w[i]), w[i + 1], off))
        elif kind == "enum":
            for i in range(x, x + 2 * vlen, 2):
                val = w[i + 1]
                if kflag and val & 0x80000000:
                    val -= 1 << 32
                t.values.append((s(w[i]), val))
        elif kind == "enum64":
            for i in range(x, x + 3 * vlen, 3):
                val = w[i + 1] | (w[i + 2] << 32)
                if kflag and val & (1 << 63):
                    val -= 1 << 64
                t.values.append((s(w[i]), val))
        elif kind == "func_proto":
            t.params = [(s(w[i]), w[i + 1]) for i in range(x, x + 2 * vlen, 2)]
        elif kind == "datasec":
            t.secinfo = [(w[i], w[i + 1], w[i + 2]) for i in range(x, x + 3 * vlen, 3)]
        elif kind == "func":
            t.linkage = vlen
        elif kind == "var":
            t.linkage = w[x]
        elif kind == "decl_tag":
            val = w[x]
            t.component_idx = val - (1 << 32) if val & 0x80000000 else val
        return t

    # -- type algebra ---------------------------------------------------------------

    def resolve(self, type_id: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag down to the underlying id."""
        seen = 0
        while type_id and self._kind_code(type_id) in _MODIFIERS:
            type_id = self.get(type_id).type
            seen += 1
            if seen > 64:
                raise BtfError(f"modifier loop at type {type_id}")
        return type_id

    def _kind_code(self, type_id: int) -> int:
        if type_id < self.start_id and self._base is not None:
            return self._base._kind_code(type_id)
        return (self._words[self._own(type_id)] >> 24) & 0x1F

    def sizeof(self, type_id: int) -> int:
        """Size in bytes; BtfError for void, functions and forward declarations."""
        t = self.get(self.resolve(type_id))
        if t.kind in ("int", "struct", "union", "enum", "enum64", "datasec", "float"):
            return t.size
        if t.kind == "ptr":
            return _POINTER_SIZE
        if t.kind == "array":
            return t.nelems * self.sizeof(t.elem_type)
        if t.kind == "var":
            return self.sizeof(t.type)
        raise BtfError(f"type {type_id} ({t.kind}) has no size")

    def alignof(self, type_id: int) -> int:
        """Natural alignment in bytes (1 for packed structs), as a C compiler lays it out."""
        memo: dict[int, int] = self.__dict__.setdefault("_align_memo", {})
        hit = memo.get(type_id)
        if hit is None:
            hit = memo[type_id] = self._alignof(type_id)
        return hit

    def _alignof(self, type_id: int) -> int:
        t = self.get(self.resolve(type_id))
        if t.kind in ("int", "float", "enum", "enum64"):
            return max(1, min(t.size, _POINTER_SIZE))
        if t.kind == "ptr":
            return _POINTER_SIZE
        if t.kind == "array":
            return self.alignof(t.elem_type)
        if t.kind in ("struct", "union"):
            align = 1
            for m in t.members:
                a = self.alignof(m.type)
                if not m.bitfield_size and m.bit_offset % (8 * a):
                    return 1  # misaligned member: the struct must be packed
                align = max(align, a)
            if t.size % align:
                return 1
            return align
        raise BtfError(f"type {type_id} ({t.kind}) has no alignment")

    def member(self, struct_id: int, name: str) -> tuple[int, Member] | None:
        """Find member ``name`` of a struct/union, also inside anonymous members.

        Returns ``(bit_offset, member)`` where ``bit_offset`` counts from the start
        of ``struct_id`` (through any anonymous containers); ``member.bit_offset``
        stays relative to its innermost container.  Divide by 8 for bytes.
        """
        t = self.get(self.resolve(struct_id))
        if t.kind not in ("struct", "union"):
            return None
        for m in t.members:
            if m.name == name:
                return m.bit_offset, m
        for m in t.members:
            if not m.name and self.kind_of(self.resolve(m.type)) in ("struct", "union"):
                found = self.member(m.type, name)
                if found is not None:
                    return m.bit_offset + found[0], found[1]
        return None

    def func_proto_of(self, func_name: str) -> FuncSignature | None:
        """Signature of the FUNC ``func_name`` (for fentry/fexit), or None."""
        fid = self.find(func_name, "func")
        if fid is None:
            return None
        proto = self.get(self.get(fid).type)
        if proto.kind != "func_proto":
            return None
        return FuncSignature(list(proto.params), proto.type)

    def tracepoint_args(self, tp_name: str) -> list[tuple[str, int]] | None:
        """tp_btf arguments ``(name, type id)`` of raw tracepoint ``tp_name``.

        Types come from typedef ``btf_trace_<tp>``: a pointer to a func_proto
        whose first parameter (``void *__data``) is skipped.  That proto is
        unnamed, so names come from the kernel's ``__bpf_trace_<tp>`` or
        ``__probestub_<tp>`` FUNC with the same shape (else "arg0", "arg1", ...).
        None when the tracepoint has no BTF.
        """
        tid = self.find("btf_trace_" + tp_name, "typedef")
        if tid is None:
            return None
        ptr = self.get(self.resolve(tid))
        if ptr.kind != "ptr":
            return None
        proto = self.get(self.resolve(ptr.type))
        if proto.kind != "func_proto" or not proto.params:
            return None
        types = [ptype for _, ptype in proto.params[1:]]
        names = [f"arg{i}" for i in range(len(types))]
        for prefix in ("__bpf_trace_", "__probestub_"):
            sig = self.func_proto_of(prefix + tp_name)
            if sig is not None and len(sig.params) == len(types) + 1:
                names = [name or names[i] for i, (name, _) in enumerate(sig.params[1:])]
                break
        return list(zip(names, types, strict=True))

    # -- C spelling -----------------------------------------------------------------

    def type_name(self, type_id: int, declarator: str = "") -> str:
        """C spelling of a type, e.g. ``struct task_struct *``, ``char[16]``,
        ``const char *``, ``void (*)(int)``; ``declarator`` names the object.
        """
        return _spell(self, type_id, declarator)


def _scan_offsets(words: array[int]) -> list[int]:
    """Info-word index of every type, in id order (the only eager pass).

    The loop ends on IndexError rather than testing a bound each step: this is
    the hot path of every BTF-using command.
    """
    infos: list[int] = []
    add = infos.append
    base, per = _STEP_BASE, _STEP_PER
    i = 1
    try:
        while True:
            info = words[i]
            add(i)
            top = info >> 24
            i += base[top] + (info & 0xFFFF) * per[top]
    except IndexError:
        pass
    if i != len(words) + 1:
        bad = (words[infos[-1]] >> 24) & 0x1F if infos else 0
        raise BtfError(f"BTF type section is malformed (kind {bad} near word {infos[-1] if infos else 0})")
    return infos


def _fits(infos: list[int], words: array[int]) -> bool:
    """A saved index belongs to this blob: it starts at the first type and its last type
    ends exactly at the end of the type section (a stale or truncated one does not)."""
    if not infos or infos[0] != 1 or infos[-1] >= len(words):
        return False
    info = words[infos[-1]]
    top = info >> 24
    return infos[-1] + _STEP_BASE[top] + (info & 0xFFFF) * _STEP_PER[top] == len(words) + 1


# The vmlinux type index (~130k offsets, ~40 ms to scan in Python) saved per boot, for root
# only, in a directory only root can write (a wrong index would misread types).
_INDEX_DIR = "/var/cache/bpfscope/btf"


def _index_path(size: int) -> str | None:
    if os.geteuid() != 0 or os.environ.get("BPFSCOPE_NO_CACHE", "") not in ("", "0"):
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return None
    return f"{_INDEX_DIR}/vmlinux-{boot}-{size}-{sys.byteorder}"


def _saved_index(size: int) -> list[int] | None:
    path = _index_path(size)
    if path is None:
        return None
    try:
        st = os.stat(_INDEX_DIR)
        if st.st_uid != 0 or st.st_mode & 0o022:
            return None
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if len(raw) % 4:
        return None
    a = array("I")
    a.frombytes(raw)
    return a.tolist()


def _save_index(size: int, infos: list[int]) -> None:
    """Atomically; failing only costs the next run its scan."""
    path = _index_path(size)
    if path is None:
        return
    try:
        os.makedirs(_INDEX_DIR, mode=0o700, exist_ok=True)
        for old in os.listdir(_INDEX_DIR):   # earlier boots' indexes
            if old.startswith("vmlinux-") and f"{_INDEX_DIR}/{old}" != path:
                os.unlink(f"{_INDEX_DIR}/{old}")
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(array("I", infos).tobytes())
        os.replace(tmp, path)
    except (OSError, OverflowError):
        pass


def _join(base: str, declarator: str) -> str:
    if not declarator:
        return base
    if declarator[0] == "[":
        return base + declarator
    return base + " " + declarator


def _spell(btf: Btf, type_id: int, decl: str) -> str:
    t = btf.get(type_id)
    kind = t.kind
    if kind in ("void", "int", "float", "typedef"):
        return _join(t.name, decl)
    if kind in ("struct", "union", "enum", "enum64"):
        tag = "enum" if kind == "enum64" else kind
        return _join(f"{tag} {t.name}" if t.name else f"{tag} (anon)", decl)
    if kind == "fwd":
        return _join(("union " if t.kflag else "struct ") + t.name, decl)
    if kind == "ptr":
        target = btf.get(t.type)
        while target.kind in _QUALIFIERS or target.kind == "type_tag":
            target = btf.get(target.type)
        inner = "*" + decl
        if target.kind in ("array", "func_proto"):
            inner = "(" + inner + ")"
        return _spell(btf, t.type, inner)
    if kind in _QUALIFIERS:
        target = btf.get(t.type)
        while target.kind in _QUALIFIERS or target.kind == "type_tag":
            target = btf.get(target.type)
        if target.kind == "ptr":
            return _spell(btf, t.type, kind + (" " + decl if decl else ""))
        return kind + " " + _spell(btf, t.type, decl)
    if kind in ("type_tag", "decl_tag", "var"):
        return _spell(btf, t.type, decl)
    if kind == "array":
        return _spell(btf, t.elem_type, decl + f"[{t.nelems}]")
    if kind == "func_proto":
        return _spell(btf, t.type, decl + "(" + _params(btf, t.params) + ")")
    if kind == "func":
        return _spell(btf, t.type, decl or t.name)
    if kind == "datasec":
        return _join(f"SEC(\"{t.name}\")", decl)
    raise BtfError(f"cannot spell type {type_id} ({kind})")


def _params(btf: Btf, params: list[tuple[str, int]]) -> str:
    if not params:
        return "void"
    parts = []
    for i, (_, ptype) in enumerate(params):
        if ptype == 0 and i == len(params) - 1:
            parts.append("...")
        else:
            parts.append(_spell(btf, ptype, ""))
    return ", ".join(parts)
