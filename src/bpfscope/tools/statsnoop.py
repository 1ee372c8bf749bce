"""statsnoop: trace stat() syscalls with BCC's options and columns.

BCC probes stat, statx, statfs, newstat and newlstat; newfstatat is traced too (as
libbpf-tools' statsnoop does), because today's C libraries implement stat() with it.
Entry tracepoints save the path pointer, exit tracepoints emit one record.
"""

from __future__ import annotations

import argparse
from typing import Any

from .base import Tool, pred
from .needs import Need, have_tracepoint

EXAMPLES = """examples:
    ./statsnoop           # trace all stat() syscalls
    ./statsnoop -t        # include timestamps
    ./statsnoop -x        # only show failed stats
    ./statsnoop -p 181    # only trace PID 181
"""

# syscall -> the entry tracepoint's path field
_SYSCALLS = (("stat", "filename"), ("statx", "filename"), ("statfs", "pathname"), ("newstat", "filename"),
             ("newlstat", "filename"), ("newfstatat", "filename"))


class StatSnoop(Tool):
    name = "statsnoop"
    purpose = "Trace stat() syscalls: process, return or error, path"
    description = "Trace stat() syscalls"
    examples = EXAMPLES
    program_opts = {"ringbuf_size": 1 << 24}

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-x", "--failed", action="store_true", help="only show failed stats")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")

    def __init__(self, opts: argparse.Namespace) -> None:
        super().__init__(opts)
        self.start_ns = 0
        self.syscalls = [(s, f) for s, f in _SYSCALLS if have_tracepoint(f"syscalls:sys_enter_{s}")]

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "syscalls:sys_enter_statfs",
                     "no syscall tracepoints (CONFIG_FTRACE_SYSCALLS); nothing else can serve")]

    def program(self) -> str:
        o = self.o
        p = pred(f"pid == {o.pid}" if o.pid is not None else "")
        out = ["config = { max_strlen = 256 }", ""]
        for sc, field in self.syscalls:
            out.append(f"tracepoint:syscalls:sys_enter_{sc} {p} {{ @start[tid] = args.{field}; }}")
        exits = ", ".join(f"tracepoint:syscalls:sys_exit_{sc}" for sc, _ in self.syscalls)
        failed = " && args.ret < 0" if o.failed else ""
        out += [f"{exits} /@start[tid]{failed}/ {{",
                '  printf("stat %d %s %d %s %d\\n", pid, comm, args.ret, str(@start[tid]), nsecs);',
                "  delete(@start, tid);",
                "}"]
        if o.failed:
            out.append(f"{exits} /@start[tid]/ {{ delete(@start, tid); }}")
        return "\n".join(out) + "\n"

    def header(self) -> str:
        h = f"{'TIME(s)':<14s}" if self.o.timestamp else ""
        return h + f"{'PID':<7s} {'COMM':<16s} {'FD':>4s} ERR PATH"

    def on_stat(self, pid: int, comm: str, ret: int, path: str, ts: int) -> None:
        fd, err = (ret, 0) if ret >= 0 else (-1, -ret)
        if not self.start_ns:
            self.start_ns = ts
        t = (ts - self.start_ns) / 1e9
        if self.json:
            rec: dict[str, Any] = {"ts": t, "pid": pid, "comm": comm, "ret": fd, "err": err, "path": path}
            self.emit("", **rec)
            return
        line = f"{t:<14.9f}" if self.o.timestamp else ""
        self.emit(line + f"{pid:<7d} {comm:<16s} {fd:4d} {err:3d} {path}")


TOOL = StatSnoop
