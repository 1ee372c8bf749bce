"""syscount: summarize syscall counts and latencies (BCC's options and tables).

raw_syscalls:sys_exit counts per syscall (or per process with -P) in a per-CPU map;
with -L, raw_syscalls:sys_enter stamps each thread and the exit sums the time.
"""

from __future__ import annotations

import argparse
import errno as _errno
from typing import Any

from .base import Tool, ToolError, pred
from .needs import Need
from .timefmt import hms


def _errno_arg(s: str) -> int:
    try:
        return abs(int(s))
    except ValueError:
        pass
    try:
        return int(getattr(_errno, s))
    except AttributeError:
        raise argparse.ArgumentTypeError(f"couldn't map {s} to an errno") from None


def syscall_name(nr: int) -> str:
    from ..runtime.syscall_names import SYSCALLS

    return SYSCALLS.get(nr) or f"[unknown: {nr}]"


class SysCount(Tool):
    name = "syscount"
    purpose = "Summarize syscall counts and latencies, by syscall or by process"
    description = "Summarize syscall counts and latencies."

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=int, help="trace only this pid")
        ap.add_argument("-t", "--tid", type=int, help="trace only this tid")
        ap.add_argument("-c", "--ppid", type=int, help="trace only child of this pid")
        ap.add_argument("-i", "--interval", type=int, help="print summary at this interval (seconds)")
        ap.add_argument("-d", "--duration", type=int, help="total duration of trace, in seconds")
        ap.add_argument("-T", "--top", type=int, default=10, help="print only the top syscalls by count or latency")
        ap.add_argument("-x", "--failures", action="store_true", help="trace only failed syscalls (return < 0)")
        ap.add_argument("-e", "--errno", type=_errno_arg,
                        help="trace only syscalls that return this error (numeric or EPERM, etc.)")
        ap.add_argument("-L", "--latency", action="store_true", help="collect syscall latency")
        ap.add_argument("-m", "--milliseconds", action="store_true",
                        help="display latency in milliseconds (default: microseconds)")
        ap.add_argument("-P", "--process", action="store_true", help="count by process and not by syscall")
        ap.add_argument("-l", "--list", action="store_true", help="print list of recognized syscalls and exit")
        ap.add_argument("--syscall", type=str,
                        help="trace this syscall only (use option -l to get all recognized syscalls)")

    def __init__(self, opts: argparse.Namespace) -> None:
        super().__init__(opts)
        self.nr = -1

    def check(self) -> None:
        o = self.o
        if o.duration and not o.interval:
            o.interval = o.duration
        if o.syscall is not None:
            from ..runtime.syscall_names import SYSCALLS

            nrs = [k for k, v in SYSCALLS.items() if v == o.syscall]
            if not nrs:
                raise ToolError(f"Error: syscall '{o.syscall}' not found. Exiting.")
            self.nr = nrs[0]
        if o.list:
            self._print_list()
            raise SystemExit(0)

    @staticmethod
    def _print_list() -> None:
        from ..runtime.syscall_names import SYSCALLS

        names = sorted(set(v for v in SYSCALLS.values() if v))
        for i in range(0, len(names), 4):
            print("   ".join(f"{s:<22s}" for s in names[i:i + 4]))

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "raw_syscalls:sys_exit")]

    def program(self) -> str:
        o = self.o
        filt = [f"args.id == {self.nr}" if self.nr >= 0 else ""]
        if o.pid:
            filt.append(f"pid == {o.pid}")
        elif o.tid:
            filt.append(f"tid == {o.tid}")
        elif o.ppid:
            filt.append(f"curtask->real_parent->tgid == {o.ppid}")
        exit_filt = list(filt)
        if o.failures:
            exit_filt.append("args.ret < 0")
        if o.errno:
            exit_filt.append(f"args.ret == -{abs(o.errno)}")
        key = "pid" if o.process else "args.id"
        if not o.latency:
            return f"tracepoint:raw_syscalls:sys_exit {pred(*exit_filt)} {{ @data[{key}] = count(); }}\n"
        return (f"tracepoint:raw_syscalls:sys_enter {pred(*filt)} {{ @start[tid] = nsecs; }}\n"
                f"tracepoint:raw_syscalls:sys_exit {pred(*exit_filt, '@start[tid]')} {{\n"
                f"  @data[{key}] = count();\n"
                f"  @ns[{key}] = sum(nsecs - @start[tid]);\n"
                "  delete(@start, tid);\n"
                "}\n")

    def header(self) -> str:
        o = self.o
        failed = "failed " if o.failures else ""
        if o.syscall is not None:
            return f"Tracing {failed}syscall '{o.syscall}'... Ctrl+C to quit."
        return f"Tracing {failed}syscalls, printing top {o.top}... Ctrl+C to quit."

    def interval(self) -> float | None:
        return float(self.o.interval) if self.o.interval else None

    def count(self) -> int | None:
        o = self.o
        if o.duration and o.interval:
            return -(-o.duration // o.interval)   # BCC stops once the elapsed seconds reach -d
        return None

    def tick(self) -> None:
        self._print_stats()

    def finish(self, interrupted: bool) -> None:
        if interrupted or not self.o.interval:
            self._print_stats()
        self.write("Detaching...\n")

    def _label(self, key: int) -> str:
        if self.o.process:
            return f"{key:<6d} {_comm(key):<15s}"
        return syscall_name(key)

    def _print_stats(self) -> None:
        o = self.o
        counts: dict[int, int] = self.map("@data") or {}
        ns: dict[int, int] = (self.map("@ns") or {}) if o.latency else {}
        self.clear("@data")
        if o.latency:
            self.clear("@ns")
        col = "PID    COMM" if o.process else "SYSCALL"
        now = hms()
        self.write(f"[{now}]\n")
        if o.latency:
            unit = "TIME (ms)" if o.milliseconds else "TIME (us)"
            self.write(f"{col:<22s} {'COUNT':>8s} {unit:>16s}\n")
            rows = sorted(counts.items(), key=lambda kv: -ns.get(kv[0], 0))
        else:
            self.write(f"{col:<22s} {'COUNT':>8s}\n")
            rows = sorted(counts.items(), key=lambda kv: -kv[1])
        for k, c in rows[:o.top]:
            if k == 0xFFFFFFFF or k == -1:
                continue
            label = self._label(k)
            rec: dict[str, Any] = {"time": now, ("pid" if o.process else "syscall"): k if o.process else label,
                                   "count": c}
            if o.process:
                rec["comm"] = _comm(k)
            if o.latency:
                t = ns.get(k, 0) / (1e6 if o.milliseconds else 1e3)
                rec["ms" if o.milliseconds else "us"] = t
                self.emit(f"{label:<22s} {c:8d} " + (f"{t:16.6f}" if o.milliseconds else f"{t:16.3f}"), **rec)
            else:
                self.emit(f"{label:<22s} {c:8d}", **rec)
        self.write("\n")


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().strip().decode("utf-8", "replace")
    except OSError:
        return "[unknown]"


TOOL = SysCount
