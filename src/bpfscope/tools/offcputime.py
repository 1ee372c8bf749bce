"""offcputime: summarize off-CPU time by stack trace (BCC's options and output).

BCC hooks finish_task_switch with a kprobe; here the BTF-typed sched_switch tracepoint
(tp_btf) does the same job without kprobes: when a thread is switched out its start time and
stacks (taken while it is still current) are kept by thread id, and when it is switched back
in the time it spent off-CPU is added to that stack's total (microseconds).
"""

from __future__ import annotations

import argparse
import sys

from . import _multi
from ._stacktool import (
    StackTool,
    add_block_args,
    add_stack_space_args,
    add_state_arg,
    add_thread_args,
    fold,
    folded_line,
    guarded,
    stack_opts,
    stack_rows,
    state_cond,
    switch_probe,
    thread_cond,
    tp_btf_needs,
)
from .base import ToolError
from .needs import Need


def stack_needs() -> list[Need]:
    return tp_btf_needs("offcputime needs BTF-typed sched_switch (tp_btf) on kernels without kprobes")


def thread_words(o: argparse.Namespace) -> str:
    """BCC's header words for -p/-t/-u/-k."""
    if o.tgid is not None:
        return f"PID {o.tgid}"
    if o.pid is not None:
        return f"TID {o.pid}"
    if o.user_threads_only:
        return "user threads"
    if o.kernel_threads_only:
        return "kernel threads"
    return "all threads"


class OffCpuTime(StackTool):
    name = "offcputime"
    purpose = "Summarize off-CPU time by stack trace"
    description = "Summarize off-CPU time by stack trace"
    examples = """examples:
    ./offcputime             # trace off-CPU stack time until Ctrl-C
    ./offcputime 5           # trace for 5 seconds only
    ./offcputime -f 5        # 5 seconds, and output in folded format
    ./offcputime -m 1000     # trace only events that last more than 1000 usec
    ./offcputime -M 10000    # trace only events that last less than 10000 usec
    ./offcputime -p 185      # only trace threads for PID 185
    ./offcputime -t 188      # only trace thread 188
    ./offcputime -u          # only trace user threads (no kernel)
    ./offcputime -k          # only trace kernel threads (no user)
    ./offcputime -U          # only show user space stacks (no kernel)
    ./offcputime -K          # only show kernel space stacks (no user)
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        add_thread_args(ap)
        add_stack_space_args(ap)
        ap.add_argument("-d", "--delimited", action="store_true", help="insert delimiter between kernel/user stacks")
        add_block_args(ap)
        add_state_arg(ap)

    def check(self) -> None:
        o = self.o
        if o.kernel_threads_only and o.user_stacks_only:
            raise ToolError("ERROR: Displaying user stacks for kernel threads doesn't make sense.")
        if o.state is not None and o.state < 0:
            raise ToolError("offcputime: --state must be a non-negative bitmask")
        self.choose_stacks()
        self.program_opts = stack_opts(o, 4096)

    def requires(self) -> list[Need]:
        return stack_needs()

    def program(self) -> str:
        cond = " && ".join(c for c in (thread_cond(self.o, "$p"), state_cond(self.o, "$p")) if c)
        keep = ["@start[$p->pid] = nsecs;"]
        if self.kstack:
            keep.append("@kst[$p->pid] = kstack;")
        if self.ustack:
            keep.append("@ust[$p->pid] = ustack;")
        key = ["$n->pid", "$n->tgid", "$n->comm",
               "@kst[$n->pid]" if self.kstack else "0", "@ust[$n->pid]" if self.ustack else "0"]
        return switch_probe(self.o, guarded(cond, " ".join(keep)), key)

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, [self.o.tgid] if self.o.tgid else None)
        return self.banner(f"Tracing off-CPU time (us) of {thread_words(self.o)} by {self.stack_words()} stack")

    def finish(self, interrupted: bool) -> None:
        """BCC's output, ascending by total: per stack the kernel frames, `--`, user frames,
        `- comm (tid)` and the total; or folded `comm;user..;-;kernel.. total` lines."""
        o = self.o
        if not o.folded:
            self.write("\n")
        for (tid, tgid, comm, ks, us), n in sorted(self.prog.map_entries("@counts"), key=lambda kv: kv[1]):
            kfr = _multi.frames(ks, strip_tracing=True) if self.kstack and isinstance(ks, (list, tuple)) else []
            ufr = _multi.frames(us) if self.ustack and isinstance(us, (list, tuple)) else []
            if o.folded:
                line = folded_line(comm, kfr, ufr, self.kstack, self.ustack, self.delim)
                self.emit(f"{fold(line)} {n}", stack=line, value=n)
            else:
                self.emit(stack_rows(kfr, ufr, self.delim, comm, tid, n),
                          tid=tid, pid=tgid, comm=comm, kernel=kfr, user=ufr, value=n)
        lost = getattr(self.prog, "lost_stacks", 0)
        if lost:
            sys.stderr.write(f"WARNING: {lost} stack traces lost and could not be displayed. "
                             "Consider increasing --stack-storage-size.\n")


TOOL = OffCpuTime
