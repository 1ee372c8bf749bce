"""Reading a USDT argument at its probe: a register of `struct pt_regs`, user memory at
base + index*scale + displacement (or relative to the probe's ip), or a constant, as the
note's argument spec says. Both front ends (bpftrace's argN, BCC's bpf_usdt_readarg) use it."""

from __future__ import annotations

from ...kernel import insn as I
from ..spec import LocArg
from .arch import host
from .emitter import CTX, Emitter


def extend(e: Emitter, r: int, size: int, signed: bool) -> None:
    """Truncate (or sign-extend) register r to `size` bytes."""
    if size >= 8:
        return
    sh = 64 - 8 * size
    e.emit(I.alu64_imm(I.LSH, r, sh), I.alu64_imm(I.ARSH if signed else I.RSH, r, sh))


def load_loc_arg(e: Emitter, a: LocArg) -> None:
    """r0 = the argument, extended from its size and signedness to 64 bits (clobbers r1-r5)."""
    if a.kind == "const":
        e.emit(I.ld_imm64(I.R0, a.value & 0xFFFFFFFFFFFFFFFF))
        return
    if a.kind == "reg":
        width = a.width if a.width in (1, 2, 4, 8) else 8
        e.emit(I.ldx(width, I.R0, CTX, a.reg))
        extend(e, I.R0, min(width, a.size), a.signed)
        return
    # memory: address into r3, then probe_read_user(size) into a stack slot
    e.emit(I.mov64_imm(I.R3, 0))
    if a.ip_relative:
        e.emit(I.ldx(8, I.R3, CTX, host().ip))
    elif a.base >= 0:
        e.emit(I.ldx(8, I.R3, CTX, a.base))
    if a.index >= 0:
        e.emit(I.ldx(8, I.R1, CTX, a.index))
        if a.scale > 1:
            e.emit(I.alu64_imm(I.MUL, I.R1, a.scale))
        e.emit(I.alu64_reg(I.ADD, I.R3, I.R1))
    if a.disp:
        e.emit(I.ld_imm64(I.R1, a.disp & 0xFFFFFFFFFFFFFFFF), I.alu64_reg(I.ADD, I.R3, I.R1))
    size = a.size if a.size in (1, 2, 4, 8) else 8
    tmp = e.alloc(8)
    e.emit(I.st_imm(8, I.R10, tmp, 0))
    e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, tmp), I.mov64_imm(I.R2, size))
    e.call("probe_read_user")
    e.emit(I.ldx(size, I.R0, I.R10, tmp))
    extend(e, I.R0, size, a.signed)
