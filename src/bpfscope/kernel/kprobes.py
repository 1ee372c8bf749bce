"""Attach BPF programs to kernel functions: kprobe/kretprobe, kprobe_multi, tracefs fallback.

Why fd-based first: a kprobe created through the `kprobe` PMU (perf_event_open with the
function name in config1) lives exactly as long as its file descriptor, so nothing is left
behind in tracefs when the tracer dies, even by SIGKILL. kprobe_multi links (5.18+, need
CONFIG_FPROBE) attach one program to many functions in one syscall. Writing to
tracefs `kprobe_events` is the last resort for kernels without the PMU; those entries
outlive the process, so they are named `bpfscope_<pid>_<n>`, removed on close/exit, and
swept on the next run when their owner pid is dead.
"""

from __future__ import annotations

import atexit
import ctypes
import errno as _errno
import itertools
import os
import platform
import struct
from collections.abc import Iterable, Sequence

from . import syscall, uapi

PMU_DIR = "/sys/bus/event_source/devices/kprobe"
EVENT_PREFIX = "bpfscope_"
BPF_F_KPROBE_MULTI_RETURN = 1


class KprobeError(Exception):
    """A kprobe could not be attached; the message says why in plain words."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


class KprobeUnavailable(KprobeError):
    """This kernel has no way to create kprobes at all (no PMU, no kprobe_events)."""


# ------------------------------------------------------------------ attachments
class Attachment:
    """Everything one attach created: perf/link fds and tracefs event names.

    `close()` releases all of it and may be called any number of times; also a
    context manager. Several attachments can be merged with `extend`.
    """

    def __init__(self, kind: str, targets: Sequence[str] = (), fds: Iterable[int] = (),
                 events: Iterable[str] = ()) -> None:
        self.kind = kind
        self.targets = list(targets)
        self.fds = list(fds)
        self.events = list(events)   # tracefs kprobe event names to remove on close
        self.closed = False

    def extend(self, other: Attachment) -> None:
        self.targets += other.targets
        self.fds += other.fds
        self.events += other.events
        other.fds, other.events, other.closed = [], [], True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        for name in self.events:
            _remove_event(name)
            _live_events.discard(name)
        self.events = []

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.fds)} fds"
        return f"<Attachment {self.kind} {self.targets[:3]}{'...' if len(self.targets) > 3 else ''} {state}>"


# ------------------------------------------------------------------ kprobe PMU
def pmu_type() -> int | None:
    """The dynamic perf type id of the kprobe PMU, or None when the kernel has none."""
    try:
        with open(os.path.join(PMU_DIR, "type")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def retprobe_bit() -> int:
    """Bit of `config` that makes a kretprobe (format/retprobe reads `config:0`)."""
    try:
        with open(os.path.join(PMU_DIR, "format", "retprobe")) as f:
            spec = f.read().strip()
        return 1 << int(spec.split(":", 1)[1].split("-")[0])
    except (OSError, ValueError, IndexError):
        return 1


def _probe_name(func: str, module: str | None) -> str:
    return f"{module}:{func}" if module else func


def _explain(err: int, what: str) -> str:
    reasons = {
        _errno.ENOENT: "no such kernel function (check `bpfscope -l 'kprobe:*'`)",
        _errno.EINVAL: "the kernel refused this probe point (not probeable, blacklisted, or a bad offset)",
        _errno.EADDRNOTAVAIL: "the address is not inside a probeable function",
        _errno.EILSEQ: "the offset is not on an instruction boundary",
        _errno.EPERM: "permission denied (need root/CAP_PERFMON, or kernel lockdown forbids it)",
        _errno.EACCES: "permission denied (need root/CAP_PERFMON)",
        _errno.EBUSY: "the probe point is busy",
        _errno.EOPNOTSUPP: "not supported by this kernel",
    }
    return f"cannot attach {what}: {reasons.get(err, os.strerror(err))}"


def _attach_pmu(ptype: int, prog_fd: int, func: str, offset: int, retprobe: bool,
                module: str | None) -> int:
    name = _probe_name(func, module)
    buf = syscall.cstring(name)
    config = retprobe_bit() if retprobe else 0
    fd = syscall.perf_event_open(ptype, config, pid=-1, cpu=0, config1=syscall.addr_of(buf),
                                 config2=offset, keep=(buf,))
    try:
        syscall.perf_attach_bpf(fd, prog_fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def attach_kprobe(prog_fd: int, func: str, offset: int = 0, retprobe: bool = False,
                  module: str | None = None, method: str = "auto") -> Attachment:
    """Attach a loaded BPF_PROG_TYPE_KPROBE program to `func`(+offset) or its return.

    method: "auto" (PMU, else tracefs), "pmu" or "tracefs". Raises KprobeUnavailable
    when the kernel has neither, KprobeError for a refused probe point.
    """
    kind = "kretprobe" if retprobe else "kprobe"
    what = f"{kind}:{_probe_name(func, module)}" + (f"+{offset}" if offset else "")
    ptype = pmu_type() if method in ("auto", "pmu") else None
    if ptype is not None:
        try:
            fd = _attach_pmu(ptype, prog_fd, func, offset, retprobe, module)
        except syscall.BpfError as e:
            raise KprobeError(_explain(e.errno or 0, what), e.errno or 0) from None
        return Attachment(kind, [what], [fd])
    if method == "pmu":
        raise KprobeUnavailable(f"cannot attach {what}: this kernel has no 'kprobe' PMU", _errno.ENOENT)
    return _attach_tracefs(prog_fd, func, offset, retprobe, module, what)


def attach_kprobes(prog_fd: int, funcs: Iterable[str], retprobe: bool = False,
                   module: str | None = None) -> tuple[Attachment, list[tuple[str, KprobeError]]]:
    """One program on many functions, one perf event each (when kprobe_multi is absent).

    Returns the combined attachment and the (function, error) pairs that were skipped,
    as bpftrace skips unprobeable matches of a wildcard. KprobeUnavailable propagates.
    """
    att = Attachment("kretprobe" if retprobe else "kprobe")
    failed: list[tuple[str, KprobeError]] = []
    for fn in funcs:
        mod = module
        if mod is None and ":" in fn:
            mod, fn = fn.split(":", 1)
        try:
            att.extend(attach_kprobe(prog_fd, fn, 0, retprobe, mod))
        except KprobeUnavailable:
            att.close()
            raise
        except KprobeError as e:
            failed.append((_probe_name(fn, mod), e))
    return att, failed


def attach_kprobe_multi(prog_fd: int, symbols: Sequence[str] = (), addrs: Sequence[int] = (),
                        retprobe: bool = False, cookies: Sequence[int] = ()) -> Attachment:
    """BPF_LINK_CREATE with BPF_TRACE_KPROBE_MULTI; the program must have been loaded with
    expected_attach_type=BPF_TRACE_KPROBE_MULTI. Give either symbols or addrs."""
    if bool(symbols) == bool(addrs):
        raise ValueError("attach_kprobe_multi needs either symbols or addrs")
    names = [syscall.cstring(s) for s in symbols]
    cnt = len(symbols) or len(addrs)
    syms_arr = (ctypes.c_uint64 * cnt)(*[syscall.addr_of(b) for b in names]) if symbols else None
    addrs_arr = (ctypes.c_uint64 * cnt)(*addrs) if addrs else None
    cook_arr = (ctypes.c_uint64 * cnt)(*cookies) if cookies else None

    def ptr(a: ctypes.Array | None) -> int:  # type: ignore[type-arg]
        return ctypes.addressof(a) if a is not None else 0

    extra = struct.pack("IIQQQ", BPF_F_KPROBE_MULTI_RETURN if retprobe else 0, cnt,
                        ptr(syms_arr), ptr(addrs_arr), ptr(cook_arr))
    kind = "kretprobe_multi" if retprobe else "kprobe_multi"
    targets = list(symbols) or [f"{a:#x}" for a in addrs]
    try:
        fd = syscall.link_create(prog_fd, 0, uapi.BPF_TRACE_KPROBE_MULTI, 0, extra,
                                 keep=(names, syms_arr, addrs_arr, cook_arr))
    except syscall.BpfError as e:
        err = e.errno or 0
        if err in (_errno.EOPNOTSUPP, _errno.EINVAL, 524):  # 524: ENOTSUPP
            raise KprobeUnavailable("kprobe_multi links are not supported by this kernel "
                                    "(needs Linux 5.18+ with CONFIG_FPROBE)", err) from None
        raise KprobeError(_explain(err, f"{kind} to {len(targets)} functions"), err) from None
    return Attachment(kind, targets, [fd])


# ------------------------------------------------------------------ tracefs fallback
_counter = itertools.count()
_live_events: set[str] = set()
_atexit_registered = False


def _tracefs_root() -> str:
    try:
        from .tracefs import ensure_mounted
    except ImportError:  # pragma: no cover - tracefs.py is part of the package
        return "/sys/kernel/tracing"
    return ensure_mounted()


def kprobe_events_path() -> str | None:
    """Path of tracefs kprobe_events, or None when the kernel has no kprobe events."""
    try:
        root = _tracefs_root()
    except OSError:
        return None
    path = os.path.join(root, "kprobe_events")
    return path if os.path.exists(path) else None


def _write_events(line: str) -> None:
    path = kprobe_events_path()
    if path is None:
        raise OSError(_errno.ENOENT, "no kprobe_events in tracefs")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _remove_event(name: str) -> bool:
    try:
        _write_events(f"-:{name}")
        return True
    except OSError:
        return False


def cleanup_all() -> None:
    """Remove every tracefs kprobe this process created (atexit; call from signal paths too)."""
    for name in list(_live_events):
        _remove_event(name)
        _live_events.discard(name)


def list_own_events(pid: int | None = None) -> list[str]:
    """Names of `bpfscope_*` kprobe events currently in tracefs (of `pid` if given)."""
    path = kprobe_events_path()
    if path is None:
        return []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        # "p:kprobes/bpfscope_12_0 vfs_read"
        head = line.split(" ", 1)[0]
        name = head.split(":", 1)[-1].split("/")[-1]
        if name.startswith(EVENT_PREFIX) and (pid is None or name.startswith(f"{EVENT_PREFIX}{pid}_")):
            out.append(name)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_events() -> list[str]:
    """Remove `bpfscope_<pid>_*` kprobe events whose owner pid is gone; returns their names."""
    removed = []
    for name in list_own_events():
        try:
            pid = int(name[len(EVENT_PREFIX):].split("_", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid) and _remove_event(name):
            removed.append(name)
    return removed


def _attach_tracefs(prog_fd: int, func: str, offset: int, retprobe: bool, module: str | None,
                    what: str) -> Attachment:
    global _atexit_registered
    if kprobe_events_path() is None:
        raise KprobeUnavailable(f"cannot attach {what}: this kernel has no kprobe support "
                                "(no 'kprobe' PMU and no kprobe_events in tracefs)", _errno.ENOENT)
    remove_stale_events()
    if not _atexit_registered:
        atexit.register(cleanup_all)
        _atexit_registered = True
    name = f"{EVENT_PREFIX}{os.getpid()}_{next(_counter)}"
    target = _probe_name(func, module) + (f"+{offset}" if offset else "")
    try:
        _write_events(f"{'r' if retprobe else 'p'}:kprobes/{name} {target}")
    except OSError as e:
        raise KprobeError(_explain(e.errno or _errno.EINVAL, what), e.errno or 0) from None
    _live_events.add(name)
    try:
        with open(os.path.join(_tracefs_root(), "events", "kprobes", name, "id")) as f:
            ev_id = int(f.read())
        fd = syscall.perf_event_open(syscall.PERF_TYPE_TRACEPOINT, ev_id, pid=-1, cpu=0)
        try:
            syscall.perf_attach_bpf(fd, prog_fd)
        except BaseException:
            os.close(fd)
            raise
    except (OSError, ValueError) as e:
        _remove_event(name)
        _live_events.discard(name)
        err = getattr(e, "errno", 0) or _errno.EINVAL
        raise KprobeError(_explain(err, what), err) from None
    return Attachment("kretprobe" if retprobe else "kprobe", [what], [fd], [name])


# ------------------------------------------------------------------ listing
def _read_filter_functions() -> list[str] | None:
    try:
        path = os.path.join(_tracefs_root(), "available_filter_functions")
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return None


def _kallsyms_functions() -> list[str]:
    out = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in ("t", "T"):
                    out.append(parts[2] + (" " + parts[3] if len(parts) > 3 else ""))
    except OSError:
        pass
    return out


def list_kernel_functions(pattern: str = "*") -> list[str]:
    """Traceable kernel functions matching a shell glob, sorted and unique.

    Module functions are spelled `module:function`; a pattern without ':' matches the
    function name alone. Source: tracefs available_filter_functions, else kallsyms text.
    """
    from .tracefs import glob_match

    lines = _read_filter_functions()
    if lines is None:
        lines = _kallsyms_functions()
    want_mod = ":" in pattern
    out: set[str] = set()
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        fn = parts[0]
        if fn.startswith("__ftrace_invalid_address__"):
            continue
        mod = parts[1].strip("[]") if len(parts) > 1 and parts[1].startswith("[") else ""
        full = f"{mod}:{fn}" if mod else fn
        if glob_match(full if want_mod else fn, pattern):
            out.add(full)
    return sorted(out)


# ------------------------------------------------------------------ pt_regs layout
_PT_REGS = {
    "x86_64": {n: i * 8 for i, n in enumerate(
        ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx",
         "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"))},
    "aarch64": {**{f"x{i}": i * 8 for i in range(31)}, "sp": 248, "pc": 256, "pstate": 264},
}
_ARG_REGS = {"x86_64": ("di", "si", "dx", "cx", "r8", "r9"),
             "aarch64": tuple(f"x{i}" for i in range(8))}
_RET_REG = {"x86_64": "ax", "aarch64": "x0"}
_IP_REG = {"x86_64": "ip", "aarch64": "pc"}


def pt_regs_offset(reg: str, arch: str | None = None) -> int | None:
    """Byte offset of register `reg` (bpftrace's reg() names) in struct pt_regs."""
    table = _PT_REGS.get(arch or platform.machine(), {})
    return table.get(reg)


def arg_offset(n: int, arch: str | None = None) -> int | None:
    """pt_regs offset of argN (kprobe calling convention), None beyond register args."""
    a = arch or platform.machine()
    regs = _ARG_REGS.get(a, ())
    return _PT_REGS[a][regs[n]] if 0 <= n < len(regs) else None


def retval_offset(arch: str | None = None) -> int:
    a = arch or platform.machine()
    return _PT_REGS[a][_RET_REG[a]]


def ip_offset(arch: str | None = None) -> int:
    a = arch or platform.machine()
    return _PT_REGS[a][_IP_REG[a]]
