"""uprobes/uretprobes through the `uprobe` perf PMU: fd-based, so a killed tracer leaves
nothing behind in tracefs (no uprobe_events entries), and the kernel itself increments
and decrements USDT semaphores (`ref_ctr_offset`) while the probe exists.
"""

from __future__ import annotations

import errno as _errno
import os

from . import syscall
from .kprobes import Attachment

PMU_DIR = "/sys/bus/event_source/devices/uprobe"


class UprobeError(Exception):
    """A uprobe could not be attached; the message says why in plain words."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


def _format_bit(name: str, default: int) -> int:
    """First bit of a PMU format field (`config:0`, `config:32-63`)."""
    try:
        with open(os.path.join(PMU_DIR, "format", name)) as f:
            spec = f.read().strip()
        return int(spec.split(":", 1)[1].split("-")[0])
    except (OSError, ValueError, IndexError):
        return default


def pmu_type() -> int | None:
    try:
        with open(os.path.join(PMU_DIR, "type")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _explain(err: int, what: str) -> str:
    reasons = {
        _errno.ENOENT: "no such file",
        _errno.EINVAL: "the kernel refused this probe point (bad offset, or a semaphore the "
                       "kernel cannot manage)",
        _errno.EPERM: "permission denied (need root/CAP_PERFMON)",
        _errno.EACCES: "permission denied (need root/CAP_PERFMON)",
        _errno.ESRCH: "no such process",
        _errno.EOPNOTSUPP: "not supported by this kernel",
    }
    return f"cannot attach {what}: {reasons.get(err, os.strerror(err))}"


def attach_uprobe(prog_fd: int, path: str, offset: int, retprobe: bool = False, pid: int = -1,
                  ref_ctr_offset: int = 0, what: str = "") -> Attachment:
    """Attach a loaded BPF_PROG_TYPE_KPROBE program at file offset `offset` of `path`.

    pid -1 probes every process mapping the file; ref_ctr_offset is the file offset of a
    USDT semaphore (0: none).
    """
    kind = "uretprobe" if retprobe else "uprobe"
    what = what or f"{kind}:{path}:{offset:#x}"
    ptype = pmu_type()
    if ptype is None:
        raise UprobeError(f"cannot attach {what}: this kernel has no 'uprobe' PMU "
                          "(CONFIG_UPROBE_EVENTS)", _errno.ENOENT)
    config = (1 << _format_bit("retprobe", 0)) if retprobe else 0
    if ref_ctr_offset:
        config |= ref_ctr_offset << _format_bit("ref_ctr_offset", 32)
    buf = syscall.cstring(path)
    try:
        fd = syscall.perf_event_open(ptype, config, pid=pid, cpu=0 if pid < 0 else -1,
                                     config1=syscall.addr_of(buf), config2=offset, keep=(buf,))
    except syscall.BpfError as e:
        raise UprobeError(_explain(e.errno or 0, what), e.errno or 0) from None
    try:
        syscall.perf_attach_bpf(fd, prog_fd)
    except syscall.BpfError as e:
        os.close(fd)
        raise UprobeError(_explain(e.errno or 0, what), e.errno or 0) from None
    return Attachment(kind, [what], [fd])
