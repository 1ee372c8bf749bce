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
from .base import Tool, ToolError, positive_int
from .needs import Need

PF_KTHREAD = 0x00200000
FOREVER = 99999999


def add_thread_args(ap: argparse.ArgumentParser) -> None:
    """BCC's -p/-t/-u/-k group (shared with offwaketime)."""
    g = ap.add_mutually_exclusive_group()
    g.add_argument("-p", "--pid", metavar="PID", dest="tgid", type=positive_int, help="trace this PID only")
    g.add_argument("-t", "--tid", metavar="TID", dest="pid", type=positive_int, help="trace this TID only")
    g.add_argument("-u", "--user-threads-only", action="store_true",
                   help="user threads only (no kernel threads)")
    g.add_argument("-k", "--kernel-threads-only", action="store_true",
                   help="kernel threads only (no user threads)")


def thread_filter(o: argparse.Namespace, task: str) -> tuple[str, str]:
    """(bpftrace condition on `task`, BCC's header words) for -p/-t/-u/-k."""
    if o.tgid is not None:
        return f"{task}->tgid == {o.tgid}", f"PID {o.tgid}"
    if o.pid is not None:
        return f"{task}->pid == {o.pid}", f"TID {o.pid}"
    if o.user_threads_only:
        return f"({task}->flags & {PF_KTHREAD}) == 0", "user threads"
    if o.kernel_threads_only:
        return f"({task}->flags & {PF_KTHREAD}) != 0", "kernel threads"
    return "", "all threads"


def stack_needs() -> list[Need]:
    return [Need("btf"), Need("feature", "tp_btf",
                              instead="offcputime needs BTF-typed sched_switch (tp_btf) on kernels without kprobes")]


class OffCpuTime(Tool):
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
        if o.state is not None and o.state < 0:
            raise ToolError("offcputime: --state must be a non-negative bitmask")
        self.kstack = not o.user_stacks_only
        self.ustack = not o.kernel_stacks_only
        self.delim = o.delimited and self.kstack and self.ustack
        self.program_opts = {"stack_entries": max(o.stack_storage_size * 4, 4096), "max_map_keys": 10240}

    def requires(self) -> list[Need]:
        return stack_needs()

    def program(self) -> str:
        o = self.o
        cond, _ = thread_filter(o, "$p")
        if o.state == 0:
            cond = " && ".join(c for c in (cond, "$p->__state == 0") if c)
        elif o.state:
            cond = " && ".join(c for c in (cond, f"($p->__state & {o.state}) != 0") if c)
        keep = ["@start[$p->pid] = nsecs;"]
        if self.kstack:
            keep.append("@kst[$p->pid] = kstack;")
        if self.ustack:
            keep.append("@ust[$p->pid] = ustack;")
        save = " ".join(keep)
        if cond:
            save = f"if ({cond}) {{ {save} }}"
        key = ["$n->pid", "$n->tgid", "$n->comm",
               "@kst[$n->pid]" if self.kstack else "0", "@ust[$n->pid]" if self.ustack else "0"]
        hi = f" && $d <= {o.max_block_time}" if o.max_block_time < (1 << 63) else ""
        return f"""rawtracepoint:sched_switch {{
  $p = args.prev;
  {save}
  $n = args.next;
  $t = @start[$n->pid];
  if ($t) {{
    delete(@start, $n->pid);
    $d = (nsecs - $t) / 1000;
    if ($d >= {o.min_block_time}{hi}) {{
      @counts[{', '.join(key)}] = sum($d);
    }}
  }}
}}
"""

    def _context(self) -> tuple[str, str]:
        _, thread = thread_filter(self.o, "p")
        stack = "user + kernel" if self.kstack and self.ustack else ("user" if self.ustack else "kernel")
        return thread, stack

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, [self.o.tgid] if self.o.tgid else None)
        thread, stack = self._context()
        h = f"Tracing off-CPU time (us) of {thread} by {stack} stack"
        h += f" for {self.o.duration} secs." if self.o.duration < FOREVER else "... Hit Ctrl-C to end."
        if self.o.folded:   # stdout stays pure folded lines; the readiness line goes to stderr
            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def duration(self) -> float | None:
        return None if self.o.duration >= FOREVER else float(self.o.duration)

    def finish(self, interrupted: bool) -> None:
        if not self.o.folded:
            self.write("\n")
        print_stacks(self, self.prog.map_entries("@counts"), self.kstack, self.ustack, self.delim, self.o.folded)
        lost = getattr(self.prog, "lost_stacks", 0)
        if lost:
            sys.stderr.write(f"WARNING: {lost} stack traces lost and could not be displayed. "
                             "Consider increasing --stack-storage-size.\n")


def print_stacks(tool: Tool, entries: list, kstack: bool, ustack: bool, delim: bool, folded: bool) -> None:
    """BCC's offcputime output: per stack the kernel frames, `--`, user frames, `- comm (tid)`
    and the total; or folded `comm;user..;-;kernel.. total` lines. Ascending by total."""
    for (tid, tgid, comm, ks, us), n in sorted(entries, key=lambda kv: kv[1]):
        kfr = _multi.frames(ks, strip_tracing=True) if kstack and isinstance(ks, (list, tuple)) else []
        ufr = _multi.frames(us) if ustack and isinstance(us, (list, tuple)) else []
        if folded:
            line = [comm] + ufr[::-1] if ustack else [comm]
            if kstack:
                line += (["-"] if delim and kfr and ufr else []) + kfr[::-1]
            stack = ";".join(f.replace(";", ":") for f in line)
            tool.emit(f"{stack} {n}", stack=line, value=n)
            continue
        rows = [f"    {f}" for f in kfr]
        if delim and kfr and ufr:
            rows.append("    --")
        rows += [f"    {f}" for f in ufr]
        rows.append(f"    {'-':<16s} {comm} ({tid})")
        rows.append(f"        {n}\n")
        tool.emit("\n".join(rows), tid=tid, pid=tgid, comm=comm, kernel=kfr, user=ufr, value=n)


TOOL = OffCpuTime
