"""What a program reads from a `struct pt_regs` context on one architecture."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """Register offsets in `struct pt_regs` and the integer calling convention (kprobe/uprobe/usdt
    `argN`, `retval`, `func`, stacks); register names are the ones `reg("name")` accepts."""
    name: str
    regs: dict[str, int]
    args: tuple[int, ...]     # pt_regs offsets of the argument registers, in order
    ret: int                  # the return-value register
    ip: int
    sp: int

    def reg_offset(self, name: str) -> int | None:
        """Byte offset of register `name` in struct pt_regs, None if there is no such register."""
        return self.regs.get(name)
