"""BTF to C header conversion: the ``bpftool btf dump ... format c`` equivalent.

Why this ordering machinery: C needs a struct defined before it is embedded
by value, but only declared before it is pointed to; anonymous types must be
written inline; typedef'd and duplicate names need care.  The algorithm is the
one libbpf's btf_dump uses (a DFS marking "strong" by-value links, then an
emission pass that adds forward declarations on demand), so the text matches
bpftool's output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from bpfscope.kernel.btf import Btf, BtfError, BtfType

_HEADER = """#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_FOOTER = """#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""

# order states
_NOT_ORDERED, _ORDERING, _ORDERED = 0, 1, 2
# emit states
_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_MODS = ("volatile", "const", "restrict")
_PTR_BITS = 64
_PADS = (("long", _PTR_BITS), ("int", 32), ("short", 16), ("char", 8))


def _pfx(lvl: int) -> str:
    return "\t" * min(lvl, 12)


class _Dumper:
    """State of one dump: per-type order/emit state and the name dedup maps."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.out: list[str] = []
        self.order: dict[int, int] = {}
        self.emit: dict[int, int] = {}
        self.fwd_emitted: set[int] = set()
        self.referenced: set[int] = set()
        self.queue: list[int] = []
        self.type_names: dict[str, int] = {}
        self.ident_names: dict[str, int] = {}
        self.resolved: dict[int, str] = {}
        self.align_cache: dict[int, int] = {}

    # -- helpers ------------------------------------------------------------

    def t(self, type_id: int) -> BtfType:
        return self.btf.get(type_id)

    def mark_referenced(self, ids: Iterable[int]) -> None:
        """Anonymous enums nobody references are emitted as top-level definitions."""
        ref = self.referenced
        for tid in ids:
            t = self.t(tid)
            k = t.kind
            if k in ("ptr", "typedef", "func", "var", "decl_tag", "type_tag") or k in _MODS:
                ref.add(t.type)
            elif k == "array":
                ref.add(t.elem_type)
                ref.add(t.index_type)
            elif k in ("struct", "union"):
                ref.update(m.type for m in t.members)
            elif k == "func_proto":
                ref.add(t.type)
                ref.update(p for _, p in t.params)
            elif k == "datasec":
                ref.update(v for v, _, _ in t.secinfo)

    def _dups(self, names: dict[str, int], name: str) -> int:
        cnt = names.get(name, 0) + 1
        names[name] = cnt
        return cnt

    def _resolve_name(self, type_id: int, names: dict[str, int]) -> str:
        cached = self.resolved.get(type_id)
        if cached is not None:
            return cached
        t = self.t(type_id)
        if not t.name:
            return ""
        name = t.name
        if not (t.kind == "fwd" or (t.kind == "enum" and t.vlen == 0)):
            cnt = self._dups(names, name)
            if cnt > 1:
                name = f"{name}___{cnt}"
        self.resolved[type_id] = name
        return name

    def type_name(self, type_id: int) -> str:
        return self._resolve_name(type_id, self.type_names)

    def ident_name(self, type_id: int) -> str:
        return self._resolve_name(type_id, self.ident_names)

    def align_of(self, type_id: int) -> int:
        """libbpf's btf__align_of: 0 when unknown, 1 when packing is evident."""
        cached = self.align_cache.get(type_id)
        if cached is not None:
            return cached
        t = self.t(type_id)
        k = t.kind
        if k in ("int", "enum", "enum64", "float"):
            a = min(_PTR_BITS // 8, t.size)
        elif k == "ptr":
            a = _PTR_BITS // 8
        elif k in ("typedef", "type_tag") or k in _MODS:
            a = self.align_of(t.type)
        elif k == "array":
            a = self.align_of(t.elem_type)
        elif k in ("struct", "union"):
            a = 1
            for m in t.members:
                ma = self.align_of(m.type)
                if ma <= 0:
                    a = ma
                    break
                a = max(a, ma)
                if m.bitfield_size == 0 and m.bit_offset % (8 * ma):
                    a = 1
                    break
            else:
                if t.size % a:
                    a = 1
        else:
            a = 0
        self.align_cache[type_id] = a
        return a

    def size_of(self, type_id: int) -> int:
        try:
            return self.btf.sizeof(type_id)
        except BtfError:
            return 0

    def is_packed(self, t: BtfType) -> bool:
        max_align = 1
        for m in t.members:
            a = self.align_of(m.type)
            if a and m.bitfield_size == 0 and m.bit_offset % (8 * a):
                return True
            max_align = max(max_align, a)
        return bool(t.size % max_align)

    # -- ordering -----------------------------------------------------------

    def order_type(self, type_id: int, through_ptr: bool) -> int:
        """DFS over strong (by-value) links; queues named definitions in order.

        Returns 1 when the type is a complete definition a typedef may rely on.
        """
        state = self.order.get(type_id, _NOT_ORDERED)
        if state == _ORDERED:
            return 1
        t = self.t(type_id)
        k = t.kind
        if state == _ORDERING:
            if k in ("struct", "union") and through_ptr and t.name:
                return 0
            raise BtfError(f"unsatisfiable type cycle at id {type_id}")
        if k in ("void", "int", "float"):
            self.order[type_id] = _ORDERED
            return 0
        if k == "ptr":
            res = self.order_type(t.type, True)
            self.order[type_id] = _ORDERED
            return res
        if k == "array":
            return self.order_type(t.elem_type, False)
        if k in ("struct", "union"):
            if through_ptr and t.name:
                return 0
            self.order[type_id] = _ORDERING
            for m in t.members:
                self.order_type(m.type, False)
            if t.name:
                self.queue.append(type_id)
            self.order[type_id] = _ORDERED
            return 1
        if k in ("enum", "enum64", "fwd"):
            if t.name or type_id not in self.referenced:
                self.queue.append(type_id)
            self.order[type_id] = _ORDERED
            return 1
        if k == "typedef":
            strong = self.order_type(t.type, through_ptr)
            if through_ptr and not strong:
                return 0
            self.queue.append(type_id)
            self.order[type_id] = _ORDERED
            return 1
        if k in _MODS or k == "type_tag":
            return self.order_type(t.type, through_ptr)
        if k == "func_proto":
            strong = self.order_type(t.type, through_ptr) > 0
            for _, p in t.params:
                if self.order_type(p, through_ptr) > 0:
                    strong = True
            return int(strong)
        # func, var, datasec, decl_tag: nothing to define
        self.order[type_id] = _ORDERED
        return 0

    # -- emission -----------------------------------------------------------

    def emit_type(self, type_id: int, cont_id: int) -> None:
        """Emit ``type_id``'s definition (and forward declarations it needs)."""
        state = self.emit.get(type_id, _NOT_EMITTED)
        if state == _EMITTED:
            return
        t = self.t(type_id)
        k = t.kind
        w = self.out.append
        top_level = cont_id == 0
        if state == _EMITTING:
            if type_id in self.fwd_emitted:
                return
            if k in ("struct", "union"):
                if type_id == cont_id or not t.name:
                    return
                w(self.struct_fwd(type_id, t) + ";\n\n")
                self.fwd_emitted.add(type_id)
            elif k == "typedef":
                if t.name != "__builtin_va_list":
                    w(self.typedef_def(type_id, t, 0) + ";\n\n")
                self.fwd_emitted.add(type_id)
            return
        if k == "int":
            self.emit[type_id] = _EMITTED
        elif k in ("enum", "enum64"):
            if top_level:
                w(self.enum_def(type_id, t, 0) + ";\n\n")
            self.emit[type_id] = _EMITTED
        elif k in ("ptr", "type_tag") or k in _MODS:
            self.emit_type(t.type, cont_id)
        elif k == "array":
            self.emit_type(t.elem_type, cont_id)
        elif k == "fwd":
            w(self.fwd_def(type_id, t) + ";\n\n")
            self.emit[type_id] = _EMITTED
        elif k == "typedef":
            self.emit[type_id] = _EMITTING
            self.emit_type(t.type, type_id)
            if type_id not in self.fwd_emitted and t.name != "__builtin_va_list":
                w(self.typedef_def(type_id, t, 0) + ";\n\n")
            self.emit[type_id] = _EMITTED
        elif k in ("struct", "union"):
            self.emit[type_id] = _EMITTING
            if top_level or not t.name:
                new_cont = type_id if t.name else cont_id
                for m in t.members:
                    self.emit_type(m.type, new_cont)
            elif type_id not in self.fwd_emitted and type_id != cont_id:
                w(self.struct_fwd(type_id, t) + ";\n\n")
                self.fwd_emitted.add(type_id)
            if top_level:
                w(self.struct_def(type_id, t, 0) + ";\n\n")
                self.emit[type_id] = _EMITTED
            else:
                self.emit[type_id] = _NOT_EMITTED
        elif k == "func_proto":
            self.emit_type(t.type, cont_id)
            for _, p in t.params:
                self.emit_type(p, cont_id)

    def struct_fwd(self, type_id: int, t: BtfType) -> str:
        return f"{t.kind} {self.type_name(type_id)}"

    def fwd_def(self, type_id: int, t: BtfType) -> str:
        return ("union " if t.kflag else "struct ") + self.type_name(type_id)

    def typedef_def(self, type_id: int, t: BtfType, lvl: int) -> str:
        name = self.ident_name(type_id)
        if t.type == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self.type_decl(t.type, name, lvl)

    def enum_def(self, type_id: int, t: BtfType, lvl: int) -> str:
        name = self.type_name(type_id)
        parts = ["enum " + name if name else "enum"]
        if not t.vlen:
            return parts[0]
        parts.append(" {")
        pfx = _pfx(lvl + 1)
        for vname, val in t.values:
            dups = self._dups(self.ident_names, vname)
            if dups > 1:
                vname = f"{vname}___{dups}"
            suffix = ("LL" if t.kflag else "ULL") if t.kind == "enum64" else ""
            parts.append(f"\n{pfx}{vname} = {val}{suffix},")
        parts.append(f"\n{_pfx(lvl)}}}")
        if t.size == 1:
            parts.append(" __attribute__((mode(byte)))")
        elif t.size == 8:
            # A 32-bit enum, or an enum64 whose values all fit in 32 bits, only
            # gets 8 bytes wide when forced.
            if t.kind == "enum" or all(((v % (1 << 64)) >> 32) == 0 for _, v in t.values):
                parts.append(" __attribute__((mode(word)))")
        return "".join(parts)

    def struct_def(self, type_id: int, t: BtfType, lvl: int) -> str:
        is_struct = t.kind == "struct"
        align = self.align_of(type_id)
        packed = is_struct and self.is_packed(t)
        name = self.type_name(type_id)
        parts = [t.kind + (" " + name if name else "") + " {"]
        off = 0
        prev_bitfield = False
        inner = _pfx(lvl + 1)
        for m in t.members:
            m_sz = m.bitfield_size
            m_align = 1 if packed else self.align_of(m.type)
            in_bitfield = prev_bitfield and m_sz != 0
            self.bit_padding(parts, off, m.bit_offset, m_align, in_bitfield, lvl + 1)
            parts.append("\n" + inner + self.type_decl(m.type, m.name, lvl + 1))
            if m_sz:
                parts.append(f": {m_sz}")
                off = m.bit_offset + m_sz
                prev_bitfield = True
            else:
                off = m.bit_offset + max(0, self.size_of(m.type)) * 8
                prev_bitfield = False
            parts.append(";")
        if is_struct:
            self.bit_padding(parts, off, t.size * 8, align, False, lvl + 1)
        if t.members or t.size:
            parts.append("\n" + _pfx(lvl) + "}")
        else:
            parts.append("}")
        if packed:
            parts.append(" __attribute__((packed))")
        return "".join(parts)

    @staticmethod
    def bit_padding(parts: list[str], cur: int, nxt: int, next_align: int, in_bitfield: bool,
                    lvl: int) -> None:
        """Explicit anonymous bitfields that pin the next member at ``nxt`` bits."""
        if cur >= nxt:
            return
        pfx = _pfx(lvl)
        # The widest padding type whose next aligned boundary does not overshoot.
        pad_type, pad_bits = _PADS[-1]
        new_off = -(-cur // pad_bits) * pad_bits
        for cand_type, cand_bits in _PADS:
            cand_off = -(-cur // cand_bits) * cand_bits
            if cand_off <= nxt:
                pad_type, pad_bits, new_off = cand_type, cand_bits, cand_off
                break
        if cur < new_off <= nxt:
            natural = -(-cur // (next_align * 8)) * next_align * 8 if next_align else cur
            if (in_bitfield or (new_off == nxt and natural != new_off)
                    or (new_off != nxt and nxt - new_off <= new_off - cur)):
                parts.append(f"\n{pfx}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                parts.append(f"\n{pfx}{pad_type}: {pad_bits};")
                cur += bits
                continue
            for small_type, small_bits in reversed(_PADS):
                if small_bits >= bits:
                    parts.append(f"\n{pfx}{small_type}: {bits};")
                    cur += bits
                    break

    # -- declarations -------------------------------------------------------

    def type_decl(self, type_id: int, fname: str, lvl: int) -> str:
        """C declaration of ``fname`` with type ``type_id`` (anonymous types inline)."""
        stack: list[int] = []
        tid = type_id
        while True:
            stack.append(tid)
            t = self.t(tid)
            k = t.kind
            if k in ("ptr", "func_proto", "type_tag") or k in _MODS:
                tid = t.type
            elif k == "array":
                tid = t.elem_type
            else:
                break
        out: list[str] = []
        self.type_chain(out, stack, fname, lvl)
        return "".join(out)

    def _emit_mods(self, out: list[str], stack: list[int]) -> None:
        while stack:
            k = self.t(stack[-1]).kind
            if k not in _MODS:
                return
            out.append(k + " ")
            stack.pop()

    def _drop_mods(self, stack: list[int]) -> None:
        while stack and (self.t(stack[-1]).kind in _MODS or self.t(stack[-1]).kind == "type_tag"):
            stack.pop()

    def type_chain(self, out: list[str], stack: list[int], fname: str, lvl: int) -> None:
        last_was_ptr = True
        while stack:
            tid = stack.pop()
            if tid == 0:
                self._emit_mods(out, stack)
                out.append("void")
                last_was_ptr = False
                continue
            t = self.t(tid)
            k = t.kind
            if k in ("int", "float"):
                self._emit_mods(out, stack)
                out.append(t.name)
            elif k in ("struct", "union"):
                self._emit_mods(out, stack)
                if not t.name:
                    out.append(self.struct_def(tid, t, lvl))
                else:
                    out.append(self.struct_fwd(tid, t))
            elif k in ("enum", "enum64"):
                self._emit_mods(out, stack)
                if not t.name:
                    out.append(self.enum_def(tid, t, lvl))
                else:
                    out.append("enum " + self.type_name(tid))
            elif k == "fwd":
                self._emit_mods(out, stack)
                out.append(self.fwd_def(tid, t))
            elif k == "typedef":
                self._emit_mods(out, stack)
                out.append(self.ident_name(tid))
            elif k == "ptr":
                out.append("*" if last_was_ptr else " *")
            elif k in _MODS:
                out.append(" " + k)
            elif k == "type_tag":
                self._emit_mods(out, stack)
                out.append(f' __attribute__((btf_type_tag("{t.name}")))')
            elif k == "array":
                self._drop_mods(stack)
                if not stack:
                    _emit_name(out, fname, last_was_ptr)
                    out.append(f"[{t.nelems}]")
                    return
                multidim = self.t(stack[-1]).kind == "array"
                if fname and not last_was_ptr:
                    out.append(" ")
                if not multidim:
                    out.append("(")
                self.type_chain(out, stack, fname, lvl)
                if not multidim:
                    out.append(")")
                out.append(f"[{t.nelems}]")
                return
            elif k == "func_proto":
                self._drop_mods(stack)
                if stack:
                    out.append(" (")
                    self.type_chain(out, stack, fname, lvl)
                    out.append(")")
                else:
                    _emit_name(out, fname, last_was_ptr)
                out.append("(")
                params = t.params
                if not params or (len(params) == 1 and params[0][1] == 0):
                    out.append("void)")
                    return
                for i, (pname, ptype) in enumerate(params):
                    if i:
                        out.append(", ")
                    if i == len(params) - 1 and ptype == 0:
                        out.append("...")
                        break
                    out.append(self.type_decl(ptype, pname, lvl))
                out.append(")")
                return
            else:
                raise BtfError(f"unexpected {k} (id {tid}) in a declaration")
            last_was_ptr = k == "ptr"
        _emit_name(out, fname, last_was_ptr)

    # -- driver -------------------------------------------------------------

    def dump_type(self, type_id: int) -> None:
        self.queue.clear()
        self.order_type(type_id, False)
        for tid in self.queue:
            self.emit_type(tid, 0)


def _emit_name(out: list[str], name: str, last_was_ptr: bool) -> None:
    out.append((" " + name) if name and not last_was_ptr else name)


def dump_c(btf: Btf, ids: Iterable[int] | None = None) -> str:
    """A vmlinux.h-style C header for ``ids`` (default: all of ``btf``'s own types).

    Types the requested ones need are emitted too (definitions for by-value
    uses, forward declarations for pointer uses), so the text always compiles.
    """
    d = _Dumper(btf)
    all_ids: list[int] = []
    b: Btf | None = btf
    while b is not None:
        all_ids[:0] = list(b)
        b = b.base
    d.mark_referenced(all_ids)
    wanted = list(btf) if ids is None else list(ids)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    try:
        for tid in wanted:
            d.dump_type(tid)
    finally:
        sys.setrecursionlimit(old_limit)
    return _HEADER + "".join(d.out) + _FOOTER
