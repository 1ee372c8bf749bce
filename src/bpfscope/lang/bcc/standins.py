"""Raw tracepoints that stand in for kprobes on a few scheduler functions, for kernels without
kprobes: BCC scripts (cpudist, offcputime, offwaketime, ...) probe these functions, and a
tracepoint inside them sees the same arguments and the same current task (or, for
finish_task_switch, the task switched in as `next`). Syscall functions (__x64_sys_NAME, the
wrappers execsnoop, opensnoop, killsnoop probe) are served from sys_enter/sys_exit, filtered to
the syscall's number. The runtime decides when to use them; the compiler
(codegen.FuncGen.stand_in) reads each kprobe argument from the tracepoint's args."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StandIn:
    function: str             # the kernel function a kprobe would be on
    tracepoint: str           # the raw tracepoint run instead
    args: tuple[int, ...]     # index in the raw tracepoint's args of the function's 1st, 2nd, ... argument
    switch_in: bool = False   # "current" is the task switched in: args[2] (next), not the running one
    syscall_nr: int = -1      # a syscall wrapper: sys_enter(regs, id)/sys_exit(regs, ret) for this id
    ret: bool = False         # a kretprobe (sys_exit): PT_REGS_RC(ctx) is args[1]


STAND_INS = {s.function: s for s in (
    # finish_task_switch(prev) runs in the task switched in; sched_switch(preempt, prev, next)
    # runs just before, in prev: the current task's pid/comm/stacks are read from next
    StandIn("finish_task_switch", "sched_switch", (1,), switch_in=True),
    # sched_waking(p) fires inside try_to_wake_up(p, state, wake_flags), in the waker
    StandIn("try_to_wake_up", "sched_waking", (0,)),
)}

# the wrapper's one argument is the user's pt_regs; the syscall's arguments are in these
SYSCALL_ARG_REGS = ("di", "si", "dx", "r10", "r8", "r9")
SYSCALL_PREFIXES = ("__x64_sys_", "sys_")
# function names BCC compiles as syscall-wrapper probes (their arguments read through the pt_regs)
SYSCALL_FUNCS = ("syscall__", "kprobe____x64_sys_")

_CLONE = re.compile(r"\.(isra|constprop|part|cold)\.\d+$")


def stand_in_for(event: str) -> StandIn | None:
    """The stand-in for a kprobe on `event` (gcc's .isra.N/.constprop.N clones included)."""
    return STAND_INS.get(_CLONE.sub("", event))


def stand_ins_matching(event_re: str) -> list[StandIn]:
    """Stand-ins whose function an attach_kprobe(event_re=...) regex matches, as BCC matches."""
    rx = re.compile(event_re)
    return [s for name, s in STAND_INS.items() if rx.match(name)]


def syscall_stand_in(event: str, numbers: dict[str, int], ret: bool) -> StandIn | None:
    """The stand-in for a k(ret)probe on a syscall function (`__x64_sys_execve`, `sys_kill`):
    sys_enter or sys_exit filtered to its number (`numbers`: kernel name → syscall number)."""
    for prefix in SYSCALL_PREFIXES:
        if event.startswith(prefix) and event[len(prefix):] in numbers:
            return StandIn(event, "sys_exit" if ret else "sys_enter", (0,),
                           syscall_nr=numbers[event[len(prefix):]], ret=ret)
    return None
