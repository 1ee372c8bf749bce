"""Tiny raw BPF programs for the VM tests, built with kernel/insn.py.

Each program keeps a 2 x u64 "count, sum" (or a string) in an array map at key 0, and only
counts events of one pid, so a test can drive a workload and compare exact numbers.
"""

from __future__ import annotations

import os
import struct

from bpfscope.kernel import insn as I
from bpfscope.kernel import syscall, uapi

H = uapi.HELPER_ID


class Counter:
    """Array map with one 16-byte value: (events, sum of a loaded u64)."""

    def __init__(self, value_size: int = 16) -> None:
        self.value_size = value_size
        self.fd = syscall.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, value_size, 1, name="vmtest")

    def read(self) -> tuple[int, int]:
        v = syscall.map_lookup(self.fd, struct.pack("I", 0), self.value_size) or b"\0" * 16
        return struct.unpack_from("QQ", v)

    def text(self) -> str:
        v = syscall.map_lookup(self.fd, struct.pack("I", 0), self.value_size) or b""
        return v.split(b"\0", 1)[0].decode(errors="replace")

    def close(self) -> None:
        os.close(self.fd)


def _pid_filter(pid: int, skip: int) -> list[I.Insn]:
    """r0 = pid; if r0 != pid jump forward `skip` (to the final `r0 = 0; exit`)."""
    return [I.call(H["get_current_pid_tgid"]), I.alu64_imm(I.RSH, I.R0, 32),
            I.jmp_imm(I.JNE, I.R0, pid, skip)]


def _lookup(map_fd: int) -> list[I.Insn]:
    """r0 = &value[0] (or NULL)."""
    return [I.st_imm(4, I.R10, -4, 0), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, -4),
            *I.ld_map_fd(I.R1, map_fd), I.call(H["map_lookup_elem"])]


def count_and_sum(map_fd: int, pid: int, ctx_off: int | None) -> bytes:
    """Count events of `pid`; add the u64 at ctx+ctx_off (an arg or retval) to the sum."""
    body: list[I.Insn] = []
    if ctx_off is not None:
        body.append(I.ldx(8, I.R7, I.R6, ctx_off))
    else:
        body.append(I.mov64_imm(I.R7, 0))
    tail = [*_lookup(map_fd),
            I.jmp_imm(I.JEQ, I.R0, 0, 3),
            I.mov64_imm(I.R1, 1), I.atomic_add(8, I.R0, I.R1, 0),
            I.atomic_add(8, I.R0, I.R7, 8)]
    after_filter = body + tail
    prog = [I.mov64_reg(I.R6, I.R1), *_pid_filter(pid, len(after_filter)), *after_filter,
            I.mov64_imm(I.R0, 0), I.exit_()]
    return I.encode(prog)


def read_user_str(map_fd: int, pid: int, ctx_off: int, size: int = 64) -> bytes:
    """Copy the user string whose pointer is at ctx+ctx_off into the map value (last one wins)."""
    after = [*_lookup(map_fd),
             I.jmp_imm(I.JEQ, I.R0, 0, 4),
             I.mov64_reg(I.R1, I.R0), I.mov64_imm(I.R2, size),
             I.ldx(8, I.R3, I.R6, ctx_off),
             I.call(H["probe_read_user_str"])]
    prog = [I.mov64_reg(I.R6, I.R1), *_pid_filter(pid, len(after)), *after,
            I.mov64_imm(I.R0, 0), I.exit_()]
    return I.encode(prog)


def load_kprobe(insns: bytes, name: str = "vmtest", expected_attach_type: int = 0) -> int:
    fd, _ = syscall.prog_load(uapi.BPF_PROG_TYPE_KPROBE, insns, name=name,
                              expected_attach_type=expected_attach_type)
    return fd


def prog_ids_named(name: str) -> list[int]:
    """Ids of loaded programs whose name is `name` (BPF_PROG_GET_NEXT_ID walk)."""
    out: list[int] = []
    pid = 0
    while True:
        nxt = syscall.get_next_id(uapi.BPF_PROG_GET_NEXT_ID, pid)
        if nxt is None:
            return out
        pid = nxt
        try:
            fd = syscall.get_fd_by_id(uapi.BPF_PROG_GET_FD_BY_ID, pid)
        except syscall.BpfError:
            continue
        try:
            info = syscall.obj_get_info(fd, 80)
        finally:
            os.close(fd)
        if info[64:80].split(b"\0", 1)[0].decode() == name:
            out.append(pid)
