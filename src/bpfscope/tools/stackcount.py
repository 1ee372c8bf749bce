"""stackcount: count events (functions, tracepoints, USDT) by their stack traces (BCC's)."""

from __future__ import annotations

import argparse
import re

from . import _multi, bccspec
from .base import Tool, ToolError, pred
from .timefmt import hms

_FRAME = re.compile(r"^(?:([0-9a-f]+) )?(.*?)(?:\+(\d+))?$")


def frame_text(raw: str, offset: bool, verbose: bool) -> tuple[str, str]:
    """(address column or "", symbol) for one decoded frame ("ADDR func+off" in perf mode)."""
    m = _FRAME.match(raw)
    assert m is not None
    addr, name, off = m.groups()
    if name.startswith("0x") or not name:
        name = "[unknown]"
    elif offset and off is not None:
        name = f"{name}+0x{int(off):x}"
    return (f"{int(addr, 16):<16x} " if verbose and addr else ""), name


class StackCount(Tool):
    name = "stackcount"
    purpose = "Count events and their stack traces"
    description = "Count events and their stack traces"
    examples = """examples:
    ./stackcount submit_bio         # count kernel stack traces for submit_bio
    ./stackcount -d ip_output       # include a user/kernel stack delimiter
    ./stackcount -s ip_output       # show symbol offsets
    ./stackcount -sv ip_output      # show offsets and raw addresses (verbose)
    ./stackcount 'tcp_send*'        # count stacks for funcs matching tcp_send*
    ./stackcount -r '^tcp_send.*'   # same as above, using regular expressions
    ./stackcount -Ti 5 ip_output    # output every 5 seconds, with timestamps
    ./stackcount -p 185 ip_output   # count ip_output stacks for PID 185 only
    ./stackcount -c 1 put_prev_entity   # count put_prev_entity stacks for CPU 1 only
    ./stackcount -p 185 c:malloc    # count stacks for malloc in PID 185
    ./stackcount t:sched:sched_fork # count stacks for sched_fork tracepoint
    ./stackcount -p 185 u:node:*    # count stacks for all USDT probes in node
    ./stackcount -K t:sched:sched_switch   # kernel stacks only
    ./stackcount -U t:sched:sched_switch   # user stacks only
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-c", "--cpu", type=int, help="trace this CPU only")
        ap.add_argument("-i", "--interval", type=int, help="summary interval, seconds")
        ap.add_argument("-D", "--duration", type=int, help="total duration of trace, seconds")
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-r", "--regexp", action="store_true",
                        help="use regular expressions. Default is \"*\" wildcards only.")
        ap.add_argument("-s", "--offset", action="store_true", help="show address offsets")
        ap.add_argument("-P", "--perpid", action="store_true", help="display stacks separately for each process")
        ap.add_argument("-K", "--kernel-stacks-only", action="store_true", help="kernel stack only")
        ap.add_argument("-U", "--user-stacks-only", action="store_true", help="user stack only")
        ap.add_argument("-v", "--verbose", action="store_true", help="show raw addresses")
        ap.add_argument("-d", "--delimited", action="store_true", help="insert delimiter between kernel/user stacks")
        ap.add_argument("-f", "--folded", action="store_true", help="output folded format")
        ap.add_argument("pattern", help="search expression for events")

    def check(self) -> None:
        o = self.o
        if o.kernel_stacks_only and o.user_stacks_only:
            raise ToolError("ERROR: -K and -U are mutually exclusive. If you want both stacks, that is the default.")
        for v, what in ((o.interval, "interval"), (o.duration, "duration")):
            if v is not None and v <= 0:
                raise ToolError(f"stackcount: {what} must be positive")
        try:
            self.spec = bccspec.parse_pattern(o.pattern)
        except bccspec.SpecError as e:
            raise ToolError(f"stackcount: {e}") from None
        if o.duration and not o.interval:
            o.interval = o.duration
        if o.pid is not None and o.pid > 0:
            o.perpid = True
        self.kstack = not o.user_stacks_only
        self.ustack = not o.kernel_stacks_only
        self.delim = o.delimited and not (o.kernel_stacks_only or o.user_stacks_only)
        self.elapsed = 0
        self.done = False

    def program(self) -> str:
        o = self.o
        aps = _multi.attach_points(self.name, self.spec, o.regexp, o.pid)
        mode = "(perf)" if o.verbose else ""
        key = ["pid" if o.perpid else "0", "comm" if o.perpid else '""',
               f"kstack{mode}" if self.kstack else "0", f"ustack{mode}" if self.ustack else "0"]
        cpu = f"cpu == {o.cpu}" if o.cpu is not None else ""
        return f"{', '.join(aps)} {pred(_multi.pid_filter(o.pid), cpu)} {{ @counts[{', '.join(key)}] = count(); }}\n"

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, [self.o.pid] if self.o.pid else None)
        h = f'Tracing {self.prog.attached} functions for "{self.o.pattern}"... Hit Ctrl-C to end.'
        if self.o.folded:   # stdout stays pure folded lines; the readiness line goes to stderr
            import sys

            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def interval(self) -> float | None:
        return self.o.interval

    def _stack(self, st: object) -> list[str]:
        if not isinstance(st, (list, tuple)):
            return []
        fr = list(st)
        if self.spec.type == "t":
            while fr and _multi.frame(fr[0].split(" ")[-1]).startswith(_multi._TRACE_FRAMES):
                fr.pop(0)
        return fr

    def _print(self) -> None:
        o = self.o
        if not o.folded:
            self.write("\n")
        if o.timestamp:
            self.write(f"{hms():<8s}\n")
        entries = self.prog.map_entries("@counts")   # keys hold stacks (lists): not a dict
        for (tgid, comm, ks, us), n in sorted(entries, key=lambda kv: kv[1]):
            kfr, ufr = self._stack(ks), self._stack(us)
            if o.folded:
                line = [comm] + [frame_text(f, False, False)[1] for f in reversed(ufr)]
                line += (["-"] if self.delim else []) + [frame_text(f, False, False)[1] for f in reversed(kfr)]
                self.emit(f"{';'.join(line)} {n}", stack=line, count=n)
                continue
            lines = []
            for f in kfr:
                a, s = frame_text(f, o.offset, o.verbose)
                lines.append(f"  {a}{s}")
            if self.delim:
                lines.append("    --")
            for f in ufr:
                a, s = frame_text(f, o.offset, o.verbose)
                lines.append(f"  {a}{s}")
            if not o.pid and o.perpid:
                lines.append(f"    {comm} [{tgid}]")
            lines.append(f"    {n}\n")
            self.emit("\n".join(lines), kernel=kfr, user=ufr, pid=tgid if o.perpid else None,
                      comm=comm if o.perpid else None, count=n)

    def tick(self) -> None:
        self._print()
        self.clear("@counts")
        self.elapsed += self.o.interval
        if self.o.duration and self.elapsed >= self.o.duration:
            if not self.o.folded:
                self.write("Detaching...\n")
            self.done = True
            self.stop()

    def finish(self, interrupted: bool) -> None:
        if not self.done:
            self._print()
            if not self.o.folded:
                self.write("Detaching...\n")


TOOL = StackCount
