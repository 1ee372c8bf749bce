"""Raw tracepoints that stand in for kprobes on a few scheduler functions, for kernels without
kprobes: BCC scripts (cpudist, offcputime, offwaketime, ...) probe these functions, and a
tracepoint inside them sees the same arguments and the same current task (or, for
finish_task_switch, the task switched in as `next`). The runtime decides when to use them;
the compiler (codegen.FuncGen.stand_in) reads each kprobe argument from the tracepoint's args."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StandIn:
    function: str             # the kernel function a kprobe would be on
    tracepoint: str           # the raw tracepoint run instead
    args: tuple[int, ...]     # index in the raw tracepoint's args of the function's 1st, 2nd, ... argument
    switch_in: bool = False   # "current" is the task switched in: args[2] (next), not the running one


STAND_INS = {s.function: s for s in (
    # finish_task_switch(prev) runs in the task switched in; sched_switch(preempt, prev, next)
    # runs just before, in prev: the current task's pid/comm/stacks are read from next
    StandIn("finish_task_switch", "sched_switch", (1,), switch_in=True),
    # sched_waking(p) fires inside try_to_wake_up(p, state, wake_flags), in the waker
    StandIn("try_to_wake_up", "sched_waking", (0,)),
)}

_CLONE = re.compile(r"\.(isra|constprop|part|cold)\.\d+$")


def stand_in_for(event: str) -> StandIn | None:
    """The stand-in for a kprobe on `event` (gcc's .isra.N/.constprop.N clones included)."""
    return STAND_INS.get(_CLONE.sub("", event))


def stand_ins_matching(event_re: str) -> list[StandIn]:
    """Stand-ins whose function an attach_kprobe(event_re=...) regex matches, as BCC matches."""
    rx = re.compile(event_re)
    return [s for name, s in STAND_INS.items() if rx.match(name)]
