"""eBPF instruction encoding and decoding.

An `Insn` is the 8-byte `struct bpf_insn` (opcode, dst:4, src:4, off:s16, imm:s32);
`ld_imm64` takes two slots. The code generator builds lists of Insn; the
disassembler (`prog dump xlated`) decodes the kernel's bytes back with `decode`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {W: 4, H: 2, B: 1, DW: 8}
BYTES_SIZE = {4: W, 2: H, 1: B, 8: DW}
# modes
IMM, ABS, IND, MEM, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0xC0
MEMSX = 0x80
# sources
K, X = 0x00, 0x08
# alu ops
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
# jmp ops
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE, JSLT, JSLE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
# atomic ops (imm of STX|ATOMIC)
FETCH = 0x01

PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3       # ld_imm64: imm = a kernel variable's BTF id, next imm = BTF object fd (0: vmlinux)
PSEUDO_CALL = 1

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

_FMT = struct.Struct("<BBhi")


@dataclass
class Insn:
    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        return _FMT.pack(self.code, (self.src << 4) | self.dst, self.off, _s32(self.imm))


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def encode(insns: list[Insn]) -> bytes:
    return b"".join(i.encode() for i in insns)


def decode(data: bytes) -> list[Insn]:
    out = []
    for code, regs, off, imm in _FMT.iter_unpack(data[: len(data) // 8 * 8]):
        out.append(Insn(code, regs & 0xF, regs >> 4, off, imm))
    return out


# ------------------------------------------------------------------ builders
def mov64_reg(dst: int, src: int) -> Insn:
    return Insn(ALU64 | MOV | X, dst, src)


def mov64_imm(dst: int, imm: int) -> Insn:
    return Insn(ALU64 | MOV | K, dst, 0, 0, imm)


def mov32_imm(dst: int, imm: int) -> Insn:
    return Insn(ALU | MOV | K, dst, 0, 0, imm)


def alu64_reg(op: int, dst: int, src: int) -> Insn:
    return Insn(ALU64 | op | X, dst, src)


def alu64_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(ALU64 | op | K, dst, 0, 0, imm)


def alu32_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(ALU | op | K, dst, 0, 0, imm)


def neg64(dst: int) -> Insn:
    return Insn(ALU64 | NEG | K, dst)


def ld_imm64(dst: int, imm: int, src: int = 0) -> list[Insn]:
    imm &= 0xFFFFFFFFFFFFFFFF
    return [Insn(LD | DW | IMM, dst, src, 0, imm & 0xFFFFFFFF), Insn(0, 0, 0, 0, imm >> 32)]


def ld_map_fd(dst: int, fd: int) -> list[Insn]:
    return ld_imm64(dst, fd, PSEUDO_MAP_FD)


def ld_map_value(dst: int, fd: int, offset: int = 0) -> list[Insn]:
    return [Insn(LD | DW | IMM, dst, PSEUDO_MAP_VALUE, 0, fd), Insn(0, 0, 0, 0, offset)]


def ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(LDX | BYTES_SIZE[size] | MEM, dst, src, off)


def ldx_sx(size: int, dst: int, src: int, off: int) -> Insn:
    """Sign-extending load (kernel >= 6.6); used only when available."""
    return Insn(LDX | BYTES_SIZE[size] | MEMSX, dst, src, off)


def stx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(STX | BYTES_SIZE[size] | MEM, dst, src, off)


def st_imm(size: int, dst: int, off: int, imm: int) -> Insn:
    return Insn(ST | BYTES_SIZE[size] | MEM, dst, 0, off, imm)


def atomic_add(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(STX | BYTES_SIZE[size] | ATOMIC, dst, src, off, ADD)


def jmp_imm(op: int, dst: int, imm: int, off: int = 0) -> Insn:
    return Insn(JMP | op | K, dst, 0, off, imm)


def jmp_reg(op: int, dst: int, src: int, off: int = 0) -> Insn:
    return Insn(JMP | op | X, dst, src, off)


def ja(off: int = 0) -> Insn:
    return Insn(JMP | JA, 0, 0, off)


def call(helper_id: int) -> Insn:
    return Insn(JMP | CALL, 0, 0, 0, helper_id)


def exit_() -> Insn:
    return Insn(JMP | EXIT)


def is_ld_imm64(i: Insn) -> bool:
    return i.code == (LD | DW | IMM)
