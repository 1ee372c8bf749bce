"""funclatency: time functions and print their latency as a log2 histogram (BCC's).

Entry and return probes on every function the pattern matches (kernel functions through
kprobes, `lib:func` through uprobes); the innermost call of each thread is timed, as BCC does.
"""

# ruff: noqa: UP031  (BCC's %-format strings are its output spec)
from __future__ import annotations

import argparse
import time

from . import _multi, bcchist, bccspec
from .base import Tool, ToolError, pred

FOREVER = 99999999
UNITS = {"msecs": 1000000, "usecs": 1000, "nsecs": 1}


def parse(pattern: str) -> bccspec.ProbeSpec:
    """BCC's funclatency pattern: `func` (kernel) or `lib:func`; anything else is refused."""
    parts = pattern.split(":")
    if len(parts) == 1 and parts[0]:
        return bccspec.ProbeSpec("p", "", parts[0])
    if len(parts) == 2 and parts[0] and parts[1]:
        return bccspec.ProbeSpec("p", parts[0], parts[1])
    raise ToolError(f"Error: unrecognized pattern format '{pattern}'")


def func_of(probe: str) -> str:
    return probe.rsplit(":", 1)[-1]


class FuncLatency(Tool):
    name = "funclatency"
    purpose = "Time functions and print latency as a histogram"
    description = "Time functions and print latency as a histogram"
    listing_args = ("c:read",)
    examples = """examples:
    ./funclatency do_sys_open       # time the do_sys_open() kernel function
    ./funclatency c:read            # time the read() C library function
    ./funclatency -u vfs_read       # time vfs_read(), in microseconds
    ./funclatency -m do_nanosleep   # time do_nanosleep(), in milliseconds
    ./funclatency -i 2 -d 10 c:open # output every 2 seconds, for duration 10s
    ./funclatency -mTi 5 vfs_read   # output every 5 seconds, with timestamps
    ./funclatency -p 181 vfs_read   # time process 181 only
    ./funclatency 'vfs_fstat*'      # time both vfs_fstat() and vfs_fstatat()
    ./funclatency 'c:*printf'       # time the *printf family of functions
    ./funclatency -F 'vfs_r*'       # show one histogram per matched function
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-i", "--interval", type=int, help="summary interval, in seconds")
        ap.add_argument("-d", "--duration", type=int, help="total duration of trace, in seconds")
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-u", "--microseconds", action="store_true", help="microsecond histogram")
        ap.add_argument("-m", "--milliseconds", action="store_true", help="millisecond histogram")
        ap.add_argument("-F", "--function", action="store_true", help="show a separate histogram per function")
        ap.add_argument("-r", "--regexp", action="store_true",
                        help="use regular expressions. Default is \"*\" wildcards only.")
        ap.add_argument("-l", "--level", type=int, help="set the level of nested or recursive functions")
        ap.add_argument("-v", "--verbose", action="store_true",
                        help="print the BPF program (for debugging purposes)")
        ap.add_argument("pattern", help="search expression for functions")

    def check(self) -> None:
        o = self.o
        for v, what in ((o.interval, "interval"), (o.duration, "duration")):
            if v is not None and v <= 0:
                raise ToolError(f"funclatency: {what} must be positive")
        if o.level is not None and o.level > 1:
            raise ToolError("funclatency: -l (nested levels) is not supported; the innermost call is timed")
        if o.duration and not o.interval:
            o.interval = o.duration
        self.spec = parse(o.pattern)
        self.library = bool(self.spec.library)
        self.keyed = o.function or (self.library and not o.pid)
        self.label = "msecs" if o.milliseconds else ("usecs" if o.microseconds else "nsecs")
        self.elapsed = 0
        self.done = False

    def program(self) -> str:
        o = self.o
        entry = _multi.attach_points(self.name, self.spec, o.regexp, o.pid)
        ret = [ap.replace("uprobe:", "uretprobe:", 1).replace("kprobe:", "kretprobe:", 1) for ap in entry]
        key = ""
        if self.keyed:
            key = f"[probe, {'pid' if self.library else '-1'}]"
        div = UNITS[self.label]
        scaled = f"$d / {div}" if div > 1 else "$d"
        text = f"""{', '.join(entry)} {pred(_multi.pid_filter(o.pid))} {{ @start[tid] = nsecs; }}
{', '.join(ret)} /@start[tid]/ {{
  $d = nsecs - @start[tid];
  delete(@start, tid);
  @total = sum($d);
  @calls = count();
  @dist{key} = hist({scaled});
}}
"""
        if o.verbose:
            print(text, end="")
        return text

    def header(self) -> str:
        _multi.capture_maps(self.prog, [self.o.pid] if self.o.pid else None)
        return f'Tracing {self.prog.attached // 2} functions for "{self.o.pattern}"... Hit Ctrl-C to end.'

    def interval(self) -> float | None:
        return self.o.interval

    def _summary(self) -> None:
        self.write("\n")
        if self.o.timestamp:
            self.write("%-8s\n" % time.strftime("%H:%M:%S"))
        dist = self.map("@dist") or {}
        if self.keyed:
            for (probe, pid), hist in sorted(dist.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
                fn = func_of(probe)
                sect = f"{fn} [{pid}]" if self.library else fn
                self.write(bcchist.section("Function", sect))
                self._hist(hist, function=fn, pid=pid if self.library else None)
        else:
            self._hist(dist)
        total = self.map("@total") or 0
        calls = self.map("@calls") or 0
        if calls > 0:
            total /= UNITS[self.label]
            self.write("\navg = %d %s, total: %d %s, count: %d\n\n" % (total / calls, self.label, total,
                                                                       self.label, calls))
            if self.json:
                self.emit("", avg=total / calls, total=total, count=calls, unit=self.label)
        for m in ("@dist", "@total", "@calls"):
            self.clear(m)

    def _hist(self, hist: dict[int, int], **rec: object) -> None:
        slots = bcchist.slots_from_hist(hist)
        if self.json:
            self.emit("", val_type=self.label, data={i: c for i, c in enumerate(slots) if c}, **rec)
        self.write(bcchist.log2_hist(slots, self.label))

    def tick(self) -> None:
        self._summary()
        self.elapsed += self.o.interval
        if self.o.duration and self.elapsed >= self.o.duration:
            self.write("Detaching...\n")
            self.done = True
            self.stop()

    def finish(self, interrupted: bool) -> None:
        if not self.done:
            self._summary()
            self.write("Detaching...\n")


TOOL = FuncLatency
