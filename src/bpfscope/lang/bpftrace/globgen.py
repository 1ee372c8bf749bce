"""globmatch(str, "pattern"): whole-string glob matching (`?`, `*`, `[abc]`, `[a-z]`, `[!x]`).

The pattern is a literal, so it is compiled here into tokens and the matcher's step is code:
one bpf_loop callback advances the classic single-backtrack wildcard algorithm by one step
(state i, j, star, mark in a context block on the caller's stack, next to a copy of the
string), so any string length is verified once instead of unrolled.
"""

from __future__ import annotations

from ...kernel import insn as I
from ..ebpf.callbacks import PSEUDO_FUNC
from ..ebpf.emitter import Emitter, IntVal, Label
from . import ast as A

STATE = 40            # i, j, star, mark, result (u64 each); the string follows
STATE_PTR = -48       # a scratch-map frame's real-stack slot: the state's address (clear of
                      # the loop callbacks' argument and key slots, -8 to -36)
Token = tuple[str, list[tuple[int, int]], bool]   # kind ("*", "set"), byte ranges, negated


def parse_glob(pat: bytes) -> list[Token]:
    """Pattern → tokens: '*' (consecutive stars merged) or a set of byte ranges (maybe negated);
    `?` is every byte but NUL, a literal byte is a one-byte range, an unclosed '[' is literal."""
    out: list[Token] = []
    k = 0
    while k < len(pat):
        ch = pat[k]
        if ch == ord("*"):
            if not out or out[-1][0] != "*":
                out.append(("*", [], False))
            k += 1
        elif ch == ord("?"):
            out.append(("set", [(1, 255)], False))
            k += 1
        elif ch == ord("["):
            end = pat.find(b"]", k + (3 if pat[k + 1:k + 2] == b"!" else 2))
            if end < 0:
                out.append(("set", [(ch, ch)], False))
                k += 1
                continue
            body = pat[k + 1:end]
            neg = body[:1] == b"!"
            if neg:
                body = body[1:]
            ranges: list[tuple[int, int]] = []
            m = 0
            while m < len(body):
                if m + 2 < len(body) and body[m + 1] == ord("-"):
                    ranges.append((min(body[m], body[m + 2]), max(body[m], body[m + 2])))
                    m += 3
                else:
                    ranges.append((body[m], body[m]))
                    m += 1
            out.append(("set", ranges, neg))
            k = end + 1
        else:
            out.append(("set", [(ch, ch)], False))
            k += 1
    return out


class GlobGen:
    """Mixin for ProgGen (uses its emitter, callbacks and string helpers)."""

    def gen_globmatch(self, c: A.Call) -> IntVal:
        # a frame in the scratch map (large values): the matcher's state and string stay there,
        # and bpf_loop gets a real-stack slot holding their address
        scratch = getattr(self, "big_frame", False) or getattr(self, "frame_in_scratch", False)
        pat = c.args[1]
        assert isinstance(pat, A.Str)
        tokens = parse_glob(pat.value.encode("utf-8", "surrogateescape").split(b"\0", 1)[0])
        e = self.e  # type: ignore[attr-defined]
        sp = e.sp
        src, n = self._string_on_stack(c.args[0])  # type: ignore[attr-defined]
        ctx = e.alloc(STATE + n)
        e.emit(I.st_imm(8, I.R10, ctx, 0), I.st_imm(8, I.R10, ctx + 8, 0), I.st_imm(8, I.R10, ctx + 16, -1),
               I.st_imm(8, I.R10, ctx + 24, 0), I.st_imm(8, I.R10, ctx + 32, 0))
        e.copy(ctx + STATE, src, n)
        self.call_loop(_step(tokens, n, scratch), (n + 1) * (len(tokens) + 1) + n + len(tokens) + 2, ctx, scratch)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R0
        e.emit(I.ldx(8, r, I.R10, ctx + 32))
        e.set_from(v, r)
        e.sp = sp
        return v

    def call_loop(self, cb: Emitter, steps: int, ctx: int, scratch: bool) -> None:
        """bpf_loop(steps, cb, ctx block at frame offset ctx). In a scratch-map frame the helper
        gets a real-stack slot holding the block's address (the callback reads it indirectly)."""
        e = self.e  # type: ignore[attr-defined]
        self.callbacks.append((cb, cb.finish(), []))  # type: ignore[attr-defined]
        e.emit(I.mov64_imm(I.R1, steps))
        self.func_refs.append((e, len(e.insns), len(self.callbacks) - 1))  # type: ignore[attr-defined]
        e.emit(I.ld_imm64(I.R2, 0, PSEUDO_FUNC))
        e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, ctx))
        if scratch:
            real = [I.stx(8, I.R10, I.R3, STATE_PTR), I.mov64_reg(I.R3, I.R10)]
            e.emit(*real, I.alu64_imm(I.ADD, I.R3, STATE_PTR))
            self.real_stack_insns.extend(real)  # type: ignore[attr-defined]
        e.emit(I.mov64_imm(I.R4, 0))
        e.call("loop")


def _step(tokens: list[Token], n: int, indirect: bool = False) -> Emitter:
    """The callback (index, ctx): one step of the matcher; returns 1 (stop) once decided.
    indirect: ctx holds the state's address (a scratch-map frame) rather than the state."""
    cb = Emitter()
    ctx, i, j, ch = I.R6, I.R1, I.R2, I.R5
    cont, mismatch, end_str, ok, fail = (Label(x) for x in ("cont", "mismatch", "end", "ok", "fail"))
    cb.emit(I.ldx(8, ctx, I.R2, 0) if indirect else I.mov64_reg(ctx, I.R2), I.ldx(8, i, ctx, 0), I.ldx(8, j, ctx, 8))
    cb.jump(I.jmp_imm(I.JGE, i, n), end_str)
    cb.emit(I.mov64_reg(I.R3, ctx), I.alu64_imm(I.ADD, I.R3, STATE), I.alu64_reg(I.ADD, I.R3, i),
            I.ldx(1, ch, I.R3, 0))
    cb.jump(I.jmp_imm(I.JEQ, ch, 0), end_str)
    for k, (kind, ranges, neg) in enumerate(tokens):
        nxt = Label()
        cb.jump(I.jmp_imm(I.JNE, j, k), nxt)
        if kind == "*":   # remember where the star is; it matches nothing for now
            cb.emit(I.st_imm(8, ctx, 16, k), I.stx(8, ctx, i, 24), I.st_imm(8, ctx, 8, k + 1))
            cb.ja(cont)
        else:
            hit, miss = Label(), Label()
            for lo, hi in ranges:
                skip = Label()
                cb.jump(I.jmp_imm(I.JLT, ch, lo), skip)
                cb.jump(I.jmp_imm(I.JLE, ch, hi), miss if neg else hit)
                cb.place(skip)
            cb.ja(hit if neg else miss)
            cb.place(hit)
            cb.emit(I.alu64_imm(I.ADD, i, 1), I.stx(8, ctx, i, 0), I.st_imm(8, ctx, 8, k + 1))
            cb.ja(cont)
            cb.place(miss)
            cb.ja(mismatch)
        cb.place(nxt)
    # j == len(tokens) with string left, or a byte that did not match: back to the last star
    cb.place(mismatch)
    cb.emit(I.ldx(8, I.R3, ctx, 16))
    cb.jump(I.jmp_imm(I.JSLT, I.R3, 0), fail)
    cb.emit(I.alu64_imm(I.ADD, I.R3, 1), I.stx(8, ctx, I.R3, 8), I.ldx(8, I.R4, ctx, 24),
            I.alu64_imm(I.ADD, I.R4, 1), I.stx(8, ctx, I.R4, 24), I.stx(8, ctx, I.R4, 0))
    cb.ja(cont)
    # the string is consumed: a match if only stars are left in the pattern
    cb.place(end_str)
    for k in range(len(tokens) + 1):
        if all(t[0] == "*" for t in tokens[k:]):
            cb.jump(I.jmp_imm(I.JEQ, j, k), ok)
    cb.place(fail)
    cb.emit(I.st_imm(8, ctx, 32, 0), I.mov64_imm(I.R0, 1), I.exit_())
    cb.place(ok)
    cb.emit(I.st_imm(8, ctx, 32, 1), I.mov64_imm(I.R0, 1), I.exit_())
    cb.place(cont)
    cb.emit(I.mov64_imm(I.R0, 0), I.exit_())
    return cb
