"""Kernel (BTF) types as language Types, for `curtask->comm`, `args.skb->len`, casts, sizeof.

Works on any object with `kernel.btf.Btf`'s query interface (find, get, resolve, sizeof,
alignof, type_name, ids) handed in by the runtime, so this layer never opens a file.
Conversion is lazy and cached: a struct converts to a name-only reference; its members are
converted when a field of it is first used, so `curtask->pid` touches a handful of types
out of the kernel's ~100k.
"""

from __future__ import annotations

from typing import Any

from .types import BOOL, Kind, Type, int_type, pointer_type, string_type, struct_ref


class Member:
    """One struct/union member: `type` is the value type (bitfields as plain ints)."""

    __slots__ = ("name", "type", "offset", "shift", "bits")

    def __init__(self, name: str, type: Type, offset: int, shift: int = 0, bits: int = 0) -> None:
        self.name = name
        self.type = type
        self.offset = offset     # byte offset (of the first byte holding a bitfield)
        self.shift = shift       # bit position inside that byte (bitfields)
        self.bits = bits         # bitfield width, 0 for ordinary members

    def __repr__(self) -> str:
        return f"Member({self.name!r}, {self.type}, {self.offset}, {self.shift}, {self.bits})"


class BtfSource:
    """Type lookups against one BTF blob (vmlinux)."""

    def __init__(self, btf: Any) -> None:
        self.btf = btf
        self._types: dict[int, Type] = {}
        self._ids: dict[str, int] = {}
        self._enum_consts: dict[str, tuple[int, int]] | None = None

    # -- names ---------------------------------------------------------------
    def named(self, spelling: str) -> Type | None:
        """'struct task_struct', 'union x', 'enum y' or a typedef name → Type."""
        kind, _, tag = spelling.partition(" ")
        b = self.btf
        if kind in ("struct", "union") and tag:
            if tag.startswith("<btf#"):
                return self.convert(int(tag[5:-1]))
            tid = b.find(tag, kind)
            return self.convert(tid) if tid is not None else None
        if kind == "enum" and tag:
            tid = b.find(tag, "enum")
            if tid is None:
                tid = b.find(tag, "enum64")
            return self.convert(tid) if tid is not None else None
        if " " in spelling:
            return None
        tid = b.find(spelling, "typedef")
        if tid is None:
            return None
        return self.convert(tid)

    def struct_id(self, t: Type) -> int | None:
        tid = self._ids.get(t.name)
        if tid is not None:
            return tid
        kind, _, tag = t.name.partition(" ")
        if tag.startswith("<btf#"):
            return int(tag[5:-1])
        if kind not in ("struct", "union"):
            return None
        found = self.btf.find(tag, kind)
        if found is not None:
            self._ids[t.name] = found
        return found

    # -- conversion ----------------------------------------------------------
    def convert(self, tid: int) -> Type:
        t = self._types.get(tid)
        if t is None:
            t = self._types[tid] = self._convert(tid)
        return t

    def _convert(self, tid: int) -> Type:
        b = self.btf
        if tid == 0:
            return Type(Kind.NONE, name="void")
        r = b.resolve(tid)
        bt = b.get(r)
        k = bt.kind
        if k == "int":
            if bt.is_bool:
                return BOOL
            size = bt.size if bt.size in (1, 2, 4, 8) else 8
            return int_type(size, bool(bt.signed))
        if k in ("enum", "enum64"):
            name = f"enum {bt.name}" if bt.name else f"enum <btf#{r}>"
            signed = any(v < 0 for _, v in bt.values) or bool(getattr(bt, "kflag", False))
            return Type(Kind.ENUM, size=bt.size if bt.size in (1, 2, 4, 8) else 8, signed=signed, name=name,
                        enum_values=tuple((v, n) for n, v in bt.values))
        if k in ("struct", "union"):
            name = f"{k} {bt.name}" if bt.name else f"{k} <btf#{r}>"
            self._ids[name] = r
            try:
                align = int(b.alignof(r))
            except Exception:  # malformed: the natural 8
                align = 0
            return struct_ref(name, bt.size, align)
        if k == "fwd":
            return struct_ref(("union " if bt.kflag else "struct ") + bt.name, 0)
        if k == "ptr":
            target = b.resolve(bt.type)
            tk = b.kind_of(target)
            spelled = b.type_name(tid)
            if tk in ("void", "func_proto"):
                return pointer_type(None, spelled)
            return pointer_type(self.convert(bt.type), spelled)
        if k == "array":
            elem = self.convert(bt.elem_type)
            n = bt.nelems
            if elem.kind is Kind.INT and elem.size == 1 and self._is_char(bt.elem_type):
                return string_type(n)
            return Type(Kind.ARRAY, size=elem.size * n, pointee=elem, count=n, name=b.type_name(tid))
        if k == "float":
            return int_type(bt.size if bt.size in (1, 2, 4, 8) else 8, True)
        return Type(Kind.NONE, name=b.type_name(tid))

    def _is_char(self, tid: int) -> bool:
        bt = self.btf.get(self.btf.resolve(tid))
        return bool(bt.kind == "int" and (bt.is_char or bt.name in ("char", "signed char", "unsigned char")))

    # -- members -------------------------------------------------------------
    def members(self, t: Type) -> list[Member] | None:
        tid = self.struct_id(t)
        if tid is None:
            return None
        bt = self.btf.get(self.btf.resolve(tid))
        if bt.kind not in ("struct", "union"):
            return None
        out: list[Member] = []
        for m in bt.members:
            mt = self.convert(m.type)
            if m.bitfield_size:
                byte = m.bit_offset // 8
                out.append(Member(m.name, _bitfield_value_type(mt), byte, m.bit_offset % 8, m.bitfield_size))
            else:
                out.append(Member(m.name, mt, m.bit_offset // 8))
        return out

    def align(self, t: Type) -> int:
        tid = self.struct_id(t)
        if tid is None:
            return 8
        try:
            return int(self.btf.alignof(tid))
        except Exception:  # malformed or forward: fall back to natural
            return 8

    # -- variables -----------------------------------------------------------
    def percpu_var(self, name: str) -> tuple[int, Type] | None:
        """A per-CPU kernel variable (a VAR of DATASEC `.data..percpu`): its BTF id, which
        ld_imm64 BPF_PSEUDO_BTF_ID carries, and its type; None if BTF has no such variable."""
        b = self.btf
        ids = set(b.find_all(name, "var"))
        if not ids:
            return None
        sec = b.find(".data..percpu", "datasec")
        if sec is None:
            return None
        for vid, _off, _size in b.get(sec).secinfo:
            if vid in ids:
                return vid, self.convert(b.get(vid).type)
        return None

    # -- enumerators ---------------------------------------------------------
    def enum_constant(self, name: str) -> tuple[int, Type] | None:
        if self._enum_consts is None:
            idx: dict[str, tuple[int, int]] = {}
            b = self.btf
            for kind in ("enum", "enum64"):
                for tid in b.ids(kind):
                    for n, v in b.get(tid).values:
                        idx.setdefault(n, (v, tid))
            self._enum_consts = idx
        hit = self._enum_consts.get(name)
        if hit is None:
            return None
        return hit[0], self.convert(hit[1])


def _bitfield_value_type(t: Type) -> Type:
    if t.kind is Kind.ENUM:
        return t
    if t.kind is Kind.BOOL:
        return t
    return int_type(t.size if t.size in (1, 2, 4, 8) else 8, t.signed)
