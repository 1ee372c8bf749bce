"""begin/end/self/test/bench probes: raw-tracepoint programs run with BPF_PROG_TEST_RUN.

bpftrace triggers BEGIN/END through uprobes on its own binary; running the program
once in the kernel through test_run needs no probe at all and leaves nothing behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...kernel import uapi
from ...lang.spec import ProbeInfo
from .base import Env, fail

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("begin", "end", "self", "test", "bench")
SELF_SIGNALS = ("SIGUSR1", "SIGUSR2")   # delivered to bpfscope itself; the runner runs the probe


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    p = ap.provider
    if p in ("begin", "end"):
        if ap.parts:
            raise fail(ap, f"{p} probe does not take arguments")
        name = "begin" if p == "begin" else "end"
    elif p == "self":
        if len(ap.parts) != 2 or ap.parts[0] != "signal":
            raise fail(ap, "self probes must be of the form self:signal:SIGNAME")
        if ap.parts[1] not in SELF_SIGNALS:
            raise fail(ap, f"{ap.parts[1]} is not a supported signal for self probes "
                           f"(supported: {', '.join(SELF_SIGNALS)})")
        name = f"self:signal:{ap.parts[1]}"
    else:
        if len(ap.parts) != 1:
            raise fail(ap, f"{p} probes must be of the form {p}:name")
        name = f"{p}:{ap.parts[0]}"
    if ap.raw in ("BEGIN", "END"):
        name = ap.raw
    return [ProbeInfo(name=name, provider=p, prog_type=uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, ctx="none",
                      attach=p, span=ap.span)]


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[object]:
    return []  # run by the runtime at the right moment
