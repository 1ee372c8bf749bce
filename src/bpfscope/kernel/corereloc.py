"""CO-RE relocations: re-target field offsets/sizes/existence to the running kernel's BTF.

A clang `__builtin_preserve_access_index` access records (instruction, local type,
access string "0:1:2", kind). The access string indexes members of the *local* type;
matching them by name against the kernel's type of the same (essential) name gives the
real offset, which is patched into the instruction. A field that does not exist in the
kernel makes the instruction a call to an invalid helper (0xbad2310), as libbpf does, so
the verifier complains only if that code is reachable. Kinds follow enum bpf_core_relo_kind.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .btf import Btf, BtfError

FIELD_BYTE_OFFSET = 0
FIELD_BYTE_SIZE = 1
FIELD_EXISTS = 2
FIELD_SIGNED = 3
FIELD_LSHIFT_U64 = 4
FIELD_RSHIFT_U64 = 5
TYPE_ID_LOCAL = 6
TYPE_ID_TARGET = 7
TYPE_EXISTS = 8
TYPE_SIZE = 9
ENUMVAL_EXISTS = 10
ENUMVAL_VALUE = 11
TYPE_MATCHES = 12

KIND_NAMES = ("byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64",
              "local_type_id", "target_type_id", "type_exists", "type_size", "enumval_exists",
              "enumval_value", "type_matches")
POISON_HELPER = 0xBAD2310


class CoreError(Exception):
    """A relocation that cannot be applied (bad record, ambiguous or impossible patch)."""


@dataclass
class _Field:
    bit_off: int
    type_id: int
    bitfield_size: int


def essential_name(name: str) -> str:
    """`task_struct___v2` and `task_struct` are the same type to CO-RE."""
    i = name.find("___")
    return name if i < 0 else name[:i]


def _local_path(btf: Btf, type_id: int, access: list[int]) -> tuple[list[tuple[str, object]], _Field]:
    """Named access steps and the local field (offset, type, bitfield size)."""
    root = btf.resolve(type_id)
    bit = access[0] * btf.sizeof(root) * 8 if access[0] else 0
    cur = root
    steps: list[tuple[str, object]] = []
    bf = 0
    for idx in access[1:]:
        t = btf.get(btf.resolve(cur))
        if t.kind in ("struct", "union"):
            if idx >= len(t.members):
                raise CoreError(f"member index {idx} out of range in {t.name or 'anon'}")
            m = t.members[idx]
            bit += m.bit_offset
            cur, bf = m.type, m.bitfield_size
            if m.name:
                steps.append(("m", m.name))
        elif t.kind == "array":
            bit += idx * btf.sizeof(t.elem_type) * 8
            cur, bf = t.elem_type, 0
            steps.append(("a", idx))
        else:
            raise CoreError(f"access step into a {t.kind}")
    return steps, _Field(bit, cur, bf)


def _match(target: Btf, cand: int, access0: int, steps: list[tuple[str, object]]) -> _Field | None:
    cur = cand
    bit = access0 * target.sizeof(cand) * 8 if access0 else 0
    bf = 0
    for kind, what in steps:
        t = target.get(target.resolve(cur))
        if kind == "m":
            if t.kind not in ("struct", "union"):
                return None
            found = target.member(t.id, str(what))
            if found is None:
                return None
            off, m = found
            bit += off
            cur, bf = m.type, m.bitfield_size
        else:
            if t.kind != "array":
                return None
            assert isinstance(what, int)
            if t.nelems and what >= t.nelems:
                return None
            bit += what * target.sizeof(t.elem_type) * 8
            cur, bf = t.elem_type, 0
    return _Field(bit, cur, bf)


def _field_value(btf: Btf, f: _Field, kind: int) -> int:
    t = btf.get(btf.resolve(f.type_id))
    if not f.bitfield_size:
        size = btf.sizeof(f.type_id)
        byte_off, bit_sz = f.bit_off // 8, size * 8
    else:
        size = t.size if t.kind in ("int", "enum", "enum64") else 4
        bit_sz = f.bitfield_size
        byte_off = f.bit_off // 8 // size * size
        while f.bit_off + bit_sz - byte_off * 8 > size * 8:
            if size >= 8:
                raise CoreError("bitfield does not fit in 8 bytes")
            size *= 2
            byte_off = f.bit_off // 8 // size * size
    if kind == FIELD_BYTE_OFFSET:
        return byte_off
    if kind == FIELD_BYTE_SIZE:
        return size
    if kind == FIELD_SIGNED:
        return int(t.kind in ("enum", "enum64") and t.kflag or (t.kind == "int" and t.signed))
    if kind == FIELD_LSHIFT_U64:
        return 64 - (f.bit_off + bit_sz - byte_off * 8)
    if kind == FIELD_RSHIFT_U64:
        return 64 - bit_sz
    raise CoreError(f"not a field relocation kind {kind}")


def _candidates(local: Btf, target: Btf, type_id: int) -> list[int]:
    t = local.get(type_id)
    if not t.name:
        raise CoreError(f"CO-RE relocation against anonymous type [{type_id}]")
    kind = "enum" if t.kind == "enum64" else t.kind
    out = target.find_all(essential_name(t.name), kind)
    if t.kind in ("enum", "enum64"):
        out += target.find_all(essential_name(t.name), "enum64")
    return out


def compute(local: Btf, target: Btf, type_id: int, access_str: str, kind: int) -> tuple[int, int] | None:
    """(original value, new value) of one relocation; None when the target lacks it."""
    if kind == TYPE_ID_LOCAL:
        return type_id, type_id
    access = [int(x) for x in access_str.split(":")] if access_str else [0]
    root = local.resolve(type_id) if kind <= FIELD_RSHIFT_U64 else type_id
    try:
        cands = _candidates(local, target, root)
    except BtfError as e:
        raise CoreError(str(e)) from None
    if kind <= FIELD_RSHIFT_U64:
        steps, lfield = _local_path(local, type_id, access)
        orig = _field_value(local, lfield, kind) if kind != FIELD_EXISTS else 1
        results = set()
        for c in cands:
            tf = _match(target, c, access[0], steps)
            if tf is not None:
                results.add(1 if kind == FIELD_EXISTS else _field_value(target, tf, kind))
        if len(results) > 1:
            raise CoreError(f"ambiguous CO-RE relocation {access_str}: {sorted(results)}")
        if not results:
            return (orig, 0) if kind == FIELD_EXISTS else None
        return orig, results.pop()
    if kind in (TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES):
        if not cands:
            return (type_id, 0) if kind in (TYPE_EXISTS, TYPE_MATCHES, TYPE_ID_TARGET) else None
        c = cands[0]
        if kind == TYPE_ID_TARGET:
            return type_id, c
        if kind == TYPE_SIZE:
            return local.sizeof(type_id), target.sizeof(c)
        return 1, 1
    if kind in (ENUMVAL_EXISTS, ENUMVAL_VALUE):
        lt = local.get(local.resolve(type_id))
        if access[0] >= len(lt.values):
            raise CoreError(f"enum value index {access[0]} out of range")
        name, lval = lt.values[access[0]]
        for c in cands:
            for tname, tval in target.get(c).values:
                if essential_name(tname) == essential_name(name):
                    return (1, 1) if kind == ENUMVAL_EXISTS else (lval, tval)
        return (1, 0) if kind == ENUMVAL_EXISTS else None
    raise CoreError(f"unknown CO-RE relocation kind {kind}")


# ------------------------------------------------------------------ patching
_LD, _LDX, _ST, _STX, _ALU, _ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x07
_SIZE_BITS = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}


def patch(insns: bytearray, idx: int, orig: int, new: int | None, kind: int, new_size: int = 0) -> None:
    """Write a relocation's value into instruction `idx` (8-byte slots) of `insns`."""
    at = idx * 8
    code = insns[at]
    cls = code & 7
    if new is None:  # poison: an invalid helper call, reported only if reachable
        struct.pack_into("<BBhi", insns, at, 0x85, 0, 0, POISON_HELPER)
        return
    if cls in (_ALU, _ALU64) and not code & 0x08:
        if not -(1 << 31) <= new < (1 << 32):
            raise CoreError(f"relocated value {new} does not fit an immediate")
        struct.pack_into("<I", insns, at + 4, new & 0xFFFFFFFF)
    elif cls in (_LDX, _ST, _STX):
        if kind != FIELD_BYTE_OFFSET or not -(1 << 15) <= new < (1 << 15):
            raise CoreError(f"cannot patch memory instruction #{idx} with {KIND_NAMES[kind]}={new}")
        struct.pack_into("<h", insns, at + 2, new)
        if new_size and cls == _LDX and new_size in _SIZE_BITS:
            insns[at] = (code & ~0x18) | _SIZE_BITS[new_size]
    elif code == 0x18:
        struct.pack_into("<I", insns, at + 4, new & 0xFFFFFFFF)
        struct.pack_into("<I", insns, at + 12, (new >> 32) & 0xFFFFFFFF)
    else:
        raise CoreError(f"instruction #{idx} (opcode {code:#x}) cannot take a CO-RE relocation")
    del orig


def apply(insns: bytearray, idx: int, local: Btf, target: Btf, type_id: int, access_str: str,
          kind: int) -> None:
    """Compute and patch one relocation record on instruction `idx`."""
    res = compute(local, target, type_id, access_str, kind)
    if res is None:
        patch(insns, idx, 0, None, kind)
        return
    orig, new = res
    new_size = 0
    if kind == FIELD_BYTE_OFFSET and (insns[idx * 8] & 7) == _LDX:
        try:
            lsz = compute(local, target, type_id, access_str, FIELD_BYTE_SIZE)
        except CoreError:
            lsz = None
        if lsz is not None and lsz[0] != lsz[1]:
            new_size = lsz[1]
    patch(insns, idx, orig, new, kind, new_size)
