"""runqlen: sample the CPU run queue length as a histogram (BCC's options and output).

As BCC: a 99 Hz CPU-clock perf event reads the current task's cfs_rq->nr_running
(nr_queued since Linux 6.14; the name is taken from BTF) and counts the queue minus the
running task.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from . import bcchist
from ._histtool import HistTool, add_interval_args
from .needs import Need

EXAMPLES = """examples:
    ./runqlen            # summarize run queue length as a histogram
    ./runqlen 1 10       # print 1 second summaries, 10 times
    ./runqlen -T 1       # 1s summaries and timestamps
    ./runqlen -O         # report run queue occupancy
    ./runqlen -C         # show each CPU separately
"""
FREQUENCY = 99


def _nr_field() -> str:
    """cfs_rq's queue length member: nr_running until 6.13, nr_queued after."""
    try:
        from ..kernel.btf import Btf

        btf = Btf.vmlinux()
        sid = btf.find("cfs_rq", "struct")
        if sid is not None and btf.member(sid, "nr_queued") is not None:
            return "nr_queued"
    except (OSError, ValueError, KeyError):
        pass
    return "nr_running"


class RunqLen(HistTool):
    name = "runqlen"
    purpose = "Summarize scheduler run queue length as a histogram"
    description = "Summarize scheduler run queue length as a histogram"
    examples = EXAMPLES
    maps = ("@dist",)

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-O", "--runqocc", action="store_true", help="report run queue occupancy")
        ap.add_argument("-C", "--cpus", action="store_true", help="print output for each CPU separately")
        add_interval_args(ap)

    def requires(self) -> list[Need]:
        return [Need("btf", instead="runqlen reads the run queue through BTF"),
                Need("feature", "perf_event", instead="runqlen samples with a CPU-clock perf event")]

    def header(self) -> str:
        return "Sampling run queue length... Hit Ctrl-C to end."

    def program(self) -> str:
        key = "[cpu, $len]" if self.o.cpus else "[$len]"
        return f"""
profile:hz:{FREQUENCY} {{
  $len = curtask->se.cfs_rq->{_nr_field()};
  if ($len > 0) {{ $len = $len - 1; }}
  @dist{key} = count();
}}
"""

    def summary(self) -> None:
        data = self.map("@dist") or {}
        if self.o.cpus:
            per: dict[int, dict[int, int]] = {}
            for (c, n), v in data.items():
                per.setdefault(c, {})[n] = v
        else:
            per = {-1: data}
        if self.o.runqocc:
            self._occupancy(per)
            return
        for c in sorted(per):
            if self.json:
                rec = {"runqlen": [{"len": n, "count": v} for n, v in sorted(per[c].items())]}
                self.emit("", **({"cpu": c, **rec} if self.o.cpus else rec))
                continue
            if self.o.cpus:
                self.write(bcchist.section("cpu", c))
            self.write(bcchist.linear_hist(per[c], "runqlen"))

    def _occupancy(self, per: dict[int, dict[int, int]]) -> None:
        if self.o.cpus:
            for c in range(max(per, default=-1) + 1):
                h = per.get(c, {})
                samples = sum(h.values())
                occ = 100.0 * (samples - h.get(0, 0)) / samples if samples else 0.0
                self.emit("runqocc, CPU %-3d %6.2f%%" % (c, occ), cpu=c, runqocc=occ)
            return
        h = per.get(-1, {})
        samples = sum(h.values())
        occ = 100.0 * (samples - h.get(0, 0)) / samples if samples else 0.0
        self.emit("runqocc: %0.2f%%" % occ, runqocc=occ)


TOOL = RunqLen
