"""strstr()/strcontains() on long haystacks: one bpf_loop step per start position.

Unrolled, a search tries every start position with every needle byte: about 12 000
instructions for a 4-byte literal in a 1024-byte string (bpftrace 0.26's max_strlen), and a
million for a needle held in a variable. Here the callback (index, ctx) tries one position, so
the verifier checks it once whatever the length. ctx is the result's slot in the caller's frame;
the callback finds the haystack and the needle at their (constant) distance from it, since a
pointer stored in a scratch-map frame would come back as a plain number. In a scratch-map frame a
real-stack slot holds ctx's address, as for globmatch().
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ebpf.emitter import Emitter, IntVal, Label


class StrSearchGen:
    """Mixin for ProgGen (uses its emitter, callbacks and frame state)."""

    def search_loop(self, hay: int, hsize: int, lit: bytes | None, needle: int, nsize: int, v: IntVal,
                    as_bool: bool) -> None:
        """v = the first index of the needle in the haystack (-1), or found (1/0) for strcontains.
        lit: a literal needle (non-empty), else the needle's frame offset and size."""
        e: Emitter = self.e  # type: ignore[attr-defined]
        scratch = getattr(self, "big_frame", False) or getattr(self, "frame_in_scratch", False)
        ctx = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, ctx, -1))
        cb = (_literal_step(lit, hay - ctx, hsize, scratch) if lit is not None
              else _variable_step(hay - ctx, hsize, needle - ctx, nsize, scratch))
        starts = hsize - len(lit) + 1 if lit is not None else hsize
        self.call_loop(cb, max(starts, 1), ctx, scratch)  # type: ignore[attr-defined]
        r = v.reg if v.reg >= 0 else I.R0
        e.emit(I.ldx(8, r, I.R10, ctx))
        if as_bool:     # -1 → 0, an index → 1
            e.emit(I.alu64_imm(I.ADD, r, 1))
            done = Label("ss_bool")
            e.jump(I.jmp_imm(I.JEQ, r, 0), done)
            e.emit(I.mov64_imm(r, 1))
            e.place(done)
        e.set_from(v, r)


def _prologue(cb: Emitter, indirect: bool) -> int:
    ctx = I.R6
    cb.emit(I.ldx(8, ctx, I.R2, 0) if indirect else I.mov64_reg(ctx, I.R2))
    return ctx


def _literal_step(lit: bytes, hay: int, hsize: int, indirect: bool) -> Emitter:
    """Callback (i, ctx): does the literal start at hay[i]? 1 (stop) when found or at the
    haystack's NUL, else 0 (next position)."""
    cb = Emitter()
    ctx = _prologue(cb, indirect)
    stop, nxt = Label("ss_stop"), Label("ss_next")
    cb.jump(I.jmp_imm(I.JGT, I.R1, hsize - len(lit)), stop)
    cb.emit(I.mov64_reg(I.R3, ctx), I.alu64_imm(I.ADD, I.R3, hay), I.alu64_reg(I.ADD, I.R3, I.R1))
    for j, ch in enumerate(lit):
        cb.emit(I.ldx(1, I.R4, I.R3, j))
        if j == 0:
            cb.jump(I.jmp_imm(I.JEQ, I.R4, 0), stop)
        cb.jump(I.jmp_imm(I.JNE, I.R4, ch), nxt)
    _exits(cb, ctx, nxt, stop)
    return cb


def _variable_step(hay: int, hsize: int, needle: int, nsize: int, indirect: bool) -> Emitter:
    """Callback (i, ctx) for a needle in a variable: compare it at hay[i] byte by byte (a bounded
    loop: hay's index is re-checked against its size each step, which is what lets the verifier
    see the read in bounds). Found at the needle's NUL; stop at the haystack's NUL or end."""
    cb = Emitter()
    ctx = _prologue(cb, indirect)
    stop, nxt, found, top = Label("ss_stop"), Label("ss_next"), Label("ss_found"), Label("ss_byte")
    idx, ndl, left = I.R7, I.R8, I.R9
    cb.jump(I.jmp_imm(I.JGE, I.R1, hsize), stop)
    cb.emit(I.mov64_reg(idx, I.R1), I.mov64_reg(ndl, ctx), I.alu64_imm(I.ADD, ndl, needle), I.mov64_imm(left, nsize))
    cb.place(top)
    cb.emit(I.ldx(1, I.R4, ndl, 0))
    cb.jump(I.jmp_imm(I.JEQ, I.R4, 0), found)
    cb.jump(I.jmp_imm(I.JGE, idx, hsize), stop)         # the needle runs past the haystack
    cb.emit(I.mov64_reg(I.R3, ctx), I.alu64_imm(I.ADD, I.R3, hay), I.alu64_reg(I.ADD, I.R3, idx),
            I.ldx(1, I.R5, I.R3, 0))
    cb.jump(I.jmp_imm(I.JEQ, I.R5, 0), stop)            # ... or past its NUL
    cb.jump(I.jmp_reg(I.JNE, I.R5, I.R4), nxt)
    cb.emit(I.alu64_imm(I.ADD, idx, 1), I.alu64_imm(I.ADD, ndl, 1), I.alu64_imm(I.SUB, left, 1))
    cb.jump(I.jmp_imm(I.JNE, left, 0), top)
    cb.place(found)      # every needle byte matched (or it had none)
    _exits(cb, ctx, nxt, stop)
    return cb


def _exits(cb: Emitter, ctx: int, nxt: Label, stop: Label) -> None:
    """Here: found at index R1 (stop). At nxt: try the next position. At stop: give up."""
    cb.emit(I.stx(8, ctx, I.R1, 0), I.mov64_imm(I.R0, 1), I.exit_())
    cb.place(nxt)
    cb.emit(I.mov64_imm(I.R0, 0), I.exit_())
    cb.place(stop)
    cb.emit(I.mov64_imm(I.R0, 1), I.exit_())
