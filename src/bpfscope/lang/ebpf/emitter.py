"""Instruction buffer with labels, a stack allocator and a small register pool.

Registers: r6 holds ctx for the whole program; r7–r9 hold expression temporaries
(they survive helper calls); r0–r5 are scratch inside one emitted sequence. When the
pool is empty a temporary lives in a stack slot instead — `IntVal` hides which.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...kernel import insn as I
from ...kernel.uapi import HELPER_ID
from ..diagnostics import CompileError, Span

STACK_LIMIT = 512
CTX = I.R6
POOL = (I.R7, I.R8, I.R9)


class Label:
    __slots__ = ("pos", "name")

    def __init__(self, name: str = "") -> None:
        self.pos = -1
        self.name = name


@dataclass
class IntVal:
    """An integer temporary: in a register (reg >= 0) or a stack slot (off < 0)."""
    reg: int = -1
    off: int = 0


class StackLimitError(CompileError):
    """A program needs more than the BPF stack (codegen retries with a scratch-map frame)."""


class Emitter:
    def __init__(self, limit: int = STACK_LIMIT, pool: tuple[int, ...] = POOL) -> None:
        self.insns: list[I.Insn] = []
        self._fixups: list[tuple[int, Label]] = []
        self.sp = 0                  # bytes of stack in use (grows downward from r10)
        self.max_sp = 0
        self.limit = limit           # above STACK_LIMIT: the frame lives in a per-CPU map value
        self.pool = pool
        self.free = list(pool)
        self.spans: list[tuple[int, Span]] = []

    # ---------------------------------------------------------- emission
    def emit(self, *ins: I.Insn | list[I.Insn]) -> None:
        for x in ins:
            if isinstance(x, list):
                self.insns.extend(x)
            else:
                self.insns.append(x)

    def mark(self, span: Span) -> None:
        self.spans.append((len(self.insns), span))

    def label(self, name: str = "") -> Label:
        return Label(name)

    def place(self, lab: Label) -> None:
        lab.pos = len(self.insns)

    def jump(self, ins: I.Insn, lab: Label) -> None:
        """Emit a jump whose offset is fixed up when `lab` is placed."""
        self._fixups.append((len(self.insns), lab))
        self.insns.append(ins)

    def ja(self, lab: Label) -> None:
        self.jump(I.ja(), lab)

    def finish(self) -> list[I.Insn]:
        for idx, lab in self._fixups:
            if lab.pos < 0:
                raise AssertionError(f"label {lab.name} never placed")
            self.insns[idx].off = lab.pos - idx - 1
        self._fixups.clear()
        return self.insns

    def call(self, helper: str) -> None:
        self.emit(I.call(HELPER_ID[helper]))

    # ---------------------------------------------------------- stack
    def alloc(self, size: int, span: Span | None = None) -> int:
        """Reserve `size` bytes (8-aligned); returns the (negative) offset from r10."""
        size = (size + 7) & ~7
        self.sp += size
        if self.sp > self.limit:
            if span is None and self.spans:
                span = self.spans[-1][1]  # the statement being generated
            raise StackLimitError(
                f"BPF stack limit exceeded: this probe needs more than {self.limit} bytes of stack "
                "(try a smaller max_strlen, or fewer string values in one statement)", span)
        self.max_sp = max(self.max_sp, self.sp)
        return -self.sp

    def zero(self, off: int, size: int) -> None:
        """Zero [r10+off, r10+off+size) with naturally aligned 8/4/2/1-byte immediate stores
        (the verifier rejects misaligned stack access; strings pack at odd offsets)."""
        end = off + size
        o = off
        while o < end:
            n = _chunk(o, end)
            self.emit(I.st_imm(n, I.R10, o, 0))
            o += n

    def store_bytes(self, off: int, data: bytes) -> None:
        """Write a constant byte string to the stack."""
        o = 0
        while o < len(data):
            n = min(4, _chunk(off + o, off + len(data)))
            v = int.from_bytes(data[o:o + n], "little", signed=True)
            self.emit(I.st_imm(n, I.R10, off + o, v))
            o += n

    def copy(self, dst_off: int, src_off: int, size: int) -> None:
        """Stack-to-stack copy through r0 (chunks aligned at both ends)."""
        o = 0
        while o < size:
            n = min(_chunk(src_off + o, src_off + size), _chunk(dst_off + o, dst_off + size))
            self.emit(I.ldx(n, I.R0, I.R10, src_off + o), I.stx(n, I.R10, I.R0, dst_off + o))
            o += n

    # ---------------------------------------------------------- int temporaries
    def new_int(self) -> IntVal:
        if self.free:
            return IntVal(reg=self.free.pop())
        return IntVal(off=self.alloc(8))

    def release(self, v: IntVal) -> None:
        if v.reg >= 0 and v.reg not in self.free:
            self.free.append(v.reg)

    def load(self, v: IntVal, scratch: int) -> int:
        """A register holding v's value (v's own register, or `scratch` loaded from the stack)."""
        if v.reg >= 0:
            return v.reg
        self.emit(I.ldx(8, scratch, I.R10, v.off))
        return scratch

    def set_from(self, v: IntVal, reg: int) -> None:
        """v := reg."""
        if v.reg >= 0:
            if v.reg != reg:
                self.emit(I.mov64_reg(v.reg, reg))
        else:
            self.emit(I.stx(8, I.R10, reg, v.off))

    def set_imm(self, v: IntVal, imm: int) -> None:
        if -(1 << 31) <= imm < (1 << 31):
            if v.reg >= 0:
                self.emit(I.mov64_imm(v.reg, imm))
            else:
                self.emit(I.st_imm(8, I.R10, v.off, 0), I.mov64_imm(I.R0, imm),
                          I.stx(8, I.R10, I.R0, v.off))
        else:
            r = v.reg if v.reg >= 0 else I.R0
            self.emit(I.ld_imm64(r, imm))
            if v.reg < 0:
                self.emit(I.stx(8, I.R10, I.R0, v.off))


def _chunk(o: int, end: int) -> int:
    """The largest access size (8, 4, 2, 1) that is aligned at offset o and fits before end."""
    for n in (8, 4, 2, 1):
        if o % n == 0 and o + n <= end:
            return n
    return 1
