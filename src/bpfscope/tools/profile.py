"""profile: sample stack traces at a timed interval, whole-system or per process (BCC's)."""

from __future__ import annotations

import argparse

from . import _multi
from ._stacktool import FOREVER, StackTool, add_stack_space_args, fold, folded_line, int_list, stack_rows
from .base import ToolError, positive_int, pred


class Profile(StackTool):
    name = "profile"
    purpose = "Profile CPU stack traces at a timed interval"
    description = "Profile CPU stack traces at a timed interval"
    examples = """examples:
    ./profile             # profile stack traces at 49 Hertz until Ctrl-C
    ./profile -F 99       # profile stack traces at 99 Hertz
    ./profile -c 1000000  # profile stack traces every 1 in a million events
    ./profile 5           # profile at 49 Hertz for 5 seconds only
    ./profile -f 5        # output in folded format for flame graphs
    ./profile -p 185      # only profile process with PID 185
    ./profile -L 185      # only profile thread with TID 185
    ./profile -U          # only show user space stacks (no kernel)
    ./profile -K          # only show kernel space stacks (no user)
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        th = ap.add_mutually_exclusive_group()
        th.add_argument("-p", "--pid", type=int_list("positive int list"),
                        help="profile process with one or more comma separated PIDs only")
        th.add_argument("-L", "--tid", type=int_list("positive int list"),
                        help="profile thread with one or more comma separated TIDs only")
        add_stack_space_args(ap)
        sa = ap.add_mutually_exclusive_group()
        sa.add_argument("-F", "--frequency", type=positive_int, help="sample frequency, Hertz")
        sa.add_argument("-c", "--count", type=positive_int, help="sample period, number of events")
        ap.add_argument("-d", "--delimited", action="store_true", help="insert delimiter between kernel/user stacks")
        ap.add_argument("-a", "--annotations", action="store_true", help="add _[k] annotations to kernel frames")
        ap.add_argument("-I", "--include-idle", action="store_true", help="include CPU idle stacks")
        ap.add_argument("-f", "--folded", action="store_true",
                        help="output folded format, one line per stack (for flame graphs)")
        ap.add_argument("--stack-storage-size", default=16384, type=positive_int,
                        help="the number of unique stack traces that can be stored and displayed (default 16384)")
        ap.add_argument("duration", nargs="?", default=FOREVER, type=positive_int,
                        help="duration of trace, in seconds")
        ap.add_argument("-C", "--cpu", type=int, default=-1, help="cpu number to run profile on")

    def check(self) -> None:
        o = self.o
        self.choose_stacks()
        if o.cpu >= 0 and o.cpu >= (__import__("os").cpu_count() or 1):
            raise ToolError(f"profile: CPU {o.cpu} does not exist")

    def program(self) -> str:
        o = self.o
        probe = f"profile:hz:{o.frequency or 49}" if not o.count else f"software:cpu-clock:{o.count}"
        conds = [" || ".join(f"pid == {p}" for p in o.pid) if o.pid else "",
                 " || ".join(f"tid == {t}" for t in o.tid) if o.tid else "",
                 "" if o.include_idle else "tid != 0",
                 f"cpu == {o.cpu}" if o.cpu >= 0 else ""]
        conds = [f"({c})" if "||" in c else c for c in conds]
        key = ["pid", "comm", "kstack" if self.kstack else "0", "ustack" if self.ustack else "0"]
        return f"{probe} {pred(*conds)} {{ @counts[{', '.join(key)}] = count(); }}\n"

    def header(self) -> str | None:
        _multi.capture_maps(self.prog, self.o.pid)
        o = self.o
        ctx = f"{o.frequency or 49} Hertz" if not o.count else f"every {o.count} events"
        thread = ("PID " + ",".join(map(str, o.pid))) if o.pid else (
            ("TID " + ",".join(map(str, o.tid))) if o.tid else "all threads")
        h = f"Sampling at {ctx} of {thread} by {self.stack_words()} stack"
        if o.cpu >= 0:
            h += f" on CPU#{o.cpu}"
        return self.banner(h)

    def duration(self) -> float | None:
        return self.o.duration   # BCC's: the default (FOREVER) too

    def _k(self, f: str) -> str:
        return _multi.frame(f) + ("_[k]" if self.o.annotations else "")

    def finish(self, interrupted: bool) -> None:
        o = self.o
        if not o.folded:
            self.write("\n")
        entries = sorted(self.prog.map_entries("@counts"), key=lambda kv: kv[1])
        if o.folded:   # frames without offsets: stacks that differ only in offsets are one line
            lines: dict[str, int] = {}
            for (_pid, comm, ks, us), n in entries:
                kfr = [self._k(f) for f in ks] if isinstance(ks, list) else []
                ufr = _multi.frames(us) if isinstance(us, list) else []
                key = fold(folded_line(comm, kfr, ufr, self.kstack, self.ustack, self.delim))
                lines[key] = lines.get(key, 0) + n
            for key, n in sorted(lines.items(), key=lambda kv: kv[1]):
                self.emit(f"{key} {n}", stack=key.split(";"), count=n)
            return
        for (pid, comm, ks, us), n in entries:
            kfr = [self._k(f) for f in ks] if isinstance(ks, list) else []
            ufr = _multi.frames(us) if isinstance(us, list) else []
            self.emit(stack_rows(kfr, ufr, self.delim, comm, pid, n), pid=pid, comm=comm, kernel=kfr, user=ufr,
                      count=n)


TOOL = Profile
