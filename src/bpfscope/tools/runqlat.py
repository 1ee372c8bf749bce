"""runqlat: run queue (scheduler) latency as a histogram, with BCC's options and output.

As BCC does where it can: BTF-typed raw tracepoints sched_wakeup/sched_wakeup_new stamp
a waking task, sched_switch stamps a preempted one (still TASK_RUNNING) and measures the
next task's wait. Same on every kernel with BTF: no kprobes needed.
"""

from __future__ import annotations

import argparse

from ._histtool import HistTool, add_interval_args
from .base import ToolError, pred
from .needs import Need

EXAMPLES = """examples:
    ./runqlat            # summarize run queue latency as a histogram
    ./runqlat 1 10       # print 1 second summaries, 10 times
    ./runqlat -mT 1      # 1s summaries, milliseconds, and timestamps
    ./runqlat -P         # show each PID separately
    ./runqlat -p 185     # trace PID 185 only
"""


def sched_needs() -> list[Need]:
    """The scheduler tools' requirements: BTF-typed raw tracepoints on sched_* events."""
    return [Need("btf", instead="the scheduler tools read task_struct through BTF"),
            Need("feature", "rawtracepoint", instead="raw tracepoints need Linux 4.17"),
            Need("tracepoint", "sched:sched_switch")]


class RunqLat(HistTool):
    name = "runqlat"
    purpose = "Summarize run queue (scheduler) latency as a histogram"
    description = "Summarize run queue (scheduler) latency as a histogram"
    examples = EXAMPLES
    maps = ("@dist",)

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-m", "--milliseconds", action="store_true", help="millisecond histogram")
        ap.add_argument("-P", "--pids", action="store_true", help="print a histogram per process ID")
        ap.add_argument("--pidnss", action="store_true", help="print a histogram per PID namespace")
        ap.add_argument("-L", "--tids", action="store_true", help="print a histogram per thread ID")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        add_interval_args(ap)

    def check(self) -> None:
        super().check()
        o = self.o
        if sum(bool(x) for x in (o.pids, o.tids, o.pidnss)) > 1:
            raise ToolError("runqlat: use only one of -P, -L and --pidnss")

    def requires(self) -> list[Need]:
        return sched_needs()

    def header(self) -> str:
        return "Tracing run queue latency... Hit Ctrl-C to end."

    def program(self) -> str:
        o = self.o
        div, _ = self.unit()
        if o.pids:
            key = "[args.next->tgid]"
        elif o.tids:
            key = "[args.next->pid]"
        elif o.pidnss:
            key = "[args.next->thread_pid->numbers[args.next->thread_pid->level].ns->ns.inum]"
        else:
            key = ""

        def keep(task: str) -> str:
            return pred(f"{task}->pid != 0", f"{task}->tgid == {o.pid}" if o.pid is not None else "")

        wake = keep("args.p")
        prev = keep("args.prev")[1:-1]
        nxt = keep("args.next")[1:-1]
        return f"""
rawtracepoint:sched_wakeup, rawtracepoint:sched_wakeup_new {wake} {{ @start[args.p->pid] = nsecs; }}
rawtracepoint:sched_switch {{
  if (args.prev->__state == 0 && {prev}) {{ @start[args.prev->pid] = nsecs; }}
  if ({nxt}) {{
    $ts = @start[args.next->pid];
    if ($ts) {{
      @dist{key} = hist((uint64)(nsecs - $ts) / (uint64){div});
      delete(@start, args.next->pid);
    }}
  }}
}}
"""

    def summary(self) -> None:
        o = self.o
        _, label = self.unit()
        section = "pid" if o.pids else "tid" if o.tids else "pidns" if o.pidnss else ""
        self.log2("@dist", label, section)


TOOL = RunqLat
