"""pid/tid as seen from the PID namespace bpfscope runs in, as bpftrace 0.26 reports them.

In the initial namespace the plain bpf_get_current_pid_tgid() is that view. Inside another
one (`unshare -p -f --mount-proc`), the program asks bpf_get_ns_current_pid_tgid() for the
ids in our namespace, named by the (dev, inode) of /proc/self/ns/pid: a task outside it
reads as 0, as in bpftrace. The same ids name /proc/PID there, so user stacks resolve too.
"""

from __future__ import annotations

import functools
import os

from ...kernel import insn as I
from .emitter import Emitter

PROC_PID_INIT_INO = 0xEFFFFFFC   # the initial PID namespace's inode number (include/linux/proc_ns.h)


@functools.cache
def current_pid_namespace() -> tuple[int, int] | None:
    """(dev, inode) of our PID namespace, or None in the initial one (or when unknown)."""
    try:
        st = os.stat("/proc/self/ns/pid")
    except OSError:
        return None
    if st.st_ino == PROC_PID_INIT_INO:
        return None
    return st.st_dev, st.st_ino


def emit_pid_tgid(e: Emitter, want: str, init: bool = False) -> None:
    """r0 = pid ('pid': the thread group id) or tid ('tid') of the current task, 32-bit,
    in our namespace unless `init` asks for the initial namespace's view."""
    ns = None if init else current_pid_namespace()
    if ns is None:
        e.call("get_current_pid_tgid")
        if want == "pid":
            e.emit(I.alu64_imm(I.RSH, I.R0, 32))
        else:
            e.emit(I.Insn(I.ALU | I.MOV | I.X, I.R0, I.R0))
        return
    off = e.alloc(8)   # struct bpf_pidns_info { u32 pid; u32 tgid; }, zeroed by the helper on failure
    e.emit(*I.ld_imm64(I.R1, ns[0]), *I.ld_imm64(I.R2, ns[1]), I.mov64_reg(I.R3, I.R10),
           I.alu64_imm(I.ADD, I.R3, off), I.mov64_imm(I.R4, 8))
    e.call("get_ns_current_pid_tgid")
    e.emit(I.ldx(4, I.R0, I.R10, off + (4 if want == "pid" else 0)))
