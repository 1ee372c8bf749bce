"""bcc.syscall: number → name (bytes, as BCC gives them) from bpfscope's syscall table."""

from __future__ import annotations

from bpfscope.runtime.syscall_names import SYSCALLS

syscalls: dict[int, bytes] = {n: s.encode() for n, s in SYSCALLS.items() if s}


def syscall_name(syscall_num: int) -> bytes:
    return syscalls.get(syscall_num, b"[unknown: %d]" % syscall_num)
