"""funccount: count function calls, tracepoints or USDT probes matching a pattern (BCC's)."""

from __future__ import annotations

import argparse

from . import _multi, bccspec
from .base import Tool, ToolError, positive_int, pred
from .timefmt import hms


def probe_func(probe: str) -> str:
    """BCC's FUNC column for one bpftrace probe name: the function, `cat:event`, or USDT name."""
    kind, _, rest = probe.partition(":")
    if kind == "tracepoint":
        return rest
    return rest.rsplit(":", 1)[-1]


class FuncCount(Tool):
    name = "funccount"
    purpose = "Count functions, tracepoints, and USDT probes"
    description = "Count functions, tracepoints, and USDT probes"
    examples = """examples:
    ./funccount 'vfs_*'             # count kernel fns starting with "vfs"
    ./funccount -r '^vfs.*'         # same as above, using regular expressions
    ./funccount -Ti 5 'vfs_*'       # output every 5 seconds, with timestamps
    ./funccount -d 10 'vfs_*'       # trace for 10 seconds only
    ./funccount -p 185 'vfs_*'      # count vfs calls for PID 181 only
    ./funccount t:sched:sched_fork  # count calls to the sched_fork tracepoint
    ./funccount -p 185 u:node:gc*   # count all GC USDT probes in node, PID 185
    ./funccount c:malloc            # count all malloc() calls in libc
    ./funccount ./test:read*        # count "read*" calls in the ./test binary
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=positive_int, help="trace this PID only")
        ap.add_argument("-i", "--interval", type=positive_int, help="summary interval, seconds")
        ap.add_argument("-d", "--duration", type=positive_int, help="total duration of trace, seconds")
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-r", "--regexp", action="store_true",
                        help="use regular expressions. Default is \"*\" wildcards only.")
        ap.add_argument("-D", dest="print_bpf", action="store_true",
                        help="print BPF program before starting (for debugging purposes)")
        ap.add_argument("-c", "--cpu", type=int, help="trace this CPU only")
        ap.add_argument("pattern", help="search expression for events")

    def check(self) -> None:
        try:
            self.spec = bccspec.parse_pattern(self.o.pattern)
        except bccspec.SpecError as e:
            raise ToolError(f"funccount: {e}") from None
        if self.o.duration and not self.o.interval:
            self.o.interval = self.o.duration
        self.elapsed = 0
        self.done = False

    def program(self) -> str:
        aps = _multi.attach_points(self.name, self.spec, self.o.regexp, self.o.pid)
        cpu = f"cpu == {self.o.cpu}" if self.o.cpu is not None else ""
        text = f"{', '.join(aps)} {pred(_multi.pid_filter(self.o.pid), cpu)} {{ @counts[probe] = count(); }}\n"
        if self.o.print_bpf:
            print(text, end="")
        return text

    def header(self) -> str:
        return f'Tracing {self.prog.attached} functions for "{self.o.pattern}"... Hit Ctrl-C to end.'

    def interval(self) -> float | None:
        return self.o.interval

    def _table(self) -> None:
        self.write("\n")
        if self.o.timestamp:
            self.write(f"{hms():<8s}\n")
        self.write(f"{'FUNC':<36s} {'COUNT':>8s}\n")
        counts = self.map("@counts") or {}
        for probe, n in sorted(counts.items(), key=lambda kv: kv[1]):
            if n:
                self.emit(f"{probe_func(probe):<36s} {n:8d}", func=probe_func(probe), count=n)

    def tick(self) -> None:
        self._table()
        self.elapsed += self.o.interval
        if self.o.duration and self.elapsed >= self.o.duration:
            self.write("Detaching...\n")
            self.done = True
            self.stop()
            return
        self.clear("@counts")

    def finish(self, interrupted: bool) -> None:
        if not self.done:
            self._table()
            self.write("Detaching...\n")


TOOL = FuncCount
