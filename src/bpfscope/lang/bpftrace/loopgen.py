"""`for ($kv : @map) { ... }`: bpf_for_each_map_elem with the body as a callback subprogram.

A mixin of `codegen.ProgGen`. The body runs in its own BPF stack frame, yet must read and
write the probe's variables. Every program with such a loop keeps its variables in one
block at the top of its frame; each callback frame reserves the same block at the same
offsets, copies it in from the caller (the callback context argument points at it) on
entry and back out before returning, so the body's code addresses variables exactly as
the probe's own code does. The probe's ctx pointer is kept in the block too, so helpers
that need ctx work inside loops. `return`/`exit()` inside a body set a flag in the block
that the caller checks after the loop.

Per-CPU aggregation maps (count, sum, min, max, avg) yield the value combined over all
CPUs (bpf_map_lookup_percpu_elem), as bpftrace does.

A probe whose frame lives in the per-CPU scratch map (long strings) cannot pass its block:
the loop helpers take a context on the BPF stack. It passes a two-slot context on the real
stack instead (the block's address in the scratch value, and ctx), and the callback's frame
is laid over the probe's own, its block at the same place: the variables are shared, not
copied, and the callback's temporaries reuse the probe's (none is live across a loop).
"""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel.uapi import HELPER_ID
from ..ctype.types import Type
from ..diagnostics import CompileError
from ..ebpf.callbacks import PSEUDO_FUNC, copy_from, jumped_to, prune
from ..ebpf.emitter import CTX, STACK_LIMIT, Emitter, Label, StackLimitError
from ..ebpf.frame import SCRATCH_LIMIT, redirect_frame
from ..ebpf.maps import PERCPU_KINDS
from . import ast as A


def callback_loops(node: Any) -> list[A.For]:
    """Every for-loop of a probe: each becomes a callback subprogram."""
    return [n for n in A.walk(node) if isinstance(n, A.For)]


# the real-stack context a scratch-frame probe passes its loops: the block's address, then ctx
REAL_BLOCK_PTR, REAL_CTX = -24, -16


class LoopGen:
    e: Emitter
    big_frame: bool
    frame_in_scratch: bool
    exit_label: Label
    loops: list[tuple[Label, Label]]
    consts: list[tuple[int, str]]
    var_slots: dict[str, tuple[int, Type]]
    shared: Any
    probe: A.Probe

    def block(self, b: A.Block) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_int(self, x: A.Expr) -> Any:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def spec(self, name: str) -> Any:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def map_index(self, name: str) -> int:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def ld_map(self, reg: int, idx: int) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    # ------------------------------------------------------------------ setup / linking
    def setup_loops(self) -> None:
        """Called right after the variables are allocated: reserve the shared slots."""
        self.callbacks: list[tuple[Emitter, list[I.Insn], list[tuple[int, str]]]] = []
        self.func_refs: list[tuple[Emitter, int, int]] = []
        self.var_block = 0
        self.shared_cb_size = 0                  # the deepest loop frame laid over a scratch frame
        self.real_stack_insns: list[I.Insn] = []  # a scratch frame's accesses that stay on r10
        self.range_lo: dict[int, int] = {}
        loops = callback_loops(self.probe.body)
        if not loops:
            return
        e = self.e
        for f in loops:  # where each range loop keeps its start value, visible to its callback
            if isinstance(f.iterable, A.Range):
                self.range_lo[id(f)] = e.alloc(8)
                e.emit(I.st_imm(8, I.R10, self.range_lo[id(f)], 0))
        self.ctx_slot = e.alloc(8)
        e.emit(I.stx(8, I.R10, CTX, self.ctx_slot))
        self.ret_slot = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, self.ret_slot, 0))
        self.var_block = e.sp

    def link(self, main: list[I.Insn], spans: list[tuple[int, A.Span]]) -> tuple[
            list[I.Insn], list[tuple[int, A.Span]]]:
        """Append callback subprograms after the main program, resolve their addresses and drop
        code no path reaches (the verifier rejects unreachable instructions)."""
        self.subprogs: list[int] = []
        if not self.callbacks:
            kept, newpos = prune(main, [0])
            self.consts[:] = [(newpos[i], n) for i, n in self.consts]
            return kept, [(newpos[min(i, len(main))], sp) for i, sp in spans]
        blocks: list[tuple[Emitter, list[I.Insn], list[tuple[int, str]]]] = [(self.e, main, [])]
        blocks.extend(self.callbacks)
        starts: list[int] = []
        pos = 0
        for _em, insns, _c in blocks:
            starts.append(pos)
            pos += len(insns)
        index = {id(em): k for k, (em, _i, _c) in enumerate(blocks)}
        out: list[I.Insn] = []
        for _em, insns, _c in blocks:
            out.extend(insns)
        for em, local, cb in self.func_refs:
            at = starts[index[id(em)]] + local
            out[at].imm = starts[cb + 1] - at - 1
        all_spans = list(spans)
        for k, (em, _insns, consts) in enumerate(blocks[1:], start=1):
            self.consts.extend((idx + starts[k], name) for idx, name in consts)
            all_spans.extend((idx + starts[k], sp) for idx, sp in em.spans)
        pruned, newpos = prune(out, starts)
        self.consts[:] = [(newpos[i], n) for i, n in self.consts]
        self.subprogs = [newpos[st] for st in starts[1:]]
        return pruned, [(newpos[min(i, len(out))], sp) for i, sp in all_spans]

    # ------------------------------------------------------------------ the loop
    def for_map(self, s: A.For) -> None:
        m = s.iterable
        assert isinstance(m, A.Map)
        spec = self.spec(m.name)
        cb = self.gen_callback(s, spec)
        e = self.e
        self.ld_map(I.R1, self.map_index(m.name))
        self.func_refs.append((e, len(e.insns), cb))
        e.emit(I.ld_imm64(I.R2, 0, PSEUDO_FUNC))
        self.loop_context()
        e.emit(I.mov64_imm(I.R4, 0))
        e.call("for_each_map_elem")
        e.emit(I.ldx(8, I.R1, I.R10, self.ret_slot))
        e.jump(I.jmp_imm(I.JNE, I.R1, 0), self.exit_label)

    def for_range(self, s: A.For) -> None:
        """`for ($i : a..b)`: bpf_loop(b - a, body) — any bounds, one verification of the body;
        $i is re-initialised each iteration (assigning it does not change the iteration)."""
        rng = s.iterable
        assert isinstance(rng, A.Range)
        e = self.e
        lo_slot = self.range_lo[id(s)]
        lo = self.gen_int(rng.low)
        e.emit(I.stx(8, I.R10, e.load(lo, I.R1), lo_slot))
        e.release(lo)
        hi = self.gen_int(rng.high)
        r = e.load(hi, I.R2)
        if r != I.R2:
            e.emit(I.mov64_reg(I.R2, r))
        e.release(hi)
        cb = self.gen_callback(s, None)
        skip = Label("range_empty")
        e.emit(I.ldx(8, I.R1, I.R10, lo_slot), I.alu64_reg(I.SUB, I.R2, I.R1), I.mov64_reg(I.R1, I.R2))
        e.jump(I.jmp_imm(I.JSLE, I.R1, 0), skip)
        self.func_refs.append((e, len(e.insns), cb))
        e.emit(I.ld_imm64(I.R2, 0, PSEUDO_FUNC))
        self.loop_context()
        e.emit(I.mov64_imm(I.R4, 0))
        e.call("loop")
        e.emit(I.ldx(8, I.R1, I.R10, self.ret_slot))
        e.jump(I.jmp_imm(I.JNE, I.R1, 0), self.exit_label)
        e.place(skip)

    def loop_context(self) -> None:
        """r3 = the loop helper's context: the variable block on the BPF stack, or (a scratch
        frame) a real-stack pair of the block's address and ctx. Touches r3 only."""
        e = self.e
        e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, -self.var_block))
        if not self.frame_in_scratch:
            return
        real = [I.stx(8, I.R10, I.R3, REAL_BLOCK_PTR), I.stx(8, I.R10, CTX, REAL_CTX), I.mov64_reg(I.R3, I.R10)]
        e.emit(*real, I.alu64_imm(I.ADD, I.R3, REAL_BLOCK_PTR))
        self.real_stack_insns.extend(real)

    def gen_callback(self, s: A.For, spec: Any) -> int:
        """The loop body as a callback: for_each_map_elem (map, key, value, ctx) when `spec` is a
        map, bpf_loop (index, ctx) otherwise. A body whose frame does not fit on the BPF stack
        beside the probe's gets its frame in the per-CPU scratch map value (bpftrace keeps large
        values off the stack too), unless it starts loops of its own, whose context must be on
        the stack."""
        caller_sp = self.e.max_sp
        n_cbs, n_refs = len(self.callbacks), len(self.func_refs)
        if self.frame_in_scratch:
            shared = self.shared_frame_callback(s, spec)
            if shared is None:
                raise CompileError(f"BPF stack limit exceeded: this probe needs {caller_sp} bytes of stack, and a "
                                   "for-loop inside a for-loop needs it on the BPF stack (limit "
                                   f"{STACK_LIMIT}): try a smaller max_strlen", s.span)
            self.callbacks.append(shared)
            return len(self.callbacks) - 1
        try:
            cb, insns, consts = self.callback_body(s, spec, Emitter())
        except StackLimitError:
            cb = None
        if cb is None or caller_sp + cb.max_sp > STACK_LIMIT:
            del self.callbacks[n_cbs:], self.func_refs[n_refs:]
            big = self.big_callback(s, spec, n_refs)
            if big is None:
                need = f"{cb.max_sp} bytes" if cb is not None else f"more than {STACK_LIMIT} bytes"
                raise CompileError(f"BPF stack limit exceeded: this for-loop needs {need} of stack on top "
                                   f"of the probe's {caller_sp} (the limit is {STACK_LIMIT} for both)", s.span)
            cb, insns, consts = big
        self.callbacks.append((cb, insns, consts))
        return len(self.callbacks) - 1

    def big_callback(self, s: A.For, spec: Any, n_refs: int) -> tuple[
            Emitter, list[I.Insn], list[tuple[int, str]]] | None:
        """The body again with its frame in the scratch map (r9 points at its end, as in
        `ProgGen.move_frame`); None when that cannot be (it starts loops of its own)."""
        if any(isinstance(n, A.For) for n in A.walk(s.body)):
            return None
        # the callback's arguments (bpf_loop: index, ctx; for_each_map_elem: map, key, value, ctx)
        # survive the lookup on the real stack, where the ctx pointer stays (a pointer stored
        # in a map value is a mere number to the verifier)
        args = (I.R1, I.R2, I.R3, I.R4) if spec is not None else (I.R1, I.R2)
        self.big_frame = True      # helpers that need the BPF stack refuse, as in a big probe
        try:
            cb, insns, consts = self.callback_body(s, spec, Emitter(SCRATCH_LIMIT, (I.R7, I.R8)),
                                                   cptr=-8 * len(args))
        finally:
            self.big_frame = False
        if any(em is cb for em, _l, _c in self.func_refs[n_refs:]):
            return None            # a helper callback whose context is on this frame
        size = (cb.max_sp + 7) & ~7
        idx = self.shared.scratch_map(size)
        pre = [I.stx(8, I.R10, r, -8 * (k + 1)) for k, r in enumerate(args)]
        pre += [I.st_imm(4, I.R10, -36, 0), *I.ld_map_fd(I.R1, idx), I.mov64_reg(I.R2, I.R10),
                I.alu64_imm(I.ADD, I.R2, -36), I.call(HELPER_ID["map_lookup_elem"]),
                I.jmp_imm(I.JNE, I.R0, 0, 2), I.mov64_imm(I.R0, 1), I.exit_(),
                I.mov64_reg(I.R9, I.R0), I.alu64_imm(I.ADD, I.R9, size)]
        pre += [I.ldx(8, r, I.R10, -8 * (k + 1)) for k, r in enumerate(args)]
        n = len(pre)
        cb.spans[:] = [(i + n, sp) for i, sp in cb.spans]
        cb.max_sp = 40
        return cb, pre + redirect_frame(insns, self.ctx_ptr_insns + self.real_stack_insns), [
            (i + n, name) for i, name in consts]

    def shared_frame_callback(self, s: A.For, spec: Any) -> tuple[
            Emitter, list[I.Insn], list[tuple[int, str]]] | None:
        """The body of a loop in a scratch-frame probe, on the probe's own frame: r9 is set
        from the block's address the context holds, ctx from its second slot (see the module
        docstring); None when the body starts loops of its own."""
        if any(isinstance(n, A.For) for n in A.walk(s.body)):
            return None
        ctx_reg = I.R4 if spec is not None else I.R2
        cb, insns, consts = self.callback_body(s, spec, Emitter(SCRATCH_LIMIT, (I.R7, I.R8)), shared=True)
        self.shared_cb_size = max(self.shared_cb_size, cb.max_sp)
        pre = [I.ldx(8, I.R9, ctx_reg, 0), I.alu64_imm(I.ADD, I.R9, self.var_block), I.ldx(8, CTX, ctx_reg, 8)]
        n = len(pre)
        cb.spans[:] = [(i + n, sp) for i, sp in cb.spans]
        for k, (em, local, target) in enumerate(self.func_refs):   # globmatch() in the body
            if em is cb:
                self.func_refs[k] = (em, local + n, target)
        cb.max_sp = 0
        return cb, pre + redirect_frame(insns, self.real_stack_insns), [(i + n, name) for i, name in consts]

    def callback_body(self, s: A.For, spec: Any, cb: Emitter, cptr: int = 0, shared: bool = False) -> tuple[
            Emitter, list[I.Insn], list[tuple[int, str]]]:
        """The callback's code; `cptr` set: the r10 slot that already holds the context
        pointer (a scratch-map frame), whose accesses `ctx_ptr_insns` lists. `shared`: the
        frame is the caller's (no copies; ctx and r9 set by the caller of this)."""
        self.ctx_ptr_insns: list[I.Insn] = []
        saved = (self.e, self.exit_label, self.loops, self.consts)
        self.e, self.loops, self.consts = cb, [], []
        ret = Label("cb_return")
        self.exit_label = ret
        vb = self.var_block
        try:
            cb.alloc(vb)
            ctx_reg = I.R4 if spec is not None else I.R2
            if not shared:
                if not cptr:
                    cptr = cb.alloc(8)
                    cb.emit(I.stx(8, I.R10, ctx_reg, cptr))
                for o in range(0, vb, 8):
                    cb.emit(I.ldx(8, I.R0, ctx_reg, o), I.stx(8, I.R10, I.R0, o - vb))
                cb.emit(I.ldx(8, CTX, I.R10, self.ctx_slot))
            if spec is not None:
                self.load_kv(s, spec)
            else:  # $i = start + index
                off, _t = self.var_slots[s.var.name]
                cb.emit(I.ldx(8, I.R2, I.R10, self.range_lo[id(s)]), I.alu64_reg(I.ADD, I.R2, I.R1),
                        I.stx(8, I.R10, I.R2, off))
            cont, brk = Label("cb_continue"), Label("cb_break")
            self.loops = [(cont, brk)]
            self.block(s.body)
            cb.place(cont)
            self.copy_out(cptr, 0, shared)
            if jumped_to(cb, brk):  # the verifier rejects unreachable code
                cb.place(brk)
                self.copy_out(cptr, 1, shared)
            if jumped_to(cb, ret):
                cb.place(ret)
                cb.emit(I.st_imm(8, I.R10, self.ret_slot, 1))
                self.copy_out(cptr, 1, shared)
            insns = cb.finish()
            consts = self.consts
        finally:
            self.e, self.exit_label, self.loops, self.consts = saved
        return cb, insns, consts

    def copy_out(self, cptr: int, rc: int, shared: bool = False) -> None:
        e = self.e
        vb = self.var_block
        if shared:   # the block is the caller's own
            e.emit(I.mov64_imm(I.R0, rc), I.exit_())
            return
        load = I.ldx(8, I.R4, I.R10, cptr)
        self.ctx_ptr_insns.append(load)
        e.emit(load)
        for o in range(0, vb, 8):
            e.emit(I.ldx(8, I.R0, I.R10, o - vb), I.stx(8, I.R4, I.R0, o))
        e.emit(I.mov64_imm(I.R0, rc), I.exit_())

    def load_kv(self, s: A.For, spec: Any) -> None:
        """$kv = (key, value) from the callback's key (r2) and value (r3) pointers."""
        e = self.e
        off, kvt = self.var_slots[s.var.name]
        key_t, val_t = kvt.elems
        koff, voff = off + kvt.offsets[0], off + kvt.offsets[1]
        e.zero(off, kvt.size)
        copy_from(e, I.R2, 0, koff, min(spec.key_size, key_t.size))
        vk = spec.value_type.kind
        if vk not in PERCPU_KINDS:
            copy_from(e, I.R3, 0, voff, min(spec.value_size, val_t.size))
            return
        # count/sum/min/max/avg live per CPU: combine them as a map read does (StdlibGen)
        self._percpu_combine(self.map_index(spec.name), koff, vk, voff)  # type: ignore[attr-defined]
