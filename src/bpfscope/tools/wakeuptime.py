"""wakeuptime: summarize sleep-to-wakeup time by the waker's kernel stack (BCC's).

A thread's switch-out time is kept (sched_switch); when another thread wakes it
(sched_waking runs in the waker's context), the time it slept is added to the waker's
kernel stack, with both names.
"""

from __future__ import annotations

import argparse
import sys

from . import _multi
from .base import Tool, ToolError, positive_int
from .needs import Need
from .offcputime import FOREVER, PF_KTHREAD


class WakeupTime(Tool):
    name = "wakeuptime"
    purpose = "Summarize sleep to wakeup time by waker kernel stack"
    description = "Summarize sleep to wakeup time by waker kernel stack"
    examples = """examples:
    ./wakeuptime             # trace blocked time with waker stacks
    ./wakeuptime 5           # trace for 5 seconds only
    ./wakeuptime -f 5        # 5 seconds, and output in folded format
    ./wakeuptime -u          # don't include kernel threads (user only)
    ./wakeuptime -p 185      # trace for PID 185 only
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-u", "--useronly", action="store_true", help="user threads only (no kernel threads)")
        ap.add_argument("-p", "--pid", type=positive_int, help="trace this PID only")
        ap.add_argument("-v", "--verbose", action="store_true", help="show raw addresses")
        ap.add_argument("-f", "--folded", action="store_true", help="output folded format")
        ap.add_argument("--stack-storage-size", default=1024, type=positive_int,
                        help="the number of unique stack traces that can be stored and displayed (default 1024)")
        ap.add_argument("duration", nargs="?", default=FOREVER, type=positive_int,
                        help="duration of trace, in seconds")
        ap.add_argument("-m", "--min-block-time", default=1, type=positive_int,
                        help="the amount of time in microseconds over which we store traces (default 1)")
        ap.add_argument("-M", "--max-block-time", default=(1 << 64) - 1, type=positive_int,
                        help="the amount of time in microseconds under which we store traces (default U64_MAX)")

    def check(self) -> None:
        if self.o.pid and self.o.useronly:
            raise ToolError("wakeuptime: error: use either -p or -u.")
        self.program_opts = {"stack_entries": max(self.o.stack_storage_size * 4, 16384), "max_map_keys": 10240}

    def requires(self) -> list[Need]:
        return [Need("btf"), Need("feature", "tp_btf",
                                  instead="wakeuptime needs BTF-typed sched tracepoints (tp_btf)")]

    def _skip(self, task: str) -> str:
        """BCC's FILTER: true for threads not traced."""
        if self.o.pid:
            return f"{task}->tgid != {self.o.pid}"
        if self.o.useronly:
            return f"({task}->flags & {PF_KTHREAD}) != 0"
        return ""

    def program(self) -> str:
        o = self.o
        skip_prev, skip_p = self._skip("$p"), self._skip("$w")
        keep = "@start[$p->pid] = nsecs;"
        if skip_prev:
            keep = f"if (!({skip_prev})) {{ {keep} }}"
        hi = f" && $d <= {o.max_block_time}" if o.max_block_time < (1 << 63) else ""
        upd = "@counts[comm, $w->comm, kstack(perf)] = sum($d);"
        rng = f"if ($d >= {o.min_block_time}{hi}) {{ {upd} }}"
        if skip_p:
            rng = f"if (!({skip_p})) {{ {rng} }}"
        return f"""rawtracepoint:sched_switch {{ $p = args.prev; {keep} }}
rawtracepoint:sched_waking {{
  $w = args.p;
  $t = @start[$w->pid];
  if ($t) {{
    delete(@start, $w->pid);
    $d = (nsecs - $t) / 1000;
    {rng}
  }}
}}
"""

    def header(self) -> str | None:
        h = "Tracing blocked time (us) by kernel stack"
        h += f" for {self.o.duration} secs." if self.o.duration < FOREVER else "... Hit Ctrl-C to end."
        if self.o.folded:
            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def duration(self) -> float | None:
        return None if self.o.duration >= FOREVER else float(self.o.duration)

    def finish(self, interrupted: bool) -> None:
        o = self.o
        if not o.folded:
            self.write("\n")
        for (waker, target, ks), n in sorted(self.prog.map_entries("@counts"), key=lambda kv: kv[1]):
            raw = list(ks) if isinstance(ks, (list, tuple)) else []
            while raw and _multi.frame(raw[0].split(" ", 1)[-1]).startswith(_multi._TRACE_FRAMES):
                raw.pop(0)
            pairs = [(int(f.split(" ", 1)[0], 16), _multi.frame(f.split(" ", 1)[-1])) for f in raw if " " in f]
            if o.folded:
                line = [waker] + [s for _a, s in pairs] + [target]
                self.emit(f"{';'.join(x.replace(';', ':') for x in line)} {n}", stack=line, value=n)
                continue
            rows = ["    %-16s %s" % ("target:", target)]  # noqa: UP031
            rows += ["    %-16x %s" % (a, s) for a, s in reversed(pairs)]  # noqa: UP031
            rows.append("    %-16s %s" % ("waker:", waker))  # noqa: UP031
            rows.append(f"        {n}\n")
            self.emit("\n".join(rows), target=target, waker=waker, stack=[s for _a, s in pairs], value=n)
        if not o.folded:
            self.write("Detaching...\n")


TOOL = WakeupTime
