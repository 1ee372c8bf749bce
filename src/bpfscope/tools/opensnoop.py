"""opensnoop: trace open(), openat() and openat2() with BCC's options and columns.

The syscall tracepoints serve on every kernel (as libbpf-tools' opensnoop): the entry
saves the filename pointer and flags per thread, the exit reads the string (by then the
kernel has faulted it in) and emits one record.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .base import Tool, ToolError, add_pinned_map_args, pred, refuse_pinned_maps
from .needs import Need, have_tracepoint

EXAMPLES = """examples:
    ./opensnoop                        # trace all open() syscalls
    ./opensnoop -T                     # include timestamps
    ./opensnoop -U                     # include UID
    ./opensnoop -x                     # only show failed opens
    ./opensnoop -p 181                 # only trace PID 181
    ./opensnoop -t 123                 # only trace TID 123
    ./opensnoop -u 1000                # only trace UID 1000
    ./opensnoop -d 10                  # trace for 10 seconds only
    ./opensnoop -n main                # only print process names containing "main"
    ./opensnoop -e                     # show extended fields
    ./opensnoop -f O_WRONLY -f O_RDWR  # only print calls for writing
    ./opensnoop -F                     # show full path for an open file with relative path
"""

# syscall -> how its entry tracepoint gives the flags
_SYSCALLS = (("open", "(uint64)args.flags"), ("openat", "(uint64)args.flags"),
             ("openat2", "*(uint64 *)args.how"))


class OpenSnoop(Tool):
    name = "opensnoop"
    purpose = "Trace open() syscalls: process, file descriptor or error, path"
    description = "Trace open() syscalls"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-U", "--print-uid", action="store_true", help="print UID column")
        ap.add_argument("-x", "--failed", action="store_true", help="only show failed opens")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("-t", "--tid", type=int, help="trace this TID only")
        add_pinned_map_args(ap)
        ap.add_argument("-u", "--uid", type=int, help="trace this UID only")
        ap.add_argument("-d", "--duration", type=int, help="total duration of trace in seconds")
        ap.add_argument("-n", "--name", help="only print process names containing this name")
        ap.add_argument("-e", "--extended_fields", action="store_true", help="show extended fields")
        ap.add_argument("-f", "--flag_filter", action="append", help="filter on flags argument (e.g., O_WRONLY)")
        ap.add_argument("-F", "--full-path", action="store_true",
                        help="show full path for an open file with relative path")
        ap.add_argument("-b", "--buffer-pages", type=int, default=64,
                        help="size of the perf ring buffer (must be a power of two number of pages "
                             "and defaults to 64)")

    def __init__(self, opts: argparse.Namespace) -> None:
        super().__init__(opts)
        self.flag_mask = 0
        self.first_us = 0
        self.syscalls = [(s, f) for s, f in _SYSCALLS if have_tracepoint(f"syscalls:sys_enter_{s}")]
        pages = max(64, opts.buffer_pages) * (os.cpu_count() or 1)
        self.program_opts = {"ringbuf_size": max(1 << 22, 1 << (pages * 4096 - 1).bit_length())}

    def check(self) -> None:
        o = self.o
        refuse_pinned_maps("opensnoop", self.o, "-p/-t/-u")
        for flag in o.flag_filter or []:
            if not flag.startswith("O_") or not hasattr(os, flag):
                raise ToolError(f"Bad flag: {flag}")
            self.flag_mask |= getattr(os, flag)

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "syscalls:sys_enter_openat",
                     "no syscall tracepoints (CONFIG_FTRACE_SYSCALLS); nothing else can serve")]

    def duration(self) -> float | None:
        return float(self.o.duration) if self.o.duration else None

    def program(self) -> str:
        o = self.o
        enter = pred(f"pid == {o.pid}" if o.pid is not None else "",
                     f"tid == {o.tid}" if o.tid is not None else "",
                     f"uid == {o.uid}" if o.uid is not None else "")
        mask = f"($f & {self.flag_mask}) != 0" if self.flag_mask else ""
        lines = ["config = { max_strlen = 256 }", ""]
        for sc, flags in self.syscalls:
            lines.append(f"tracepoint:syscalls:sys_enter_{sc} {enter} {{")
            if mask:
                lines.append(f"  $f = {flags};")
                lines.append(f"  if ({mask}) {{ @start[tid] = (args.filename, $f); }}")
            else:
                lines.append(f"  @start[tid] = (args.filename, {flags});")
            lines.append("}")
        exits = ", ".join(f"tracepoint:syscalls:sys_exit_{sc}" for sc, _ in self.syscalls)
        failed = " && args.ret < 0" if o.failed else ""
        lines += [
            f"{exits} /@start[tid].0{failed}/ {{",
            "  $s = @start[tid];",
            '  printf("open %d %d %d %d %s %s %d %d\\n", pid, tid, uid, args.ret, comm, str($s.0), $s.1, nsecs);',
            "  delete(@start, tid);",
            "}",
        ]
        if o.failed:   # successful opens still end their entry
            lines.append(f"{exits} /@start[tid].0/ {{ delete(@start, tid); }}")
        return "\n".join(lines) + "\n"

    def header(self) -> str:
        o = self.o
        h = ""
        if o.timestamp:
            h += f"{'TIME(s)':<14s}"
        if o.print_uid:
            h += f"{'UID':<6s}"
        h += f"{'TID' if o.tid is not None else 'PID':<6s} {'COMM':<16s} {'FD':>4s} ERR "
        if o.extended_fields:
            h += f"{'FLAGS':<9s}"
        return h + "PATH"

    def on_open(self, pid: int, tid: int, uid: int, ret: int, comm: str, path: str, flags: int,
                ts: int) -> None:
        o = self.o
        if o.name and o.name not in comm:
            return
        fd, err = (ret, 0) if ret >= 0 else (-1, -ret)
        us = ts // 1000
        if not self.first_us:
            self.first_us = us
        if o.full_path and not path.startswith("/"):
            path = _join_cwd(pid, path)
        who = tid if o.tid is not None else pid
        if self.json:
            rec: dict[str, Any] = {"ts": (us - self.first_us) / 1e6, "uid": uid, "pid": pid, "tid": tid,
                                   "comm": comm, "fd": fd, "err": err, "flags": flags, "path": path}
            self.emit("", **rec)
            return
        line = ""
        if o.timestamp:
            line += f"{(us - self.first_us) / 1e6:<14.9f}"
        if o.print_uid:
            line += f"{uid:<6d}"
        line += f"{who:<6d} {comm:<16s} {fd:4d} {err:3d} "
        if o.extended_fields:
            line += f"{flags:08o} "
        self.emit(line + path)


def _join_cwd(pid: int, path: str) -> str:
    """-F: a relative path joined to the process's working directory (BCC walks the dentries)."""
    try:
        return os.path.join(os.readlink(f"/proc/{pid}/cwd"), path)
    except OSError:
        return path


TOOL = OpenSnoop
