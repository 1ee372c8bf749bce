"""Subprograms called back by helpers (bpf_loop, bpf_for_each_map_elem): the pseudo-function
reference that names them, pruning unreachable code across the main program and its callbacks,
copying a frame's state in and out."""

from __future__ import annotations

from ...kernel import insn as I
from .emitter import Emitter, Label

PSEUDO_FUNC = 4     # ld_imm64 src: imm is a subprogram's offset (a callback argument)


def prune(insns: list[I.Insn], entries: list[int]) -> tuple[list[I.Insn], list[int]]:
    """Drop unreachable instructions; returns the new list and old index → new index
    (a removed instruction maps to the next kept one). Jumps and subprogram references
    (ld_imm64 of a function) are re-targeted."""
    n = len(insns)
    seen = [False] * n
    work = list(entries)
    while work:
        i = work.pop()
        while 0 <= i < n and not seen[i]:
            seen[i] = True
            ins = insns[i]
            cls = ins.code & 0x07
            if I.is_ld_imm64(ins):
                if i + 1 < n:
                    seen[i + 1] = True
                if ins.src == PSEUDO_FUNC:
                    work.append(i + 1 + ins.imm)
                i += 2
                continue
            if cls in (0x05, 0x06):
                op = ins.code & 0xF0
                if op == 0x90:      # exit
                    break
                if op == 0x80:      # call
                    i += 1
                    continue
                if op == 0x00:      # ja
                    i = i + 1 + ins.off
                    continue
                work.append(i + 1 + ins.off)
            i += 1
    if all(seen):
        return insns, list(range(n + 1))
    newpos = [0] * (n + 1)
    k = 0
    for i in range(n):
        newpos[i] = k
        k += seen[i]
    newpos[n] = k
    out: list[I.Insn] = []
    for i, ins in enumerate(insns):
        if not seen[i]:
            continue
        c = I.Insn(ins.code, ins.dst, ins.src, ins.off, ins.imm)
        cls = c.code & 0x07
        if I.is_ld_imm64(ins) and ins.src == PSEUDO_FUNC:
            c.imm = newpos[i + 1 + ins.imm] - newpos[i] - 1
        elif cls in (0x05, 0x06) and (c.code & 0xF0) not in (0x80, 0x90):
            c.off = newpos[i + 1 + ins.off] - newpos[i] - 1
        out.append(c)
    return out, newpos


def jumped_to(e: Emitter, lab: Label) -> bool:
    """Whether any emitted jump targets `lab` (the verifier rejects unreachable code)."""
    return any(target is lab for _idx, target in e._fixups)


def copy_from(e: Emitter, src: int, src_off: int, dst: int, size: int) -> None:
    """Copy `size` bytes from *(src + src_off) to the stack at dst, widest loads first."""
    o = 0
    while o + 8 <= size:
        e.emit(I.ldx(8, I.R0, src, src_off + o), I.stx(8, I.R10, I.R0, dst + o))
        o += 8
    while o + 4 <= size:
        e.emit(I.ldx(4, I.R0, src, src_off + o), I.stx(4, I.R10, I.R0, dst + o))
        o += 4
    while o < size:
        e.emit(I.ldx(1, I.R0, src, src_off + o), I.stx(1, I.R10, I.R0, dst + o))
        o += 1
