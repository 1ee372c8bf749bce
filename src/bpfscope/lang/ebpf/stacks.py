"""Stacks: stack ids from bpf_get_stackid on stack-trace maps, the pid kept with a user stack,
the report of a pid's first sight, the return address at a function's entry, the depth of the
current stack.

User stacks are symbolized in user space, later, maybe after the process exited: so a user
stack value is (stack id, pid), and the first time a pid is seen a record tells user space to
snapshot its mappings while it lives. Everything here takes stack offsets, map indices and
registers, never a front end's AST; any front end (bpftrace's kstack/ustack, BCC's
BPF_STACK_TRACE and get_stackid) uses it.
"""

from __future__ import annotations

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import INT64, UINT64
from ..spec import EventSpec, MapSpec
from .emitter import CTX, Emitter, IntVal, Label
from .outrecords import open_record, submit_record
from .pidns import emit_pid_tgid
from .shared import SharedTables

BPF_F_USER_STACK = 1 << 8
BPF_F_STACK_BUILD_ID = 1 << 5   # map flag: frames are struct bpf_stack_build_id (32 bytes)
BUILD_ID_FRAME = 32
MAX_DEPTH = 127          # the kernel's default perf_event_max_stack: frames kept per stack
SEEN_PIDS = 16384        # pids remembered as reported (LRU: old pids fall out, reported again)


def stack_trace_map(name: str, depth: int = MAX_DEPTH, entries: int = 4096, internal: bool = False) -> MapSpec:
    """A BPF_MAP_TYPE_STACK_TRACE map: u32 stack id -> `depth` u64 instruction pointers."""
    return MapSpec(name, uapi.BPF_MAP_TYPE_STACK_TRACE, 4, 8 * depth, entries, None, UINT64, internal=internal)


def stack_map(tables: SharedTables, user: bool, build_id: bool = False) -> int:
    """The script's stack-trace map of kernel (or user) stacks, created on first use and sized
    by the `max_stack_depth` and `stack_entries` options. build_id: user frames kept as (build
    id, file offset) by the kernel, for `ustack(build_id)`."""
    opts = tables.opts
    depth = int(opts.get("max_stack_depth", MAX_DEPTH))
    entries = int(opts.get("stack_entries", 4096))
    if build_id:
        return tables.internal_map(MapSpec("$ustack_build_id", uapi.BPF_MAP_TYPE_STACK_TRACE, 4,
                                           BUILD_ID_FRAME * depth, entries, None, UINT64,
                                           flags=BPF_F_STACK_BUILD_ID, internal=True))
    return tables.internal_map(stack_trace_map("$ustack" if user else "$kstack", depth, entries, internal=True))


def seen_map(tables: SharedTables) -> int:
    """pids whose first user stack/symbol was reported."""
    return tables.internal_map(MapSpec("$seen", uapi.BPF_MAP_TYPE_LRU_HASH, 4, 8, SEEN_PIDS, None, UINT64,
                                       internal=True))


def get_stackid(e: Emitter, smap: int, flags: int | None = 0, ctx: int = CTX) -> None:
    """r0 = bpf_get_stackid(ctx, smap, flags): the current stack's id in stack-trace map `smap`
    (negative on failure: -EFAULT no stack, -EEXIST a hash collision without BPF_F_REUSE_STACKID).
    flags=None: the caller computed them into r3 already. r1-r5 are clobbered."""
    e.emit(I.ld_map_fd(I.R2, smap), I.mov64_reg(I.R1, ctx))
    if flags is not None:
        e.emit(I.mov64_imm(I.R3, flags))
    e.call("get_stackid")


def user_stack(e: Emitter, tables: SharedTables, off: int, entry_sp: int | None = None, ctx: int = CTX,
               build_id: bool = False) -> None:
    """The 16-byte user stack value at r10+off: the stack id, then the pid (see `record_pid`).
    entry_sp: a probe at a function's first instruction gives the offset of the stack pointer
    in ctx, to keep the return address the unwind misses (`entry_return_address`)."""
    get_stackid(e, stack_map(tables, user=True, build_id=build_id), BPF_F_USER_STACK, ctx)
    e.emit(I.stx(8, I.R10, I.R0, off))
    record_pid(e, tables, off + 8)
    if entry_sp is not None:
        entry_return_address(e, off, entry_sp, ctx)


def record_pid(e: Emitter, tables: SharedTables, pid_off: int) -> None:
    """Store the current process's pid as a u64 at r10+pid_off (a user stack's or user
    symbol's, which user space resolves in that process) and report its first sight."""
    emit_pid_tgid(e, "pid")   # our PID namespace's id: the one our /proc names it by
    e.emit(I.stx(8, I.R10, I.R0, pid_off))
    first_sight(e, tables, pid_off)


def first_sight(e: Emitter, tables: SharedTables, pid_off: int) -> None:
    """The first time the pid at r10+pid_off is seen, send a `seen_pid` record: user space
    snapshots the process's mappings while it lives (its stacks are symbolized later)."""
    seen = seen_map(tables)
    e.emit(I.ld_map_fd(I.R1, seen), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, pid_off))
    e.call("map_lookup_elem")
    done = Label("seen")
    e.jump(I.jmp_imm(I.JNE, I.R0, 0), done)
    one = e.alloc(8)
    e.emit(I.st_imm(8, I.R10, one, 1), I.ld_map_fd(I.R1, seen), I.mov64_reg(I.R2, I.R10),
           I.alu64_imm(I.ADD, I.R2, pid_off), I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, one),
           I.mov64_imm(I.R4, 0))
    e.call("map_update_elem")
    rec = open_record(e, tables, EventSpec("seen_pid"), [UINT64])
    # the pid taken anew through an expression temporary (these bytes are pinned by the
    # golden corpus, tests/lang/test_xlated_corpus.py)
    v = e.new_int()
    emit_pid_tgid(e, "pid")
    e.set_from(v, I.R0)
    e.emit(I.stx(8, I.R10, e.load(v, I.R1), rec.field(0)))
    e.release(v)
    submit_record(e, tables, rec)
    e.place(done)


def entry_return_address(e: Emitter, off: int, sp_offset: int, ctx: int = CTX) -> None:
    """At a function's first instruction the frame-pointer unwind skips the caller (its frame is
    not set up yet): pack the return address at *sp (sp read from ctx+sp_offset) into the
    spare high bits of the user stack value at r10+off (low half over the id's, bits 32-47 and
    a flag over the pid's) so user space can splice it in where the unwound stack lacks it
    (runtime/program.py)."""
    ret = e.alloc(8)
    done = Label("entry_ret")
    e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, ret), I.mov64_imm(I.R2, 8),
           I.ldx(8, I.R3, ctx, sp_offset))
    e.call("probe_read_user")
    e.jump(I.jmp_imm(I.JNE, I.R0, 0), done)
    e.emit(I.ldx(8, I.R1, I.R10, off))
    e.jump(I.jmp_imm(I.JSLT, I.R1, 0), done)
    e.emit(I.ldx(8, I.R2, I.R10, ret), I.mov64_reg(I.R3, I.R2), I.alu64_imm(I.LSH, I.R3, 32),
           I.alu64_reg(I.OR, I.R1, I.R3), I.stx(8, I.R10, I.R1, off),
           I.alu64_imm(I.RSH, I.R2, 32), I.alu64_imm(I.AND, I.R2, 0xFFFF), I.alu64_imm(I.LSH, I.R2, 32),
           I.ld_imm64(I.R3, 1 << 63),
           I.alu64_reg(I.OR, I.R2, I.R3), I.ldx(8, I.R1, I.R10, off + 8),
           I.alu64_reg(I.OR, I.R1, I.R2), I.stx(8, I.R10, I.R1, off + 8))
    e.place(done)


def stack_depth(e: Emitter, tables: SharedTables, user: bool, limit: int = MAX_DEPTH, ctx: int = CTX) -> IntVal:
    """Frames in the current kernel (or user) stack, at most `limit`: bpf_get_stack into a
    per-CPU scratch value (the frames need more than the BPF stack), bytes / 8; 0 on failure."""
    opts = tables.opts
    idx = tables.internal_map(MapSpec("$stackdepth", uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4,
                                      8 * int(opts.get("max_stack_depth", MAX_DEPTH)), 1, None, INT64,
                                      internal=True))
    size = tables.specs[idx].value_size
    v = e.new_int()
    done = Label("depth_done")
    key = e.alloc(8)
    e.emit(I.st_imm(8, I.R10, key, 0))
    e.set_imm(v, 0)
    e.emit(I.ld_map_fd(I.R1, idx), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key))
    e.call("map_lookup_elem")
    e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
    e.emit(I.mov64_reg(I.R2, I.R0), I.mov64_reg(I.R1, ctx),
           I.mov64_imm(I.R3, min(size, 8 * limit)), I.mov64_imm(I.R4, BPF_F_USER_STACK if user else 0))
    e.call("get_stack")
    e.jump(I.jmp_imm(I.JSLT, I.R0, 0), done)
    e.emit(I.alu64_imm(I.RSH, I.R0, 3))
    e.set_from(v, I.R0)
    e.place(done)
    return v
