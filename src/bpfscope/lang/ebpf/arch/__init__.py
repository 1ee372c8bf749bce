"""Per-architecture register layouts (struct pt_regs) and calling conventions.

A program runs on the kernel it is loaded into, so the host's layout is the one compiled in.
x86-64 and arm64 are described; any other machine gets x86-64's (as before this package).
"""

from __future__ import annotations

import os
from functools import cache

from .abi import Arch


@cache
def host() -> Arch:
    """The layout of this machine's struct pt_regs."""
    if os.uname().machine in ("aarch64", "arm64"):
        from .arm64 import ARCH
    else:
        from .x86_64 import ARCH
    return ARCH
