"""watchpoint:ADDR:LEN:MODE and asyncwatchpoint: — hardware breakpoints (perf's
PERF_TYPE_BREAKPOINT) on an absolute address, as bpftrace 0.26 attaches them.

With -p/-c the address is in that process and the breakpoint follows its threads; without
one it is a kernel address, watched on every CPU. The program sees the registers at the
access (bpf_perf_event_data), like a software event's program. The `FUNC+argN` form, which
arms a breakpoint from a uprobe at run time, is refused with a plain message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...kernel import syscall as sc
from ...kernel import uapi
from ...lang.spec import ProbeInfo
from .base import Env, FdHandle, fail
from .perf import online_cpus

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("watchpoint", "asyncwatchpoint")

PERF_TYPE_BREAKPOINT = 5
HW_BREAKPOINT_R, HW_BREAKPOINT_W, HW_BREAKPOINT_X = 1, 2, 4
ATTR_FLAG_ENABLE_ON_EXEC = 1 << 12
_MODES = {"w": HW_BREAKPOINT_W, "rw": HW_BREAKPOINT_R | HW_BREAKPOINT_W, "x": HW_BREAKPOINT_X}


def _mode(text: str) -> int | None:
    """bpftrace takes the letters in any order, each once; x86 cannot watch reads alone."""
    letters = "".join(sorted(text))
    if len(set(text)) != len(text) or not text:
        return None
    return {"w": _MODES["w"], "rw": _MODES["rw"], "x": _MODES["x"]}.get(letters)


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    if len(ap.parts) != 3:
        raise fail(ap, f"{ap.provider} probe must be {ap.provider}:ADDRESS:LENGTH:MODE")
    target, length, mode = ap.parts
    if "+" in target:
        raise fail(ap, f"{ap.provider}:FUNC+argN is not supported by bpfscope; watch an absolute address "
                       "(watchpoint:0xADDR:LEN:MODE with -p PID or -c CMD)")
    try:
        addr = int(target, 0)
    except ValueError:
        raise fail(ap, f"Invalid {ap.provider} address: {target}") from None
    if addr == 0:
        raise fail(ap, f"{ap.provider} must not be at address 0")
    try:
        size = int(length, 0)
    except ValueError:
        size = 0
    if size not in (1, 2, 4, 8):
        raise fail(ap, f"{ap.provider} length must be one of (1,2,4,8)")
    bp = _mode(mode)
    if bp is None:
        raise fail(ap, f"{ap.provider} mode must be combination of (r,w,x)"
                   + (" (a read-only watchpoint needs hardware that x86 lacks)" if mode == "r" else ""))
    name = f"{ap.provider}:{hex(addr)}:{size}:{mode}"
    return [ProbeInfo(name=name, provider=ap.provider, prog_type=uapi.BPF_PROG_TYPE_PERF_EVENT,
                      ctx="perf_event", attach=(addr, size, bp), span=ap.span)]


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[FdHandle]:
    """-p: that process; -c: the held child, armed at its exec (before it, the child is still
    bpfscope's own fork and its memory is not the program's); neither: every CPU (kernel)."""
    addr, size, bp = info.attach
    on_exec = env.pid <= 0 and env.cpid > 0
    pid = env.pid if env.pid > 0 else env.cpid
    targets = [(pid, -1)] if pid > 0 else [(-1, cpu) for cpu in online_cpus()]
    flags = sc.ATTR_FLAG_DISABLED | ATTR_FLAG_ENABLE_ON_EXEC if on_exec else 0
    handles: list[FdHandle] = []
    try:
        for pid, cpu in targets:
            fd = sc.perf_event_open(PERF_TYPE_BREAKPOINT, 0, pid=pid, cpu=cpu, sample_period=1, flags=flags,
                                    bp_type=bp, config1=addr, config2=size)
            handles.append(FdHandle(fd))
            if on_exec:
                sc.ioctl(fd, sc.PERF_EVENT_IOC_SET_BPF, prog_fd)
            else:
                sc.perf_attach_bpf(fd, prog_fd)
    except OSError as e:
        for h in handles:
            h.close()
        why = {28: "no more hardware debug registers left", 2: "this kernel offers no hardware breakpoints",
               95: "this kernel offers no hardware breakpoints"}.get(e.errno or 0, e.strerror)
        raise OSError(e.errno, f"{info.name}: {why}") from None
    return handles
