"""runqslower: trace scheduler run queue latency above a threshold, one line per wakeup
(BCC's options and columns; the sched_* raw tracepoints as in runqlat)."""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from .base import Tool
from .needs import Need
from .runqlat import sched_needs
from .timefmt import hms

EXAMPLES = """examples:
    ./runqslower         # trace run queue latency higher than 10000 us (default)
    ./runqslower 1000    # trace run queue latency higher than 1000 us
    ./runqslower -p 123  # trace pid 123
    ./runqslower -t 123  # trace tid 123 (use for threads only)
    ./runqslower -P      # also show previous task comm and TID
"""


class RunqSlower(Tool):
    name = "runqslower"
    purpose = "Trace high run queue latency"
    description = "Trace high run queue latency"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("min_us", nargs="?", default="10000", type=int,
                        help="minimum run queue latency to trace, in us (default 10000)")
        ap.add_argument("-P", "--previous", action="store_true", help="also show previous task name and TID")
        g = ap.add_mutually_exclusive_group()
        g.add_argument("-p", "--pid", metavar="PID", dest="pid", help="trace this PID only", type=int)
        g.add_argument("-t", "--tid", metavar="TID", dest="tid", help="trace this TID only", type=int)

    def requires(self) -> list[Need]:
        return sched_needs()

    def program(self) -> str:
        o = self.o

        def keep(task: str) -> str:
            conds = [f"{task}->pid != 0"]
            if o.tid is not None:
                conds.append(f"{task}->pid == {o.tid}")
            if o.pid is not None:
                conds.append(f"{task}->tgid == {o.pid}")
            return " && ".join(conds)

        slow = f" && $d > {o.min_us}" if o.min_us else ""
        return f"""
rawtracepoint:sched_wakeup, rawtracepoint:sched_wakeup_new /{keep("args.p")}/ {{ @start[args.p->pid] = nsecs; }}
rawtracepoint:sched_switch {{
  if (args.prev->__state == 0 && {keep("args.prev")}) {{ @start[args.prev->pid] = nsecs; }}
  $ts = @start[args.next->pid];
  if ($ts) {{
    $d = (uint64)(nsecs - $ts) / (uint64)1000;
    if (1{slow}) {{
      printf("rq %s %d %d %s %d\\n", args.next->comm, args.next->pid, $d, args.prev->comm, args.prev->pid);
    }}
    delete(@start, args.next->pid);
  }}
}}
"""

    def header(self) -> str:
        first = "Tracing run queue latency higher than %d us" % self.o.min_us
        if self.o.previous:
            cols = "%-8s %-16s %-6s %14s %-16s %-6s" % ("TIME", "COMM", "TID", "LAT(us)", "PREV COMM", "PREV TID")
        else:
            cols = "%-8s %-16s %-6s %14s" % ("TIME", "COMM", "TID", "LAT(us)")
        return first + "\n" + cols

    def on_rq(self, comm: str, tid: int, lat_us: int, prev_comm: str, prev_tid: int) -> None:
        rec = {"comm": comm, "tid": tid, "lat_us": lat_us}
        if self.o.previous:
            self.emit("%-8s %-16s %-6s %14s %-16s %-6s" % (hms(), comm, tid, lat_us, prev_comm, prev_tid),
                      prev_comm=prev_comm, prev_tid=prev_tid, **rec)
        else:
            self.emit("%-8s %-16s %-6s %14s" % (hms(), comm, tid, lat_us), **rec)


TOOL = RunqSlower
