"""wakeuptime: summarize sleep-to-wakeup time by the waker's kernel stack (BCC's).

A thread's switch-out time is kept (sched_switch); when another thread wakes it
(sched_waking runs in the waker's context), the time it slept is added to the waker's
kernel stack, with both names.
"""

from __future__ import annotations

import argparse

from . import _multi
from ._stacktool import PF_KTHREAD, StackTool, add_block_args, block_range, fold, stack_opts, tp_btf_needs
from .base import ToolError, positive_int
from .needs import Need


class WakeupTime(StackTool):
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
        add_block_args(ap)

    def check(self) -> None:
        if self.o.pid and self.o.useronly:
            raise ToolError("wakeuptime: error: use either -p or -u.")
        self.program_opts = stack_opts(self.o, 16384)

    def requires(self) -> list[Need]:
        return tp_btf_needs("wakeuptime needs BTF-typed sched tracepoints (tp_btf)")

    def _skip(self, task: str) -> str:
        """BCC's FILTER: true for threads not traced."""
        if self.o.pid:
            return f"{task}->tgid != {self.o.pid}"
        if self.o.useronly:
            return f"({task}->flags & {PF_KTHREAD}) != 0"
        return ""

    def program(self) -> str:
        skip_prev, skip_p = self._skip("$p"), self._skip("$w")
        keep = "@start[$p->pid] = nsecs;"
        if skip_prev:
            keep = f"if (!({skip_prev})) {{ {keep} }}"
        upd = "@counts[comm, $w->comm, kstack(perf)] = sum($d);"
        rng = f"if ({block_range(self.o)}) {{ {upd} }}"
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
        return self.banner("Tracing blocked time (us) by kernel stack")

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
                self.emit(f"{fold(line)} {n}", stack=line, value=n)
                continue
            rows = ["    %-16s %s" % ("target:", target)]  # noqa: UP031
            rows += ["    %-16x %s" % (a, s) for a, s in reversed(pairs)]  # noqa: UP031
            rows.append("    %-16s %s" % ("waker:", waker))  # noqa: UP031
            rows.append(f"        {n}\n")
            self.emit("\n".join(rows), target=target, waker=waker, stack=[s for _a, s in pairs], value=n)
        if not o.folded:
            self.write("Detaching...\n")


TOOL = WakeupTime
