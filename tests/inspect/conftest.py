"""Fixtures that load real BPF objects for the inspection tests (root only)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from bpfscope.kernel import insn as I
from bpfscope.kernel import objinfo, uapi
from bpfscope.kernel import syscall as sc

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root to load BPF objects")


def build_btf() -> bytes:
    """A tiny BTF: [1] int, [2] struct val {u64 cnt; char comm[8];}, [3] u64, [4] char[8], [5] char."""
    strs = b"\0int\0val\0cnt\0comm\0long long unsigned int\0char\0"

    def off(s: bytes) -> int:
        return strs.index(b"\0" + s + b"\0") + 1

    types = b""
    types += struct.pack("<IIII", off(b"int"), 1 << 24, 4, (1 << 24) | 32)
    types += struct.pack("<III", off(b"val"), (4 << 24) | 2, 16)
    types += struct.pack("<III", off(b"cnt"), 3, 0) + struct.pack("<III", off(b"comm"), 4, 64)
    types += struct.pack("<IIII", off(b"long long unsigned int"), 1 << 24, 8, 64)
    types += struct.pack("<III", 0, 3 << 24, 0) + struct.pack("<III", 5, 1, 8)
    types += struct.pack("<IIII", off(b"char"), 1 << 24, 1, (2 << 24) | 8)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return hdr + types + strs


class Loaded:
    """A raw-tracepoint program (with a hash map and a BTF array map) attached to sys_enter."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.hash_fd = self._keep(sc.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 16, name="insp_hash"))
        self.btf_fd = self._keep(objinfo.load_btf(build_btf()))
        # one entry: direct map-value access (ld_imm64 PSEUDO_MAP_VALUE) needs it
        self.arr_fd = self._keep(sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 16, 1, name="insp_btf",
                                               btf_fd=self.btf_fd, btf_key_type_id=1,
                                               btf_value_type_id=2))
        prog = [
            I.st_imm(4, I.R10, -4, 7),
            I.mov64_reg(I.R2, I.R10),
            I.alu64_imm(I.ADD, I.R2, -4),
            *I.ld_map_fd(I.R1, self.hash_fd),
            I.call(uapi.HELPER_ID["map_lookup_elem"]),
            I.jmp_imm(I.JEQ, I.R0, 0, 2),
            I.mov64_imm(I.R1, 1),
            I.atomic_add(8, I.R0, I.R1, 0),
            *I.ld_map_value(I.R3, self.arr_fd, 8),
            I.Insn(I.JMP | I.CALL, 0, 1, 0, 2),  # bpf-to-bpf call to the subprog below
            I.mov32_imm(I.R0, 0),
            I.exit_(),
            I.call(uapi.HELPER_ID["ktime_get_ns"]),
            I.alu64_imm(I.RSH, I.R0, 3),
            I.exit_(),
        ]
        self.prog_fd, _ = sc.prog_load(uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, I.encode(prog), name="insp_prog",
                                     log_level=1, log_size=1 << 16)
        self._keep(self.prog_fd)
        self.link_fd = self._keep(sc.raw_tracepoint_open("sys_enter", self.prog_fd))
        # key 7 stays absent (the program then counts nothing) except in the counting test
        sc.map_update(self.hash_fd, struct.pack("<I", 3), struct.pack("<Q", 0x1122))
        sc.map_update(self.arr_fd, struct.pack("<I", 0), struct.pack("<Q8s", 42, b"bash"))

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def close(self) -> None:
        for fd in reversed(self.fds):
            os.close(fd)


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    if not ROOT:
        pytest.skip("needs root to load BPF objects")
    obj = Loaded()
    try:
        yield obj
    finally:
        obj.close()
