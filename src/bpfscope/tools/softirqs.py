"""softirqs: time (or count) soft interrupt handlers, per softirq vector (BCC's output)."""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from ._histtool import HistTool
from .base import ToolError, pred
from .hardirqs import add_irq_arguments, factor_label
from .needs import Need

EXAMPLES = """examples:
    ./softirqs            # sum soft irq event time
    ./softirqs -C         # show the number of soft irq events
    ./softirqs -d         # show soft irq event time as histograms
    ./softirqs 1 10       # print 1 second summaries, 10 times
    ./softirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
"""

# softirq_to_name[] of kernel/softirq.c
NAMES = ("hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu")


def vec_name(vec: int) -> str:
    return NAMES[vec] if 0 <= vec < len(NAMES) else str(vec)


class SoftIrqs(HistTool):
    name = "softirqs"
    purpose = "Summarize soft irq event time as histograms"
    description = "Summarize soft irq event time as histograms."
    examples = EXAMPLES
    maps = ("@dist",)

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        add_irq_arguments(ap, "--events", "show the number of soft irq events", "count")

    def check(self) -> None:
        super().check()
        if self.o.events and (self.o.dist or self.o.nanoseconds):
            raise ToolError("The --events option can't be used with time-based options")

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "irq:softirq_entry"), Need("tracepoint", "irq:softirq_exit")]

    def header(self) -> str:
        return "Tracing soft irq events... Hit Ctrl-C to end." if self.o.events else \
            "Tracing soft irq event time... Hit Ctrl-C to end."

    def program(self) -> str:
        o = self.o
        factor, _ = factor_label(o.events, o.nanoseconds)
        p = pred(f"cpu == {o.cpu}" if o.cpu is not None else "")
        if o.events:
            return f"tracepoint:irq:softirq_entry {p} {{ @dist[args.vec] = count(); }}\n"
        store = f"hist(($t - $s.0) / (uint64){factor})" if o.dist else "sum($t - $s.0)"
        return f"""
tracepoint:irq:softirq_entry {p} {{ @start[cpu] = (nsecs, args.vec); }}
tracepoint:irq:softirq_exit {p} {{
  $s = @start[cpu];
  if ($s.0) {{
    $t = nsecs;
    @dist[$s.1] = {store};
    delete(@start, cpu);
  }}
}}
"""

    def summary(self) -> None:
        o = self.o
        factor, label = factor_label(o.events, o.nanoseconds)
        if o.dist:
            self.log2("@dist", label, "softirq", vec_name)
            return
        self.write("%-16s %11s\n" % ("SOFTIRQ", "TOTAL_" + label))
        for vec, v in sorted((self.map("@dist") or {}).items(), key=lambda kv: kv[1]):
            self.emit("%-16s %11d" % (vec_name(vec), v // factor), softirq=vec_name(vec),
                      **{"total_" + label: v // factor})


TOOL = SoftIrqs
