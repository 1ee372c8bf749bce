"""cpudist: on- (or off-, -O) CPU time per scheduling, as a histogram (BCC's options and
output). BCC kprobes finish_task_switch; the sched_switch raw tracepoint gives the same
prev/next pair on every kernel with BTF."""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from ._histtool import HistTool, add_interval_args
from .base import ToolError
from .needs import Need
from .runqlat import sched_needs

EXAMPLES = """examples:
    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only
    cpudist -I           # include CPU idle time
    cpudist -e           # show extension summary (average/total/count)
"""


def _pid_comm(pid: int) -> str:
    """BCC's section name: "PID COMM" while the process lives, else the PID."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f"{pid} {f.read().rstrip()}"
    except OSError:
        return str(pid)


class CpuDist(HistTool):
    name = "cpudist"
    purpose = "Summarize on- and off-CPU time per task as a histogram"
    description = "Summarize on- and off-CPU time per task as a histogram."
    examples = EXAMPLES
    maps = ("@dist",)

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-O", "--offcpu", action="store_true", help="measure off-CPU time")
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-m", "--milliseconds", action="store_true", help="millisecond histogram")
        ap.add_argument("-P", "--pids", action="store_true", help="print a histogram per process ID")
        ap.add_argument("-L", "--tids", action="store_true", help="print a histogram per thread ID")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-I", "--include-idle", action="store_true", help="include CPU idle time")
        ap.add_argument("-e", "--extension", action="store_true",
                        help="show extension summary (average/total/count)")
        add_interval_args(ap)

    def check(self) -> None:
        super().check()
        if self.o.pids and self.o.tids:
            raise ToolError("cpudist: use only one of -P and -L")

    def requires(self) -> list[Need]:
        return sched_needs()

    def header(self) -> str:
        return "Tracing %s-CPU time... Hit Ctrl-C to end." % ("off" if self.o.offcpu else "on")

    def program(self) -> str:
        o = self.o
        div, _ = self.unit()

        def keep(task: str) -> str:
            conds = ["1"] if o.include_idle else [f"{task}->pid != 0"]
            if o.pid is not None:
                conds.append(f"{task}->tgid == {o.pid}")
            return " && ".join(conds)

        # on-CPU: the time from a task's switch-in to its switch-out; off-CPU the reverse
        ends, begins = ("args.next", "args.prev") if o.offcpu else ("args.prev", "args.next")
        key = f"[{ends}->tgid]" if o.pids else f"[{ends}->pid]" if o.tids else ""
        ext = self.extension()
        return f"""
rawtracepoint:sched_switch {{
  $now = nsecs;
  if ({keep(ends)}) {{
    $ts = @start[{ends}->pid, cpu];
    if ($ts && $now >= $ts) {{
      $d = (uint64)($now - $ts) / (uint64){div};
      @dist{key} = hist($d);
{ext}    }}
  }}
  if ({keep(begins)}) {{ @start[{begins}->pid, cpu] = $now; }}
}}
"""

    def summary(self) -> None:
        o = self.o
        _, label = self.unit()
        if o.pids:
            self.log2("@dist", label, "pid", _pid_comm)
        elif o.tids:
            self.log2("@dist", label, "tid", _pid_comm)
        else:
            self.log2("@dist", label)
        self.extension_summary(label)


TOOL = CpuDist
