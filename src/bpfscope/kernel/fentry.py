"""fentry/fexit (kfunc/kretfunc): BPF_PROG_TYPE_TRACING programs on BPF trampolines.

Why: a trampoline calls the program with the target's arguments as a u64 array (BTF-typed,
so `args.name` needs no register guessing) and, for fexit, the return value right after
them; it costs less than a kprobe's breakpoint. The kernel must find the target in BTF:
vmlinux ids go in attach_btf_id, module functions also need the module's BTF object fd.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct

from . import syscall, uapi
from .kprobes import Attachment

_BTF_INFO_SIZE = 32   # struct bpf_btf_info up to kernel_btf


class FentryError(Exception):
    """The trampoline program could not be loaded or attached; message in plain words."""

    def __init__(self, message: str, errno: int = 0, log: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.log = log


def _btf(module: str | None):  # type: ignore[no-untyped-def]
    from .btf import Btf

    return Btf.module(module) if module else Btf.vmlinux()


def func_btf_id(func: str, module: str | None = None) -> int:
    """BTF id of FUNC `func` in vmlinux (or the module's split BTF)."""
    try:
        fid = _btf(module).find(func, "func")
    except OSError as e:
        where = f"module {module}" if module else "vmlinux"
        raise FentryError(f"no BTF for {where}: {e.strerror}", e.errno or 0) from None
    if fid is None:
        raise FentryError(f"function {func} not found in {'module ' + module if module else 'vmlinux'} BTF",
                          _errno.ENOENT)
    return int(fid)


def fentry_args(func: str, module: str | None = None) -> list[tuple[str, int]]:
    """Parameters (name, BTF type id) of `func`, in the order the trampoline passes them."""
    sig = _btf(module).func_proto_of(func)
    if sig is None:
        raise FentryError(f"function {func} not found in BTF", _errno.ENOENT)
    return list(sig.params)


def fexit_retval_type(func: str, module: str | None = None) -> int:
    """BTF type id of `func`'s return value (0 = void)."""
    sig = _btf(module).func_proto_of(func)
    if sig is None:
        raise FentryError(f"function {func} not found in BTF", _errno.ENOENT)
    return int(sig.ret_type)


def module_btf_fd(module: str) -> int:
    """An fd of the kernel BTF object named `module` (for attach_btf_obj_fd); caller closes."""
    obj_id = 0
    while True:
        nxt = syscall.get_next_id(uapi.BPF_BTF_GET_NEXT_ID, obj_id)
        if nxt is None:
            raise FentryError(f"no loaded BTF object for module {module}", _errno.ENOENT)
        obj_id = nxt
        try:
            fd = syscall.get_fd_by_id(uapi.BPF_BTF_GET_FD_BY_ID, obj_id)
        except syscall.BpfError:
            continue
        name_buf = ctypes.create_string_buffer(64)
        pre = struct.pack("QIIQII", 0, 0, 0, ctypes.addressof(name_buf), 64, 0)
        try:
            syscall.obj_get_info(fd, _BTF_INFO_SIZE, pre, keep=(name_buf,))
        except syscall.BpfError:
            os.close(fd)
            continue
        if name_buf.value.decode(errors="replace") == module:
            return fd
        os.close(fd)


def _explain(err: int, what: str) -> str:
    if err == _errno.EPERM:
        return (f"{what}: this kernel refuses BPF trampolines (EPERM: fentry/fexit need root, "
                "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and a JIT, and no lockdown)")
    if err in (_errno.EOPNOTSUPP, 524):
        return f"{what}: BPF trampolines are not supported by this kernel"
    if err == _errno.ESRCH:
        return f"{what}: the function is not traceable"
    return f"{what}: {os.strerror(err)}"


def load_tracing(insns: bytes, func: str, retprobe: bool = False, module: str | None = None,
                 name: str = "", log_level: int = 0, log_size: int = 0,
                 license: str = "GPL") -> int:
    """Load a fentry (or fexit when retprobe) program for `func`; returns the prog fd."""
    attach = uapi.BPF_TRACE_FEXIT if retprobe else uapi.BPF_TRACE_FENTRY
    what = f"{'fexit' if retprobe else 'fentry'}:{module + ':' if module else ''}{func}"
    btf_id = func_btf_id(func, module)
    obj_fd = module_btf_fd(module) if module else 0
    try:
        fd, _log = syscall.prog_load(uapi.BPF_PROG_TYPE_TRACING, insns, license, name or func[:15],
                                     log_level, log_size, expected_attach_type=attach,
                                     attach_btf_id=btf_id, attach_btf_obj_fd=obj_fd)
    except syscall.BpfError as e:
        err = e.errno or 0
        raise FentryError(_explain(err, f"cannot load {what}"), err, e.log) from None
    finally:
        if obj_fd:
            os.close(obj_fd)
    return fd


def attach_tracing(prog_fd: int, retprobe: bool = False, target: str = "") -> Attachment:
    """Attach a loaded fentry/fexit program: BPF_LINK_CREATE, else raw_tracepoint_open."""
    attach = uapi.BPF_TRACE_FEXIT if retprobe else uapi.BPF_TRACE_FENTRY
    kind = "fexit" if retprobe else "fentry"
    try:
        fd = syscall.link_create(prog_fd, 0, attach)
    except syscall.BpfError as e:
        if e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, 524):
            err = e.errno or 0
            raise FentryError(_explain(err, f"cannot attach {kind}:{target}"), err) from None
        try:   # kernels before 5.10 only attach trampolines through RAW_TRACEPOINT_OPEN
            fd = syscall.raw_tracepoint_open(None, prog_fd)
        except syscall.BpfError as e2:
            raise FentryError(_explain(e2.errno or 0, f"cannot attach {kind}:{target}"),
                              e2.errno or 0) from None
    return Attachment(kind, [target] if target else [], [fd])


def attach_fentry(insns: bytes, func: str, retprobe: bool = False,
                  module: str | None = None) -> tuple[int, Attachment]:
    """Load and attach in one go; returns (prog fd, attachment). Caller closes both."""
    fd = load_tracing(insns, func, retprobe, module)
    try:
        return fd, attach_tracing(fd, retprobe, f"{module + ':' if module else ''}{func}")
    except BaseException:
        os.close(fd)
        raise
