"""execsnoop: trace new processes via exec() syscalls, with BCC's options and columns.

The execve/execveat entry tracepoints emit the filename and each argument (up to
--max-args, then "..." as BCC); the exit tracepoint emits the result with the parent pid
(`curtask->real_parent->tgid` through BTF; /proc when the kernel has no BTF). Arguments
are gathered per pid in Python until the result arrives.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from .base import Tool, ToolError, add_pinned_map_args, pred, refuse_pinned_maps
from .needs import Need, have_tracepoint
from .timefmt import hms

EXAMPLES = """examples:
    ./execsnoop                      # trace all exec() syscalls
    ./execsnoop -x                   # include failed exec()s
    ./execsnoop -T                   # include time (HH:MM:SS)
    ./execsnoop -P 181               # only trace new processes whose parent PID is 181
    ./execsnoop -U                   # include UID
    ./execsnoop -u 1000              # only trace UID 1000
    ./execsnoop -u user              # get user UID and trace only them
    ./execsnoop -t                   # include timestamps
    ./execsnoop -q                   # add "quotemarks" around arguments
    ./execsnoop -n main              # only print command lines containing "main"
    ./execsnoop -l tpkg              # only print command where arguments contains "tpkg"
"""


def _parse_uid(user: str) -> int:
    try:
        return int(user)
    except ValueError:
        import pwd

        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            raise argparse.ArgumentTypeError(f"{user!r} is not valid UID or user entry") from None


class ExecSnoop(Tool):
    name = "execsnoop"
    purpose = "Trace new processes via exec() syscalls: command, pid, ppid, return, arguments"
    description = "Trace exec() syscalls"
    examples = EXAMPLES
    program_opts = {"ringbuf_size": 1 << 23}

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--time", action="store_true", help="include time column on output (HH:MM:SS)")
        ap.add_argument("-t", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-x", "--fails", action="store_true", help="include failed exec()s")
        add_pinned_map_args(ap)
        ap.add_argument("-u", "--uid", type=_parse_uid, metavar="USER", help="trace this UID only")
        ap.add_argument("-q", "--quote", action="store_true", help='Add quotemarks (") around arguments.')
        ap.add_argument("-n", "--name", help="only print commands matching this name (regex), any arg")
        ap.add_argument("-l", "--line", help="only print commands where arg contains this line (regex)")
        ap.add_argument("-U", "--print-uid", action="store_true", help="print UID column")
        ap.add_argument("--max-args", default="20",
                        help="maximum number of arguments parsed and displayed, defaults to 20")
        ap.add_argument("-P", "--ppid", help="trace this parent PID only")

    def __init__(self, opts: argparse.Namespace) -> None:
        super().__init__(opts)
        self.argv: dict[int, list[str]] = {}
        self.name_re: re.Pattern[str] | None = None
        self.line_re: re.Pattern[str] | None = None
        self.max_args = 20
        self.syscalls = [s for s in ("execve", "execveat") if have_tracepoint(f"syscalls:sys_enter_{s}")]
        self.btf = os.path.exists("/sys/kernel/btf/vmlinux")

    def check(self) -> None:
        o = self.o
        refuse_pinned_maps("execsnoop", self.o, "-u/-P")
        try:
            self.max_args = int(o.max_args)
        except ValueError:
            raise ToolError(f"execsnoop: --max-args must be a number, not {o.max_args!r}") from None
        if not 1 <= self.max_args <= 128:
            raise ToolError("execsnoop: --max-args must be between 1 and 128")
        if o.ppid is not None and not str(o.ppid).isdigit():
            raise ToolError(f"execsnoop: -P takes a PID, not {o.ppid!r}")
        try:
            self.name_re = re.compile(o.name) if o.name else None
            self.line_re = re.compile(o.line) if o.line else None
        except re.error as e:
            raise ToolError(f"execsnoop: bad regular expression: {e}") from None

    def requires(self) -> list[Need]:
        return [Need("tracepoint", "syscalls:sys_enter_execve",
                     "no syscall tracepoints (CONFIG_FTRACE_SYSCALLS); nothing else can serve")]

    def program(self) -> str:
        o = self.o
        ppid = "curtask->real_parent->tgid" if self.btf else "0"
        if o.ppid is not None and not self.btf:
            raise ToolError("execsnoop: -P needs kernel BTF (/sys/kernel/btf/vmlinux) to read the parent pid")
        p = pred(f"uid == {o.uid}" if o.uid is not None else "",
                 f"{ppid} == {o.ppid}" if o.ppid is not None else "")
        n = self.max_args
        out = ["config = { max_strlen = 128 }", ""]
        for sc in self.syscalls:
            out += [
                f"tracepoint:syscalls:sys_enter_{sc} {p} {{",
                '  printf("arg %d %s\\n", pid, str(args.filename));',
                "  $i = 1;",
                f"  while ($i < {n}) {{",
                "    $a = args.argv[$i];",
                "    if ($a == 0) { break; }",
                '    printf("arg %d %s\\n", pid, str($a));',
                "    $i++;",
                "  }",
                f'  if ($i == {n}) {{ printf("arg %d %s\\n", pid, "..."); }}',
                "}",
            ]
        exits = ", ".join(f"tracepoint:syscalls:sys_exit_{sc}" for sc in self.syscalls)
        out += [
            f"{exits} {p} {{",
            f'  printf("ret %d %d %d %s %d %d\\n", pid, {ppid}, uid, comm, args.ret, nsecs);',
            "}",
        ]
        return "\n".join(out) + "\n"

    def header(self) -> str:
        o = self.o
        h = ""
        if o.time:
            h += f"{'TIME':<9s}"
        if o.timestamp:
            h += f"{'TIME(s)':<8s}"
        if o.print_uid:
            h += f"{'UID':<6s}"
        return h + f"{'PCOMM':<16s} {'PID':<7s} {'PPID':<7s} RET ARGS"

    def on_arg(self, pid: int, arg: str) -> None:
        self.argv.setdefault(pid, []).append(arg)

    def on_ret(self, pid: int, ppid: int, uid: int, comm: str, ret: int, ts: int) -> None:
        o = self.o
        args = self.argv.pop(pid, [])
        if ret != 0 and not o.fails:
            return
        if self.name_re is not None and not self.name_re.search(comm):
            return
        if self.line_re is not None and not self.line_re.search(" ".join(args)):
            return
        if o.quote:
            args = ['"' + a.replace('"', '\\"') + '"' for a in args]
        if ppid <= 0:
            ppid = _proc_ppid(pid)
        text = " ".join(args).replace("\n", "\\n")
        if self.json:
            rec: dict[str, Any] = {"time": self.clock.since_start(ts), "uid": uid, "pcomm": comm, "pid": pid,
                                   "ppid": ppid if ppid > 0 else None, "ret": ret, "args": args}
            self.emit("", **rec)
            return
        line = ""
        if o.time:
            line += f"{hms(self.clock.wall(ts)):<9s}"
        if o.timestamp:
            line += f"{self.clock.since_start(ts):<8.3f}"
        if o.print_uid:
            line += f"{uid:<6d}"
        pp = str(ppid) if ppid > 0 else "?"
        self.emit(line + f"{comm:<16s} {pid:<7d} {pp:<7s} {ret:3d} {text}")


def _proc_ppid(pid: int) -> int:
    """BCC's fallback when the kernel gave no parent pid: /proc/PID/status, while it lives."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


TOOL = ExecSnoop
