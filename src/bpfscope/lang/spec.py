"""What the compiler needs from the outside, and what it hands back.

Inputs: `ProbeInfo` — one concrete attach point resolved by a probe provider (runtime
layer): the BPF program type and how `args`/`argN`/`retval` are reached from ctx.
Outputs: `CompiledProgram` — programs (instructions with map placeholders), the maps
they use, and the table of user-space events (printf formats, print, exit, …).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .ctype.types import Type
from .diagnostics import Span
from .records import record


@record(frozen=True)
class ArgField:
    """One field of `args`: a tracepoint record field, or a BTF-typed argument."""
    name: str
    type: Type
    offset: int          # byte offset in ctx (tracepoint record) or 8*index (args array)
    data_loc: bool = False
    user: bool = False   # pointer into user memory (syscall arguments)


@record(frozen=True)
class LocArg:
    """Where a USDT argument lives at the probe: a register, memory, or a constant.

    reg:   pt_regs[reg] (`width` bytes at that offset), then cast to size/signed
    mem:   *(size bytes, user memory)(regs[base] + regs[index]*scale + disp); with
           `ip_relative` the base is the probe's instruction pointer
    const: value
    """
    kind: str
    size: int = 8
    signed: bool = False
    reg: int = -1
    width: int = 8
    base: int = -1
    index: int = -1
    scale: int = 1
    disp: int = 0
    ip_relative: bool = False
    value: int = 0
    decl_size: int = 0   # BCC's bpf_usdt_readarg: the destination size (largest over the probe's locations)


@record
class ProbeInfo:
    """A resolved attach point. `ctx` says how the program's context is laid out:

    - "tracepoint": the raw tracepoint record; `args` fields at fixed offsets
    - "args_array": u64 array (raw_tracepoint, tp_btf, fentry/fexit)
    - "pt_regs": struct pt_regs (kprobe, uprobe, usdt)
    - "perf_event": struct bpf_perf_event_data (profile, interval, software, hardware)
    - "none": run once through BPF_PROG_TEST_RUN (begin, end, self, test, bench)
    """
    name: str            # full probe name, as the `probe` builtin prints it
    provider: str
    prog_type: int
    ctx: str
    args: list[ArgField] = field(default_factory=list)
    expected_attach_type: int = 0
    attach_btf_id: int = 0
    user_space: bool = False     # pointers default to user memory (uprobe, usdt, syscalls)
    has_retval: bool = False
    func_addr: int = 0           # `func` is this constant address (single-function probes)
    func_helper: bool = False    # `func` through bpf_get_func_ip (trampolines, multi-kprobes)
    loc_args: list[LocArg] | None = None   # USDT: argN from these locations, not the ABI registers
    user_symbol: Any = None      # uaddr(): name -> (link-time vaddr, size) | None, in the probed object
    loc_vaddr: int = -1          # link-time vaddr of the (single) probed location, for PIE uaddr()
    pie: bool = False            # the probed object is position independent (ET_DYN)
    user_entry: bool = False     # uprobe on a function's first instruction: ustack also records *(u64 *)sp
    attach: Any = None           # provider-private attach data
    span: Span = field(default_factory=Span)


@record
class MapSpec:
    """One BPF map the programs use: how to create it, and the types its bytes decode to."""
    name: str                    # '@name' as the user wrote it, or an internal '$lost' etc.
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    key_type: Type | None        # None: scalar map
    value_type: Type
    flags: int = 0
    internal: bool = False       # not printed at exit (ring buffer, counters, stack maps)


@record
class EventSpec:
    """A user-space action raised from BPF through the ring buffer."""
    kind: str                    # printf, print_map, print_value, clear, zero, exit, time, ...
    fmt: str = ""
    arg_types: list[Type] = field(default_factory=list)
    layout: Type | None = None   # tuple type of the whole record after the u64 event id
    map_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@record
class ProgSpec:
    """One BPF program: its attach point and instructions, ready for map fds and constants."""
    probe: ProbeInfo
    insns: list[Any]             # kernel.insn.Insn with map-fd placeholders (imm = map index)
    spans: list[tuple[int, Span]] # (first insn index, statement span) for verifier messages
    index: int                   # probe index within the script (for ordering/printing)
    consts: list[tuple[int, str]] = field(default_factory=list)  # ld_imm64 slots patched at load
    subprogs: list[int] = field(default_factory=list)  # starts of callback subprograms (need func BTF)


@record
class CompiledProgram:
    """The compiler's result: every program, map and user-space event of one script."""
    maps: list[MapSpec]
    progs: list[ProgSpec]
    events: list[EventSpec]
    ringbuf_map: int = -1        # index in maps, -1 if no user-space events
    lost_map: int = -1
    warnings: list[tuple[str, Span | None]] = field(default_factory=list)
    var_types: list[tuple[str, dict[str, Type]]] = field(default_factory=list)  # per program, for -d
    expr_types: dict[int, Type] = field(default_factory=dict)  # id(expr) -> type (first program), for -d
    needs_start_time: bool = False
    config: dict[str, Any] = field(default_factory=dict)
