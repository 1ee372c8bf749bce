"""killsnoop: trace signals issued by the kill() syscall, with BCC's options and columns."""

from __future__ import annotations

import argparse
from typing import Any

from .base import Tool, pred
from .needs import Need
from .timefmt import hms

EXAMPLES = """examples:
    ./killsnoop           # trace all kill() signals
    ./killsnoop -x        # only show failed kills
    ./killsnoop -p 181    # only trace PID 181
    ./killsnoop -T 189    # only trace target PID 189
    ./killsnoop -s 9      # only trace signal 9
"""


def _pid_width() -> int:
    """BCC sizes the PID columns to the digits of pid_max, plus one."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return len(f.read().strip()) + 1
    except OSError:
        return 6


class KillSnoop(Tool):
    name = "killsnoop"
    purpose = "Trace signals issued by the kill() syscall: sender, signal, target, result"
    description = "Trace signals issued by the kill() syscall"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-x", "--failed", action="store_true", help="only show failed kill syscalls")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only which is the sender of signal")
        ap.add_argument("-T", "--tpid", type=int, help="trace this target PID only which is the receiver of signal")
        ap.add_argument("-s", "--signal", type=int, help="trace this signal only")

    def __init__(self, opts: argparse.Namespace) -> None:
        super().__init__(opts)
        self.w = _pid_width()

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "syscalls:sys_enter_kill",
                     "no syscall tracepoints (CONFIG_FTRACE_SYSCALLS); nothing else can serve")]

    def program(self) -> str:
        o = self.o
        p = pred(f"pid == {o.pid}" if o.pid is not None else "",
                 f"(int32)args.pid == {o.tpid}" if o.tpid is not None else "",
                 f"args.sig == {o.signal}" if o.signal is not None else "")
        failed = " && args.ret < 0" if o.failed else ""
        return (f"tracepoint:syscalls:sys_enter_kill {p} {{ @a[tid] = ((int32)args.pid, args.sig + 1); }}\n"
                f"tracepoint:syscalls:sys_exit_kill /@a[tid].1{failed}/ {{\n"
                '  printf("kill %d %s %d %d %d\\n", pid, comm, @a[tid].1 - 1, @a[tid].0, args.ret);\n'
                "  delete(@a, tid);\n"
                "}\n"
                + ("tracepoint:syscalls:sys_exit_kill /@a[tid].1/ { delete(@a, tid); }\n" if o.failed else ""))

    def header(self) -> str:
        w = self.w
        return f"{'TIME':<9s} {'PID':<{w}s} {'COMM':<16s} {'SIG':<4s} {'TPID':<{w}s} RESULT"

    def on_kill(self, pid: int, comm: str, sig: int, tpid: int, ret: int) -> None:
        if self.json:
            rec: dict[str, Any] = {"time": hms(), "pid": pid, "comm": comm, "sig": sig, "tpid": tpid, "ret": ret}
            self.emit("", **rec)
            return
        w = self.w
        self.emit(f"{hms():<9s} {pid:<{w}d} {comm:<16s} {sig:<4d} {tpid:<{w}d} {ret}")


TOOL = KillSnoop
