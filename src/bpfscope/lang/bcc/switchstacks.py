"""get_stackid() in a finish_task_switch probe run from sched_switch (standins.py).

The kprobe takes the stacks of the task switched in; sched_switch runs in the task switched
out. A task's stacks do not change while it is off the CPU, so they are the ones it had when it
was switched out: on every sched_switch, before the function's body, prev's stack ids (one per
(stack table, constant flags) pair the body's get_stackid calls use) are recorded in a hidden
LRU hash keyed by prev's task_struct address (unique even for the per-CPU idle tasks), and
next's entry, recorded when next was switched out, is taken (and deleted: the hash holds only
tasks off the CPU) into stack slots that those calls then read. A task with no entry (it was
switched out before the program was attached, or evicted) gets -ENOENT.

Functions here take the generator (codegen.FuncGen) as `g`, as methods.py does."""

from __future__ import annotations

import errno
from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import Type
from ..diagnostics import CompileError
from ..ebpf.emitter import CTX, IntVal, Label
from ..ebpf.stacks import get_stackid
from . import ast as A
from .methods import method_call
from .tables import TableSpec
from .typenames import INT, array_of, int_type

RECORDED_TASKS = 16384        # tasks off the CPU whose stack ids are kept (LRU beyond)
BPF_ANY = 0


def _calls(g: Any, f: A.Func) -> list[A.MethodCall]:
    """The get_stackid calls in f's body and in the functions it calls (inlined there)."""
    out: list[A.MethodCall] = []
    seen: set[str] = set()
    todo: list[Any] = [f.body]
    while todo:
        for n in A.walk(todo.pop()):
            if isinstance(n, A.MethodCall) and n.method == "get_stackid":
                out.append(n)
            elif isinstance(n, A.Call) and n.func in g.funcs and n.func not in seen:
                seen.add(n.func)
                todo.append(g.funcs[n.func].body)
    return out


def _pair(g: Any, x: A.MethodCall) -> tuple[int, int] | None:
    """(stack table index, flags) of a get_stackid call; None when the table is not a stack
    table (method_call reports that)."""
    idx, spec = g.table(x.obj, x.span)
    if spec.map_type != uapi.BPF_MAP_TYPE_STACK_TRACE or len(x.args) != 2:
        return None
    flags = g.const_value(x.args[1])
    if flags is None:
        raise CompileError("get_stackid() in a finish_task_switch probe run from sched_switch needs "
                           "constant flags (the stacks are taken when the task is switched out)",
                           x.args[1].span)
    return idx, flags


def switch_stacks(g: Any, f: A.Func) -> None:
    """Record prev's stack ids, take next's into slots (g.switch_stacks), before the body."""
    pairs: list[tuple[int, int]] = []
    for x in _calls(g, f):
        p = _pair(g, x)
        if p is not None and p not in pairs:
            pairs.append(p)
    if not pairs:
        return
    e = g.e
    leaf = array_of(int_type(8, True), [len(pairs)])
    name = f"__{f.name}_switch_stacks"
    g.tables[name] = (len(g.tables), TableSpec(name, "BPF_TABLE", uapi.BPF_MAP_TYPE_LRU_HASH,
                                                int_type(8, False), leaf, RECORDED_TASKS))
    hidden = g.tables[name][0]
    vals, key = e.alloc(8 * len(pairs)), e.alloc(8)
    for i, (idx, flags) in enumerate(pairs):          # prev is the current task here
        get_stackid(e, idx, flags, ctx=CTX)
        e.emit(I.stx(8, I.R10, I.R0, vals + 8 * i))
    e.emit(I.ldx(8, I.R0, CTX, 8), I.stx(8, I.R10, I.R0, key),          # args[1]: prev
           I.ld_map_fd(I.R1, hidden), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key),
           I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, vals), I.mov64_imm(I.R4, BPF_ANY))
    e.call("map_update_elem")
    for i in range(len(pairs)):
        e.emit(I.st_imm(8, I.R10, vals + 8 * i, -errno.ENOENT))
    e.emit(I.ldx(8, I.R0, CTX, 16), I.stx(8, I.R10, I.R0, key),         # args[2]: next
           I.ld_map_fd(I.R1, hidden), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
    e.call("map_lookup_elem")
    none = Label("no_switch_stacks")
    e.jump(I.jmp_imm(I.JEQ, I.R0, 0), none)
    for i in range(len(pairs)):
        e.emit(I.ldx(8, I.R1, I.R0, 8 * i), I.stx(8, I.R10, I.R1, vals + 8 * i))
    e.emit(I.ld_map_fd(I.R1, hidden), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
    e.call("map_delete_elem")
    e.place(none)
    g.switch_stacks = {p: vals + 8 * i for i, p in enumerate(pairs)}


def switched_in_stackid(g: Any, x: A.MethodCall) -> tuple[IntVal, Type]:
    """get_stackid(ctx, flags) about the task switched in: the id recorded when it was switched
    out (or -ENOENT), from the slot switch_stacks filled."""
    p = _pair(g, x)
    if p is None:
        return method_call(g, x)          # not a stack table: its plain error
    e = g.e
    out = e.new_int()
    e.emit(I.ldx(8, I.R0, I.R10, g.switch_stacks[p]))
    g.normalize(I.R0, INT)
    e.set_from(out, I.R0)
    return out, INT
