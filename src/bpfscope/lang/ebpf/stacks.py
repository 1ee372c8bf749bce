"""Stacks: kernel and user stack ids from bpf_get_stackid on stack-trace maps, the pid kept with
a user stack (and the first-sight report that lets user space snapshot the mappings of a
process that may exit before its stacks are symbolized), the return address at a function's
entry, and the depth of the current stack."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import INT64, UINT64, Kind, Type
from ..spec import EventSpec, MapSpec
from .arch import host as host_arch
from .emitter import CTX, IntVal, Label
from .outrecords import RecordGen

BPF_F_USER_STACK = 1 << 8
PT_REGS_SP = host_arch().sp


class StackTables:
    """Mixin of the script-wide tables: the stack-trace maps and the pids seen."""
    opts: dict[str, Any]
    kstack: int
    ustack: int

    def add(self, spec: MapSpec) -> int:  # pragma: no cover - the tables
        raise NotImplementedError

    def stack_map(self, kind: Kind) -> int:
        attr = "kstack" if kind is Kind.KSTACK else "ustack"
        if getattr(self, attr) < 0:
            depth = int(self.opts.get("max_stack_depth", 127))
            idx = self.add(MapSpec(f"${attr}", uapi.BPF_MAP_TYPE_STACK_TRACE, 4, 8 * depth,
                                   int(self.opts.get("stack_entries", 4096)), None, UINT64, internal=True))
            setattr(self, attr, idx)
        return int(getattr(self, attr))

    def seen_map(self) -> int:
        """pids whose first user stack/symbol was reported (LRU: bounded, old pids fall out)."""
        if "$seen" not in self.index:  # type: ignore[attr-defined]
            self.add(MapSpec("$seen", uapi.BPF_MAP_TYPE_LRU_HASH, 4, 8, 16384, None, UINT64, internal=True))
        return int(self.index["$seen"])  # type: ignore[attr-defined]


class StackGen(RecordGen):
    """Mixin of a program generator, which supplies `shared`, `info` and `pid_value`."""

    def kstack_id(self) -> None:
        """r0 = the kernel stack's id."""
        e = self.e
        sm = self.shared.stack_map(Kind.KSTACK)  # type: ignore[attr-defined]
        self.ld_map(I.R2, sm)
        e.emit(I.mov64_reg(I.R1, CTX), I.mov64_imm(I.R3, 0))
        e.call("get_stackid")

    def user_stack(self, off: int) -> None:
        """The ustack value at r10+off: stack id, pid."""
        e = self.e
        sm = self.shared.stack_map(Kind.USTACK)  # type: ignore[attr-defined]
        self.ld_map(I.R2, sm)
        e.emit(I.mov64_reg(I.R1, CTX), I.mov64_imm(I.R3, BPF_F_USER_STACK))
        e.call("get_stackid")
        e.emit(I.stx(8, I.R10, I.R0, off))
        e.call("get_current_pid_tgid")
        e.emit(I.alu64_imm(I.RSH, I.R0, 32), I.stx(8, I.R10, I.R0, off + 8))
        self.first_sight(off + 8)
        if self.info.user_entry:  # type: ignore[attr-defined]
            self.entry_return_address(off)

    def entry_return_address(self, off: int) -> None:
        """At a function's first instruction the frame-pointer unwind skips the caller (its
        frame is not set up yet): pack the return address at *sp into the ustack value's
        spare high bits (low half over the id's, bits 32-47 and a flag over the pid's) so
        user space can splice it in where the unwound stack lacks it (runtime/program.py)."""
        e = self.e
        ret = e.alloc(8)
        done = Label("entry_ret")
        e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, ret), I.mov64_imm(I.R2, 8),
               I.ldx(8, I.R3, CTX, PT_REGS_SP))
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

    def first_sight(self, pid_off: int) -> None:
        """The first time a pid's user stack/symbol is taken, tell user space, which snapshots
        its mappings while it lives (stacks are symbolized later, maybe after it exited)."""
        e = self.e
        seen = self.shared.seen_map()  # type: ignore[attr-defined]
        self.ld_map(I.R1, seen)
        e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, pid_off))
        e.call("map_lookup_elem")
        done = Label("seen")
        e.jump(I.jmp_imm(I.JNE, I.R0, 0), done)
        one = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, one, 1))
        self.ld_map(I.R1, seen)
        e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, pid_off), I.mov64_reg(I.R3, I.R10),
               I.alu64_imm(I.ADD, I.R3, one), I.mov64_imm(I.R4, 0))
        e.call("map_update_elem")
        pid = self.pid_value()  # type: ignore[attr-defined]
        self.send_event(EventSpec("seen_pid"), [pid], [UINT64])
        e.place(done)

    def stack_depth(self, t: Type) -> IntVal:
        """Frames in the current kernel/user stack: bpf_get_stack into a per-CPU scratch value."""
        e = self.e
        shared = self.shared  # type: ignore[attr-defined]
        limit = t.params[0] if t.params else 127
        name = "$stackdepth"
        if name not in shared.index:
            depth = int(shared.opts.get("max_stack_depth", 127))
            shared.add(MapSpec(name, uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8 * depth, 1, None, INT64,
                               internal=True))
        spec = shared.specs[shared.index[name]]
        v = e.new_int()
        done = Label("depth_done")
        key = e.alloc(8)
        e.emit(I.st_imm(8, I.R10, key, 0))
        e.set_imm(v, 0)
        self.map_lookup(shared.index[name], key)
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
        flags = BPF_F_USER_STACK if t.kind is Kind.USTACK else 0
        e.emit(I.mov64_reg(I.R2, I.R0), I.mov64_reg(I.R1, CTX),
               I.mov64_imm(I.R3, min(spec.value_size, 8 * limit)), I.mov64_imm(I.R4, flags))
        e.call("get_stack")
        e.jump(I.jmp_imm(I.JSLT, I.R0, 0), done)
        e.emit(I.alu64_imm(I.RSH, I.R0, 3))
        e.set_from(v, I.R0)
        e.place(done)
        return v
