"""exitsnoop: trace process termination (exit, fatal signal) with BCC's options and columns.

sched:sched_process_exit runs in the exiting task after `task->exit_code` is set; the task's
start time, ids and parent come from `curtask` through the kernel's BTF.
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from .base import Tool, pred
from .needs import Need
from .timefmt import hms_ms

EXAMPLES = """examples:
    exitsnoop                # trace all process termination
    exitsnoop -x             # trace only fails, exclude exit(0)
    exitsnoop -t             # include timestamps (local time)
    exitsnoop --utc          # include timestamps (UTC)
    exitsnoop -p 181         # only trace PID 181
    exitsnoop --label=exit   # label each output line with 'exit'
    exitsnoop --per-thread   # trace per thread termination
"""


def signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name[3:]
    except ValueError:
        return "unknown"


class ExitSnoop(Tool):
    name = "exitsnoop"
    purpose = "Trace process termination (exit, fatal signal): age and exit code or signal"
    description = "Trace all process termination (exit, fatal signal)"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp (local time default)")
        ap.add_argument("--utc", action="store_true", help="include timestamp in UTC (-t implied)")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("--label", help="label each line")
        ap.add_argument("-x", "--failed", action="store_true", help="trace only fails, exclude exit(0)")
        ap.add_argument("--per-thread", action="store_true", help="trace per thread termination")

    def check(self) -> None:
        if self.o.utc:
            self.o.timestamp = True

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "sched:sched_process_exit"),
                Need("btf", instead="exitsnoop reads the exiting task_struct through BTF")]

    def program(self) -> str:
        o = self.o
        if o.pid is not None:
            who = (f"curtask->tgid == {o.pid}" if o.per_thread
                   else f"curtask->tgid == {o.pid} && curtask->pid == curtask->tgid")
        else:
            who = "" if o.per_thread else "curtask->pid == curtask->tgid"
        p = pred(who, "curtask->exit_code != 0" if o.failed else "")
        return (f"tracepoint:sched:sched_process_exit {p} {{\n"
                "  $t = curtask;\n"
                '  printf("exit %d %d %d %d %d %d %s\\n", $t->start_time, nsecs, $t->tgid, $t->pid,\n'
                "         $t->real_parent->tgid, $t->exit_code, comm);\n"
                "}\n")

    def header(self) -> str:
        o = self.o
        h = ""
        if o.timestamp:
            h += f"{'TIME-' + ('UTC' if o.utc else time.strftime('%Z')):<13s}"
        if o.label is not None:
            h += f"{'LABEL':<6s}"
        return h + f"{'PCOMM':<16s} {'PID':<7s} {'PPID':<7s} {'TID':<7s} {'AGE(s)':<7s} {'EXIT_CODE':<10s}"

    def on_exit(self, start: int, now: int, pid: int, tid: int, ppid: int, code: int, comm: str) -> None:
        o = self.o
        age = (now - start) / 1e9
        status, sig = (code >> 8) & 0xFF, code & 0xFF
        if sig == 0:
            what = "0" if status == 0 else f"code {status}"
        else:
            what = f"signal {sig & 0x7F} ({signame(sig & 0x7F)})" if sig & 0x7F else ""
            if sig & 0x80:
                what += ", core dumped "
        if self.json:
            rec: dict[str, Any] = {"time": self.clock.wall(now), "pcomm": comm, "pid": pid, "ppid": ppid,
                                   "tid": tid, "age": age, "exit_code": status, "signal": sig & 0x7F,
                                   "core_dumped": bool(sig & 0x80)}
            if o.label is not None:
                rec["label"] = o.label or "exit"
            self.emit("", **rec)
        else:
            line = ""
            if o.timestamp:
                t = self.clock.wall(now)
                line += f"{hms_ms(t) if not o.utc else _hms_ms_utc(t):<13s}"
            if o.label is not None:
                line += f"{o.label or 'exit':<6s}"
            self.emit(line + f"{comm:<16s} {pid:<7d} {ppid:<7d} {tid:<7d} {age:<7.2f} {what}")
        if o.pid is not None:
            self.stop()   # as BCC: -p PID ends with that process

    def finish(self, interrupted: bool) -> None:
        if interrupted:
            self.write("\n")


def _hms_ms_utc(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


TOOL = ExitSnoop
