"""offwaketime: summarize blocked time by the off-CPU stack and the waker's stack (BCC's).

sched_waking (in the waker's context) keeps the waker's name, ids and stacks by the woken
thread; sched_switch keeps each thread's switch-out time and stacks, and when the thread
runs again adds the blocked time to the key of both stacks.
"""

# ruff: noqa: UP031  (BCC's %-format strings are its output spec)
from __future__ import annotations

import argparse
import sys

from . import _multi
from .base import Tool, ToolError, positive_int
from .needs import Need
from .offcputime import FOREVER, PF_KTHREAD


def _id_list(s: str) -> list[int]:
    try:
        vals = [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int list value: '{s}'") from None
    if any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError("must be positive")
    return vals


class OffWakeTime(Tool):
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
        g = ap.add_mutually_exclusive_group()
        g.add_argument("-p", "--pid", metavar="PIDS", dest="tgid", type=_id_list,
                       help="trace these PIDS only. Can be a comma separated list of PIDS.")
        g.add_argument("-t", "--tid", metavar="TIDS", dest="pid", type=_id_list,
                       help="trace these TIDS only. Can be a comma separated list of TIDS.")
        g.add_argument("-u", "--user-threads-only", action="store_true",
                       help="user threads only (no kernel threads)")
        g.add_argument("-k", "--kernel-threads-only", action="store_true",
                       help="kernel threads only (no user threads)")
        s = ap.add_mutually_exclusive_group()
        s.add_argument("-U", "--user-stacks-only", action="store_true",
                       help="show stacks from user space only (no kernel space stacks)")
        s.add_argument("-K", "--kernel-stacks-only", action="store_true",
                       help="show stacks from kernel space only (no user space stacks)")
        ap.add_argument("-d", "--delimited", action="store_true", help="insert delimiter between kernel/user stacks")
        ap.add_argument("-f", "--folded", action="store_true", help="output folded format")
        ap.add_argument("--stack-storage-size", default=1024, type=positive_int,
                        help="the number of unique stack traces that can be stored and displayed (default 1024)")
        ap.add_argument("duration", nargs="?", default=FOREVER, type=positive_int,
                        help="duration of trace, in seconds")
        ap.add_argument("-m", "--min-block-time", default=1, type=positive_int,
                        help="the amount of time in microseconds over which we store traces (default 1)")
        ap.add_argument("-M", "--max-block-time", default=(1 << 64) - 1, type=positive_int,
                        help="the amount of time in microseconds under which we store traces (default U64_MAX)")
        ap.add_argument("--state", type=int,
                        help="filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE) "
                             "see include/linux/sched.h")

    def check(self) -> None:
        o = self.o
        if o.kernel_threads_only and o.user_stacks_only:
            raise ToolError("ERROR: Displaying user stacks for kernel threads doesn't make sense.")
        self.kstack = not o.user_stacks_only
        self.ustack = not o.kernel_stacks_only
        self.delim = o.delimited and self.kstack and self.ustack
        self.program_opts = {"stack_entries": max(o.stack_storage_size * 4, 16384), "max_map_keys": 10240}

    def requires(self) -> list[Need]:
        return [Need("btf"), Need("feature", "tp_btf",
                                  instead="offwaketime needs BTF-typed sched tracepoints (tp_btf)")]

    def _filter(self, t: str) -> str:
        o = self.o
        conds = []
        if o.tgid:
            conds.append(" || ".join(f"{t}->tgid == {x}" for x in o.tgid))
        elif o.pid:
            conds.append(" || ".join(f"{t}->pid == {x}" for x in o.pid))
        elif o.user_threads_only:
            conds.append(f"({t}->flags & {PF_KTHREAD}) == 0")
        elif o.kernel_threads_only:
            conds.append(f"({t}->flags & {PF_KTHREAD}) != 0")
        if o.state == 0:
            conds.append(f"{t}->__state == 0")
        elif o.state:
            conds.append(f"({t}->__state & {o.state}) != 0")
        return " && ".join(f"({c})" for c in conds)

    def program(self) -> str:
        o = self.o
        ks = "kstack" if self.kstack else "0"
        us = "ustack" if self.ustack else "0"

        def guarded(cond: str, body: str) -> str:
            return f"if ({cond}) {{ {body} }}" if cond else body

        wake = guarded(self._filter("$w"), f"@wk[$w->pid] = (comm, tid, pid, {ks}, {us});")
        save = ["@start[$p->pid] = nsecs;"]
        if self.kstack:
            save.append("@tks[$p->pid] = kstack;")
        if self.ustack:
            save.append("@tus[$p->pid] = ustack;")
        keep = guarded(self._filter("$p"), " ".join(save))
        hi = f" && $d <= {o.max_block_time}" if o.max_block_time < (1 << 63) else ""
        key = ["$n->comm", "$n->pid", "$n->tgid", "@tks[$n->pid]" if self.kstack else "0",
               "@tus[$n->pid]" if self.ustack else "0", "$wk.0", "$wk.1", "$wk.2", "$wk.3", "$wk.4"]
        return f"""rawtracepoint:sched_waking {{ $w = args.p; {wake} }}
rawtracepoint:sched_switch {{
  $p = args.prev;
  {keep}
  $n = args.next;
  $t = @start[$n->pid];
  if ($t) {{
    delete(@start, $n->pid);
    $d = (nsecs - $t) / 1000;
    $wk = @wk[$n->pid];
    delete(@wk, $n->pid);
    if ($d >= {o.min_block_time}{hi}) {{
      @counts[{', '.join(key)}] = sum($d);
    }}
  }}
}}
"""

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, self.o.tgid)
        stack = "user + kernel" if self.kstack and self.ustack else ("user" if self.ustack else "kernel")
        h = f"Tracing blocked time (us) by {stack} off-CPU and waker stack"
        h += f" for {self.o.duration} secs." if self.o.duration < FOREVER else "... Hit Ctrl-C to end."
        if self.o.folded:
            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def duration(self) -> float | None:
        return None if self.o.duration >= FOREVER else float(self.o.duration)

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
            if o.folded:
                line = [target]
                if self.ustack:
                    line += tuf[::-1]
                if self.kstack:
                    line += (["-"] if self.delim and tkf and tuf else []) + tkf[::-1]
                line.append("--")
                if self.kstack:
                    line += wkf
                if self.ustack:
                    line += (["-"] if self.delim and wuf and wkf else []) + wuf
                line.append(waker)
                self.emit(f"{';'.join(x.replace(';', ':') for x in line)} {n}", stack=line, value=n)
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
