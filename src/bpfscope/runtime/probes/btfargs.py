"""BTF-typed arguments as `args` fields: shared by tp_btf, fentry/fexit and their kprobe fallback.

A trampoline (or raw tracepoint) passes arguments as a u64 array, so each field sits at
8*index; the kprobe fallback maps the same names onto the calling convention's registers.
"""

from __future__ import annotations

from typing import Any

from ...lang.ctype.types import Kind, Type, int_type
from ...lang.spec import ArgField


def value_type(btf: Any, type_id: int) -> Type:
    """Our Type for a BTF-typed scalar argument (pointers keep their C spelling)."""
    if type_id == 0:
        return int_type(8, False)
    r = btf.resolve(type_id)
    k = btf.kind_of(r)
    if k == "ptr":
        return Type(Kind.POINTER, size=8, name=btf.type_name(type_id))
    if k in ("int", "enum", "enum64"):
        bt = btf.get(r)
        size = btf.sizeof(r)
        return int_type(size if size in (1, 2, 4, 8) else 8, bool(getattr(bt, "signed", False)))
    return int_type(8, False)


def array_fields(btf: Any, params: list[tuple[str, int]]) -> list[ArgField]:
    """`args` fields at 8*index of a u64 argument array."""
    return [ArgField(name or f"arg{i}", value_type(btf, tid), 8 * i) for i, (name, tid) in enumerate(params)]


def register_fields(btf: Any, params: list[tuple[str, int]], offset_of: Any) -> list[ArgField]:
    """`args` fields read from pt_regs (kprobe fallback): only register-passed arguments."""
    out = []
    for i, (name, tid) in enumerate(params):
        off = offset_of(i)
        if off is None:
            break
        out.append(ArgField(name or f"arg{i}", value_type(btf, tid), off))
    return out


def describe(btf: Any, params: list[tuple[str, int]], ret: int | None) -> list[str]:
    """`-lv` lines as bpftrace prints them: `    struct file * file` per argument, then `    RET retval` for fexit."""
    lines = [f"    {btf.type_name(tid)} {name}" for name, tid in params]
    if ret is not None:
        lines.append(f"    {btf.type_name(ret) if ret else 'void'} retval")
    return lines


def enum_type(name: str, size: int) -> Type | None:
    """A tracepoint field declared `enum NAME`: the kernel's enum from BTF, so printf's %s and
    print() show its names (0.26's printf_enum_symbolize_tracepoint). None when BTF lacks it."""
    import os

    from ...kernel.btf import Btf

    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return None
    try:
        btf = Btf.vmlinux()
        tid = btf.find(name, "enum") or btf.find(name, "enum64")
        if tid is None:
            return None
        bt = btf.get(tid)
        values = tuple((v, n) for n, v in bt.values)
    except Exception:   # unreadable BTF: the field stays a plain integer
        return None
    signed = any(v < 0 for v, _n in values)
    return Type(Kind.ENUM, size=size if size in (1, 2, 4, 8) else 8, signed=signed, name=f"enum {name}",
                enum_values=values)
