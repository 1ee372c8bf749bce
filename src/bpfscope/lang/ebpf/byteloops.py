"""Byte-by-byte scans of frame buffers (string compare, strlen) that stay small at any length.

Up to UNROLL_MAX bytes the scan is unrolled (the fastest code, and what short literals and
comm-sized strings get). Longer buffers (bpftrace 0.26's 1024-byte strings) get a bounded loop
over two frame pointers, 8 bytes a step (a word that differs or holds a NUL is then resolved
byte by byte). Unrolled, one 1024-byte compare was about 4 500 instructions, and fifteen of them
overflowed BPF's 16-bit jump offsets; and every byte's two data-dependent branches were states
the verifier kept pending, 2 048 per compare against its limit of 8 192 (four compares). By words
it is 256.
Bounded loops need Linux 5.3, older than any kernel with the BTF this project requires.

Registers: R1 and R2 hold the current bytes (at `ne` they are the first differing pair, as
memcmp's difference needs); R3-R5 are the loop's pointers and counter, R0 a constant. All are caller-saved
scratch in the code generators that use this.
"""

from __future__ import annotations

from ...kernel import insn as I
from .emitter import Emitter, Label

UNROLL_MAX = 64


def compare_bytes(e: Emitter, pa: int, pb: int, n: int, ne: Label, nul: Label | None = None) -> None:
    """Compare n bytes at frame offsets pa and pb: jump to `ne` at the first difference, to `nul`
    (when given) at a NUL both share; fall through after n equal bytes."""
    if n <= UNROLL_MAX:
        _unrolled(e, I.R10, pa, I.R10, pb, n, ne, nul)
        return
    if pa % 8 or pb % 8:     # the verifier wants aligned stack words: a byte loop then
        _byte_loop(e, pa, pb, n, ne, nul)
        return
    words, rest = divmod(n, 8)
    top, word_differs = Label("cmp_words"), Label("cmp_word_differs")
    e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, pa),
           I.mov64_reg(I.R4, I.R10), I.alu64_imm(I.ADD, I.R4, pb), I.mov64_imm(I.R5, words))
    e.place(top)
    e.emit(I.ldx(8, I.R1, I.R3, 0), I.ldx(8, I.R2, I.R4, 0))
    e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), word_differs)
    if nul is not None:      # a zero byte in the word: (w - 0x01..01) & ~w & 0x80..80 != 0
        e.emit(*I.ld_imm64(I.R0, 0x0101010101010101), I.alu64_reg(I.SUB, I.R2, I.R0),
               I.alu64_imm(I.XOR, I.R1, -1), I.alu64_reg(I.AND, I.R2, I.R1),
               *I.ld_imm64(I.R0, 0x8080808080808080), I.alu64_reg(I.AND, I.R2, I.R0))
        e.jump(I.jmp_imm(I.JNE, I.R2, 0), word_differs)
    e.emit(I.alu64_imm(I.ADD, I.R3, 8), I.alu64_imm(I.ADD, I.R4, 8), I.alu64_imm(I.SUB, I.R5, 1))
    e.jump(I.jmp_imm(I.JNE, I.R5, 0), top)
    past = Label("cmp_past")
    _unrolled(e, I.R3, 0, I.R4, 0, rest, ne, nul)
    e.ja(past)
    e.place(word_differs)    # the word that differs or holds a NUL, byte by byte
    _unrolled(e, I.R3, 0, I.R4, 0, 8, ne, nul)
    e.ja(ne)                 # not reached: the word had a difference or a NUL
    e.place(past)


def _unrolled(e: Emitter, ra: int, pa: int, rb: int, pb: int, n: int, ne: Label, nul: Label | None) -> None:
    for i in range(n):
        e.emit(I.ldx(1, I.R1, ra, pa + i), I.ldx(1, I.R2, rb, pb + i))
        e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), ne)
        if nul is not None:
            e.jump(I.jmp_imm(I.JEQ, I.R1, 0), nul)


def _byte_loop(e: Emitter, pa: int, pb: int, n: int, ne: Label, nul: Label | None) -> None:
    top = Label("cmp_loop")
    e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, pa),
           I.mov64_reg(I.R4, I.R10), I.alu64_imm(I.ADD, I.R4, pb), I.mov64_imm(I.R5, n))
    e.place(top)
    e.emit(I.ldx(1, I.R1, I.R3, 0), I.ldx(1, I.R2, I.R4, 0))
    e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), ne)
    if nul is not None:
        e.jump(I.jmp_imm(I.JEQ, I.R1, 0), nul)
    e.emit(I.alu64_imm(I.ADD, I.R3, 1), I.alu64_imm(I.ADD, I.R4, 1), I.alu64_imm(I.SUB, I.R5, 1))
    e.jump(I.jmp_imm(I.JNE, I.R5, 0), top)


def string_length(e: Emitter, p: int, n: int) -> None:
    """R3 = the number of bytes before the first NUL in n frame bytes at p (n if none)."""
    done = Label("strlen_done")
    if n <= UNROLL_MAX:
        e.emit(I.mov64_imm(I.R3, 0))
        for i in range(n):
            e.emit(I.ldx(1, I.R1, I.R10, p + i))
            e.jump(I.jmp_imm(I.JEQ, I.R1, 0), done)
            e.emit(I.alu64_imm(I.ADD, I.R3, 1))
        e.place(done)
        return
    top = Label("strlen_loop")
    e.emit(I.mov64_imm(I.R3, 0), I.mov64_reg(I.R4, I.R10), I.alu64_imm(I.ADD, I.R4, p))
    e.place(top)
    e.emit(I.ldx(1, I.R1, I.R4, 0))
    e.jump(I.jmp_imm(I.JEQ, I.R1, 0), done)
    e.emit(I.alu64_imm(I.ADD, I.R3, 1), I.alu64_imm(I.ADD, I.R4, 1))
    e.jump(I.jmp_imm(I.JLT, I.R3, n), top)
    e.place(done)
