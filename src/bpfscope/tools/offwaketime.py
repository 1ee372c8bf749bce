"""offwaketime: summarize blocked time by the off-CPU stack and the waker's stack (BCC's).

sched_waking (in the waker's context) keeps the waker's name, ids and stacks by the woken
thread; sched_switch keeps each thread's switch-out time and stacks, and when the thread
runs again adds the blocked time to the key of both stacks.
"""

# ruff: noqa: UP031  (BCC's %-format strings are its output spec)
from __future__ import annotations

import argparse

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
    int_list,
    stack_opts,
    state_cond,
    switch_probe,
    thread_cond,
    tp_btf_needs,
)
from .base import ToolError
from .needs import Need


class OffWakeTime(StackTool):
    name = "offwaketime"
    purpose = "Summarize blocked time by kernel stack trace + waker stack"
    description = "Summarize blocked time by kernel stack trace + waker stack"
    examples = """examples:
    ./offwaketime             # trace off-CPU + waker stack time until Ctrl-C
    ./offwaketime 5           # trace for 5 seconds only
    ./offwaketime -f 5        # 5 seconds, and output in folded format
    ./offwaketime -m 1000     # trace only events that last more than 1000 usec
    ./offwaketime -M 9000     # trace only events that last less than 9000 usec
    ./offwaketime -p 185      # only trace threads for PID 185
    ./offwaketime -t 188      # only trace thread 188
    ./offwaketime -u          # only trace user threads (no kernel)
    ./offwaketime -k          # only trace kernel threads (no user)
    ./offwaketime -U          # only show user space stacks (no kernel)
    ./offwaketime -K          # only show kernel space stacks (no user)
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        add_thread_args(ap, int_list("int list"), "trace these PIDS only. Can be a comma separated list of PIDS.",
                        "trace these TIDS only. Can be a comma separated list of TIDS.", plural="S")
        add_stack_space_args(ap)
        ap.add_argument("-d", "--delimited", action="store_true", help="insert delimiter between kernel/user stacks")
        add_block_args(ap)
        add_state_arg(ap)

    def check(self) -> None:
        o = self.o
        if o.kernel_threads_only and o.user_stacks_only:
            raise ToolError("ERROR: Displaying user stacks for kernel threads doesn't make sense.")
        self.choose_stacks()
        self.program_opts = stack_opts(o, 16384)

    def requires(self) -> list[Need]:
        return tp_btf_needs("offwaketime needs BTF-typed sched tracepoints (tp_btf)")

    def _filter(self, t: str) -> str:
        return " && ".join(f"({c})" for c in (thread_cond(self.o, t), state_cond(self.o, t)) if c)

    def program(self) -> str:
        ks = "kstack" if self.kstack else "0"
        us = "ustack" if self.ustack else "0"
        wake = guarded(self._filter("$w"), f"@wk[$w->pid] = (comm, tid, pid, {ks}, {us});")
        save = ["@start[$p->pid] = nsecs;"]
        if self.kstack:
            save.append("@tks[$p->pid] = kstack;")
        if self.ustack:
            save.append("@tus[$p->pid] = ustack;")
        keep = guarded(self._filter("$p"), " ".join(save))
        key = ["$n->comm", "$n->pid", "$n->tgid", "@tks[$n->pid]" if self.kstack else "0",
               "@tus[$n->pid]" if self.ustack else "0", "$wk.0", "$wk.1", "$wk.2", "$wk.3", "$wk.4"]
        waker = "    $wk = @wk[$n->pid];\n    delete(@wk, $n->pid);\n"
        return f"rawtracepoint:sched_waking {{ $w = args.p; {wake} }}\n" + switch_probe(self.o, keep, key, waker)

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, self.o.tgid)
        return self.banner(f"Tracing blocked time (us) by {self.stack_words()} off-CPU and waker stack")

    def _fr(self, st: object, kernel: bool) -> list[str]:
        if not isinstance(st, (list, tuple)):
            return []
        return _multi.frames(list(st), strip_tracing=kernel)

    def finish(self, interrupted: bool) -> None:
        o = self.o
        if not o.folded:
            self.write("\n")
        ents = sorted(self.prog.map_entries("@counts"), key=lambda kv: kv[1])
        for (target, tid, tgid, tk, tu, waker, wtid, _wpid, wk, wu), n in ents:
            tkf, tuf = self._fr(tk, True), self._fr(tu, False)
            wkf, wuf = self._fr(wk, True), self._fr(wu, False)
            if o.folded:   # the waker's stack the other way round: leaf first, its name last
                line = (folded_line(target, tkf, tuf, self.kstack, self.ustack, self.delim) + ["--"]
                        + folded_line(waker, wkf, wuf, self.kstack, self.ustack, self.delim)[::-1])
                self.emit(f"{fold(line)} {n}", stack=line, value=n)
                continue
            rows = ["    %-16s %s %s" % ("waker:", waker, wtid)]
            if self.ustack:
                rows += [f"    {f}" for f in wuf[::-1]]
            if self.kstack:
                if self.delim and wuf and wkf:
                    rows.append("    -")
                rows += [f"    {f}" for f in wkf[::-1]]
            rows.append("    %-16s %s" % ("--", "--"))
            if self.kstack:
                rows += [f"    {f}" for f in tkf]
            if self.ustack:
                if self.delim and tkf and tuf:
                    rows.append("    -")
                rows += [f"    {f}" for f in tuf]
            rows.append("    %-16s %s %s" % ("target:", target, tid))
            rows.append(f"        {n}\n")
            self.emit("\n".join(rows), target=target, tid=tid, pid=tgid, waker=waker, waker_tid=wtid,
                      target_kernel=tkf, target_user=tuf, waker_kernel=wkf, waker_user=wuf, value=n)


TOOL = OffWakeTime
