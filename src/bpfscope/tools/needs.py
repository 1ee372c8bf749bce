"""What a tool needs from the kernel, checked before anything is compiled.

A tool lists `Need`s; the first one missing becomes the tool's single error line
("execsnoop: needs tracepoint syscalls:sys_enter_execve, which this kernel lacks; ...").
Checks are cheap: a stat for tracepoints and files, one tiny program load for a
probe type (kernel.features, cached per process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

# probe types -> kernel.features check
_FEATURES = {"kprobe": "kprobes", "kretprobe": "kretprobes", "fentry": "fentry", "fexit": "fexit",
             "tp_btf": "tp_btf", "rawtracepoint": "raw_tracepoints", "uprobe": "uprobes",
             "tracepoint": "tracepoints", "perf_event": "perf_event", "ringbuf": "ringbuf"}


def tracefs_root() -> str | None:
    for root in _TRACEFS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    return None


def have_tracepoint(name: str) -> bool:
    """`name` is "category:event"; true when the kernel has it (one stat)."""
    root = tracefs_root()
    if root is None:
        try:
            from ..kernel.tracefs import ensure_mounted

            root = ensure_mounted()
        except OSError:
            return False
    cat, _, ev = name.partition(":")
    return os.path.exists(os.path.join(root, "events", cat, ev, "id"))


def have_feature(probe_type: str) -> bool:
    """Whether this kernel offers a probe type ("kprobe", "fentry", "tp_btf", "uprobe", ...)."""
    from ..kernel import features

    check = getattr(features, _FEATURES.get(probe_type, probe_type))
    return bool(check())


def use_kprobes() -> bool:
    """BCC's way (kprobes) where the kernel allows it; BPFSCOPE_TOOLS_TRACEPOINTS=1 forces the
    tracepoint way (how the VM lane tests both on one kernel)."""
    return have_feature("kprobe") and os.environ.get("BPFSCOPE_TOOLS_TRACEPOINTS", "") in ("", "0")


def have_btf_type(name: str) -> bool:
    """A kernel BTF type (e.g. "task_struct") exists: BTF-typed field access will work."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return False
    from ..kernel.btf import Btf

    try:
        return Btf.vmlinux().find(name) is not None
    except (OSError, AttributeError, KeyError):
        return False


@dataclass(frozen=True)
class Need:
    """One requirement. `kind`: tracepoint ("syscalls:sys_enter_execve"), feature (a probe type:
    "kprobe", "uprobe", "tp_btf"), btf (the kernel's BTF), file (a path: a probed binary).
    `instead` names what could serve when it is missing (another tool, an option)."""
    kind: str
    what: str = ""
    instead: str = ""

    def ok(self) -> bool:
        if self.kind == "tracepoint":
            return have_tracepoint(self.what)
        if self.kind == "feature":
            return have_feature(self.what)
        if self.kind == "btf":
            return os.path.exists("/sys/kernel/btf/vmlinux")
        if self.kind == "file":
            return os.path.exists(self.what)
        raise ValueError(f"unknown requirement kind {self.kind!r}")

    def describe(self) -> str:
        if self.kind == "tracepoint":
            return f"tracepoint {self.what}"
        if self.kind == "feature":
            return f"{self.what} support"
        if self.kind == "btf":
            return "kernel BTF (/sys/kernel/btf/vmlinux)"
        return self.what

    def message(self, tool: str) -> str:
        """The tool's one error line for this missing requirement."""
        msg = f"{tool}: needs {self.describe()}, which this kernel lacks"
        if os.geteuid() != 0 and self.kind in ("tracepoint", "feature", "btf"):
            return (f"{tool}: must run as root (or with CAP_BPF, CAP_PERFMON and access to tracefs): "
                    f"cannot check for {self.describe()} as uid {os.geteuid()}")
        if self.kind == "file":
            msg = f"{tool}: {self.what} not found"
        if self.kind == "feature" and self.what in ("kprobe", "kretprobe", "fentry", "fexit"):
            from ..kernel import features

            msg = f"{tool}: {features.explain_missing(self.what).split(';')[0]}"
        if self.instead:
            msg += f"; {self.instead}"
        return msg


def first_missing(needs: list[Need]) -> Need | None:
    for n in needs:
        if not n.ok():
            return n
    return None
