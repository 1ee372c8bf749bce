"""hardirqs: time (or count) hard interrupt handlers, per handler name (BCC's output).

The irq tracepoints as BCC uses them: the handler's name is saved at entry (per CPU:
hard handlers do not nest on one CPU), the time is accounted at exit unless the handler
returned IRQ_NONE (not its interrupt).
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from ._histtool import HistTool, add_interval_args
from .base import ToolError, pred
from .needs import Need

EXAMPLES = """examples:
    ./hardirqs            # sum hard irq event time
    ./hardirqs -d         # show hard irq event time as histograms
    ./hardirqs 1 10       # print 1 second summaries, 10 times
    ./hardirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
"""


def add_irq_arguments(ap: argparse.ArgumentParser, count_flag: str, count_help: str, count_name: str) -> None:
    ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
    ap.add_argument("-N", "--nanoseconds", action="store_true", help="output in nanoseconds")
    ap.add_argument("-C", count_flag, action="store_true", help=count_help)
    ap.add_argument("-d", "--dist", action="store_true", help="show distributions as histograms")
    ap.add_argument("-c", "--cpu", type=int, help="trace this CPU only")
    add_interval_args(ap, count_name)


def factor_label(counting: bool, nanoseconds: bool) -> tuple[int, str]:
    if counting:
        return 1, "count"
    return (1, "nsecs") if nanoseconds else (1000, "usecs")


class HardIrqs(HistTool):
    name = "hardirqs"
    purpose = "Summarize hard irq event time as histograms"
    description = "Summarize hard irq event time as histograms"
    examples = EXAMPLES
    maps = ("@dist",)
    count_name = "outputs"

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        add_irq_arguments(ap, "--count", "show event counts instead of timing", "outputs")

    def check(self) -> None:
        super().check()
        if self.o.count and (self.o.dist or self.o.nanoseconds):
            raise ToolError("The --count option can't be used with time-based options")

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "irq:irq_handler_entry"), Need("tracepoint", "irq:irq_handler_exit")]

    def header(self) -> str:
        return "Tracing hard irq events... Hit Ctrl-C to end." if self.o.count else \
            "Tracing hard irq event time... Hit Ctrl-C to end."

    def program(self) -> str:
        o = self.o
        factor, _ = factor_label(o.count, o.nanoseconds)
        p = pred(f"cpu == {o.cpu}" if o.cpu is not None else "")
        if o.count:
            store = "@dist[@name[cpu]] = count();"
        elif o.dist:
            store = f"@dist[@name[cpu]] = hist((nsecs - $ts) / (uint64){factor});"
        else:
            store = "@dist[@name[cpu]] = sum(nsecs - $ts);"
        return f"""
tracepoint:irq:irq_handler_entry {p} {{ @start[cpu] = nsecs; @name[cpu] = str(args.name, 32); }}
tracepoint:irq:irq_handler_exit {p} {{
  $ts = @start[cpu];
  if ($ts) {{
    if (args.ret != 0) {{ {store} }}
    delete(@start, cpu);
  }}
}}
"""

    def summary(self) -> None:
        o = self.o
        factor, label = factor_label(o.count, o.nanoseconds)
        if o.dist:
            self.log2("@dist", label, "hardirq")
            return
        self.write("%-26s %11s\n" % ("HARDIRQ", "TOTAL_" + label))
        for name, v in sorted((self.map("@dist") or {}).items(), key=lambda kv: kv[1]):
            self.emit("%-26s %11d" % (name, v // factor), hardirq=name, **{"total_" + label: v // factor})


TOOL = HardIrqs
