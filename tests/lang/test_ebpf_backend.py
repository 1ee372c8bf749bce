"""The back end's stacks (lang/ebpf/stacks.py) and output records (lang/ebpf/outrecords.py),
driven directly, without a source language, as a front end other than bpftrace's (BCC's C)
uses them: programs are built with the emitter alone, loaded into this kernel as raw
tracepoint programs and run with BPF_PROG_TEST_RUN from this process, so the kernel stack is
this test's bpf(2) call and the pid is this process's."""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bpfscope.kernel import insn as I
from bpfscope.kernel import syscall as sc
from bpfscope.kernel import uapi
from bpfscope.kernel.ksyms import ksym
from bpfscope.kernel.maps import Map, possible_cpus
from bpfscope.kernel.ringbuf import RingBuffer
from bpfscope.lang.ctype.types import UINT64
from bpfscope.lang.ebpf.emitter import CTX, Emitter
from bpfscope.lang.ebpf.outrecords import open_record, record_layout, send_record, submit_record
from bpfscope.lang.ebpf.shared import SharedTables
from bpfscope.lang.ebpf.stacks import (
    BPF_F_USER_STACK,
    get_stackid,
    stack_depth,
    stack_map,
    stack_trace_map,
    user_stack,
)
from bpfscope.lang.spec import EventSpec
from tests.conftest import needs_root

pytestmark = needs_root
# a roomy $ustack: distinct stacks of the runs hashed to one bucket would make get_stackid fail (-EEXIST)
USTACK_OPTS = {"ringbuf_size": 1 << 16, "max_stack_depth": 32, "stack_entries": 16384}


class Loaded:
    """One program and its maps in the kernel; records read back from the ring buffer."""

    def __init__(self, tables: SharedTables, maps: list[Map], fd: int) -> None:
        self.tables, self.maps, self.fd = tables, maps, fd

    def run(self, times: int = 1, ctx: bytes = bytes(8)) -> None:
        for _ in range(times):     # raw tracepoint programs take no `repeat`
            sc.prog_test_run(self.fd, ctx_in=ctx, repeat=0)

    def records(self) -> list[bytes]:
        spec = self.tables.specs[self.tables.ringbuf]
        rb = RingBuffer(self.maps[self.tables.ringbuf].fd, spec.max_entries)
        out: list[bytes] = []
        try:
            rb.drain(out.append)
        finally:
            rb.close()
        return out

    def lost(self) -> int:
        raw = self.maps[self.tables.lost].lookup(bytes(4))
        assert raw is not None
        return sum(struct.unpack(f"<{possible_cpus()}Q", raw))

    def stack(self, smap: int, stack_id: int) -> list[int]:
        raw = self.maps[smap].lookup(struct.pack("<I", stack_id))
        assert raw is not None, f"stack id {stack_id} is not in the map"
        ips = struct.unpack(f"<{len(raw) // 8}Q", raw)
        return list(ips[:ips.index(0)] if 0 in ips else ips)


@contextmanager
def loaded(build: Callable[[Emitter, SharedTables], None], tables: SharedTables | None = None) -> Iterator[Loaded]:
    """Emit `r6 = ctx; build(); return 0`, create the tables' maps, patch their fds into the
    ld_imm64s and load; everything is closed afterwards."""
    tables = tables if tables is not None else SharedTables({"ringbuf_size": 1 << 16})
    e = Emitter()
    e.emit(I.mov64_reg(CTX, I.R1))
    build(e, tables)
    e.emit(I.mov64_imm(I.R0, 0), I.exit_())
    insns = e.finish()
    maps: list[Map] = []
    fd = -1
    try:
        for s in tables.specs:
            maps.append(Map.create(s.map_type, s.key_size, s.value_size, s.max_entries, name=s.name.strip("$@")))
        for ins in insns:
            if I.is_ld_imm64(ins) and ins.src == I.PSEUDO_MAP_FD:
                ins.imm = maps[ins.imm].fd
        fd, _log = sc.prog_load(uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, I.encode(insns), name="ebpf_backend")
        yield Loaded(tables, maps, fd)
    finally:
        if fd >= 0:
            os.close(fd)
        for m in maps:
            os.close(m.fd)


def _event_ids(tables: SharedTables) -> dict[str, int]:
    return {ev.kind: i for i, ev in enumerate(tables.events)}


def test_record_fields_and_layout() -> None:
    """open_record/submit_record: `u64 event id, fields` with the caller's values in place."""
    ev = EventSpec("printf", fmt="%d %d\n", arg_types=[UINT64, UINT64])

    def build(e: Emitter, t: SharedTables) -> None:
        send_record(e, t, EventSpec("time"))
        rec = open_record(e, t, ev, [UINT64, UINT64])
        e.emit(I.st_imm(8, I.R10, rec.field(0), 4242))
        e.call("get_current_pid_tgid")
        e.emit(I.alu64_imm(I.RSH, I.R0, 32), I.stx(8, I.R10, I.R0, rec.field(1)))
        submit_record(e, t, rec)

    with loaded(build) as p:
        p.run(times=3)
        ids = _event_ids(p.tables)
        assert ev.layout == record_layout([UINT64, UINT64]) and ev.layout.size == 24
        assert p.records() == [struct.pack("<Q", ids["time"]),
                               struct.pack("<QQQ", ids["printf"], 4242, os.getpid())] * 3
        assert p.lost() == 0


def test_full_ring_buffer_counts_lost_records() -> None:
    """Records the ring buffer cannot take are counted, one each, in the per-CPU lost counter."""
    runs = 300

    def build(e: Emitter, t: SharedTables) -> None:
        rec = open_record(e, t, EventSpec("printf", fmt="%d\n"), [UINT64])
        e.emit(I.st_imm(8, I.R10, rec.field(0), 7))
        submit_record(e, t, rec)

    with loaded(build, SharedTables({"ringbuf_size": 4096})) as p:   # one page: ~170 records of 24 bytes
        p.run(times=runs)
        got = p.records()
        assert got and set(got) == {struct.pack("<QQ", 0, 7)}
        assert p.lost() > 0
        assert len(got) + p.lost() == runs


def test_kernel_stack_id_and_depth() -> None:
    """get_stackid on the script's $kstack map: the id's frames are this test's bpf(2) call, and
    stack_depth counts the same frames (and stops at its limit)."""
    def build(e: Emitter, t: SharedTables) -> None:
        rec = open_record(e, t, EventSpec("printf"), [UINT64, UINT64, UINT64])
        get_stackid(e, stack_map(t, user=False))
        e.emit(I.stx(8, I.R10, I.R0, rec.field(0)))
        for i, limit in ((1, 127), (2, 2)):
            v = stack_depth(e, t, user=False, limit=limit)
            e.emit(I.stx(8, I.R10, e.load(v, I.R1), rec.field(i)))
            e.release(v)
        submit_record(e, t, rec)

    with loaded(build, SharedTables({"ringbuf_size": 1 << 16, "max_stack_depth": 32})) as p:
        assert p.tables.specs[p.tables.index["$kstack"]].value_size == 8 * 32
        p.run()
        (raw,) = p.records()
        sid, depth, capped = struct.unpack("<qqq", raw[8:])
        assert sid >= 0
        frames = p.stack(p.tables.index["$kstack"], sid)
        assert depth == len(frames) >= 2 and capped == 2
        names = [ksym(ip) for ip in frames]
        assert any("sys_bpf" in n for n in names), names


def test_user_stack_reports_first_sight_once() -> None:
    """user_stack: (stack id, pid) with the pid this process's; the pid's first sight is
    reported once (a seen_pid record), then remembered in $seen."""
    def build(e: Emitter, t: SharedTables) -> None:
        rec = open_record(e, t, EventSpec("printf", fmt="%s"), [record_layout([UINT64])])  # 16 bytes
        user_stack(e, t, rec.field(0))
        submit_record(e, t, rec)

    with loaded(build, SharedTables(USTACK_OPTS)) as p:
        p.run(times=3)
        ids = _event_ids(p.tables)
        recs = p.records()
        seen = [r for r in recs if struct.unpack_from("<Q", r)[0] == ids["seen_pid"]]
        stacks = [r for r in recs if struct.unpack_from("<Q", r)[0] == ids["printf"]]
        assert seen == [struct.pack("<QQ", ids["seen_pid"], os.getpid())]
        assert len(stacks) == 3 and len(recs) == 4
        for r in stacks:
            sid, pid = struct.unpack_from("<qQ", r, 8)
            assert pid == os.getpid() and sid >= 0
            frames = p.stack(p.tables.index["$ustack"], sid)
            assert frames and all(ip < 1 << 47 for ip in frames)   # this process's user addresses
        assert p.maps[p.tables.index["$seen"]].lookup(struct.pack("<I", os.getpid())) is not None


def test_entry_return_address_packs_into_spare_bits() -> None:
    """entry_return_address reads *sp from user memory (sp taken from ctx) and packs it into
    the user stack value: low half over the id's high bits, bits 32-47 and a flag over the pid's."""
    ret = 0x00007F12_89ABCDEF
    cell = ctypes.c_uint64(ret)            # the "stack" the probed function's sp points at

    def build(e: Emitter, t: SharedTables) -> None:
        rec = open_record(e, t, EventSpec("printf"), [record_layout([UINT64])])
        user_stack(e, t, rec.field(0), entry_sp=0)   # ctx[0] holds the stack pointer here
        submit_record(e, t, rec)

    with loaded(build, SharedTables(USTACK_OPTS)) as p:
        p.run(ctx=struct.pack("<Q", ctypes.addressof(cell)))
        ids = _event_ids(p.tables)
        (raw,) = [r for r in p.records() if struct.unpack_from("<Q", r)[0] == ids["printf"]]
        lo, hi = struct.unpack_from("<QQ", raw, 8)
        sid = lo & 0xFFFFFFFF
        assert lo >> 32 == ret & 0xFFFFFFFF
        assert hi & 0xFFFFFFFF == os.getpid()
        assert (hi >> 32) & 0xFFFF == (ret >> 32) & 0xFFFF and hi >> 63 == 1
        assert p.stack(p.tables.index["$ustack"], sid)


def test_user_declared_stack_map_and_runtime_flags() -> None:
    """BCC's way: a BPF_STACK_TRACE map the program declares (stack_trace_map) and flags the
    caller put in r3 (flags=None)."""
    tables = SharedTables({"ringbuf_size": 1 << 16})
    kmap = tables.add(stack_trace_map("stack_traces", entries=64))
    umap = tables.add(stack_trace_map("user_traces", depth=16, entries=64))   # one stack each: no collision

    def build(e: Emitter, t: SharedTables) -> None:
        rec = open_record(e, t, EventSpec("printf"), [UINT64, UINT64])
        get_stackid(e, kmap)
        e.emit(I.stx(8, I.R10, I.R0, rec.field(0)), I.mov64_imm(I.R3, BPF_F_USER_STACK))
        get_stackid(e, umap, flags=None)
        e.emit(I.stx(8, I.R10, I.R0, rec.field(1)))
        submit_record(e, t, rec)

    with loaded(build, tables) as p:
        assert [(m.type, m.value_size, m.max_entries) for m in (p.maps[kmap], p.maps[umap])] == [
            (uapi.BPF_MAP_TYPE_STACK_TRACE, 8 * 127, 64), (uapi.BPF_MAP_TYPE_STACK_TRACE, 8 * 16, 64)]
        p.run()
        (raw,) = p.records()
        kid, uid = struct.unpack_from("<qq", raw, 8)
        assert kid >= 0 and uid >= 0
        assert any("sys_bpf" in ksym(ip) for ip in p.stack(kmap, kid))
        frames = p.stack(umap, uid)
        assert frames and all(ip < 1 << 47 for ip in frames)   # user addresses


@pytest.mark.parametrize("user", [False, True])
def test_stack_maps_are_created_once_on_first_use(user: bool) -> None:
    t = SharedTables({"max_stack_depth": 5, "stack_entries": 99})
    assert t.specs == []
    a, b = stack_map(t, user), stack_map(t, user)
    spec: Any = t.specs[a]
    assert a == b == 0 and len(t.specs) == 1
    assert (spec.name, spec.value_size, spec.max_entries, spec.internal) == (
        "$ustack" if user else "$kstack", 40, 99, True)
