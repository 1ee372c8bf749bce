"""Run-time detection of what this kernel's BPF can do, by trying it for real.

Why probe instead of reading versions: distributions backport and configure away features
(this very kernel has BTF and tp_btf but no kprobes, and refuses trampolines), so each
check loads a tiny program, creates a map or opens a perf event, and remembers the answer
for the life of the process. Each check costs a few milliseconds and is only paid when
asked. `explain_missing` turns a "no" into one plain sentence for the user.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import struct
from collections.abc import Callable
from functools import cache

from . import insn as I
from . import syscall, uapi

KPROBE_PMU = "/sys/bus/event_source/devices/kprobe"
UPROBE_PMU = "/sys/bus/event_source/devices/uprobe"
BTF_VMLINUX = "/sys/kernel/btf/vmlinux"

BPF_TRACE_UPROBE_MULTI = 48
BPF_TRACE_KPROBE_SESSION = 56
_ENOTSUPP = 524

# Functions present on practically every kernel, tried in order for attach probes.
_PROBE_FUNCS = ("vfs_read", "ksys_read", "do_sys_openat2", "schedule")
_errors: dict[str, int] = {}   # feature -> errno of the failed attempt, for explanations


def _ret0() -> bytes:
    return I.encode([I.mov64_imm(I.R0, 0), I.exit_()])


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _try_load(prog_type: int, insns: bytes | None = None, feature: str = "",
              expected_attach_type: int = 0, attach_btf_id: int = 0) -> int | None:
    """Load and return an fd (caller closes) or None, recording the errno under `feature`."""
    try:
        fd, _ = syscall.prog_load(prog_type, insns if insns is not None else _ret0(),
                                  expected_attach_type=expected_attach_type, attach_btf_id=attach_btf_id)
        return fd
    except syscall.BpfError as e:
        if feature:
            _errors[feature] = e.errno or 0
        return None


def _loads(prog_type: int, feature: str = "", expected_attach_type: int = 0, attach_btf_id: int = 0) -> bool:
    fd = _try_load(prog_type, None, feature, expected_attach_type, attach_btf_id)
    if fd is None:
        return False
    _close(fd)
    return True


def _map_ok(map_type: int, key: int = 4, value: int = 4, entries: int = 1) -> bool:
    try:
        _close(syscall.map_create(map_type, key, value, entries))
        return True
    except syscall.BpfError:
        return False


def _btf_id(name: str, kind: str) -> int | None:
    try:
        from .btf import Btf

        fid = Btf.vmlinux().find(name, kind)
    except Exception:  # noqa: BLE001 - no or unreadable BTF means "not available"
        return None
    return int(fid) if fid is not None else None


# ------------------------------------------------------------------ basics
@cache
def btf() -> bool:
    """Kernel BTF (/sys/kernel/btf/vmlinux) is present and readable."""
    try:
        with open(BTF_VMLINUX, "rb") as f:
            return f.read(2) in (b"\x9f\xeb", b"\xeb\x9f")
    except OSError:
        return False


@cache
def jit() -> bool:
    try:
        with open("/proc/sys/net/core/bpf_jit_enable") as f:
            return int(f.read().strip() or 0) >= 1
    except (OSError, ValueError):
        return False


@cache
def instruction_limit() -> int:
    """Verifier instruction limit (from 'processed 2 insns (limit N)'), -1 if unknown."""
    insns = I.encode([*I.ld_imm64(I.R0, 0), I.exit_()])
    for pt in (uapi.BPF_PROG_TYPE_KPROBE, uapi.BPF_PROG_TYPE_TRACEPOINT, uapi.BPF_PROG_TYPE_SOCKET_FILTER):
        try:
            fd, log = syscall.prog_load(pt, insns, log_level=1, log_size=65536)
        except syscall.BpfError:
            continue
        _close(fd)
        m = re.search(r"processed \d+ insns \(limit (\d+)\)", log)
        return int(m.group(1)) if m else -1
    return -1


# ------------------------------------------------------------------ helpers
def helper(name: str, prog_type: int = uapi.BPF_PROG_TYPE_KPROBE) -> bool:
    """Whether `prog_type` programs may call helper `name` (uncached; see the wrappers)."""
    hid = uapi.HELPER_ID.get(name)
    if hid is None:
        return False
    insns = I.encode([I.call(hid), I.exit_()])
    try:
        fd, _ = syscall.prog_load(prog_type, insns, log_level=1, log_size=65536)
        _close(fd)
        return True
    except syscall.BpfError as e:
        if e.errno == _errno.EPERM:
            return False
        log = e.log
        if not log.strip("\0 \n"):
            return False
        return not any(s in log for s in ("invalid func ", "unknown func ",
                                          "program of this type cannot use helper "))


def _tracing_helper(name: str) -> bool:
    hid = uapi.HELPER_ID.get(name)
    tid = _btf_id("vfs_open", "func")
    if hid is None or tid is None:
        return False
    insns = I.encode([I.call(hid), I.exit_()])
    try:
        fd, _ = syscall.prog_load(uapi.BPF_PROG_TYPE_TRACING, insns, log_level=1, log_size=65536,
                                  expected_attach_type=uapi.BPF_TRACE_FENTRY, attach_btf_id=tid)
        _close(fd)
        return True
    except syscall.BpfError as e:
        if e.errno == _errno.EPERM or not e.log.strip("\0 \n"):
            return False
        return not any(s in e.log for s in ("invalid func ", "unknown func ", "cannot use helper "))


@cache
def probe_read_kernel() -> bool:
    return helper("probe_read_kernel")


@cache
def get_stack() -> bool:
    return helper("get_stack")


@cache
def loop() -> bool:
    """bpf_loop helper (5.17+); bounded loops themselves exist since 5.3."""
    return helper("loop")


@cache
def get_func_ip() -> bool:
    return helper("get_func_ip")


@cache
def ktime_get_tai_ns() -> bool:
    return helper("ktime_get_tai_ns")


@cache
def map_lookup_percpu_elem() -> bool:
    return helper("map_lookup_percpu_elem")


@cache
def dpath() -> bool:
    """d_path() works only from trampoline programs on allow-listed functions."""
    return _tracing_helper("d_path")


@cache
def skboutput() -> bool:
    return _tracing_helper("skb_output")


# ------------------------------------------------------------------ maps
@cache
def ringbuf() -> bool:
    return _map_ok(uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, os.sysconf("SC_PAGE_SIZE"))


@cache
def perf_event_array() -> bool:
    return _map_ok(uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1)


@cache
def map_batch() -> bool:
    """BPF_MAP_LOOKUP_BATCH exists (ENOENT on an empty map counts as yes)."""
    try:
        fd = syscall.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 4, 4)
    except syscall.BpfError:
        return False
    try:
        syscall.map_lookup_batch(fd, 4, 4, 4)
        return True
    except syscall.BpfError:
        return False
    finally:
        _close(fd)


@cache
def module_btf() -> bool:
    first = syscall.get_next_id(uapi.BPF_BTF_GET_NEXT_ID, 0) if btf() else None
    if first is None:
        return False
    try:
        fd = syscall.get_fd_by_id(uapi.BPF_BTF_GET_FD_BY_ID, first)
    except syscall.BpfError:
        return False
    try:
        syscall.obj_get_info(fd, 32)
        return True
    except syscall.BpfError:
        return False
    finally:
        _close(fd)


# ------------------------------------------------------------------ probe types
def _kprobe_pmu_type() -> int | None:
    try:
        with open(os.path.join(KPROBE_PMU, "type")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _kprobe_events() -> bool:
    try:
        from .tracefs import ensure_mounted

        return os.path.exists(os.path.join(ensure_mounted(), "kprobe_events"))
    except (OSError, ImportError):
        return False


def _kprobe_open(retprobe: bool) -> bool:
    from .kprobes import retprobe_bit

    ptype = _kprobe_pmu_type()
    feature = "kretprobe" if retprobe else "kprobe"
    if ptype is None:
        _errors[feature] = _errno.ENOENT
        return _kprobe_events()
    for fn in _PROBE_FUNCS:
        buf = syscall.cstring(fn)
        try:
            fd = syscall.perf_event_open(ptype, retprobe_bit() if retprobe else 0, pid=-1, cpu=0,
                                         config1=syscall.addr_of(buf), keep=(buf,))
        except syscall.BpfError as e:
            _errors[feature] = e.errno or 0
            if e.errno == _errno.ENOENT:
                continue
            return False
        _close(fd)
        return _loads(uapi.BPF_PROG_TYPE_KPROBE, feature)
    return False


@cache
def kprobes() -> bool:
    """kprobes can be created (kprobe PMU, or tracefs kprobe_events) and programs attached."""
    return _kprobe_open(False)


@cache
def kretprobes() -> bool:
    return _kprobe_open(True)


def _multi_link(attach_type: int, extra: bytes, keep: tuple[object, ...], feature: str,
                expect_errno: int = 0) -> bool:
    fd = _try_load(uapi.BPF_PROG_TYPE_KPROBE, feature=feature, expected_attach_type=attach_type)
    if fd is None:
        return False
    try:
        link = syscall.link_create(fd, 0, attach_type, 0, extra, keep=keep)
    except syscall.BpfError as e:
        _errors[feature] = e.errno or 0
        return bool(expect_errno) and e.errno == expect_errno
    finally:
        _close(fd)
    _close(link)
    return not expect_errno


def _kmulti(attach_type: int, feature: str) -> bool:
    from .kprobes import list_kernel_functions

    names = [f for f in _PROBE_FUNCS if list_kernel_functions(f)] or ["vfs_read"]
    buf = syscall.cstring(names[0])
    arr = (ctypes.c_uint64 * 1)(syscall.addr_of(buf))
    extra = struct.pack("IIQQQ", 0, 1, ctypes.addressof(arr), 0, 0)
    return _multi_link(attach_type, extra, (buf, arr), feature)


@cache
def kprobe_multi() -> bool:
    return _kmulti(uapi.BPF_TRACE_KPROBE_MULTI, "kprobe_multi")


@cache
def kprobe_session() -> bool:
    return _kmulti(BPF_TRACE_KPROBE_SESSION, "kprobe_session")


@cache
def uprobes() -> bool:
    if not os.path.exists(os.path.join(UPROBE_PMU, "type")):
        _errors["uprobe"] = _errno.ENOENT
        return False
    return _loads(uapi.BPF_PROG_TYPE_KPROBE, "uprobe")


@cache
def uprobe_multi() -> bool:
    """The kernel validates the path last: EBADF for "/" means the link type exists."""
    path = syscall.cstring("/")
    offs = (ctypes.c_uint64 * 1)(0)
    extra = struct.pack("QQQQIII", syscall.addr_of(path), ctypes.addressof(offs), 0, 0, 1, 0, 0)
    return _multi_link(BPF_TRACE_UPROBE_MULTI, extra, (path, offs), "uprobe_multi", _errno.EBADF)


def _trampoline(attach_type: int, func: str, feature: str) -> bool:
    tid = _btf_id(func, "func")
    if tid is None:
        _errors[feature] = _errno.ENOENT if btf() else _errno.ENODATA
        return False
    fd = _try_load(uapi.BPF_PROG_TYPE_TRACING, feature=feature, expected_attach_type=attach_type,
                   attach_btf_id=tid)
    if fd is None:
        return False
    try:
        link = syscall.raw_tracepoint_open(None, fd)
    except syscall.BpfError as e:
        _errors[feature] = e.errno or 0
        return False
    finally:
        _close(fd)
    _close(link)
    return True


@cache
def fentry() -> bool:
    """BPF trampolines: load a TRACING/FENTRY program on a vmlinux function and attach it."""
    return _trampoline(uapi.BPF_TRACE_FENTRY, "vfs_read", "fentry")


@cache
def fexit() -> bool:
    return _trampoline(uapi.BPF_TRACE_FEXIT, "vfs_read", "fexit")


@cache
def tp_btf() -> bool:
    tid = _btf_id("btf_trace_sched_switch", "typedef")
    if tid is None:
        return False
    fd = _try_load(uapi.BPF_PROG_TYPE_TRACING, feature="tp_btf",
                   expected_attach_type=uapi.BPF_TRACE_RAW_TP, attach_btf_id=tid)
    if fd is None:
        return False
    try:
        _close(syscall.raw_tracepoint_open(None, fd))
        return True
    except syscall.BpfError as e:
        _errors["tp_btf"] = e.errno or 0
        return False
    finally:
        _close(fd)


@cache
def tracepoints() -> bool:
    return _loads(uapi.BPF_PROG_TYPE_TRACEPOINT, "tracepoint")


@cache
def raw_tracepoints() -> bool:
    return _loads(uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, "rawtracepoint")


@cache
def perf_event() -> bool:
    return _loads(uapi.BPF_PROG_TYPE_PERF_EVENT, "perf_event")


@cache
def iter_task() -> bool:
    tid = _btf_id("bpf_iter_task", "func")
    if tid is None:
        return False
    return _loads(uapi.BPF_PROG_TYPE_TRACING, "iter", expected_attach_type=uapi.BPF_TRACE_ITER,
                  attach_btf_id=tid)


@cache
def lsm() -> bool:
    """BPF LSM programs load and attach (needs 'bpf' in the active LSM list)."""
    tid = _btf_id("bpf_lsm_file_open", "func")
    if tid is None:
        return False
    fd = _try_load(uapi.BPF_PROG_TYPE_LSM, feature="lsm", expected_attach_type=uapi.BPF_LSM_MAC,
                   attach_btf_id=tid)
    if fd is None:
        return False
    try:
        _close(syscall.raw_tracepoint_open(None, fd))
        return True
    except syscall.BpfError as e:
        _errors["lsm"] = e.errno or 0
        return False
    finally:
        _close(fd)


def function_probe_type(retprobe: bool = False) -> str | None:
    """The best way to trace kernel functions here: fentry/fexit, else kprobe/kretprobe, else None."""
    if fexit() if retprobe else fentry():
        return "fexit" if retprobe else "fentry"
    if kretprobes() if retprobe else kprobes():
        return "kretprobe" if retprobe else "kprobe"
    return None


# ------------------------------------------------------------------ report
def _pairs_lines(pairs: list[tuple[str, str]]) -> list[str]:
    """bpftrace's two-column layout: each cell left-justified to 35 columns."""
    out = []
    for i in range(0, len(pairs), 2):
        line = f"  {pairs[i][0]}: {pairs[i][1]}".ljust(35)
        if i + 1 < len(pairs):
            line += f"{pairs[i + 1][0]}: {pairs[i + 1][1]}".ljust(35)
        out.append(line)
    return out


def _yn(v: bool) -> str:
    return "yes" if v else "no"


def info_lines() -> list[str]:
    """The kernel part of `--info`, laid out as bpftrace prints it."""
    helpers = [("dpath", _yn(dpath())), ("get_tai_ns", _yn(ktime_get_tai_ns())),
               ("get_func_ip", _yn(get_func_ip())), ("lookup_percpu_elem", _yn(map_lookup_percpu_elem()))]
    feats = [("Instruction limit", str(instruction_limit())), ("module btf", _yn(module_btf())),
             ("map batch", _yn(map_batch()))]
    probes = [("kprobe", _yn(kprobes())), ("fentry", _yn(fentry())),
              ("kprobe_multi", _yn(kprobe_multi())), ("uprobe_multi", _yn(uprobe_multi())),
              ("kprobe_session", _yn(kprobe_session())), ("iter", _yn(iter_task()))]
    lines = ["Kernel helpers", *_pairs_lines(helpers), "",
             "Kernel features", *_pairs_lines(feats), "",
             "Probe types", *_pairs_lines(probes), ""]
    return lines


def unavailable_lines() -> list[str]:
    """`--info`'s reasons for the kernel-function probe types this kernel lacks (the pairs above
    only say yes/no; a bare "kprobe: no" leaves the user guessing which config or policy)."""
    out = [f"  {name}: {_reason(name)}" for name, check in (("kprobe", kprobes), ("fentry", fentry))
           if not check()]
    return ["Unavailable probe types", *out, ""] if out else []


CHECKS: dict[str, Callable[[], object]] = {
    "kprobe": kprobes, "kretprobe": kretprobes, "kprobe_multi": kprobe_multi,
    "kprobe_session": kprobe_session, "uprobe": uprobes, "uprobe_multi": uprobe_multi,
    "fentry": fentry, "fexit": fexit, "tp_btf": tp_btf, "tracepoint": tracepoints,
    "rawtracepoint": raw_tracepoints, "perf_event": perf_event, "iter": iter_task, "lsm": lsm,
    "btf": btf, "module_btf": module_btf, "jit": jit, "ringbuf": ringbuf,
    "perf_event_array": perf_event_array, "map_batch": map_batch, "get_stack": get_stack,
    "probe_read_kernel": probe_read_kernel, "loop": loop, "get_func_ip": get_func_ip,
    "dpath": dpath, "skboutput": skboutput, "instruction_limit": instruction_limit,
}


def report() -> dict[str, object]:
    """Every detected feature by name (for tests, `--info -v` and bug reports)."""
    return {name: fn() for name, fn in CHECKS.items()}


# ------------------------------------------------------------------ explanations
_ALIASES = {"kfunc": "fentry", "kretfunc": "fexit", "f": "fentry", "fr": "fexit",
            "k": "kprobe", "kr": "kretprobe", "u": "uprobe", "ur": "uprobe", "uretprobe": "uprobe"}

# Common kernel functions of the book's tools -> stable tracepoints covering the same events.
TRACEPOINT_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "vfs_read": ("syscalls:sys_enter_read", "syscalls:sys_exit_read"),
    "ksys_read": ("syscalls:sys_enter_read", "syscalls:sys_exit_read"),
    "vfs_write": ("syscalls:sys_enter_write", "syscalls:sys_exit_write"),
    "ksys_write": ("syscalls:sys_enter_write", "syscalls:sys_exit_write"),
    "vfs_open": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "do_sys_open": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "do_sys_openat2": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "vfs_fsync": ("syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"),
    "vfs_unlink": ("syscalls:sys_enter_unlinkat", "syscalls:sys_enter_unlink"),
    "do_nanosleep": ("syscalls:sys_enter_nanosleep", "syscalls:sys_enter_clock_nanosleep"),
    "do_exit": ("sched:sched_process_exit",),
    "do_execve": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "bprm_execve": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "kernel_clone": ("sched:sched_process_fork",),
    "_do_fork": ("sched:sched_process_fork",),
    "wake_up_new_task": ("sched:sched_wakeup_new",),
    "try_to_wake_up": ("sched:sched_waking", "sched:sched_wakeup"),
    "finish_task_switch": ("sched:sched_switch",),
    "__schedule": ("sched:sched_switch",),
    "schedule": ("sched:sched_switch",),
    "__kmalloc": ("kmem:kmalloc",),
    "kmalloc": ("kmem:kmalloc",),
    "kfree": ("kmem:kfree",),
    "kmem_cache_alloc": ("kmem:kmem_cache_alloc",),
    "kmem_cache_free": ("kmem:kmem_cache_free",),
    "handle_mm_fault": ("exceptions:page_fault_user", "exceptions:page_fault_kernel"),
    "submit_bio": ("block:block_bio_queue",),
    "blk_mq_start_request": ("block:block_rq_issue",),
    "blk_account_io_start": ("block:block_rq_issue", "block:block_io_start"),
    "blk_account_io_done": ("block:block_rq_complete", "block:block_io_done"),
    "blk_mq_end_request": ("block:block_rq_complete",),
    "tcp_v4_connect": ("sock:inet_sock_set_state", "syscalls:sys_enter_connect"),
    "tcp_v6_connect": ("sock:inet_sock_set_state", "syscalls:sys_enter_connect"),
    "tcp_set_state": ("sock:inet_sock_set_state",),
    "inet_csk_accept": ("sock:inet_sock_set_state", "syscalls:sys_exit_accept4"),
    "tcp_retransmit_skb": ("tcp:tcp_retransmit_skb",),
    "tcp_drop": ("skb:kfree_skb",),
    "tcp_sendmsg": ("syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg"),
    "tcp_recvmsg": ("syscalls:sys_enter_recvfrom", "syscalls:sys_enter_recvmsg"),
    "oom_kill_process": ("oom:mark_victim",),
    "security_bprm_check": ("sched:sched_process_exec",),
}

_STRIP = re.compile(r"^(__x64_sys_|__arm64_sys_|__se_sys_|__do_sys_|ksys_|do_sys_|vfs_|sys_|do_|__+)")


def _available(tp: str) -> bool:
    try:
        from .tracefs import list_events

        cat, _, name = tp.partition(":")
        return bool(list_events(cat, name))
    except (OSError, ImportError):
        return False


def suggest_tracepoints(func: str, limit: int = 4) -> list[str]:
    """Tracepoints (category:name) that could stand in for kernel function `func`."""
    out = [t for t in TRACEPOINT_ALTERNATIVES.get(func, ()) if _available(t)]
    stem = func
    for _ in range(3):
        stem = _STRIP.sub("", stem)
    if len(out) < limit and len(stem) >= 3:
        try:
            from .tracefs import list_events

            events = list_events("*", "*")
        except (OSError, ImportError):
            events = []
        exact = [f"{c}:{n}" for c, n in events
                 if n in (stem, f"sys_enter_{stem}", f"sys_exit_{stem}", func)]
        fuzzy = [f"{c}:{n}" for c, n in events   # short stems ("read") match too much noise
                 if len(stem) >= 6 and c != "syscalls" and stem in n and f"{c}:{n}" not in exact]
        for t in exact + sorted(fuzzy, key=len):
            if t not in out:
                out.append(t)
    return out[:limit]


def _reason(feature: str) -> str:
    err = _errors.get(feature, 0)
    if feature in ("kprobe", "kretprobe"):
        if _kprobe_pmu_type() is None and not _kprobe_events():
            return ("CONFIG_KPROBES/CONFIG_KPROBE_EVENTS not enabled: no 'kprobe' PMU in "
                    "/sys/bus/event_source/devices and no kprobe_events in tracefs")
        return f"creating a kprobe failed: {os.strerror(err)}" if err else "kprobe creation failed"
    if feature in ("fentry", "fexit"):
        if not btf():
            return "no kernel BTF (/sys/kernel/btf/vmlinux), which trampolines need"
        if err == _errno.EPERM:
            jit_note = "" if jit() else "; the BPF JIT is off"
            return ("loading a BPF_PROG_TYPE_TRACING program failed with EPERM: the kernel refuses "
                    f"BPF trampolines{jit_note}")
        if err in (_errno.EOPNOTSUPP, _ENOTSUPP):
            return "BPF trampolines are not implemented for this kernel/architecture"
        return f"loading a trampoline program failed: {os.strerror(err)}" if err else "no trampolines"
    if feature in ("kprobe_multi", "kprobe_session"):
        return ("BPF_TRACE_KPROBE_MULTI links are refused "
                f"({os.strerror(err) if err else 'unsupported'}; needs Linux 5.18+ with CONFIG_FPROBE)")
    if feature in ("uprobe", "uprobe_multi"):
        return "no 'uprobe' PMU (CONFIG_UPROBE_EVENTS not enabled)" if err == _errno.ENOENT else (
            f"uprobe attach refused ({os.strerror(err) if err else 'unsupported'})")
    return os.strerror(err) if err else "not supported by this kernel"


def explain_missing(probe_type: str, func: str | None = None) -> str:
    """One plain message: which probe type is missing, what the kernel lacks, what could serve.

    For function probes (kprobe/fentry and their return forms) it names the fallback chain
    fentry -> kprobe that was tried.
    """
    pt = _ALIASES.get(probe_type, probe_type)
    check = CHECKS.get(pt)
    if check is not None:
        check()   # run the probe so the reason is recorded
    msg = f"{probe_type}: this kernel has no {pt} support ({_reason(pt)})"
    if pt in ("fentry", "fexit", "kprobe", "kretprobe"):
        ret = pt in ("fexit", "kretprobe")
        if pt in ("fentry", "fexit"):
            other = "kretprobe" if ret else "kprobe"
        else:
            other = "fexit" if ret else "fentry"
        if not CHECKS[other]():
            msg += f"; {other} is unavailable too ({_reason(other)})"
        else:
            msg += f"; use {other}:{func or '<function>'} instead"
    if func:
        alts = suggest_tracepoints(func)
        if alts:
            msg += "; tracepoints that could serve instead: " + ", ".join(f"tracepoint:{a}" for a in alts)
        else:
            msg += f"; no tracepoint matches {func}"
    return msg
