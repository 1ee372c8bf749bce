"""BPF iterators (BPF_TRACE_ITER): which the kernel offers, their context, running one.

Why: an iterator program is called once per kernel object (task, open file, vma, ...) while a
process read()s the iterator's fd, then once more with a NULL object at the end; it walks every
object once, with no event to wait for. The kernel registers each target as a BTF function
`bpf_iter_<name>` whose context is `struct bpf_iter__<name>`: a `meta` pointer and the object
pointers, each member 8 bytes wide (anonymous unions keep pointers 8-byte aligned everywhere).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from collections.abc import Callable
from typing import Any

from . import syscall, uapi

_ATTR_SIZE = 128
_READ_SIZE = 1 << 16


class IterField:
    """One member of `struct bpf_iter__<name>` (anonymous unions flattened)."""

    def __init__(self, name: str, type_id: int, offset: int) -> None:
        self.name = name
        self.type_id = type_id
        self.offset = offset


def iter_names(btf: Any) -> list[str]:
    """Iterator targets of this kernel: BTF functions `bpf_iter_<name>` with a context struct."""
    out = []
    for tid in btf.ids("struct"):
        n = btf.name_of(tid)
        if n.startswith("bpf_iter__") and btf.find("bpf_iter_" + n[10:], "func") is not None:
            out.append(n[10:])
    return sorted(set(out))


def func_id(btf: Any, name: str) -> int | None:
    """BTF id of `bpf_iter_<name>` (attach_btf_id of the program), None when not offered."""
    if not name or btf.find(f"bpf_iter__{name}", "struct") is None:
        return None
    fid = btf.find(f"bpf_iter_{name}", "func")
    return int(fid) if fid is not None else None


def fields(btf: Any, name: str) -> list[IterField]:
    """Members of the context struct, in order, with byte offsets."""
    sid = btf.find(f"bpf_iter__{name}", "struct")
    if sid is None:
        return []
    out = []
    for m in btf.get(sid).members:
        off = m.bit_offset // 8
        if m.name:
            out.append(IterField(m.name, m.type, off))
            continue
        inner = btf.get(btf.resolve(m.type))   # `union { struct task_struct *task; }`
        for im in getattr(inner, "members", [])[:1]:
            out.append(IterField(im.name, im.type, off + im.bit_offset // 8))
    return out


def attach(prog_fd: int) -> int:
    """A link of a loaded iterator program (no target parameters: every object); returns its fd."""
    return syscall.link_create(prog_fd, 0, uapi.BPF_TRACE_ITER)


def create(link_fd: int) -> int:
    """BPF_ITER_CREATE: a new fd whose read() runs the iterator from its first object."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("II", attr, 0, link_fd, 0)
    return syscall.bpf(uapi.BPF_ITER_CREATE, attr)


def run(link_fd: int, after_read: Callable[[], bool] = lambda: False) -> int:
    """Read a fresh iterator of the link to its end; `after_read` runs after each read() (the
    caller drains what the program sent meanwhile) and stops the walk early when it returns
    True. Returns the bytes the program wrote to the seq_file (bpf_seq_printf), discarded."""
    fd = create(link_fd)
    total = 0
    try:
        while True:
            try:
                chunk = os.read(fd, _READ_SIZE)
            except OSError as e:
                if e.errno in (_errno.EAGAIN, _errno.EINTR):   # 1M objects without output: go on
                    if after_read():
                        return total
                    continue
                raise
            if after_read() or not chunk:
                return total
            total += len(chunk)
    finally:
        os.close(fd)
