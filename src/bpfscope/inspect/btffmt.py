"""Rendering raw bytes through BTF the way bpftool's btf_dumper does.

Map keys and values with BTF print as JSON-ish values (`"key": 0`, structs as
objects, char arrays as strings, enums by name); function prototypes in
`prog dump xlated` print as `int handler(void * ctx)`. Values are returned as
Python objects (dict/list/int/str) plus a raw-text wrapper for pointers, so
jsonw.JsonWriter lays them out exactly like bpftool.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from ..kernel.btf import Btf
from .jsonw import Raw


def _int(btf: Btf, t: Any, data: bytes, bit_off: int = 0, bits: int = 0) -> object:
    size = t.size
    total_bits = bits or t.bits or size * 8
    start = bit_off + t.int_offset
    if start % 8 == 0 and total_bits in (8, 16, 32, 64) and not bits:
        raw = int.from_bytes(data[start // 8: start // 8 + total_bits // 8], "little")
    else:
        need = (start + total_bits + 7) // 8
        whole = int.from_bytes(data[:need], "little")
        raw = (whole >> start) & ((1 << total_bits) - 1)
    if t.is_bool and not bits:
        return bool(raw)
    if t.signed and raw >> (total_bits - 1):
        raw -= 1 << total_bits
    if size == 16 and not bits:
        return f"0x{raw:x}"
    return raw


def value(btf: Btf, type_id: int, data: bytes, plain: bool = True) -> object:
    """The bpftool rendering of `data` as BTF type `type_id` (a JSON-able Python value)."""
    t = btf.get(type_id)
    k = t.kind
    if k in ("typedef", "volatile", "const", "restrict", "type_tag"):
        return value(btf, t.type, data, plain)
    if k == "int":
        return _int(btf, t, data)
    if k == "ptr":
        v = struct.unpack_from("<Q", data.ljust(8, b"\0"))[0]
        if plain:
            return Raw(f"{v:#x}" if v else "(nil)")
        return v
    if k in ("enum", "enum64"):
        v = int.from_bytes(data[: t.size], "little", signed=t.signed if hasattr(t, "signed") else False)
        for name, ev in t.values:
            if ev == v:
                return name
        return v
    if k == "array":
        et = btf.get(btf.resolve(t.elem_type))
        esz = btf.sizeof(t.elem_type)
        if et.kind == "int" and esz == 1 and et.is_char:
            s = data[: t.nelems]
            if b"\0" in s and all(32 <= c < 127 for c in s.split(b"\0", 1)[0]):
                return s.split(b"\0", 1)[0].decode()
        return [value(btf, t.elem_type, data[i * esz:(i + 1) * esz], plain) for i in range(t.nelems)]
    if k in ("struct", "union"):
        out: dict[str, object] = {}
        for m in t.members:
            mt = btf.get(btf.resolve(m.type))
            if m.bitfield_size:
                out[m.name] = _int(btf, mt, data, m.bit_offset, m.bitfield_size)
                continue
            off = m.bit_offset // 8
            msz = btf.sizeof(m.type)
            v = value(btf, m.type, data[off: off + msz], plain)
            if not m.name and isinstance(v, dict):
                out.update(v)
            else:
                out[m.name] = v
        return out
    if k == "datasec":
        vars_: list[object] = []
        for vt, off, sz in t.secinfo:
            var = btf.get(vt)
            vars_.append({var.name: value(btf, var.type, data[off: off + sz], plain)})
        return {t.name: vars_}
    if k == "var":
        return {t.name: value(btf, t.type, data, plain)}
    if k == "float":
        fmt = {4: "<f", 8: "<d"}.get(t.size)
        return Raw(repr(struct.unpack_from(fmt, data)[0])) if fmt else "<unknown>"
    return "<unknown>"


def _spell(btf: Btf, tid: int) -> str:
    """A type as bpftool's btf_dumper_type_only spells it (`struct foo *`, `const char *`)."""
    if tid == 0:
        return "void"
    t = btf.get(tid)
    k = t.kind
    if k == "ptr":
        return _spell(btf, t.type) + " *"
    if k in ("const", "volatile", "restrict"):
        return f"{k} {_spell(btf, t.type)}"
    if k in ("struct", "union", "enum"):
        return f"{k} {t.name}" if t.name else f"{k} <anon>"
    if k == "array":
        return f"{_spell(btf, t.elem_type)}[{t.nelems}]"
    if k == "type_tag":
        return _spell(btf, t.type)
    return t.name or k


def func_signature(btf: Btf, func_id: int) -> str:
    """`int handler(void * ctx)` for a BTF FUNC id; "" when it is not one."""
    try:
        f = btf.get(func_id)
    except Exception:
        return ""
    if f.kind != "func":
        return ""
    proto = btf.get(f.type)
    params = ", ".join(f"{_spell(btf, pt)} {pn}".rstrip() if pt else "..." for pn, pt in proto.params)
    return f"{_spell(btf, proto.type)} {f.name}({params})"


def btf_by_id(btf_id: int) -> Any:
    """Parse a loaded BTF object: module BTF is split on vmlinux, everything else standalone."""
    from ..kernel import objinfo

    fd = objinfo.fd_by_id("btf", btf_id)
    try:
        info = objinfo.btf_info(fd, with_data=True)
    finally:
        os.close(fd)
    if info.kernel_btf and info.name != "vmlinux":
        return Btf.from_bytes(info.data, base=Btf.vmlinux())
    return Btf.from_bytes(info.data)
