"""Attach a loaded program where its section name points, returning a pinnable bpf_link fd.

Perf-event based points (tracepoints, kprobes, uprobes) go through BPF_LINK_CREATE with
BPF_PERF_EVENT, so the attachment is a real link that `bpftool link` lists and that
survives its creator when pinned; raw tracepoints and BTF-typed tracing programs get
their link from BPF_RAW_TRACEPOINT_OPEN. Section targets use libbpf's spellings:
`tracepoint/CAT/NAME`, `raw_tp/NAME`, `kprobe/FUNC[+OFF]`, `ksyscall/NAME`,
`uprobe/PATH:FUNC[+OFF]`.
"""

from __future__ import annotations

import os
import platform

from . import bpfsec, uapi
from . import syscall as sc

PMU_ROOT = "/sys/bus/event_source/devices"


class AttachError(OSError):
    """The attach point does not exist or the kernel refused it."""


def _pmu(name: str) -> tuple[int, int]:
    """(perf type, retprobe config bit) of the kprobe/uprobe PMU."""
    try:
        with open(os.path.join(PMU_ROOT, name, "type")) as f:
            ptype = int(f.read())
    except (OSError, ValueError):
        raise AttachError(0, f"this kernel has no {name} PMU") from None
    bit = 1
    try:
        with open(os.path.join(PMU_ROOT, name, "format", "retprobe")) as f:
            bit = 1 << int(f.read().strip().split(":", 1)[1].split("-")[0])
    except (OSError, ValueError, IndexError):
        pass
    return ptype, bit


def _perf_link(prog_fd: int, perf_fd: int) -> int:
    try:
        link = sc.link_create(prog_fd, perf_fd, uapi.BPF_PERF_EVENT)
        sc.ioctl(perf_fd, sc.PERF_EVENT_IOC_ENABLE, 0)
        return link
    finally:
        os.close(perf_fd)


def _split_off(spec: str) -> tuple[str, int]:
    name, plus, off = spec.partition("+")
    try:
        return name, int(off, 0) if plus else 0
    except ValueError:
        raise AttachError(0, f"bad offset in '{spec}'") from None


def tracepoint(prog_fd: int, category: str, name: str) -> int:
    from .tracefs import ensure_mounted

    path = os.path.join(ensure_mounted(), "events", category, name, "id")
    try:
        with open(path) as f:
            tp_id = int(f.read())
    except (OSError, ValueError):
        raise AttachError(0, f"tracepoint '{category}:{name}' not found") from None
    return _perf_link(prog_fd, sc.perf_event_open(sc.PERF_TYPE_TRACEPOINT, tp_id, pid=-1, cpu=0))


def kprobe(prog_fd: int, func: str, offset: int = 0, retprobe: bool = False) -> int:
    ptype, bit = _pmu("kprobe")
    buf = sc.cstring(func)
    fd = sc.perf_event_open(ptype, bit if retprobe else 0, pid=-1, cpu=0, config1=sc.addr_of(buf),
                            config2=offset, keep=(buf,))
    return _perf_link(prog_fd, fd)


def uprobe(prog_fd: int, path: str, func: str, offset: int = 0, retprobe: bool = False) -> int:
    from . import elf

    file_off = offset
    if func:
        found = elf.resolve_symbol(path, func)
        if found is None:
            raise AttachError(0, f"symbol '{func}' not found in {path}")
        va = found[0] + offset
        fo = elf.vaddr_to_file_offset(path, va)
        file_off = fo if fo is not None else va
    ptype, bit = _pmu("uprobe")
    buf = sc.cstring(path)
    fd = sc.perf_event_open(ptype, bit if retprobe else 0, pid=-1, cpu=0, config1=sc.addr_of(buf),
                            config2=file_off, keep=(buf,))
    return _perf_link(prog_fd, fd)


def _syscall_prefix() -> str:
    return {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
            "riscv64": "__riscv_sys_", "ppc64le": "sys_"}.get(platform.machine(), "__se_sys_")


def attach(prog_fd: int, d: bpfsec.SecDef, target: str, prog_name: str = "") -> int | None:
    """A link fd for `target` of section kind `d`; None when `d` has no attach point."""
    what = prog_name or target
    if d.attach == "tp":
        cat, _, name = target.partition("/")
        if not cat or not name:
            raise AttachError(0, f"prog '{what}': tracepoint section needs 'CATEGORY/NAME'")
        return tracepoint(prog_fd, cat, name)
    if d.attach == "raw_tp":
        if not target:
            raise AttachError(0, f"prog '{what}': raw tracepoint section names no tracepoint")
        return sc.raw_tracepoint_open(target, prog_fd)
    if d.attach == "trace":
        return sc.raw_tracepoint_open(None, prog_fd)
    if d.attach in ("kprobe", "kretprobe"):
        if not target:
            return None
        func, off = _split_off(target)
        return kprobe(prog_fd, func, off, d.attach == "kretprobe")
    if d.attach in ("ksyscall", "kretsyscall"):
        if not target:
            return None
        return kprobe(prog_fd, _syscall_prefix() + target, 0, d.attach == "kretsyscall")
    if d.attach in ("uprobe", "uretprobe"):
        path, colon, func = target.rpartition(":")
        if not colon or not path:
            return None
        func, off = _split_off(func)
        return uprobe(prog_fd, path, func, off, d.attach == "uretprobe")
    return None
