"""Thin, typed wrappers over bpf(2) and perf_event_open(2) through ctypes.

Each wrapper packs the `union bpf_attr` member for one command (offsets from
linux/bpf.h), calls the syscall, and turns a failure into `BpfError` with the errno
and the command's name, so callers above can explain failures in plain words.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct

from . import uapi

_ARCH_NR = {
    "x86_64": (321, 298),
    "aarch64": (280, 241),
    "riscv64": (280, 241),
    "ppc64le": (361, 319),
    "s390x": (351, 331),
}
SYS_BPF, SYS_PERF_EVENT_OPEN = _ARCH_NR.get(os.uname().machine, (321, 298))  # not `platform`: 2 ms to import

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_ioctl = _libc.ioctl
_ioctl.restype = ctypes.c_int

ATTR_SIZE = 144  # big enough for every command we use; the tail stays zero

_CMD_NAMES = {v: k for k, v in vars(uapi).items() if k.startswith("BPF_") and isinstance(v, int)
              and k in {"BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
                        "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET",
                        "BPF_PROG_ATTACH", "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID",
                        "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID",
                        "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN",
                        "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
                        "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
                        "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH",
                        "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE", "BPF_LINK_UPDATE",
                        "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
                        "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP"}}


class BpfError(OSError):
    """A failed bpf(2)/perf_event_open(2) call; `.errno` is set, `.cmd` names the command."""

    def __init__(self, err: int, cmd: str, log: str = "") -> None:
        super().__init__(err, f"{cmd}: {os.strerror(err)}")
        self.cmd = cmd
        self.log = log


def _addr(buf: ctypes.Array | None) -> int:  # type: ignore[type-arg]
    return ctypes.addressof(buf) if buf is not None else 0


def bpf(cmd: int, attr: ctypes.Array) -> int:  # type: ignore[type-arg]
    """Raw bpf(2): returns the non-negative result or raises BpfError."""
    r = _syscall(SYS_BPF, ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if r < 0:
        e = ctypes.get_errno()
        raise BpfError(e, _CMD_NAMES.get(cmd, str(cmd)))
    return int(r)


def _attr() -> ctypes.Array:  # type: ignore[type-arg]
    return ctypes.create_string_buffer(ATTR_SIZE)


def _buf(data: bytes | int) -> ctypes.Array:  # type: ignore[type-arg]
    if isinstance(data, bytes):
        return ctypes.create_string_buffer(data, len(data))
    return ctypes.create_string_buffer(data)


# ------------------------------------------------------------------ maps
def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0,
               name: str = "", btf_fd: int = 0, btf_key_type_id: int = 0,
               btf_value_type_id: int = 0, inner_map_fd: int = 0, map_extra: int = 0) -> int:
    a = _attr()
    struct.pack_into("IIIIII", a, 0, map_type, key_size, value_size, max_entries, flags, inner_map_fd)
    struct.pack_into("16s", a, 28, name.encode()[:15])
    struct.pack_into("III", a, 48, btf_fd, btf_key_type_id, btf_value_type_id)
    struct.pack_into("Q", a, 64, map_extra)
    return bpf(uapi.BPF_MAP_CREATE, a)


def map_lookup(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes | None:
    """The value for `key`, or None when absent (ENOENT)."""
    a = _attr()
    kb = _buf(key) if key else None
    vb = ctypes.create_string_buffer(max(value_size, 1))
    struct.pack_into("IIQQQ", a, 0, fd, 0, _addr(kb), _addr(vb), flags)
    try:
        bpf(uapi.BPF_MAP_LOOKUP_ELEM, a)
    except BpfError as e:
        if e.errno == _errno.ENOENT:
            return None
        raise
    return vb.raw[:value_size]


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    a = _attr()
    kb = _buf(key) if key else None
    vb = _buf(value)
    struct.pack_into("IIQQQ", a, 0, fd, 0, _addr(kb), _addr(vb), flags)
    bpf(uapi.BPF_MAP_UPDATE_ELEM, a)


def map_delete(fd: int, key: bytes) -> bool:
    """Delete `key`; False if it was not there."""
    a = _attr()
    kb = _buf(key) if key else None
    struct.pack_into("IIQ", a, 0, fd, 0, _addr(kb))
    try:
        bpf(uapi.BPF_MAP_DELETE_ELEM, a)
    except BpfError as e:
        if e.errno == _errno.ENOENT:
            return False
        raise
    return True


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    a = _attr()
    kb = _buf(key) if key is not None else None
    nb = ctypes.create_string_buffer(max(key_size, 1))
    struct.pack_into("IIQQ", a, 0, fd, 0, _addr(kb), _addr(nb))
    try:
        bpf(uapi.BPF_MAP_GET_NEXT_KEY, a)
    except BpfError as e:
        if e.errno == _errno.ENOENT:
            return None
        raise
    return nb.raw[:key_size]


def map_lookup_batch(fd: int, key_size: int, value_size: int, max_entries: int,
                     delete: bool = False) -> tuple[bytes, bytes, int]:
    """All entries in one or a few syscalls: (keys blob, values blob, count).

    value_size is the full per-entry size (per-CPU maps: round_up(size, 8) * ncpus).
    Raises BpfError(EINVAL/ENOTSUPP) when the map type has no batch ops; callers fall back.
    """
    cmd = uapi.BPF_MAP_LOOKUP_AND_DELETE_BATCH if delete else uapi.BPF_MAP_LOOKUP_BATCH
    chunk = max(1, min(max_entries, 4096))
    keys_out = bytearray()
    vals_out = bytearray()
    total = 0
    in_batch: ctypes.Array | None = None  # type: ignore[type-arg]
    out_batch = ctypes.create_string_buffer(max(key_size, 8))
    kb = ctypes.create_string_buffer(key_size * chunk)
    vb = ctypes.create_string_buffer(value_size * chunk)
    while True:
        a = _attr()
        struct.pack_into("QQQQIIQQ", a, 0, _addr(in_batch), _addr(out_batch), _addr(kb), _addr(vb),
                         chunk, fd, 0, 0)
        done = False
        try:
            bpf(cmd, a)
        except BpfError as e:
            if e.errno != _errno.ENOENT:
                raise
            done = True
        n = struct.unpack_from("I", a, 32)[0]
        keys_out += ctypes.string_at(kb, n * key_size)   # only the filled part (.raw copies all)
        vals_out += ctypes.string_at(vb, n * value_size)
        total += n
        if done:
            return bytes(keys_out), bytes(vals_out), total
        if in_batch is None:
            in_batch = ctypes.create_string_buffer(max(key_size, 8))
        ctypes.memmove(in_batch, out_batch, len(out_batch))


def map_lookup_and_delete(fd: int, key: bytes, value_size: int) -> bytes | None:
    """Look up and remove in one step (a queue/stack's pop: no key); None when empty/absent."""
    a = _attr()
    kb = _buf(key) if key else None
    vb = ctypes.create_string_buffer(max(value_size, 1))
    struct.pack_into("IIQQQ", a, 0, fd, 0, _addr(kb), _addr(vb), 0)
    try:
        bpf(uapi.BPF_MAP_LOOKUP_AND_DELETE_ELEM, a)
    except BpfError as e:
        if e.errno == _errno.ENOENT:
            return None
        raise
    return vb.raw[:value_size]


def map_update_batch(fd: int, keys: bytes, values: bytes, count: int, flags: int = 0) -> int:
    """Write `count` entries (keys and values back to back) in one syscall; returns how many."""
    return _batch_rw(uapi.BPF_MAP_UPDATE_BATCH, fd, keys, values, count, flags)


def map_delete_batch(fd: int, keys: bytes, count: int) -> int:
    """Delete `count` keys (back to back) in one syscall; returns how many were deleted."""
    return _batch_rw(uapi.BPF_MAP_DELETE_BATCH, fd, keys, b"", count, 0)


def _batch_rw(cmd: int, fd: int, keys: bytes, values: bytes, count: int, flags: int) -> int:
    a = _attr()
    kb = _buf(keys) if keys else None
    vb = _buf(values) if values else None
    struct.pack_into("QQQQIIQQ", a, 0, 0, 0, _addr(kb), _addr(vb), count, fd, flags, 0)
    bpf(cmd, a)
    return int(struct.unpack_from("I", a, 32)[0])


def map_freeze(fd: int) -> None:
    a = _attr()
    struct.pack_into("I", a, 0, fd)
    bpf(uapi.BPF_MAP_FREEZE, a)


# ------------------------------------------------------------------ programs
def prog_load(prog_type: int, insns: bytes, license: str = "GPL", name: str = "",
              log_level: int = 0, log_size: int = 0, expected_attach_type: int = 0,
              attach_btf_id: int = 0, attach_btf_obj_fd: int = 0, kern_version: int = 0,
              prog_flags: int = 0, prog_btf_fd: int = 0,
              func_info: bytes = b"", func_info_rec_size: int = 0,
              line_info: bytes = b"", line_info_rec_size: int = 0) -> tuple[int, str]:
    """Load a program; returns (fd, verifier log). On rejection BpfError.log holds the log."""
    a = _attr()
    ib = _buf(insns)
    lic = _buf(license.encode() + b"\0")
    logb = ctypes.create_string_buffer(log_size) if log_size else None
    fib = _buf(func_info) if func_info else None
    lib = _buf(line_info) if line_info else None
    struct.pack_into("IIQQIIQII", a, 0, prog_type, len(insns) // 8, _addr(ib), _addr(lic),
                     log_level, log_size, _addr(logb), kern_version, prog_flags)
    struct.pack_into("16s", a, 48, name.encode()[:15])
    struct.pack_into("IIIIQIIQII", a, 64, 0, expected_attach_type, prog_btf_fd, func_info_rec_size,
                     _addr(fib), len(func_info) // func_info_rec_size if func_info_rec_size else 0,
                     line_info_rec_size, _addr(lib),
                     len(line_info) // line_info_rec_size if line_info_rec_size else 0, attach_btf_id)
    struct.pack_into("I", a, 112, attach_btf_obj_fd)
    try:
        fd = bpf(uapi.BPF_PROG_LOAD, a)
    except BpfError as e:
        e.log = logb.value.decode(errors="replace") if logb is not None else ""
        raise
    return fd, (logb.value.decode(errors="replace") if logb is not None else "")


def prog_test_run(fd: int, ctx_in: bytes = b"", data_in: bytes = b"", repeat: int = 1,
                  flags: int = 0, cpu: int = 0) -> tuple[int, int]:
    """BPF_PROG_TEST_RUN: returns (retval, duration ns)."""
    a = _attr()
    cb = _buf(ctx_in) if ctx_in else None
    db = _buf(data_in) if data_in else None
    struct.pack_into("IIIIQQII", a, 0, fd, 0, len(data_in), 0, _addr(db), 0, repeat, 0)
    struct.pack_into("IIQQII", a, 40, len(ctx_in), 0, _addr(cb), 0, flags, cpu)
    bpf(uapi.BPF_PROG_TEST_RUN, a)
    retval, = struct.unpack_from("I", a, 4)
    duration, = struct.unpack_from("I", a, 36)
    return retval, duration


def prog_test_run_io(fd: int, data_in: bytes = b"", data_size_out: int = 0, ctx_in: bytes = b"",
                     ctx_size_out: int = 0, repeat: int = 1) -> tuple[int, int, bytes, bytes]:
    """BPF_PROG_TEST_RUN with output buffers: (retval, duration ns, data_out, ctx_out)."""
    a = _attr()
    db = _buf(data_in) if data_in else None
    cb = _buf(ctx_in) if ctx_in else None
    dout = ctypes.create_string_buffer(data_size_out) if data_size_out else None
    cout = ctypes.create_string_buffer(ctx_size_out) if ctx_size_out else None
    struct.pack_into("IIIIQQII", a, 0, fd, 0, len(data_in), data_size_out, _addr(db), _addr(dout), repeat, 0)
    struct.pack_into("IIQQ", a, 40, len(ctx_in), ctx_size_out, _addr(cb), _addr(cout))
    bpf(uapi.BPF_PROG_TEST_RUN, a)
    retval, dsize = struct.unpack_from("II", a, 4)
    duration, = struct.unpack_from("I", a, 36)
    csize, = struct.unpack_from("I", a, 44)
    return (retval, duration, dout.raw[:dsize] if dout is not None else b"",
            cout.raw[:csize] if cout is not None else b"")


def raw_tracepoint_open(name: str | None, prog_fd: int) -> int:
    a = _attr()
    nb = _buf(name.encode() + b"\0") if name else None
    struct.pack_into("QI", a, 0, _addr(nb), prog_fd)
    return bpf(uapi.BPF_RAW_TRACEPOINT_OPEN, a)


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0,
                extra: bytes = b"", keep: tuple[object, ...] = ()) -> int:
    """BPF_LINK_CREATE; `extra` is the packed union that follows `flags` (offset 16).

    `keep` holds ctypes buffers that `extra` points into, alive across the call.
    """
    a = _attr()
    struct.pack_into("IIII", a, 0, prog_fd, target_fd, attach_type, flags)
    if extra:
        ctypes.memmove(ctypes.addressof(a) + 16, extra, len(extra))
    del keep
    return bpf(uapi.BPF_LINK_CREATE, a)


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH: the attachment ends now; the link fd stays valid (and defunct)."""
    a = _attr()
    struct.pack_into("I", a, 0, link_fd)
    bpf(uapi.BPF_LINK_DETACH, a)


def prog_query(target_fd: int, attach_type: int, max_progs: int = 64,
               query_flags: int = 0) -> tuple[list[int], int, list[int]]:
    """BPF_PROG_QUERY of a cgroup/netns target: (program ids, attach flags, per-program flags)."""
    a = _attr()
    ids = ctypes.create_string_buffer(4 * max_progs)
    pflags = ctypes.create_string_buffer(4 * max_progs)
    struct.pack_into("IIIIQI", a, 0, target_fd, attach_type, query_flags, 0, _addr(ids), max_progs)
    if not query_flags & 1:  # per-program flags are refused with BPF_F_QUERY_EFFECTIVE
        struct.pack_into("Q", a, 32, _addr(pflags))
    bpf(uapi.BPF_PROG_QUERY, a)
    flags, = struct.unpack_from("I", a, 12)
    cnt = min(struct.unpack_from("I", a, 24)[0], max_progs)
    return (list(struct.unpack_from(f"{cnt}I", ids)), flags,
            list(struct.unpack_from(f"{cnt}I", pflags)))


def prog_attach(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> None:
    """BPF_PROG_ATTACH (cgroups, flow dissector, sockmaps): no link, detach by type."""
    a = _attr()
    struct.pack_into("IIII", a, 0, target_fd, prog_fd, attach_type, flags)
    bpf(uapi.BPF_PROG_ATTACH, a)


def prog_detach(prog_fd: int, target_fd: int, attach_type: int) -> None:
    a = _attr()
    struct.pack_into("IIII", a, 0, target_fd, prog_fd, attach_type, 0)
    bpf(uapi.BPF_PROG_DETACH, a)


def obj_pin(fd: int, path: str) -> None:
    a = _attr()
    pb = _buf(path.encode() + b"\0")
    struct.pack_into("QI", a, 0, _addr(pb), fd)
    bpf(uapi.BPF_OBJ_PIN, a)


def obj_get(path: str, flags: int = 0) -> int:
    a = _attr()
    pb = _buf(path.encode() + b"\0")
    struct.pack_into("QII", a, 0, _addr(pb), 0, flags)
    return bpf(uapi.BPF_OBJ_GET, a)


def obj_get_info(fd: int, info_size: int, prefill: bytes = b"", keep: tuple[object, ...] = ()) -> bytes:
    """BPF_OBJ_GET_INFO_BY_FD into a zeroed (or `prefill`ed) struct of info_size bytes."""
    a = _attr()
    ib = ctypes.create_string_buffer(info_size)
    if prefill:
        ctypes.memmove(ib, prefill, min(len(prefill), info_size))
    struct.pack_into("IIQ", a, 0, fd, info_size, _addr(ib))
    bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, a)
    del keep
    return ib.raw


def get_next_id(cmd: int, start_id: int) -> int | None:
    """Next prog/map/link/btf id after start_id, or None at the end."""
    a = _attr()
    struct.pack_into("I", a, 0, start_id)
    try:
        bpf(cmd, a)
    except BpfError as e:
        if e.errno == _errno.ENOENT:
            return None
        raise
    return int(struct.unpack_from("I", a, 4)[0])


def get_fd_by_id(cmd: int, obj_id: int) -> int:
    a = _attr()
    struct.pack_into("I", a, 0, obj_id)
    return bpf(cmd, a)


def btf_load(data: bytes, log_size: int = 0) -> int:
    a = _attr()
    db = _buf(data)
    logb = ctypes.create_string_buffer(log_size) if log_size else None
    struct.pack_into("QQIII", a, 0, _addr(db), _addr(logb), len(data), log_size, 1 if log_size else 0)
    return bpf(uapi.BPF_BTF_LOAD, a)


def enable_stats(stats_type: int = 0) -> int:
    a = _attr()
    struct.pack_into("I", a, 0, stats_type)
    return bpf(uapi.BPF_ENABLE_STATS, a)


# ------------------------------------------------------------------ perf events
PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4
PERF_TYPE_BREAKPOINT = 5

PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3

PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

ATTR_FLAG_DISABLED = 1 << 0
ATTR_FLAG_INHERIT = 1 << 1
ATTR_FLAG_FREQ = 1 << 10
ATTR_FLAG_WATERMARK = 1 << 14


def perf_event_open(type_: int, config: int, *, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    sample_period: int = 0, sample_freq: int = 0, sample_type: int = 0,
                    wakeup_events: int = 0, flags: int = 0, config1: int = 0, config2: int = 0,
                    keep: tuple[object, ...] = (), bp_type: int = 0) -> int:
    """perf_event_open(2) with a 128-byte perf_event_attr. config1/config2 may be pointers
    (uprobe path, kprobe function name) whose buffers the caller keeps in `keep`."""
    attr = ctypes.create_string_buffer(128)
    period = sample_freq if sample_freq else sample_period
    if sample_freq:
        flags |= ATTR_FLAG_FREQ
    struct.pack_into("IIQQQQQII", attr, 0, type_, 128, config, period, sample_type, 0, flags,
                     wakeup_events, bp_type)   # bp_type: PERF_TYPE_BREAKPOINT's HW_BREAKPOINT_* mode
    struct.pack_into("QQ", attr, 56, config1, config2)
    r = _syscall(SYS_PERF_EVENT_OPEN, attr, ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(group_fd),
                 ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    del keep
    if r < 0:
        raise BpfError(ctypes.get_errno(), "perf_event_open")
    return int(r)


def ioctl(fd: int, request: int, arg: int = 0) -> None:
    r = _ioctl(ctypes.c_int(fd), ctypes.c_ulong(request), ctypes.c_ulong(arg))
    if r < 0:
        raise BpfError(ctypes.get_errno(), "ioctl")


def perf_attach_bpf(perf_fd: int, prog_fd: int) -> None:
    """Attach a BPF program to an opened perf event and enable it."""
    ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
    ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0)


def cstring(s: str) -> ctypes.Array:  # type: ignore[type-arg]
    """A NUL-terminated buffer whose address can go into an attr (keep a reference!)."""
    return _buf(s.encode() + b"\0")


def addr_of(buf: ctypes.Array) -> int:  # type: ignore[type-arg]
    return ctypes.addressof(buf)


def raise_memlock() -> None:
    """Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; lift it where allowed."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
        if (major, minor) >= (5, 11):
            return   # memcg accounting: the rlimit no longer applies (and `resource` is not imported)
    except ValueError:
        pass
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
