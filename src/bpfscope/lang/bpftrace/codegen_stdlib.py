"""Code generation for bpftrace's standard library functions: a mixin of `codegen.ProgGen`.

String functions (strncmp, strcontains, strstr, strlen, memcmp) work on values materialised
on the BPF stack with fully unrolled byte loops (bounded by the types' sizes, so the
verifier sees straight-line code). Values printed in user space (buf, ntop, macaddr,
strftime, cgroup_path, strerror, ...) are laid out as their `Type` says and decoded by
runtime/decode.py. Reads of per-CPU aggregation maps in expressions (`if (@c > 10)`) sum
the CPUs' slots with bpf_map_lookup_percpu_elem. Kernel struct offsets and cgroup ids are
ld_imm64 constants resolved when the program is loaded (ProgSpec.consts).
"""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ...kernel import uapi
from ..ctype.types import INT64, UINT32, Kind, Type, string_type
from ..diagnostics import CompileError
from ..ebpf.byteloops import UNROLL_MAX, compare_bytes, string_length
from ..ebpf.callbacks import PSEUDO_FUNC
from ..ebpf.emitter import CTX, Emitter, IntVal, Label
from ..ebpf.maps import PERCPU_KINDS
from ..ebpf.records import key_storage_type
from ..ebpf.stacks import MAX_DEPTH, stack_depth
from ..spec import EventSpec, MapSpec
from . import ast as A
from .stdlib_types import (
    CALLABLE_BUILTINS,
    const_eval,
    format_fail,
    predicate_value,
    probetype_name,
    pton_bytes,
    signal_number,
)

MY_MEM_KINDS = (Kind.BUFFER, Kind.INET, Kind.MAC, Kind.TIMESTAMP, Kind.CGROUP_PATH)
AF_INET, AF_INET6 = 2, 10
MAX_DEBUGF_ARGS = 3  # bpf_trace_printk's limit, which bpftrace enforces
SKB_PERF_MAP = "$skboutput"   # the perf event array skboutput() writes to (runtime/pcap.py reads it)
NSECS_HELPERS = {"monotonic": "ktime_get_ns", "boot": "ktime_get_boot_ns", "tai": "ktime_get_tai_ns",
                 "sw_tai": "ktime_get_tai_ns"}


class StdlibGen:
    # provided by ProgGen / LoopGen
    e: Emitter
    types: Any
    info: Any
    shared: Any
    consts: list[tuple[int, str]]
    exit_label: Label
    var_slots: dict[str, tuple[int, Type]]
    callbacks: list[Any]
    func_refs: list[Any]

    def t(self, e: A.Expr) -> Type:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_int(self, x: A.Expr) -> IntVal:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_mem(self, x: A.Expr, t: Type, off: int | None = None) -> int:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_into(self, x: A.Expr, t: Type, off: int) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def send_event(self, ev: EventSpec, args: list[A.Expr], arg_types: list[Type]) -> None:  # pragma: no cover
        raise NotImplementedError

    def builtin_int(self, x: A.Builtin) -> IntVal:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def spec(self, name: str) -> Any:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def map_index(self, name: str) -> int:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def gen_key(self, m: A.Map, spec: Any, extra: int = 0) -> int:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def ld_map(self, reg: int, idx: int) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def map_lookup(self, idx: int, key: int) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def map_value_copy(self, m: A.Map, off: int, size: int) -> None:  # pragma: no cover - ProgGen
        raise NotImplementedError

    def user_ptr(self, x: A.Expr) -> bool:  # pragma: no cover - ProgGen
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def _percpu_kaddr(self, c: A.Call) -> IntVal:
        """The variable's per-CPU address, as bpftrace: ld_imm64 BPF_PSEUDO_BTF_ID, then
        bpf_this_cpu_ptr, or bpf_per_cpu_ptr (NULL for a CPU out of range)."""
        e = self.e
        cpu = self.gen_int(c.args[1]) if len(c.args) == 2 else None
        if cpu is not None:
            r = e.load(cpu, I.R2)
            e.emit(I.Insn(I.ALU | I.MOV | I.X, I.R2, r))    # the helper takes a u32 cpu
            e.release(cpu)
        e.emit(*I.ld_imm64(I.R1, self.types.btf_vars[id(c)], I.PSEUDO_BTF_ID))
        if cpu is None:
            e.call("this_cpu_ptr")
        else:
            e.call("per_cpu_ptr")
            ok = Label()     # NULL becomes a plain 0, so later arithmetic is on a scalar or a checked pointer
            e.jump(I.jmp_imm(I.JNE, I.R0, 0), ok)
            e.emit(I.mov64_imm(I.R0, 0))
            e.place(ok)
        v = e.new_int()
        e.set_from(v, I.R0)
        return v

    def _skboutput(self, c: A.Call) -> IntVal:
        """bpf_skb_output(skb, perf array, (length << 32) | BPF_F_CURRENT_CPU, meta, 24): the
        kernel appends the skb's first `length` bytes to the meta record (u64 event id, u64
        boot-clock ns, u64 length) in this CPU's perf buffer; user space writes the pcap
        record (bpftrace returns the helper's result as a uint32)."""
        e = self.e
        path = c.args[0]
        assert isinstance(path, A.Str)
        ev = self.shared.event(EventSpec("skboutput", fmt=path.value,
                                         extra={"offset": const_eval(self.types, c.args[3]) or 0}))
        perf = self.shared.internal_map(MapSpec(SKB_PERF_MAP, uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 0,
                                                None, UINT32, internal=True))   # 0: one slot per CPU
        skb = self.gen_int(c.args[1])
        length = self.gen_int(c.args[2])
        meta = e.alloc(24)
        e.emit(I.st_imm(8, I.R10, meta, ev))
        e.emit(I.stx(8, I.R10, e.load(length, I.R0), meta + 16))
        e.call("ktime_get_boot_ns")
        e.emit(I.stx(8, I.R10, I.R0, meta + 8))
        r = e.load(skb, I.R1)
        if r != I.R1:
            e.emit(I.mov64_reg(I.R1, r))
        e.release(skb)
        self.ld_map(I.R2, perf)
        r = e.load(length, I.R3)
        if r != I.R3:
            e.emit(I.mov64_reg(I.R3, r))
        e.release(length)
        e.emit(I.alu64_imm(I.LSH, I.R3, 32),
               I.Insn(I.ALU | I.MOV | I.K, I.R4, 0, 0, -1),     # BPF_F_CURRENT_CPU, upper half zero
               I.alu64_reg(I.OR, I.R3, I.R4),
               I.mov64_reg(I.R4, I.R10), I.alu64_imm(I.ADD, I.R4, meta), I.mov64_imm(I.R5, 24))
        e.call("skb_output")
        e.emit(I.Insn(I.ALU | I.MOV | I.X, I.R0, I.R0))
        v = e.new_int()
        e.set_from(v, I.R0)
        return v

    def std_call_int(self, c: A.Call) -> IntVal | None:
        """Integer-valued stdlib calls; None when `c` is not one of ours."""
        n = c.name
        e = self.e
        if n == "strncmp":
            return self._strncmp(c)
        if n in ("strcontains", "strstr"):
            return self._strstr(c, n == "strcontains")
        if n == "strlen":
            return self._strlen(c)
        if n == "globmatch":
            return self.gen_globmatch(c)  # type: ignore[attr-defined]
        if n == "memcmp":
            return self._memcmp(c)
        if n == "write_user":
            return self._write_user(c)
        if n in ("strerror", "signal_name", "syscall_name", "kptr", "uptr"):
            return self.gen_int(c.args[0])
        if n == "len":
            return self._len(c)
        if n == "find":
            return self._find(c)
        if n == "percpu_kaddr":
            return self._percpu_kaddr(c)
        if n == "skboutput":
            return self._skboutput(c)
        if n == "socket_cookie":
            sk = self.gen_int(c.args[0])
            r = e.load(sk, I.R1)
            if r != I.R1:
                e.emit(I.mov64_reg(I.R1, r))
            e.release(sk)
            e.call("get_socket_cookie")
            v = e.new_int()
            e.set_from(v, I.R0)
            return v
        if n == "cgroupid":
            a = c.args[0]
            assert isinstance(a, A.Str)
            return self._const_int(f"cgroupid:{a.value}")
        if n == "has_cpid":
            v = self._const_int("cpid")
            r = e.load(v, I.R1)
            e.emit(I.mov64_imm(I.R2, 1))
            skip = Label()
            e.jump(I.jmp_imm(I.JNE, r, 0), skip)
            e.emit(I.mov64_imm(I.R2, 0))
            e.place(skip)
            e.set_from(v, I.R2)
            return v
        if n == "strcap":
            t = self.t(c.args[0])
            v = e.new_int()
            e.set_imm(v, t.size if t.kind is not Kind.POINTER else int(self.types.max_strlen))
            return v
        if n in ("pid", "tid") and c.args:
            b = A.Builtin(n, span=c.span)
            self._std_synth(b, self.t(c))
            if isinstance(c.args[0], A.Identifier) and c.args[0].name == "init":
                self.__dict__.setdefault("_init_ns_ids", set()).add(id(b))
            return self.builtin_int(b)
        if n.startswith("is_"):
            v = self.e.new_int()
            self.e.set_imm(v, int(predicate_value(self.types, c)))
            return v
        if n == "nsecs" and c.args:
            a = c.args[0]
            assert isinstance(a, A.Identifier)
            v = self.e.new_int()
            self.e.call(NSECS_HELPERS[a.name])
            self.e.set_from(v, I.R0)
            return v
        if n in CALLABLE_BUILTINS and not c.args:
            b = A.Builtin(n, span=c.span)
            self._std_synth(b, self.t(c))
            return self.builtin_int(b)
        return None

    def std_builtin_int(self, x: A.Builtin) -> IntVal | None:
        if x.name == "ppid":
            return self._ppid()
        return None

    def std_gen_string(self, x: A.Expr, size: int, off: int) -> bool:
        """pcomm (task->group_leader->comm) and probetype; False when not ours."""
        e = self.e
        if isinstance(x, A.Builtin) and x.name == "probetype":
            e.zero(off, size)
            e.store_bytes(off, probetype_name(self.info.provider).encode()[: size - 1])
            return True
        if isinstance(x, A.Builtin) and x.name == "pcomm":
            e.zero(off, size)
            slot = e.alloc(8)
            e.call("get_current_task")
            self._read_field(I.R0, "task_struct.group_leader", slot, 8)
            e.emit(I.ldx(8, I.R0, I.R10, slot))
            self._read_field(I.R0, "task_struct.comm", off, min(16, size - 1 if size > 1 else 1))
            return True
        return False

    def std_gen_mem(self, x: A.Expr, t: Type, off: int) -> bool:
        """Values of the stdlib's memory types (and pton's arrays) at r10+off; False if not ours."""
        e = self.e
        if t.kind is Kind.ARRAY and isinstance(x, A.Call) and x.name == "pton":
            a = x.args[0]
            assert isinstance(a, A.Str)
            data = pton_bytes(a.value) or b""
            e.zero(off, t.size)
            e.store_bytes(off, data[: t.size])
            return True
        if t.kind not in MY_MEM_KINDS:
            return False
        if isinstance(x, A.Var):
            voff, vt = self.var_slots[x.name]
            n = min(vt.size, t.size)
            e.copy(off, voff, n)
            if t.size > n:
                e.zero(off + n, t.size - n)
            return True
        if isinstance(x, A.Map):
            self.map_value_copy(x, off, t.size)
            return True
        if isinstance(x, A.Ternary):
            self.ternary_mem(x, t, off)  # type: ignore[attr-defined]
            return True
        if not isinstance(x, A.Call):
            raise CompileError(f"values of type {t} are not supported here yet", x.span)
        fn = x.name
        if fn in ("strftime", "cgroup_path"):
            arg = x.args[1] if fn == "strftime" else x.args[0]
            v = self.gen_int(arg)
            e.emit(I.stx(8, I.R10, e.load(v, I.R1), off))
            e.release(v)
        elif fn == "buf":
            self._buf(x, t, off)
        elif fn == "ntop":
            self._ntop(x, off)
        elif fn == "macaddr":
            self._bytes_from(x.args[0], off, 6)
        else:
            raise CompileError(f"values of type {t} are not supported here yet", x.span)
        return True

    def std_call_stmt(self, c: A.Call) -> bool:
        """Statement-only stdlib calls; False when `c` is not one of ours."""
        n = c.name
        e = self.e
        if n in ("errorf", "warnf"):
            fmt = c.args[0]
            assert isinstance(fmt, A.Str)
            types = [self._storage(self.t(a)) for a in c.args[1:]]
            self.send_event(EventSpec(n, fmt=fmt.value, arg_types=types,
                                      extra={"span": c.span}), c.args[1:], types)
            return True
        if n == "debugf":
            self._debugf(c)
            return True
        if n in ("signal", "signal_thread"):
            a = c.args[0]
            if isinstance(a, A.Str):
                e.emit(I.mov64_imm(I.R1, signal_number(a.value) or 0))
            else:
                v = self.gen_int(a)
                r = e.load(v, I.R1)
                if r != I.R1:
                    e.emit(I.mov64_reg(I.R1, r))
                e.release(v)
            e.call("send_signal" if n == "signal" else "send_signal_thread")
            return True
        if n == "assert":
            ok = Label("assert_ok")
            v = self.gen_int(c.args[0])
            r = e.load(v, I.R1)
            e.release(v)
            e.jump(I.jmp_imm(I.JNE, r, 0), ok)
            msg = c.args[1]
            mt = self._storage(self.t(msg))
            self.send_event(EventSpec("printf", fmt="Assertion failed. Msg: %s", arg_types=[mt]), [msg], [mt])
            code = self._std_synth(A.Int(1, span=c.span), INT64)
            self.send_event(EventSpec("exit"), [code], [INT64])
            e.ja(self.exit_label)
            e.place(ok)
            return True
        if n == "static_assert":
            return True  # checked during type inference
        if n == "fail":
            raise CompileError(format_fail(self.types, c), c.span)
        return False

    def std_const_cond(self, cond: A.Expr) -> int | None:
        """An if-condition known at compile time (only the taken branch is generated)."""
        if isinstance(cond, A.Call) and cond.name.startswith("is_") and cond.args:
            return int(predicate_value(self.types, cond))
        return const_eval(self.types, cond)

    def std_map_read(self, m: A.Map) -> IntVal:
        """An aggregation map read as an integer: count/sum summed, min/max combined, avg divided."""
        e = self.e
        spec = self.spec(m.name)
        key = self.gen_key(m, spec)
        dst = e.alloc(8)
        self._percpu_combine(self.map_index(m.name), key, spec.value_type.kind, dst)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(8, r, I.R10, dst))
        e.set_from(v, r)
        return v

    # ------------------------------------------------------------------ helpers
    def _storage(self, t: Type) -> Type:
        return key_storage_type(t)

    def _std_synth(self, node: A.Expr, t: Type) -> A.Expr:
        """A node made up by the code generator, typed and kept alive (types are keyed by id)."""
        self.types.types[id(node)] = t
        keep = self.__dict__.setdefault("_std_keep", [])
        keep.append(node)
        return node

    def _const_int(self, name: str) -> IntVal:
        e = self.e
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R0
        self.consts.append((len(e.insns), name))
        e.emit(I.ld_imm64(r, 0))
        e.set_from(v, r)
        return v

    def _read_field(self, base: int, field: str, dst: int, size: int) -> None:
        """probe_read_kernel(r10+dst, size, base + offsetof(field)) with the offset from BTF."""
        e = self.e
        self.consts.append((len(e.insns), f"btf_off:{field}"))
        e.emit(I.ld_imm64(I.R3, 0))
        e.emit(I.alu64_reg(I.ADD, I.R3, base), I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, dst),
               I.mov64_imm(I.R2, size))
        e.call("probe_read_kernel")

    def _ppid(self) -> IntVal:
        e = self.e
        slot = e.alloc(8)
        e.call("get_current_task")
        self._read_field(I.R0, "task_struct.real_parent", slot, 8)
        e.emit(I.ldx(8, I.R0, I.R10, slot))
        e.emit(I.st_imm(8, I.R10, slot, 0))
        self._read_field(I.R0, "task_struct.tgid", slot, 4)
        v = e.new_int()
        r = v.reg if v.reg >= 0 else I.R1
        e.emit(I.ldx(4, r, I.R10, slot))
        e.set_from(v, r)
        return v

    def _percpu_combine(self, idx: int, key: int, vk: Kind, dst: int) -> None:
        """Combine a per-CPU aggregation slot over every CPU into the u64 at r10+dst."""
        e = self.e
        ncpus = max(1, int(self.shared.opts.get("ncpus", 1)))
        acc = e.alloc(16)  # (value or count, total or is-set)
        e.zero(acc, 16)
        for cpu in range(ncpus):
            skip = Label()
            self.ld_map(I.R1, idx)
            e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, key), I.mov64_imm(I.R3, cpu))
            e.call("map_lookup_percpu_elem")
            e.jump(I.jmp_imm(I.JEQ, I.R0, 0), skip)
            if vk in (Kind.COUNT, Kind.SUM, Kind.AVG):
                e.emit(I.ldx(8, I.R1, I.R0, 0), I.ldx(8, I.R2, I.R10, acc), I.alu64_reg(I.ADD, I.R2, I.R1),
                       I.stx(8, I.R10, I.R2, acc))
                if vk is Kind.AVG:
                    e.emit(I.ldx(8, I.R1, I.R0, 8), I.ldx(8, I.R2, I.R10, acc + 8),
                           I.alu64_reg(I.ADD, I.R2, I.R1), I.stx(8, I.R10, I.R2, acc + 8))
            else:  # MIN / MAX: (value, is_set) per CPU
                take = Label()
                e.emit(I.ldx(8, I.R3, I.R0, 8))
                e.jump(I.jmp_imm(I.JEQ, I.R3, 0), skip)
                e.emit(I.ldx(8, I.R1, I.R0, 0), I.ldx(8, I.R3, I.R10, acc + 8))
                e.jump(I.jmp_imm(I.JEQ, I.R3, 0), take)
                e.emit(I.ldx(8, I.R2, I.R10, acc))
                e.jump(I.jmp_reg(I.JSGE if vk is Kind.MIN else I.JSLE, I.R1, I.R2), skip)
                e.place(take)
                e.emit(I.stx(8, I.R10, I.R1, acc), I.st_imm(8, I.R10, acc + 8, 1))
            e.place(skip)
        if vk is Kind.AVG:
            done = Label()
            e.emit(I.ldx(8, I.R1, I.R10, acc), I.ldx(8, I.R2, I.R10, acc + 8), I.mov64_imm(I.R0, 0))
            e.jump(I.jmp_imm(I.JEQ, I.R1, 0), done)
            div = I.alu64_reg(I.DIV, I.R2, I.R1)
            div.off = 1  # signed division
            e.emit(div, I.mov64_reg(I.R0, I.R2))
            e.place(done)
            e.emit(I.stx(8, I.R10, I.R0, dst))
        else:
            e.emit(I.ldx(8, I.R1, I.R10, acc), I.stx(8, I.R10, I.R1, dst))

    # ------------------------------------------------------------------ strings
    def _string_on_stack(self, x: A.Expr) -> tuple[int, int]:
        t = self.t(x)
        if t.kind is Kind.STRING:
            return self.gen_mem(x, t), t.size
        off = self.e.alloc(t.size)
        self.gen_mem(x, t, off)
        return off, t.size

    def _strncmp(self, c: A.Call) -> IntVal:
        n = const_eval(self.types, c.args[2]) or 0
        v, sp = self.e.new_int(), self.e.sp
        pa, sa = self._string_on_stack(c.args[0])
        pb, sb = self._string_on_stack(c.args[1])
        self._compare(v, pa, pb, min(n, sa, sb), stop_at_nul=True, diff=False)
        self.e.sp = sp  # the operands' stack is free again once compared
        return v

    def _memcmp(self, c: A.Call) -> IntVal:
        n = const_eval(self.types, c.args[2]) or 0
        ta, tb = self.t(c.args[0]), self.t(c.args[1])
        v, sp = self.e.new_int(), self.e.sp
        pa = self.gen_mem(c.args[0], ta)
        pb = self.gen_mem(c.args[1], tb)
        self._compare(v, pa, pb, n, stop_at_nul=False, diff=True)
        self.e.sp = sp
        return v

    def _write_user(self, c: A.Call) -> IntVal:
        """bpf_probe_write_user(dst, src, len) == 0; a src held by value (string, array, tuple)
        is written from its stack copy, a pointer or integer src is the address itself."""
        e = self.e
        sp = e.sp
        dst, ln = self.gen_int(c.args[0]), self.gen_int(c.args[2])
        ts = self.t(c.args[1])
        src: IntVal | None = None
        off = 0
        if ts.is_int or ts.kind is Kind.POINTER:
            src = self.gen_int(c.args[1])
        else:
            off = self.gen_mem(c.args[1], ts)
        for v, reg in ((dst, I.R1), (ln, I.R3)):
            r = e.load(v, reg)
            if r != reg:
                e.emit(I.mov64_reg(reg, r))
        if src is None:
            e.emit(I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, off))
        else:
            r = e.load(src, I.R2)
            if r != I.R2:
                e.emit(I.mov64_reg(I.R2, r))
        e.emit(I.alu32_imm(I.AND, I.R3, -1))   # (uint32)len: a 32-bit op clears the upper half
        e.call("probe_write_user")
        for v in (dst, ln) + ((src,) if src is not None else ()):
            e.release(v)
        e.sp = sp
        out = e.new_int()
        e.emit(I.mov64_imm(I.R1, 1))
        done = Label()
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)
        e.emit(I.mov64_imm(I.R1, 0))
        e.place(done)
        e.set_from(out, I.R1)
        return out

    def _compare(self, v: IntVal, pa: int, pb: int, n: int, *, stop_at_nul: bool, diff: bool) -> None:
        """v = 0 when the first n bytes match; else 1 (strncmp) or a[i] - b[i] (memcmp)."""
        e = self.e
        ne, end = Label("cmp_ne"), Label("cmp_end")
        eq = Label("cmp_eq")
        compare_bytes(e, pa, pb, n, ne, nul=eq if stop_at_nul else None)
        e.place(eq)
        e.set_imm(v, 0)
        e.ja(end)
        e.place(ne)
        if diff:
            e.emit(I.alu64_reg(I.SUB, I.R1, I.R2))
            e.set_from(v, I.R1)
        else:
            e.set_imm(v, 1)
        e.place(end)

    def _strlen(self, c: A.Call) -> IntVal:
        e = self.e
        v, sp = e.new_int(), e.sp
        p, size = self._string_on_stack(c.args[0])
        string_length(e, p, size)
        e.set_from(v, I.R3)
        e.sp = sp
        return v

    def _strstr(self, c: A.Call, as_bool: bool) -> IntVal:
        """Index of the needle in the haystack, -1 if absent (strcontains: found or not)."""
        e = self.e
        v, sp = e.new_int(), e.sp
        hay, hsize = self._string_on_stack(c.args[0])
        needle = c.args[1]
        if hsize > UNROLL_MAX:
            lit = (needle.value.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
                   if isinstance(needle, A.Str) else None)
            if lit is None or 0 < len(lit) <= hsize:
                ndl, nsize = self._string_on_stack(needle) if lit is None else (0, 0)
                self.search_loop(hay, hsize, lit, ndl, nsize, v, as_bool)  # type: ignore[attr-defined]
                e.sp = sp
                return v
        notfound, end = Label("ss_none"), Label("ss_end")
        found: list[tuple[Label, int]] = []

        def hit(i: int) -> Label:
            lab = Label(f"ss_at{i}")
            found.append((lab, i))
            return lab

        if isinstance(needle, A.Str):
            lit = needle.value.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
            if not lit:
                e.ja(hit(0))
            for i in range(max(0, hsize - len(lit) + 1) if lit else 0):
                nxt = Label()
                for j, ch in enumerate(lit):
                    e.emit(I.ldx(1, I.R1, I.R10, hay + i + j))
                    if j == 0:
                        e.jump(I.jmp_imm(I.JEQ, I.R1, 0), notfound)
                    e.jump(I.jmp_imm(I.JNE, I.R1, ch), nxt)
                e.ja(hit(i))
                e.place(nxt)
        else:
            ndl, nsize = self._string_on_stack(needle)
            for i in range(hsize):
                nxt = Label()
                at = hit(i)
                for j in range(nsize):
                    e.emit(I.ldx(1, I.R2, I.R10, ndl + j))
                    e.jump(I.jmp_imm(I.JEQ, I.R2, 0), at)
                    if i + j >= hsize:
                        e.ja(notfound)
                        break
                    e.emit(I.ldx(1, I.R1, I.R10, hay + i + j))
                    e.jump(I.jmp_imm(I.JEQ, I.R1, 0), notfound)
                    e.jump(I.jmp_reg(I.JNE, I.R1, I.R2), nxt)
                else:
                    e.ja(at)
                e.place(nxt)
        e.place(notfound)
        e.set_imm(v, 0 if as_bool else -1)
        e.ja(end)
        for lab, i in found:
            e.place(lab)
            e.set_imm(v, 1 if as_bool else i)
            e.ja(end)
        e.place(end)
        e.sp = sp
        return v

    # ------------------------------------------------------------------ maps
    def _len(self, c: A.Call) -> IntVal:
        """Elements in a map: bpf_for_each_map_elem with an empty callback returns the count."""
        e = self.e
        m = c.args[0]
        if not isinstance(m, A.Map):
            t = self.t(m)    # len(kstack), len(ustack(N))
            return stack_depth(e, self.shared, t.kind is Kind.USTACK, t.params[0] if t.params else MAX_DEPTH)
        cb = Emitter()
        cb.emit(I.mov64_imm(I.R0, 0), I.exit_())
        self.callbacks.append((cb, cb.finish(), []))
        self.ld_map(I.R1, self.map_index(m.name))
        self.func_refs.append((e, len(e.insns), len(self.callbacks) - 1))
        e.emit(I.ld_imm64(I.R2, 0, PSEUDO_FUNC))
        e.emit(I.mov64_imm(I.R3, 0), I.mov64_imm(I.R4, 0))
        e.call("for_each_map_elem")
        v = e.new_int()
        e.set_from(v, I.R0)
        return v

    def _find(self, c: A.Call) -> IntVal:
        e = self.e
        m, var = c.args
        assert isinstance(m, A.Map) and isinstance(var, A.Var)
        spec = self.spec(m.name)
        key = self.gen_key(m, spec)
        idx = self.map_index(m.name)
        voff, vt = self.var_slots[var.name]
        vsize = 8 if vt.size <= 8 else vt.size
        v = e.new_int()
        miss, end = Label("find_miss"), Label("find_end")
        self.map_lookup(idx, key)
        e.jump(I.jmp_imm(I.JEQ, I.R0, 0), miss)
        if spec.value_type.kind in PERCPU_KINDS:
            self._percpu_combine(idx, key, spec.value_type.kind, voff)
        else:
            n = min(spec.value_size, vsize)
            o = 0
            while o + 8 <= n:
                e.emit(I.ldx(8, I.R1, I.R0, o), I.stx(8, I.R10, I.R1, voff + o))
                o += 8
            while o < n:
                e.emit(I.ldx(1, I.R1, I.R0, o), I.stx(1, I.R10, I.R1, voff + o))
                o += 1
        e.set_imm(v, 1)
        e.ja(end)
        e.place(miss)
        e.set_imm(v, 0)
        e.place(end)
        return v

    # ------------------------------------------------------------------ buffers and addresses
    def _bytes_from(self, x: A.Expr, dst: int, n: int) -> None:
        """n bytes of x at r10+dst: an array/string value, or the memory a pointer points at."""
        e = self.e
        t = self.t(x)
        e.zero(dst, n)
        if t.is_int or t.kind is Kind.POINTER:
            v = self.gen_int(x)
            r = e.load(v, I.R3)
            if r != I.R3:
                e.emit(I.mov64_reg(I.R3, r))
            e.release(v)
            e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, dst), I.mov64_imm(I.R2, n))
            e.call("probe_read_user" if self.user_ptr(x) else "probe_read_kernel")
            return
        if isinstance(x, A.Field) and isinstance(x.base, A.Builtin) and x.base.name == "args":
            f = self.types.arg_field(x.name, x.span)
            if not f.data_loc and self.info.ctx == "tracepoint":
                e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, dst),
                       I.mov64_imm(I.R2, min(n, f.type.size)), I.mov64_reg(I.R3, CTX),
                       I.alu64_imm(I.ADD, I.R3, f.offset))
                e.call("probe_read_kernel")
                return
        tmp = self.gen_mem(x, t)
        e.copy(dst, tmp, min(n, t.size))

    def _buf(self, c: A.Call, t: Type, off: int) -> None:
        e = self.e
        cap = min(t.size, self.t(c).size) - 4   # a wider slot (ternary of buffers) keeps this length
        src = c.args[0]
        st = self.t(src)
        e.zero(off, t.size)
        if st.kind in (Kind.STRING, Kind.ARRAY):
            self._bytes_from(src, off + 4, min(cap, st.size))
            e.store_bytes(off, cap.to_bytes(4, "little"))
            return
        lit = const_eval(self.types, c.args[1])
        if lit is not None:
            self._bytes_from(src, off + 4, cap)
            e.store_bytes(off, cap.to_bytes(4, "little"))
            return
        # run-time length, clamped to [0, cap] for the verifier
        lv = self.gen_int(c.args[1])
        slot = e.alloc(8)
        r = e.load(lv, I.R2)
        e.emit(I.stx(8, I.R10, r, slot))
        e.release(lv)
        pv = self.gen_int(src)
        r3 = e.load(pv, I.R3)
        if r3 != I.R3:
            e.emit(I.mov64_reg(I.R3, r3))
        e.release(pv)
        ok = Label()
        e.emit(I.ldx(8, I.R2, I.R10, slot))
        e.jump(I.jmp_imm(I.JLE, I.R2, cap), ok)
        e.emit(I.mov64_imm(I.R2, cap))
        e.place(ok)
        e.emit(I.stx(8, I.R10, I.R2, slot))
        e.copy(off, slot, 4)  # the u32 length (a buffer may sit at any offset of a record)
        # clamped again once reloaded: a frame kept in a scratch map value (large values) loses
        # the bounds the verifier knew before the spill
        ok2 = Label()
        e.emit(I.ldx(8, I.R2, I.R10, slot))
        e.jump(I.jmp_imm(I.JLE, I.R2, cap), ok2)
        e.emit(I.mov64_imm(I.R2, cap))
        e.place(ok2)
        e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off + 4))
        e.call("probe_read_user" if self.user_ptr(src) else "probe_read_kernel")

    def _ntop(self, c: A.Call, off: int) -> None:
        e = self.e
        addr = c.args[-1]
        at = self.t(addr)
        nbytes = 4 if at.is_int else at.size
        e.zero(off, 24)
        if len(c.args) == 2:
            v = self.gen_int(c.args[0])
            e.emit(I.stx(8, I.R10, e.load(v, I.R1), off))
            e.release(v)
        else:
            e.emit(I.st_imm(8, I.R10, off, AF_INET if nbytes == 4 else AF_INET6))
        if at.is_int:
            v = self.gen_int(addr)
            e.emit(I.stx(4, I.R10, e.load(v, I.R1), off + 8))
            e.release(v)
        else:
            self._bytes_from(addr, off + 8, nbytes)

    # ------------------------------------------------------------------ debugf
    def _debugf_check(self, fmt: A.Str, args: list[A.Expr]) -> None:
        """bpf_trace_printk's limits, with bpftrace's messages: 3 conversions of d u x p s."""
        import re

        specs = [m.group(1)[-1] for m in re.finditer(r"%(?!%)[-+ #0-9.]*((?:hh|h|ll|l|j|z|t)?[a-zA-Z])",
                                                     fmt.value.replace("%%", ""))]
        if len(args) > MAX_DEBUGF_ARGS:
            raise CompileError(f"cannot use more than {MAX_DEBUGF_ARGS} conversion specifiers", fmt.span)
        for conv, a in zip(specs, args, strict=False):
            if conv not in "duxps":
                raise CompileError(f"Invalid format specifier for `debugf`: {conv}", fmt.span)
            t = self.t(a)
            if (conv == "s") != (t.kind is Kind.STRING):
                raise CompileError(f"Type does not match format specifier: {conv}", a.span)

    def _debugf(self, c: A.Call) -> None:
        """bpf_trace_vprintk: the format on the stack, then one u64 per argument (strings by address)."""
        e = self.e
        fmt = c.args[0]
        assert isinstance(fmt, A.Str)
        args = c.args[1:]
        self._debugf_check(fmt, args)
        self.shared.opts.setdefault("codegen_warnings", []).append((
            "The debugf() builtin is not recommended for production use. For more information see "
            "bpf_trace_printk in bpf-helpers(7).", c.span))
        data = fmt.value.encode("utf-8", "surrogateescape") + b"\0"
        foff = e.alloc(len(data))
        e.zero(foff, (len(data) + 7) & ~7)
        e.store_bytes(foff, data)
        aoff = e.alloc(8 * len(args)) if args else 0
        for i, a in enumerate(args):
            t = self.t(a)
            if t.kind is Kind.STRING:
                soff = self.gen_mem(a, t)
                e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, soff),
                       I.stx(8, I.R10, I.R1, aoff + 8 * i))
            elif t.is_int or t.kind is Kind.POINTER:
                self.gen_into(a, INT64, aoff + 8 * i)
            else:
                raise CompileError(f"debugf() can not print a value of type {t}", a.span)
        e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, foff), I.mov64_imm(I.R2, len(data)))
        if args:
            e.emit(I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, aoff), I.mov64_imm(I.R4, 8 * len(args)))
        else:
            e.emit(I.mov64_imm(I.R3, 0), I.mov64_imm(I.R4, 0))
        e.call("trace_vprintk")


__all__ = ["StdlibGen", "string_type"]
