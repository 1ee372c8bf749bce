"""struct user_pt_regs of arm64 (the head of its struct pt_regs): x0..x30 at 8*i, then sp, pc and
pstate; arguments in x0-x7, return value in x0. Registers are named r0..r30 (and x0..x30)."""

from __future__ import annotations

from .abi import Arch

OFFSETS = {**{f"r{i}": 8 * i for i in range(31)}, **{f"x{i}": 8 * i for i in range(31)},
           "sp": 248, "pc": 256, "pstate": 264}

ARCH = Arch("arm64", OFFSETS, args=tuple(8 * i for i in range(8)), ret=0, ip=OFFSETS["pc"], sp=OFFSETS["sp"])
