"""struct pt_regs layout for reg("name") (x86-64, the names bpftrace accepts)."""

from __future__ import annotations

_X86_64 = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx",
           "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
OFFSETS = {n: 8 * i for i, n in enumerate(_X86_64)}


def pt_regs_offset(name: str) -> int | None:
    """Byte offset of register `name` in struct pt_regs, None if there is no such register."""
    return OFFSETS.get(name)
