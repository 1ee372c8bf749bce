"""argdist: histograms (-H) and frequency counts (-C) of function arguments, return values
and tracepoint fields, with BCC's probe specifiers and output.

    {p,r,t,u}:{lib,category}:function(signature)[:type[,type]:expr[,expr][:filter]][#label]

BCC prints nothing until the first interval; our readiness line ("Tracing N probes...") goes
to stderr so stdout stays BCC's. Like BCC, Ctrl-C exits without a last summary.
"""

# ruff: noqa: UP031  (BCC's %-format strings are its output spec)
from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from . import _multi, bcchist, bccspec
from .base import Tool, ToolError, pred

# BCC/C type names -> bpftrace casts (anything else is left uncast: pointers, structs)
_CASTS = {
    "int": "int32", "s32": "int32", "int32_t": "int32", "pid_t": "int32", "u32": "uint32",
    "unsigned": "uint32", "unsigned int": "uint32", "uint32_t": "uint32", "uid_t": "uint32",
    "u64": "uint64", "size_t": "uint64", "unsigned long": "uint64", "uint64_t": "uint64",
    "unsigned long long": "uint64", "s64": "int64", "long": "int64", "ssize_t": "int64", "int64_t": "int64",
    "long long": "int64", "off_t": "int64", "loff_t": "int64", "u16": "uint16", "s16": "int16",
    "short": "int16", "unsigned short": "uint16", "u8": "uint8", "s8": "int8", "char": "int8",
    "unsigned char": "uint8", "bool": "uint8", "gfp_t": "uint32",
}
_STRING = re.compile(r"^(const\s+)?(unsigned\s+)?char\s*\*$")
# C types in signatures that bpftrace's casts do not know by name
_SIG_TYPES = re.compile(r"\((size_t|ssize_t|u64|u32|u16|u8|s64|s32|s16|s8|pid_t|uid_t|gfp_t|off_t|loff_t|"
                        r"uint64_t|uint32_t|int64_t|int32_t|long long|unsigned long long|unsigned long|"
                        r"unsigned int|unsigned short|unsigned char|unsigned)\)")


def _sig_casts(expr: str) -> str:
    return _SIG_TYPES.sub(lambda m: f"({_CASTS[m.group(1)]})", expr)


def value_expr(ctype: str, expr: str, strsize: int) -> str:
    """One collected value as bpftrace: strings read with str(), numbers cast to the type."""
    t = re.sub(r"\s+", " ", ctype.strip())
    e = _sig_casts(expr)
    if _STRING.match(t):
        return f"str({e}, {strsize})"
    cast = _CASTS.get(t)
    return f"({cast})({e})" if cast else f"({e})"


class ArgDist(Tool):
    name = "argdist"
    purpose = "Trace a function and display a summary of its parameter values"
    description = "Trace a function and display a summary of its parameter values."
    listing_args = ("-C", "t:syscalls:sys_exit_read():ssize_t:args->ret")
    examples = """
Probe specifier syntax:
        {p,r,t,u}:{[library],category}:function(signature):type[,type...]:expr[,expr...][:filter]][#label]
Where:
        p,r,t,u    -- probe at function entry, function exit, kernel
                      tracepoint, or USDT probe
                      in exit probes: can use $retval, $latency
        library    -- the library that contains the function
                      (leave empty for kernel functions)
        category   -- the category of the kernel tracepoint (e.g. net, sched)
        function   -- the function name to trace (or tracepoint name)
        signature  -- the function's parameters, as in the C header
        type       -- the type of the expression to collect (supports multiple)
        expr       -- the expression to collect (supports multiple)
        filter     -- the filter that is applied to collected values
        label      -- the label for this probe in the resulting output

EXAMPLES:

argdist -H 'p::__kmalloc(u64 size):u64:size'
        Print a histogram of allocation sizes passed to kmalloc

argdist -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'
        Print a frequency count of how many times process 1005 called malloc
        with an allocation size of 16 bytes

argdist -C 'r:c:gets():char*:(char*)$retval#snooped strings'
        Snoop on all strings returned by gets()

argdist -p 1005 -C 'p:c:write(int fd):int:fd' -T 5
        Print frequency counts of how many times writes were issued to a
        particular file descriptor number, in process 1005, but only show
        the top 5 busiest fds

argdist -p 1005 -H 'r:c:read()'
        Print a histogram of results (sizes) returned by read() in process 1005

argdist -C 'r::__vfs_read():u32:$PID:$latency > 100000'
        Print frequency of reads by process where the latency was >0.1ms

argdist -H 't:block:block_rq_complete():u32:args->nr_sector'
        Print histogram of number of sectors in completing block I/O requests

argdist -C 't:irq:irq_handler_entry():int:args->irq'
        Aggregate interrupts by interrupt request (IRQ)

argdist -H 'p:c:sleep(u32 seconds):u32:seconds' \\
        -H 'p:c:nanosleep(struct timespec *req):long:req->tv_nsec'
        Print histograms of sleep() and nanosleep() parameter values
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=int, help="id of the process to trace (optional)")
        ap.add_argument("-t", "--tid", type=int, help="id of the thread to trace (optional)")
        ap.add_argument("-z", "--string-size", default=80, type=int,
                        help="maximum string size to read from char* arguments")
        ap.add_argument("-i", "--interval", default=1, type=int,
                        help="output interval, in seconds (default 1 second)")
        ap.add_argument("-d", "--duration", type=int, help="total duration of trace, in seconds")
        ap.add_argument("-n", "--number", type=int, dest="count", help="number of outputs")
        ap.add_argument("-v", "--verbose", action="store_true",
                        help="print resulting BPF program code before executing")
        ap.add_argument("-c", "--cumulative", action="store_true",
                        help="do not clear histograms and freq counts at each interval")
        ap.add_argument("-T", "--top", type=int,
                        help="number of top results to show (not applicable to histograms)")
        ap.add_argument("-H", "--histogram", action="append", dest="histspecifier", metavar="specifier",
                        help="probe specifier to capture histogram of (see examples below)")
        ap.add_argument("-C", "--count", action="append", dest="countspecifier", metavar="specifier",
                        help="probe specifier to capture count of (see examples below)")
        ap.add_argument("-I", "--include", action="append", metavar="header",
                        help="additional header files to include in the BPF program")

    def check(self) -> None:
        o = self.o
        if o.interval <= 0 or (o.duration is not None and o.duration <= 0) or (o.count is not None and o.count <= 0):
            raise ToolError("argdist: interval, duration and number must be positive")
        if o.string_size <= 0:
            raise ToolError("argdist: string size must be positive")
        self.probes: list[tuple[str, bccspec.ArgdistProbe]] = []
        for kind, specs in (("freq", o.countspecifier or []), ("hist", o.histspecifier or [])):
            for text in specs:
                self.probes.append((kind, self._parse(kind, text)))
        if not self.probes:
            raise ToolError("at least one specifier is required")
        self.ticks = 0
        self.seconds = 0

    @staticmethod
    def _parse(kind: str, text: str) -> bccspec.ArgdistProbe:
        def bail(msg: str) -> ToolError:
            return ToolError(f"error parsing probe '{text}': {msg}")

        spec = text.split("#")[0]
        parts = bccspec.split_top(spec.strip(), ":")
        if len(parts) > 6:
            raise bail("extraneous ':'-separated parts detected")
        if len(parts) >= 3 and re.match(r"\S+\(.*\)", parts[2].strip()) is None:
            raise bail(f"function signature '{parts[2]}' has an invalid format")
        try:
            p = bccspec.parse_argdist(text)
        except bccspec.SpecError as e:
            raise bail(str(e)) from None
        if p.default and p.spec.type != "r" and kind == "hist":
            raise bail("histograms must have expr")
        if kind == "hist" and len(p.exprs) > 1:
            raise bail("histograms can only have 1 expr")
        if p.spec.type in "tu" and p.signature is not None and p.signature.params:
            raise bail("USDT and tracepoint probes can't have a function signature")
        return p

    def program(self) -> str:
        o = self.o
        conds = [f"pid == {o.pid}" if o.pid else "", f"tid == {o.tid}" if o.tid else ""]
        out = []
        for i, (kind, p) in enumerate(self.probes):
            aps = _multi.attach_points(self.name, p.spec, False, o.pid)
            uses_lat = any("$__lat" in e for e in [*p.exprs, p.filter])
            body = []
            if uses_lat:
                entry = [a.replace("uretprobe:", "uprobe:", 1).replace("kretprobe:", "kprobe:", 1) for a in aps]
                out.append(f"{', '.join(entry)} {pred(*conds)} {{ @__ent{i}[tid] = nsecs; }}")
                body.append(f"if (!has_key(@__ent{i}, tid)) {{ return; }} "
                            f"$__lat = nsecs - @__ent{i}[tid]; delete(@__ent{i}, tid);")
            vals = [value_expr(t, e, o.string_size) for t, e in zip(p.types, p.exprs, strict=True)]
            if kind == "hist":
                upd = f"@h{i} = hist({vals[0]});"
            elif p.default and p.spec.type != "r":
                upd = f"@c{i} = count();"
            else:
                upd = f"@c{i}[{', '.join(vals)}] = count();"
            filt = _sig_casts(p.filter)
            body.append(f"if ({filt}) {{ {upd} }}" if filt else upd)
            out.append(f"{', '.join(aps)} {pred(*conds)} {{ {' '.join(body)} }}")
        text = "\n".join(out) + "\n"
        if o.verbose:
            print(text, end="")
        return text

    def header(self) -> None:
        n = self.prog.attached
        sys.stderr.write(f"Tracing {n} probe{'s' if n != 1 else ''}... Hit Ctrl-C to end.\n")
        sys.stderr.flush()
        return None

    def interval(self) -> float | None:
        return float(self.o.interval)

    def tick(self) -> None:
        o = self.o
        self.write("[%s]\n" % time.strftime("%H:%M:%S"))
        for i, (kind, p) in enumerate(self.probes):
            if kind == "hist":
                self._hist(i, p)
            else:
                self._freq(i, p)
        self.ticks += 1
        self.seconds += o.interval
        if (o.count is not None and self.ticks >= o.count) or (o.duration and self.seconds >= o.duration):
            self.stop()

    def _hist(self, i: int, p: bccspec.ArgdistProbe) -> None:
        label = p.label or (p.exprs_text[0] if not p.default else "retval")
        hist = self.map(f"@h{i}") or {}
        slots = bcchist.slots_from_hist(hist)
        if self.json:
            self.emit("", probe=p.label or p.raw, val_type=label, data={k: c for k, c in enumerate(slots) if c})
        self.write(bcchist.log2_hist(slots, label))
        if not self.o.cumulative:
            self.clear(f"@h{i}")

    def _freq(self, i: int, p: bccspec.ArgdistProbe) -> None:
        name = p.label or p.raw
        self.write(f"{name}\n")
        self.write("\t%-10s %s\n" % ("COUNT", "EVENT"))
        data = self.map(f"@c{i}")
        if p.default and p.spec.type != "r":
            rows: list[tuple[Any, int]] = [(None, data)] if data else []
        else:
            rows = sorted((data or {}).items(), key=lambda kv: kv[1])
        if self.o.top is not None:
            rows = rows[-self.o.top:] if self.o.top > 0 else []
        for key, n in rows:
            self.emit("\t%-10s %s" % (n, self._key_text(p, key)), probe=name, count=n,
                      key=list(key) if isinstance(key, tuple) else key)
        if not self.o.cumulative:
            self.clear(f"@c{i}")

    @staticmethod
    def _key_text(p: bccspec.ArgdistProbe, key: Any) -> str:
        if p.default:
            return "total calls" if p.spec.type != "r" else f"retval = {key}"
        vals = key if isinstance(key, tuple) else (key,)
        return ", ".join(f"{e} = {v}" for e, v in zip(p.exprs_text, vals, strict=False))


TOOL = ArgDist
