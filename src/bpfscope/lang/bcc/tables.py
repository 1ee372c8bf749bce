"""BCC's map macros → table specs (BPF map type, key/leaf C types, size), with BCC's defaults."""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...kernel import uapi
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from . import ast as A
from .typenames import INT, array_of, int_type, struct_type

U64 = int_type(8, False)
U32 = int_type(4, False)
BPF_F_NO_PREALLOC = 1
MAX_STACK_DEPTH = 127      # BCC's BPF_MAX_STACK_DEPTH: the ip[] of each stack map entry


@dataclass
class TableSpec:
    name: str
    macro: str
    map_type: int
    key: Type
    leaf: Type
    max_entries: int
    output: str = ""               # "perf" / "ringbuf": an event channel, not a key/value table
    event: Type | None = None      # layout of the records submitted (table.event())
    share: str = ""                # "public": BPF_TABLE_PUBLIC/SHARED; "extern": BPF_TABLE("extern") names one
    flags: int = 0                 # map_flags at creation (BPF_F_TABLE's last argument)
    inner: str = ""                # a map of maps: the table its inner maps are shaped like


def _stacktrace() -> Type:
    """BCC's struct bpf_stacktrace { u64 ip[BPF_MAX_STACK_DEPTH]; }: a stack map's value."""
    return struct_type("struct bpf_stacktrace", [("ip", array_of(U64, [MAX_STACK_DEPTH]))])


BPF_F_STACK_BUILD_ID = 1 << 5     # a stack map whose frames are (status, build id, file offset)


def _stacktrace_buildid() -> Type:
    """BCC's struct bpf_stacktrace_buildid { struct bpf_stack_build_id trace[BPF_MAX_STACK_DEPTH]; }:
    each frame is the kernel's struct bpf_stack_build_id (status 1: build id and file offset
    valid, 2: only the address, in `offset`'s place)."""
    frame = struct_type("struct bpf_stack_build_id", [("status", INT), ("build_id", array_of(int_type(1, False), [20])),
                                                      ("offset", U64)])
    return struct_type("struct bpf_stacktrace_buildid", [("trace", array_of(frame, [MAX_STACK_DEPTH]))])


def table_spec(d: A.MapDecl, resolve: Callable[[A.TypeName], Type], const: Callable[[Any], int]) -> TableSpec:
    args = list(d.args)

    def typ(i: int, default: Type) -> Type:
        if i >= len(args):
            return default
        if not isinstance(args[i], A.TypeName):
            raise CompileError(f"{d.macro}: argument {i + 2} must be a type", args[i].span)
        return resolve(args[i])

    def num(i: int, default: int) -> int:
        return const(args[i]) if i < len(args) else default

    m = d.macro
    if m in ("BPF_HASH", "BPF_PERCPU_HASH"):
        mt = uapi.BPF_MAP_TYPE_HASH if m == "BPF_HASH" else uapi.BPF_MAP_TYPE_PERCPU_HASH
        return TableSpec(d.name, m, mt, typ(0, U64), typ(1, U64), num(2, 10240))
    if m in ("BPF_ARRAY", "BPF_PERCPU_ARRAY"):
        mt = uapi.BPF_MAP_TYPE_ARRAY if m == "BPF_ARRAY" else uapi.BPF_MAP_TYPE_PERCPU_ARRAY
        return TableSpec(d.name, m, mt, INT, typ(0, U64), num(1, 10240))
    if m == "BPF_HISTOGRAM":
        key = typ(0, INT)
        mt = uapi.BPF_MAP_TYPE_ARRAY if key.kind is Kind.INT and key.size == 4 else uapi.BPF_MAP_TYPE_HASH
        return TableSpec(d.name, m, mt, key, U64, num(1, 64))
    if m == "BPF_PERF_OUTPUT":   # one perf buffer per CPU; max_entries 0: the possible CPUs, at creation
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY, INT, U32, 0, "perf")
    if m == "BPF_PROG_ARRAY":     # BPF_PROG_ARRAY(name, size): program fds for tail calls (table.call)
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_PROG_ARRAY, U32, U32, num(0, 10240))
    if m == "BPF_STACK_TRACE":
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_STACK_TRACE, U32, _stacktrace(), num(0, 10240))
    if m == "BPF_STACK_TRACE_BUILDID":
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_STACK_TRACE, U32, _stacktrace_buildid(), num(0, 10240),
                         flags=BPF_F_STACK_BUILD_ID)
    if m == "BPF_RINGBUF_OUTPUT":
        pages = num(0, 8)
        if pages <= 0 or pages & (pages - 1):
            raise CompileError("BPF_RINGBUF_OUTPUT: page count must be a power of 2", d.span)
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_RINGBUF, INT, U64, pages * mmap.PAGESIZE, "ringbuf")
    if m in ("BPF_QUEUE", "BPF_STACK"):      # (name, leaf type, size): keyless, pushed/popped
        mt = uapi.BPF_MAP_TYPE_QUEUE if m == "BPF_QUEUE" else uapi.BPF_MAP_TYPE_STACK
        return TableSpec(d.name, m, mt, INT, typ(0, U64), num(1, 10240))
    if m == "BPF_LPM_TRIE":   # (name, key, leaf, size): longest-prefix match; the kernel wants no prealloc
        return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_LPM_TRIE, typ(0, U64), typ(1, U64), num(2, 10240),
                         flags=BPF_F_NO_PREALLOC)
    if m in ("BPF_HASH_OF_MAPS", "BPF_ARRAY_OF_MAPS"):
        return _map_of_maps(d, typ, num)
    if m == "BPF_F_TABLE":   # BPF_F_TABLE("type", key, leaf, name, size, flags): BPF_TABLE with map flags
        spec = table_spec(A.MapDecl(d.span, "BPF_TABLE", d.name, args[:4]), resolve, const)
        spec.macro, spec.flags = m, num(4, 0)
        return spec
    if m in ("BPF_TABLE", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED"):
        kind = args[0].value
        if kind == "extern":           # another BPF object's public table of this process, by name
            if m != "BPF_TABLE":
                raise CompileError(f'{m}: a table of type "extern" is declared with BPF_TABLE', args[0].span)
            return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_HASH, typ(1, U64), typ(2, U64), num(3, 10240),
                             share="extern")
        types = {"hash": uapi.BPF_MAP_TYPE_HASH, "array": uapi.BPF_MAP_TYPE_ARRAY,
                 "percpu_hash": uapi.BPF_MAP_TYPE_PERCPU_HASH, "percpu_array": uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
                 "lru_hash": uapi.BPF_MAP_TYPE_LRU_HASH,
                 "lru_percpu_hash": uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH, "prog": uapi.BPF_MAP_TYPE_PROG_ARRAY,
                 "lpm_trie": uapi.BPF_MAP_TYPE_LPM_TRIE}
        if kind == "perf_output":       # what BPF_PERF_OUTPUT stands for in BCC's helpers
            return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY, INT, U32, num(3, 0), "perf")
        if kind == "stack_trace":
            return TableSpec(d.name, m, uapi.BPF_MAP_TYPE_STACK_TRACE, U32, _stacktrace(), num(3, 10240))
        outer, _, inner = kind.partition("$")
        if outer in ("hash_of_maps", "array_of_maps") and inner:   # what the *_OF_MAPS macros stand for
            mt = uapi.BPF_MAP_TYPE_HASH_OF_MAPS if outer == "hash_of_maps" else uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS
            return TableSpec(d.name, m, mt, typ(1, INT), INT, num(3, 10240), inner=inner)
        if kind in ("queue", "stack"):     # BPF_TABLE("queue", void, leaf, name, size)
            mt = uapi.BPF_MAP_TYPE_QUEUE if kind == "queue" else uapi.BPF_MAP_TYPE_STACK
            return TableSpec(d.name, m, mt, INT, typ(2, U64), num(3, 10240))
        if kind not in types:
            raise CompileError(f'BPF_TABLE type "{kind}" is not supported yet', args[0].span)
        return TableSpec(d.name, m, types[kind], typ(1, U64), typ(2, U64), num(3, 10240),
                         share="public" if m != "BPF_TABLE" else "")
    raise CompileError(f"{m} is not supported yet", d.span)


def _map_of_maps(d: A.MapDecl, typ: Callable[[int, Type], Type], num: Callable[[int, int], int]) -> TableSpec:
    """BPF_HASH_OF_MAPS(name[, key_type], "inner", size) / BPF_ARRAY_OF_MAPS(name, "inner", size):
    values are maps shaped like the table named "inner" (user space stores their fds; a
    program's lookup gives a map to pass to bpf_map_lookup_elem and friends)."""
    hashed = d.macro == "BPF_HASH_OF_MAPS"
    at = 1 if hashed and d.args and not isinstance(d.args[0], A.Str) else 0
    if len(d.args) <= at or not isinstance(d.args[at], A.Str):
        form = '(name, key_type, "inner_table", size)' if hashed else '(name, "inner_table", size)'
        raise CompileError(f"{d.macro} expects {form}", d.span)
    mt = uapi.BPF_MAP_TYPE_HASH_OF_MAPS if hashed else uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS
    key = typ(0, INT) if at else INT
    return TableSpec(d.name, d.macro, mt, key, INT, num(at + 1, 10240), inner=d.args[at].value)
