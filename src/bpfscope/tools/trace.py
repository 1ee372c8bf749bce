"""trace: print a line (and optionally stacks) for each hit of function, tracepoint or USDT
probes, with BCC's probe language: ``[{p,r}]:[lib]:func[(sig)] [(predicate)] ["fmt", args]``."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

from . import _multi, bccspec
from .base import Tool, ToolError, bpf_string, pred
from .timefmt import hms

_CONV = re.compile(r"%([-+ #0]*\d*(?:\.\d+)?)(?:hh|h|ll|l|z)?([a-zA-Z%])")


def python_format(fmt: str) -> tuple[str, list[str]]:
    """BCC's format as a Python %-format (length modifiers dropped, %K/%U/%p as strings)."""
    convs: list[str] = []

    def sub(m: re.Match[str]) -> str:
        flags, c = m.groups()
        if c == "%":
            return "%%"
        convs.append(c)
        if c in "KU":
            return f"%{flags}s"
        if c == "p":
            return f"0x%{flags}x"
        if c == "u":
            return f"%{flags}d"
        return f"%{flags}{c}"

    return _CONV.sub(sub, fmt.encode().decode("unicode_escape")), convs


class Trace(Tool):
    name = "trace"
    purpose = "Attach to functions and print trace messages"
    description = "Attach to functions and print trace messages."
    examples = """examples:
trace do_sys_open
        Trace the open syscall and print a default trace message when entered
trace 'do_sys_open "%s", arg2'
        Trace the open syscall and print the filename being opened
trace 'r::do_sys_open "%llx", retval'
        Trace the return from the open syscall and print the return value
trace 'c:open (arg2 == 42) "%s %d", arg1, arg2'
        Trace the open() call from libc only if the flags (arg2) argument is 42
trace 'p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3'
        Trace the write() call from libc to monitor writes to STDOUT
trace 'r::__kmalloc (retval == 0) "kmalloc failed!"'
        Trace returns from __kmalloc which returned a null pointer
trace 't:block:block_rq_complete "sectors=%d", args->nr_sector'
        Trace the block_rq_complete kernel tracepoint and print # of tx sectors
trace 'u:pthread:pthread_create (arg4 != 0)'
        Trace the USDT probe pthread_create when its 4th argument is non-zero
trace -tKU 'r::sock_alloc "open %llx", retval' '__sock_release "close %llx", arg1'
        Trace socket allocations and releases with timestamps and stacks
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-b", "--buffer-pages", type=int, default=64,
                        help="number of pages to use for perf_events ring buffer (default: 64)")
        g = ap.add_mutually_exclusive_group()
        g.add_argument("-p", "--pid", type=int, metavar="PID", help="id of the process to trace (optional)")
        g.add_argument("-L", "--tid", type=int, metavar="TID", help="id of the thread to trace (optional)")
        ap.add_argument("--uid", type=int, metavar="UID", help="id of the user to trace (optional)")
        ap.add_argument("-v", "--verbose", action="store_true",
                        help="print resulting BPF program code before executing")
        ap.add_argument("-Z", "--string-size", type=int, default=80, help="maximum size to read from strings")
        ap.add_argument("-S", "--include-self", action="store_true",
                        help="do not filter trace's own pid from the trace")
        ap.add_argument("-M", "--max-events", type=int, help="number of events to print before quitting")
        ap.add_argument("-t", "--timestamp", action="store_true",
                        help="print timestamp column (offset from trace start)")
        ap.add_argument("-u", "--unix-timestamp", action="store_true",
                        help="print UNIX timestamp instead of offset from trace start, requires -t")
        ap.add_argument("-T", "--time", action="store_true", help="print time column")
        ap.add_argument("-C", "--print_cpu", action="store_true", help="print CPU id")
        ap.add_argument("-n", "--name", help="only print process names containing this name")
        ap.add_argument("-f", "--msg-filter", help="only print the msg of event containing this string")
        ap.add_argument("-K", "--kernel-stack", action="store_true", help="output kernel stack trace")
        ap.add_argument("-U", "--user-stack", action="store_true", help="output user stack trace")
        ap.add_argument("-a", "--address", action="store_true", help="print virtual address in stacks")
        ap.add_argument("-I", "--include", action="append", metavar="header", default=[],
                        help="additional header files to include in the BPF program")
        ap.add_argument("probes", nargs="+", metavar="probe", help="probe specifier (see examples)")

    def check(self) -> None:
        self.probes: list[bccspec.TraceProbe] = []
        for text in self.o.probes:
            try:
                self.probes.append(bccspec.parse_trace(text))
            except bccspec.SpecError as e:
                raise ToolError(f"trace: {e}: {text}") from None
        self.formats = [python_format(p.fmt) for p in self.probes]
        self.events = 0

    def program(self) -> str:
        o = self.o
        out = []
        for i, p in enumerate(self.probes):
            aps = _multi.attach_points(self.name, p.spec, False, o.pid)
            conds = [f"pid == {o.pid}" if o.pid else "", f"tid == {o.tid}" if o.tid else "",
                     f"uid == {o.uid}" if o.uid is not None else "",
                     "" if o.include_self else f"pid != {os.getpid()}",
                     f"({p.predicate})" if p.predicate else ""]
            fmt = [f"e{i}", "%d %d %s %u %u"]
            vals = ["pid", "tid", "comm", "nsecs", "cpu"]
            for c, a in zip(bccspec.conversions(p.fmt), p.args, strict=True):
                if c == "s":
                    fmt.append("%s")
                    vals.append(f"str({a}, {o.string_size})")
                elif c in "KUp":
                    fmt.append("%u")
                    vals.append(f"(uint64)({a})")
                else:
                    fmt.append("%d" if c in "dic" else "%u")
                    vals.append(f"({a})")
            if o.kernel_stack:
                fmt.append("%s")
                vals.append("kstack(perf)" if o.address else "kstack")
            if o.user_stack:
                fmt.append("%s")
                vals.append("ustack(perf)" if o.address else "ustack")
            out.append(f"{', '.join(aps)} {pred(*conds)} {{ printf({bpf_string(' '.join(fmt))}, "
                       f"{', '.join(vals)}); }}")
        text = "\n".join(out) + "\n"
        if o.verbose:
            print(text, end="")
        return text

    def header(self) -> str:
        _multi.capture_maps(self.prog, [self.o.pid] if self.o.pid else None)
        o = self.o
        h = ""
        if o.timestamp or o.time:
            h += (f"{'TIME':<17s} " if o.unix_timestamp else f"{'TIME':<8s} ")
        if o.print_cpu:
            h += f"{'CPU':<3s} "
        trivial = all(not p.fmt for p in self.probes)
        return h + "%-7s %-7s %-15s %-16s %s" % ("PID", "TID", "COMM", "FUNC", "" if trivial else "-")  # noqa: UP031

    def _sink(self, ev: Any) -> Callable[[tuple[Any, ...]], None]:
        i = int(ev.fmt.split(" ", 1)[0][1:])
        probe = self.probes[i]

        def handle(vals: tuple[Any, ...]) -> None:
            self._event(probe, i, vals)

        return handle

    def _sym(self, kind: str, addr: int, pid: int) -> str:
        sym = self.prog.symbolizer()
        if kind == "K":
            return str(sym.ksym(addr))
        self.prog._user_maps(pid)
        return str(sym.usym(pid, addr))

    def _event(self, probe: bccspec.TraceProbe, i: int, vals: tuple[Any, ...]) -> None:
        o = self.o
        tgid, tid, comm, ts, cpu = vals[:5]
        if o.name and o.name not in comm:
            return
        pyfmt, convs = self.formats[i]
        margs = list(vals[5:5 + len(convs)])
        for j, c in enumerate(convs):
            if c in "KU":
                margs[j] = self._sym(c, int(margs[j]), tgid)
            elif c == "c":
                margs[j] = chr(int(margs[j]) & 0xFF)
        msg = pyfmt % tuple(margs) if convs else pyfmt
        if o.msg_filter and o.msg_filter not in msg:
            return
        line = ""
        if o.timestamp or o.time:
            if o.timestamp:
                off = (ts - self.clock.start_ns) / 1e9
                t = "%.6f" % (off + self.clock.start_ns / 1e9 + self._realtime_offset() if o.unix_timestamp
                              else off)
                line += ("%-17s " % t[:17]) if o.unix_timestamp else ("%-8s " % t[:8])  # noqa: UP031
            else:
                line += "%-8s " % hms()  # noqa: UP031
        if o.print_cpu:
            line += "%-3s " % cpu  # noqa: UP031
        spec = probe.spec
        func = spec.name if spec.type != "t" else spec.name
        line += f"{tgid:<7d} {tid:<7d} {comm:<15s} {func:<16s} {msg}"
        stacks = list(vals[5 + len(convs):])
        text = line
        for st in stacks:
            text += "\n" + self._stack_text(st)
        self.emit(text + ("\n" if stacks else ""), pid=tgid, tid=tid, comm=comm, func=func, msg=msg,
                  **({"stacks": [list(s) for s in stacks]} if stacks else {}))
        self.events += 1
        if o.max_events and self.events >= o.max_events:
            self.stop()

    def _realtime_offset(self) -> float:
        import time

        return time.time() - time.monotonic()

    def _stack_text(self, st: Any) -> str:
        if not isinstance(st, (list, tuple)) or not st:
            return "        -14"
        lines = []
        for f in st:
            if self.o.address and " " in f:
                a, _, s = f.partition(" ")
                lines.append(f"        {int(a, 16):16x} {s}")
            else:
                lines.append(f"        {f}")
        return "\n".join(lines)


TOOL = Trace
