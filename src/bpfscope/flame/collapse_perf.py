"""stackcollapse for ``perf script`` output, line-compatible with stackcollapse-perf.pl.

Each sample (header line, frame lines, blank line) becomes one ``comm;outer;...;leaf``
stack; identical stacks are summed (by the sample period when perf prints it), and the
result is printed sorted. Function names get the same tidying (offsets, argument lists,
quotes, Java ``L`` prefixes) and optional ``_[k]``/``_[j]``/``_[i]`` annotations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bpfscope.flame.folded import Number, format_count

_A = re.ASCII
_HEADER_RE = re.compile(r"^(\S.+?)\s+(\d+)/*(\d+)*\s+", _A)
_EVENT_RE = re.compile(r":\s*(\d+)*\s+(\S+):\s*$", _A)
_FRAME_RE = re.compile(r"^\s*(\w+)\s*(.+) \((.*)\)", _A)
_OFFSET_RE = re.compile(r"\+0x[\da-f]+$", _A)
_GO_METHOD_RE = re.compile(r"\.\(.*\)\.")
_ARGS_RE = re.compile(r"\((?!anonymous namespace\)).*")
_NO_INLINE_MOD_RE = re.compile(r"(perf-\d+.map|kernel\.|\[[^\]]+\])", _A)
_KERNEL_MOD_RE = re.compile(r"(^\[|vmlinux$)")
_JIT_MOD_RE = re.compile(r"/tmp/perf-\d+\.map", _A)
_SRC_BRACKET_RE = re.compile(r"\[.*?\]")


@dataclass
class PerfCollapseOptions:
    """stackcollapse-perf.pl's options."""

    pid: bool = False
    tid: bool = False
    kernel: bool = False
    jit: bool = False
    addrs: bool = False
    inline: bool = False
    context: bool = False
    srcline: bool = False
    event_filter: str = ""
    include_pname: bool = True
    warnings: list[str] = field(default_factory=list)


class _Addr2line:
    """Cached ``addr2line -i`` lookups for --inline (skipped if binutils is missing)."""

    def __init__(self, context: bool) -> None:
        self.context = context
        self.tool = shutil.which("addr2line")
        self.cache: dict[tuple[str, str], str] = {}

    def lookup(self, pc: str, mod: str) -> str:
        key = (pc, mod)
        if key in self.cache:
            return self.cache[key]
        result = ""
        if self.tool:
            try:
                out = subprocess.run([self.tool, "-a", pc, "-e", mod, "-i", "-f", "-s", "-C"],
                                     capture_output=True, text=True, timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            lines = out.splitlines()[1:]
            funcs: list[str] = []
            for i in range(0, len(lines) - 1, 2):
                func = re.sub(r" \(discriminator \S+\)", "", lines[i])
                where = re.sub(r" \(discriminator \S+\)", "", lines[i + 1])
                funcs.insert(0, f"{func}:{where}" if self.context else func)
            result = ";".join(funcs)
        self.cache[key] = result
        return result


def _tidy(func: str, pname: str) -> str:
    func = func.replace(";", ":")
    if not _GO_METHOD_RE.search(func):
        func = _ARGS_RE.sub("", func, count=1)
    func = func.replace('"', "").replace("'", "")
    if pname.startswith("java") and "/" in func and func.startswith("L"):
        func = func[1:]
    return func


def collapse_perf_counts(lines: Iterable[str],
                         options: PerfCollapseOptions | None = None) -> dict[str, Number]:
    """Fold ``perf script`` lines into {stack: summed period}."""
    opts = options or PerfCollapseOptions()
    collapsed: dict[str, Number] = {}
    stack: list[str] = []
    pname: str | None = None
    period: Number = 1
    event_filter = opts.event_filter
    defaulted = False
    warned = False
    a2l = _Addr2line(opts.context) if opts.inline else None
    it: Iterator[str] = iter(lines)
    for raw in it:
        line = raw[:-1] if raw.endswith("\n") else raw
        if line.startswith("#"):
            continue
        if line == "":
            if not pname:
                continue
            if opts.include_pname:
                stack.insert(0, pname)
            if stack:
                key = ";".join(stack)
                collapsed[key] = collapsed.get(key, 0) + period
            stack = []
            pname = None
            continue
        m = _HEADER_RE.match(line)
        if m:
            comm, pid, tid = m.group(1), m.group(2), m.group(3)
            if not tid:
                pid, tid = "?", pid
            this_period = ""
            ev = _EVENT_RE.search(line)
            if ev:
                this_period = ev.group(1) or ""
                event = ev.group(2)
                if event_filter == "":
                    event_filter = event
                    defaulted = True
                elif event != event_filter:
                    if defaulted and not warned:
                        opts.warnings.append(f"Filtering for events of type: {event}")
                        warned = True
                    continue
            period = int(this_period) if this_period and int(this_period) else 1
            if opts.tid:
                pname = f"{comm}-{pid}/{tid}"
            elif opts.pid:
                pname = f"{comm}-{pid}"
            else:
                pname = comm
            pname = pname.replace(" ", "_")
            continue
        m = _FRAME_RE.match(line)
        if not m:
            opts.warnings.append(f"Unrecognized line: {line}")
            continue
        if not pname:
            continue
        pc, rawfunc, mod = m.group(1), m.group(2), m.group(3)
        if a2l is not None and not _NO_INLINE_MOD_RE.search(mod):
            res = a2l.lookup(pc, mod)
            if res not in ("", "??", "??:??:0"):
                stack.insert(0, res)
                continue
        rawfunc = _OFFSET_RE.sub("", rawfunc)
        if rawfunc.startswith("("):
            continue
        is_unknown = False
        inlined: list[str] = []
        parts = rawfunc.split("->")
        while parts and parts[-1] == "":
            parts.pop()
        for func in parts:
            if func == "[unknown]":
                if mod != "[unknown]":
                    func = mod.rsplit("/", 1)[-1]
                else:
                    func = "unknown"
                    is_unknown = True
                func = f"[{func} <{pc}>]" if opts.addrs else f"[{func}]"
            func = _tidy(func, pname)
            if inlined:
                if "_[i]" not in func:
                    func += "_[i]"
            elif opts.kernel and _KERNEL_MOD_RE.search(mod) and "unknown" not in mod:
                func += "_[k]"
            elif opts.jit and _JIT_MOD_RE.search(mod):
                if "_[j]" not in func:
                    func += "_[j]"
            if opts.srcline and not is_unknown:
                src = next(it, "").rstrip("\n")
                src = _SRC_BRACKET_RE.sub("", src).strip()
                if src:
                    func += ":" + src
            inlined.append(func)
        stack[0:0] = inlined
    return collapsed


def collapse_perf(lines: Iterable[str], options: PerfCollapseOptions | None = None) -> list[str]:
    """Fold ``perf script`` lines into sorted ``stack count`` lines."""
    counts = collapse_perf_counts(lines, options)
    return [f"{k} {format_count(counts[k])}" for k in sorted(counts)]
