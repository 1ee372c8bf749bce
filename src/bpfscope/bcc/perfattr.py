"""BCC's `Perf` (Perf.perf_event_attr, the PERF_TYPE_* numbers) and `PerfEventSampleFormat`,
what scripts fill in for BPF.attach_perf_event_raw(attr=...): the kernel's struct
perf_event_attr (uapi/linux/perf_event.h) as a ctypes structure, the flag bits by name."""

from __future__ import annotations

import ctypes as ct

_FLAG_BITS = [("disabled", 1), ("inherit", 1), ("pinned", 1), ("exclusive", 1), ("exclude_user", 1),
              ("exclude_kernel", 1), ("exclude_hv", 1), ("exclude_idle", 1), ("mmap", 1), ("comm", 1),
              ("freq", 1), ("inherit_stat", 1), ("enable_on_exec", 1), ("task", 1), ("watermark", 1),
              ("precise_ip", 2), ("mmap_data", 1), ("sample_id_all", 1), ("exclude_host", 1),
              ("exclude_guest", 1), ("exclude_callchain_kernel", 1), ("exclude_callchain_user", 1),
              ("mmap2", 1), ("comm_exec", 1), ("use_clockid", 1), ("context_switch", 1),
              ("write_backward", 1), ("namespaces", 1), ("ksymbol", 1), ("bpf_event", 1),
              ("aux_output", 1), ("cgroup", 1), ("text_poke", 1), ("build_id", 1), ("inherit_thread", 1),
              ("remove_on_exec", 1), ("sigtrap", 1), ("_reserved_1", 26)]


class _Period(ct.Union):
    _fields_ = [("sample_period", ct.c_uint64), ("sample_freq", ct.c_uint64)]


class _Wakeup(ct.Union):
    _fields_ = [("wakeup_events", ct.c_uint32), ("wakeup_watermark", ct.c_uint32)]


class _Config1(ct.Union):
    _fields_ = [("bp_addr", ct.c_uint64), ("config1", ct.c_uint64)]


class _Config2(ct.Union):
    _fields_ = [("bp_len", ct.c_uint64), ("config2", ct.c_uint64)]


class PerfEventAttr(ct.Structure):
    """struct perf_event_attr's first 72 bytes (through config2), field names as the kernel's."""
    _anonymous_ = ("_p", "_w", "_c1", "_c2")
    _fields_ = [("type", ct.c_uint32), ("size", ct.c_uint32), ("config", ct.c_uint64), ("_p", _Period),
                ("sample_type", ct.c_uint64), ("read_format", ct.c_uint64),
                *[(n, ct.c_uint64, w) for n, w in _FLAG_BITS],
                ("_w", _Wakeup), ("bp_type", ct.c_uint32), ("_c1", _Config1), ("_c2", _Config2)]

    def flag_word(self) -> int:
        """The flag bit-fields as the one u64 the kernel reads at offset 40."""
        return int.from_bytes(bytes(self)[40:48], "little")


class Perf:
    """BCC's Perf namespace: the attr structure and the perf event types."""
    perf_event_attr = PerfEventAttr
    PERF_TYPE_HARDWARE = 0
    PERF_TYPE_SOFTWARE = 1
    PERF_TYPE_TRACEPOINT = 2
    PERF_TYPE_HW_CACHE = 3
    PERF_TYPE_RAW = 4
    PERF_TYPE_BREAKPOINT = 5


class PerfEventSampleFormat:
    """enum perf_event_sample_format: what each sample records (attr.sample_type bits)."""
    IP = 1 << 0
    TID = 1 << 1
    TIME = 1 << 2
    ADDR = 1 << 3
    READ = 1 << 4
    CALLCHAIN = 1 << 5
    ID = 1 << 6
    CPU = 1 << 7
    PERIOD = 1 << 8
    STREAM_ID = 1 << 9
    RAW = 1 << 10
    BRANCH_STACK = 1 << 11
    REGS_USER = 1 << 12
    STACK_USER = 1 << 13
    WEIGHT = 1 << 14
    DATA_SRC = 1 << 15
    IDENTIFIER = 1 << 16
    TRANSACTION = 1 << 17
    REGS_INTR = 1 << 18
    PHYS_ADDR = 1 << 19
