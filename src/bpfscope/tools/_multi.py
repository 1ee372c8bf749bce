"""Shared pieces of BCC's multi-tools (funccount, stackcount, trace, argdist, funclatency,
profile, offcputime, memleak): probe specs to attach points with BCC's messages, and stack
frames the way BCC prints them (symbol names without offsets, folded lines).
"""

from __future__ import annotations

import re

from . import bccspec
from .base import ToolError

# frames the tracing machinery adds on top of a stack taken in a tracepoint program
_TRACE_FRAMES = ("__traceiter_", "__bpf_trace_", "bpf_trace_run", "perf_trace_", "trace_call_bpf",
                 "bpf_prog_", "__probestub_", "perf_syscall_")
_OFFSET = re.compile(r"\+\d+$")


def check_kernel_probe(tool: str, ps: bccspec.ProbeSpec) -> None:
    """A kernel function probe on a kernel with neither kprobes nor fentry: BCC's tools would
    fail deep inside; we say what is missing and which tracepoints could serve."""
    if not (ps.kernel and ps.type in "pr"):
        return
    from ..kernel import features

    pt = "kretprobe" if ps.type == "r" else "kprobe"
    alt = "fexit" if ps.type == "r" else "fentry"
    if features.CHECKS[pt]() or features.CHECKS[alt]():
        return
    raise ToolError(f"{tool}: " + features.explain_missing(pt, ps.name.replace("*", "") or None))


def attach_points(tool: str, ps: bccspec.ProbeSpec, regex: bool = False, pid: int | None = None) -> list[str]:
    """bpftrace attach points for a spec, every failure a ToolError (plain line, exit 1)."""
    check_kernel_probe(tool, ps)
    try:
        return bccspec.attach_points(ps, regex=regex, pid=pid)
    except bccspec.SpecError as e:
        raise ToolError(f"{tool}: {e}") from None


def frame(text: str) -> str:
    """`func+12` -> `func`; an unsymbolized `0x7f..` address -> `[unknown]` (as BCC)."""
    if text.startswith("0x"):
        return "[unknown]"
    return _OFFSET.sub("", text)


def frames(stack: list[str] | tuple[str, ...], strip_tracing: bool = False) -> list[str]:
    """Leaf-first symbol names of one decoded stack."""
    out = [frame(f) for f in stack]
    if strip_tracing:
        while out and out[0].startswith(_TRACE_FRAMES):
            out.pop(0)
    return out


def folded(parts: list[list[str]], sep: str = ";") -> str:
    """Root-first frames of each part (given leaf-first), parts joined in order: one folded
    line's stack (`comm;user root..leaf;-;kernel root..leaf` is the caller's arrangement)."""
    out: list[str] = []
    for p in parts:
        out.extend(reversed(p))
    return sep.join(f.replace(";", ":") for f in out)


def pid_filter(pid: int | None) -> str:
    return f"pid == {pid}" if pid else ""


def capture_maps(prog: object, pids: list[int] | None) -> None:
    """Snapshot the -p processes' mappings now: a process older than us that exits before its
    stacks are printed (at Ctrl-C) is otherwise symbolized from a partial exec-time record."""
    if not pids:
        return
    sym = prog.symbolizer()  # type: ignore[attr-defined]
    for pid in pids:
        sym.capture(pid)
