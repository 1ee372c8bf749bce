"""profile: sample stack traces at a timed interval, whole-system or per process (BCC's)."""

from __future__ import annotations

import argparse

from . import _multi
from .base import Tool, ToolError, positive_int, pred


def _int_list(s: str) -> list[int]:
    try:
        vals = [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid positive int list value: '{s}'") from None
    if any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError("must be positive")
    return vals


class Profile(Tool):
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
        th.add_argument("-p", "--pid", type=_int_list,
                        help="profile process with one or more comma separated PIDs only")
        th.add_argument("-L", "--tid", type=_int_list,
                        help="profile thread with one or more comma separated TIDs only")
        st = ap.add_mutually_exclusive_group()
        st.add_argument("-U", "--user-stacks-only", action="store_true",
                        help="show stacks from user space only (no kernel space stacks)")
        st.add_argument("-K", "--kernel-stacks-only", action="store_true",
                        help="show stacks from kernel space only (no user space stacks)")
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
        ap.add_argument("duration", nargs="?", default=99999999, type=positive_int,
                        help="duration of trace, in seconds")
        ap.add_argument("-C", "--cpu", type=int, default=-1, help="cpu number to run profile on")

    def check(self) -> None:
        o = self.o
        self.kstack = not o.user_stacks_only
        self.ustack = not o.kernel_stacks_only
        self.delim = o.delimited and self.kstack and self.ustack
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
        stack = "user + kernel" if self.kstack and self.ustack else ("user" if self.ustack else "kernel")
        h = f"Sampling at {ctx} of {thread} by {stack} stack"
        if o.cpu >= 0:
            h += f" on CPU#{o.cpu}"
        h += f" for {o.duration} secs." if o.duration < 99999999 else "... Hit Ctrl-C to end."
        if o.folded:   # stdout stays pure folded lines; the readiness line goes to stderr
            import sys

            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def duration(self) -> float | None:
        return self.o.duration

    def _k(self, f: str) -> str:
        return _multi.frame(f) + ("_[k]" if self.o.annotations else "")

    def finish(self, interrupted: bool) -> None:
        o = self.o
        if not o.folded:
            self.write("\n")
        entries = sorted(self.prog.map_entries("@counts"), key=lambda kv: kv[1])
        if o.folded:   # frames without offsets: stacks that differ only in offsets are one line
            lines: dict[tuple[str, ...], int] = {}
            for (_pid, comm, ks, us), n in entries:
                kfr = [self._k(f) for f in ks] if isinstance(ks, list) else []
                ufr = _multi.frames(us) if isinstance(us, list) else []
                line = [comm]
                if self.ustack:
                    line += list(reversed(ufr))
                if self.kstack:
                    line += (["-"] if self.delim and kfr and ufr else []) + list(reversed(kfr))
                key = tuple(x.replace(";", ":") for x in line)
                lines[key] = lines.get(key, 0) + n
            for key, n in sorted(lines.items(), key=lambda kv: kv[1]):
                self.emit(f"{';'.join(key)} {n}", stack=list(key), count=n)
            return
        for (pid, comm, ks, us), n in entries:
            kfr = [self._k(f) for f in ks] if isinstance(ks, list) else []
            ufr = _multi.frames(us) if isinstance(us, list) else []
            rows = [f"    {f}" for f in kfr]
            if self.delim and kfr and ufr:
                rows.append("    --")
            rows += [f"    {f}" for f in ufr]
            rows.append(f"    {'-':<16s} {comm} ({pid})")
            rows.append(f"        {n}\n")
            self.emit("\n".join(rows), pid=pid, comm=comm, kernel=kfr, user=ufr, count=n)


TOOL = Profile
