"""iter:NAME — BPF iterators (bpftrace 0.26): the body runs once per kernel object (every
task, every open file of every task, every vma, ...), then the program ends.

`ctx` points at `struct bpf_iter__NAME` (typed from BTF by the compiler); the kernel's last call
of an iteration passes a NULL object, which the generated program skips. The runner reads the
iterator to its end after begin probes ran (runtime/program.py `run_iterators`), then runs end
probes and prints maps. printf output goes through our ring buffer as for every other probe.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...kernel import syscall as sc
from ...kernel import uapi
from ...lang.spec import ArgField, ProbeInfo
from .base import Env, FdHandle, fail, is_glob

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("iter",)
# targets that walk one object named at attach time (bpftrace passes none either)
_NEEDS_TARGET = {"bpf_map_elem": "a map", "bpf_sk_storage_map": "a map", "sockmap": "a map",
                 "cgroup": "a cgroup"}


class IterLink(FdHandle):
    """The iterator's link; `run` reads a fresh iterator of it to its end."""

    def __init__(self, fd: int, name: str) -> None:
        super().__init__(fd)
        self.name = name

    def run(self, after_read: Callable[[], bool]) -> None:
        from ...kernel import bpfiter

        bpfiter.run(self.fd, after_read)


def _btf() -> Any:
    from ...kernel.btf import Btf

    return Btf.vmlinux()


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import bpfiter
    from .btfargs import value_type

    if len(ap.parts) not in (1, 2):
        raise fail(ap, "iter probe type takes 2 arguments (1 optional)")
    if any(is_glob(p) for p in ap.parts):
        raise fail(ap, "iter probe type does not support wildcards")
    name = ap.parts[0]
    if not name:
        raise fail(ap, "iter should specify a iterator's name")
    if len(ap.parts) == 2:
        raise fail(ap, f"iter:{name}:{ap.parts[1]}: pinning an iterator is not supported yet by bpfscope "
                       "(its printf output goes to bpfscope's ring buffer, not to the pinned file)")
    if name in _NEEDS_TARGET:
        raise fail(ap, f"iter:{name} walks {_NEEDS_TARGET[name]} given when it is attached, "
                       "which bpfscope cannot pass yet")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise fail(ap, "iter probes need kernel BTF (/sys/kernel/btf/vmlinux)")
    btf = _btf()
    fid = bpfiter.func_id(btf, name)
    if fid is None:
        raise fail(ap, f"iter {name} not available for your kernel version.")
    args = [ArgField(f.name, value_type(btf, f.type_id), f.offset) for f in bpfiter.fields(btf, name)]
    return [ProbeInfo(name=f"iter:{name}", provider="iter", prog_type=uapi.BPF_PROG_TYPE_TRACING,
                      ctx="iter", args=args, expected_attach_type=uapi.BPF_TRACE_ITER, attach_btf_id=fid,
                      attach={"name": name}, span=ap.span)]


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[IterLink]:
    from ...kernel import bpfiter

    try:
        return [IterLink(bpfiter.attach(prog_fd), info.attach["name"])]
    except sc.BpfError as e:
        raise OSError(e.errno or 0, os.strerror(e.errno or 0)) from None


def listing(pattern: str, provider: str = "iter", verbose: bool = False) -> list[str]:
    """`-l 'iter:*'`; -v adds the context's members (`    struct task_struct * task`)."""
    from fnmatch import fnmatchcase

    from ...kernel import bpfiter

    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return []
    btf = _btf()
    out = []
    for name in bpfiter.iter_names(btf):
        if not fnmatchcase(name, pattern or "*"):
            continue
        out.append(f"iter:{name}")
        if verbose:
            out.extend(f"    {btf.type_name(f.type_id)} {f.name}" for f in bpfiter.fields(btf, name)
                       if f.name != "meta")
    return out
