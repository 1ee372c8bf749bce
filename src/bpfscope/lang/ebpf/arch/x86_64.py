"""struct pt_regs of x86-64 (the register names bpftrace accepts) and its integer calling
convention: arguments in di, si, dx, cx, r8, r9; return value in ax."""

from __future__ import annotations

from .abi import Arch

_X86_64 = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx",
           "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
OFFSETS = {n: 8 * i for i, n in enumerate(_X86_64)}

ARCH = Arch("x86_64", OFFSETS, args=tuple(OFFSETS[r] for r in ("di", "si", "dx", "cx", "r8", "r9")),
            ret=OFFSETS["ax"], ip=OFFSETS["ip"], sp=OFFSETS["sp"])
