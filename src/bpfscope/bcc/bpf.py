"""`BPF`: BCC's main class — compile C text with bpfscope's BCC compiler, create the
tables, load the functions, auto-attach TRACEPOINT_PROBEs, poll event buffers, clean up."""

from __future__ import annotations

import ctypes as ct
import os
import select
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kernel import insn as I
from ..kernel import syscall as sc
from ..kernel import tracefs, uapi
from ..kernel.maps import Map
from .errors import KernelLacks, Unsupported
from .usdt import usdt_probes

if TYPE_CHECKING:
    from ..lang.bcc.standins import StandIn


class BPFCompileError(Exception):
    """The program did not compile: the message is the located diagnostic (no traceback)."""


class _Poller:
    """Event tables opened for callbacks, polled together as perf_buffer_poll()/ring_buffer_poll():
    BPF ring buffers (callback(data, size)) and per-CPU perf buffers (callback(cpu, data, size),
    lost_cb(count))."""

    def __init__(self) -> None:
        self.rings: list[tuple[Any, Callable[[Any, int], None]]] = []
        self.perfs: list[tuple[Any, Callable[[int, Any, int], None], Callable[[int], None] | None]] = []
        self.epoll: select.epoll | None = None

    def _register(self, fileno: int) -> None:
        if self.epoll is None:
            self.epoll = select.epoll()
        self.epoll.register(fileno, select.EPOLLIN)

    def open(self, table: Any, cb: Callable[[Any, int], None]) -> None:
        from ..kernel.ringbuf import RingBuffer

        ring = RingBuffer(table.map.fd, table.map.max_entries)
        self.rings.append((ring, cb))
        self._register(ring.fileno())

    def open_perf(self, table: Any, cb: Callable[[int, Any, int], None], pages: int,
                  lost_cb: Callable[[int], None] | None, wakeup_events: int) -> None:
        from ..kernel.perfbuf import PerfBuffer
        from .cpus import online_cpus

        pb = PerfBuffer(table.map.fd, online_cpus(), pages, wakeup_events)
        self.perfs.append((pb, cb, lost_cb))
        self._register(pb.fileno())

    def poll(self, timeout_ms: int) -> int:
        # as libbpf's ring_buffer__poll: records already there (discarded ones too) end the
        # poll without waiting, even when none of them reaches a callback
        pending = any(ring.positions()[0] < ring.positions()[1] for ring, _cb in self.rings)
        n = self.drain()
        if n or pending or self.epoll is None:
            return n
        # BCC hands the timeout to epoll_wait as a C int: offcputime's "forever" (99999999000 ms) wraps
        timeout_ms = (int(timeout_ms) + (1 << 31)) % (1 << 32) - (1 << 31)
        try:
            self.epoll.poll(-1 if timeout_ms < 0 else timeout_ms / 1000)
        except InterruptedError:
            pass
        return self.drain()

    def drain(self) -> int:
        n = 0
        for ring, cb in self.rings:
            def handle(data: bytes, cb: Callable[[Any, int], None] = cb) -> None:
                buf = ct.create_string_buffer(data, len(data))
                cb(ct.addressof(buf), len(data))
            n += ring.drain(handle)
        for pb, pcb, lost_cb in self.perfs:
            def sample(cpu: int, data: bytes, cb: Callable[[int, Any, int], None] = pcb) -> None:
                buf = ct.create_string_buffer(data, len(data))
                cb(cpu, ct.addressof(buf), len(data))

            def lost(cpu: int, count: int, lcb: Callable[[int], None] | None = lost_cb) -> None:
                if lcb is not None:
                    lcb(count)
                else:          # BCC's perf reader says so when the script gave no lost_cb
                    sys.stderr.write(f"Possibly lost {count} samples\n")
            n += pb.drain(sample, lost)
        return n

    def close(self) -> None:
        for ring, _ in self.rings:
            ring.close()
        self.rings.clear()
        for pb, _, _ in self.perfs:
            pb.close()
        self.perfs.clear()
        if self.epoll is not None:
            self.epoll.close()
            self.epoll = None


def _tp_fields(category: str, event: str) -> list[Any] | None:
    from ..lang.bcc.typenames import from_format
    from ..lang.spec import ArgField

    fmt = tracefs.event_format(category, event)
    if fmt is None:
        return None
    return [ArgField(f.name, from_format(f.ctype, f.size, f.signed), f.offset, f.data_loc,
                     category == "syscalls" and "*" in f.ctype) for f in fmt.fields]


# BPF_TABLE_PUBLIC tables of this process by name: what BPF_TABLE("extern", ...) of another
# BPF object opens (BCC shares them the same way, within one process)
_PUBLIC_TABLES: dict[str, Map] = {}


def _create_map(spec: Any, made: dict[str, Map]) -> Map:
    """A table's map: ring buffers have no key/value; a perf output has one slot per possible
    CPU; a map of maps is created with its inner table (in `made`, by name) as the template."""
    from ..kernel.maps import possible_cpus

    if spec.share == "extern":
        pub = _PUBLIC_TABLES.get(spec.name)
        if pub is None:
            raise Exception(f"table {spec.name}: no BPF_TABLE_PUBLIC table of that name in this process")
        return Map(os.dup(pub.fd), pub.type, pub.key_size, pub.value_size, pub.max_entries, pub.name)
    if spec.share == "public" and spec.name in _PUBLIC_TABLES:
        raise Exception(f"table {spec.name}: a BPF_TABLE_PUBLIC table of that name already exists")
    ks, vs, n = spec.key.size, spec.leaf.size, spec.max_entries
    if spec.map_type == uapi.BPF_MAP_TYPE_RINGBUF:
        ks = vs = 0
    elif spec.map_type in (uapi.BPF_MAP_TYPE_QUEUE, uapi.BPF_MAP_TYPE_STACK):
        ks = 0
    elif spec.map_type == uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        n = n or possible_cpus()
    inner = made[spec.inner].fd if spec.inner else 0
    m = Map.create(spec.map_type, ks, vs, n, name=spec.name[:15], flags=spec.flags, inner_map_fd=inner)
    if spec.share == "public":
        _PUBLIC_TABLES[spec.name] = m
    return m


_symbolizer: Any = None


def _user_path(lib: str, pid: int) -> str | None:
    """A uprobe target's path as BCC finds it: a path, else a library name ("c") from the
    loader's cache, else a program on PATH; a path that exists only in the traced process's
    mount namespace (a library in its private /tmp) through /proc/PID/root."""
    import shutil

    from ..kernel import ldcache

    path = lib if "/" in lib else (ldcache.find_library(lib) or shutil.which(lib))
    if path and "/" in lib and not os.path.exists(path) and pid > 0:
        inner = f"/proc/{pid}/root{os.path.abspath(path)}"
        if os.path.exists(inner):
            return inner
    return path


def _resolve(addr: int, pid: int) -> tuple[str | None, int, str]:
    """(name or None, offset, module path or "kernel") as BCC's symbol caches answer."""
    global _symbolizer
    if pid < 0:
        from ..kernel import ksyms

        hit = ksyms.kernel_symbols().lookup(addr)
        return (hit[0], hit[1], "kernel") if hit is not None else (None, 0, "")
    from ..kernel import symbols

    if _symbolizer is None:
        _symbolizer = symbols.Symbolizer()
    try:
        us = _symbolizer.resolve_user(pid, addr)
    except Exception:
        return None, 0, ""
    if us is None:
        snap = _symbolizer.maps(pid)
        e = snap.find(addr) if snap is not None else None
        return None, 0, (e.path if e is not None else "")
    return us.name, us.offset, us.module


_ETH_P_ALL = 0x0003       # every protocol, for a packet socket
_SO_ATTACH_BPF = 50       # setsockopt(SOL_SOCKET): a socket filter program by fd
_BUILD_IDS: dict[str, str] = {}      # build id (hex) -> ELF path, from BPF.add_module


def _resolve_build_id(frame: Any, pid: int) -> tuple[str | None, int, str]:
    """A struct bpf_stack_build_id frame: status 1 is (build id, file offset), resolved in the
    object registered for that build id; status 2 is a plain address (the kernel could not
    read the build id)."""
    if frame.status == 2:
        return _resolve(int(frame.offset), pid)
    path = _BUILD_IDS.get(bytes(frame.build_id).hex()) if frame.status == 1 else None
    if path is None:
        return None, 0, ""
    from ..kernel import symbols

    try:
        table = symbols.SymbolTable.load(path)
    except Exception:
        return None, 0, path
    vaddr = table.offset_to_vaddr(int(frame.offset))
    hit = table.lookup(vaddr) if vaddr is not None else None
    return (hit[0], hit[1], path) if hit is not None else (None, 0, path)


_PROBE_LIMIT = 1000                  # BCC's default; BCC_PROBE_LIMIT in the environment overrides it
_REGEX_CHARS = set("^$.*+?[](){}|\\")


_KALLSYMS: set[str] | None = None


def _kallsyms_text() -> set[str]:
    global _KALLSYMS
    if _KALLSYMS is None:
        _KALLSYMS = _read_kallsyms_text()
    return _KALLSYMS


def _read_kallsyms_text() -> set[str]:
    """Text symbols of the kernel and its modules, as BCC lists kprobe candidates: kallsyms
    (kprobes reach static functions the ftrace list leaves out, such as __blk_account_io_done),
    without .init code, perf/static-call internals and gcc's .cold parts."""
    names: set[str] = set()
    init: list[int] = []
    rows: list[tuple[int, str]] = []
    try:
        with open("/proc/kallsyms") as fh:
            for ln in fh:
                parts = ln.split()
                if len(parts) < 3:
                    continue
                if parts[2] in ("__init_begin", "__init_end"):
                    init.append(int(parts[0], 16))
                if parts[1] in ("t", "T", "w", "W"):
                    rows.append((int(parts[0], 16), parts[2]))
    except OSError:
        return names
    lo, hi = (min(init), max(init)) if len(init) == 2 else (1, 0)
    for addr, f in rows:
        if lo <= addr < hi or f.startswith(("__perf", "perf_", "__SCT__", "_kbl_addr_")) or ".cold" in f:
            continue
        names.add(f)
    return names


def _kprobe_blacklist() -> set[str]:
    """Functions the kernel refuses kprobes on (debugfs's kprobes/blacklist, when mounted)."""
    try:
        with open("/sys/kernel/debug/kprobes/blacklist") as fh:
            return {ln.split()[-1] for ln in fh if ln.strip()}
    except OSError:
        return set()


def _syscall_numbers() -> dict[str, int]:
    """Syscall numbers by the name of their kernel function (sys_newstat is __NR_stat)."""
    from ..runtime.syscall_names import SYSCALLS

    names = {name: nr for nr, name in SYSCALLS.items() if name and nr < 512}
    for old in ("stat", "lstat", "fstat", "uname"):
        names["new" + old] = names[old]
    names["umount"] = names["umount2"]       # SYSCALL_DEFINE2(umount, ...) serves umount2
    names["sendfile64"] = names["sendfile"]  # and SYSCALL_DEFINE4(sendfile64, ...) sendfile
    return names


def _have_kprobes(features: Any) -> bool:
    return bool(features.kprobes())


def _vmlinux_btf() -> Any:
    from ..kernel.btf import Btf

    return Btf.vmlinux()


class _FdHandle:
    """An attachment that is one fd (a raw tracepoint standing in for a kprobe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Function(int):
    """load_func()'s result: the program fd (an int, as bpfscope passes it on) with BCC's
    Function attributes bpf, name and fd."""

    bpf: Any
    name: str
    sock: int          # attach_raw_socket()'s packet socket

    def __new__(cls, fd: int, bpf: Any, name: str) -> Function:
        obj = super().__new__(cls, fd)
        obj.bpf, obj.name, obj.sock = bpf, name, -1
        return obj

    @property
    def fd(self) -> int:
        return int(self)


class BPF:
    # program types for load_func(), as BCC names them (the kernel's BPF_PROG_TYPE_* values)
    SOCKET_FILTER, KPROBE, SCHED_CLS, SCHED_ACT = 1, 2, 3, 4
    TRACEPOINT, XDP, PERF_EVENT, CGROUP_SKB, CGROUP_SOCK = 5, 6, 7, 8, 9
    LWT_IN, LWT_OUT, LWT_XMIT, SOCK_OPS, SK_SKB, CGROUP_DEVICE, SK_MSG = 10, 11, 12, 13, 14, 15, 16
    RAW_TRACEPOINT, CGROUP_SOCK_ADDR, CGROUP_SOCKOPT, TRACING, LSM = 17, 18, 25, 26, 29
    Function = Function

    def __init__(self, src_file: str = "", hdr_file: str = "", text: str | bytes | None = None,
                 debug: int = 0, cflags: list[str] | None = None, usdt_contexts: list[Any] | None = None,
                 allow_rlimit: bool = True, device: Any = None, attach_usdt_ignore_pid: bool = False) -> None:
        from ..lang.bcc.compiler import compile_bcc
        from ..lang.bcc.errors import render
        from ..lang.diagnostics import CompileError

        filename = "<text>"
        if text is None:
            if not src_file:
                raise ValueError("BPF() needs text= or src_file=")
            filename = src_file
            with open(src_file) as fh:
                text = fh.read()
        self.text = text.decode() if isinstance(text, bytes) else text
        self._filename = filename
        self._cflags = list(cflags or [])
        self.debug = debug
        self.tables: dict[str, Any] = {}
        self.funcs: dict[str, int] = {}
        self._maps: list[Map] = []
        self._tp_handles: dict[tuple[str, str], list[int]] = {}
        self._probes: dict[str, Any] = {}           # "kprobe:fn"/"uprobe:path:sym"/... → attachment(s)
        self._perf_fds: dict[str, list[int]] = {}
        self._poller = _Poller()
        self._trace_pipe: Any = None
        self._usdt = usdt_probes(usdt_contexts or [], attach_usdt_ignore_pid)
        self._variants: dict[str, Any] = {}        # "fn#k": a USDT function compiled for another arg layout
        self._variant_maps: dict[str, list[Map]] = {}   # "fn#tracepoint": hidden tables of a stand-in
        rounds = max((len(u.layouts) for u in self._usdt), default=1)
        try:
            self.obj = compile_bcc(self.text, _tp_fields, cflags or [], _vmlinux_btf,
                                   {u.fn_name: u.layouts[0][0] for u in self._usdt})
            first = {u.fn_name: u.layouts[0][0] for u in self._usdt}
            for k in range(1, rounds):    # the same program again for each further argument layout
                more = {u.fn_name: u.layouts[k][0] for u in self._usdt if k < len(u.layouts)}
                alt = compile_bcc(self.text, _tp_fields, cflags or [], _vmlinux_btf, {**first, **more})
                for f in alt.funcs:
                    if f.name in more:
                        self._variants[f"{f.name}#{k}"] = f
        except CompileError as e:
            msg = render(e, self.text, filename)
            raise BPFCompileError(msg.rstrip("\n")) from None
        if self.obj.warnings:     # as clang printed BCC's: on stderr, and the program still loads
            from ..lang.bcc.errors import render_warning

            sys.stderr.write("".join(render_warning(sp, w, self.text, filename) for sp, w in self.obj.warnings))
            sys.stderr.flush()
        import atexit

        atexit.register(self.cleanup)
        if allow_rlimit:
            sc.raise_memlock()
        try:
            made: dict[str, Map] = {}
            for spec in self.obj.tables:
                made[spec.name] = _create_map(spec, made)
                self._maps.append(made[spec.name])
            for f in self.obj.funcs:
                if f.tracepoint is not None:
                    self.attach_tracepoint(tp=":".join(f.tracepoint), fn_name=f.name)
            self._auto_attach()
            self._attach_usdt()
        except BaseException:
            self.cleanup()
            raise

    # ------------------------------------------------------------------ programs
    def load_func(self, func_name: str, prog_type: int = uapi.BPF_PROG_TYPE_TRACEPOINT) -> int:
        """Load one function of the program (once); returns its program fd."""
        if func_name in self.funcs:
            return self.funcs[func_name]
        fp = self._variants.get(func_name) or next((f for f in self.obj.funcs if f.name == func_name), None)
        if fp is None:
            raise Exception(f"Failed to load BPF program {func_name}: no such function")
        insns = [I.Insn(i.code, i.dst, i.src, i.off, i.imm) for i in fp.insns]
        maps = self._maps + self._variant_maps.get(func_name, [])   # a variant's hidden tables last
        for i in insns:
            if I.is_ld_imm64(i) and i.src == I.PSEUDO_MAP_FD:
                i.imm = maps[i.imm].fd
        try:
            fd, _ = sc.prog_load(prog_type, I.encode(insns), self.obj.license, fp.name[:15],
                                 log_level=1 if self.debug else 0, log_size=1 << 20 if self.debug else 0)
        except sc.BpfError as e:
            if not e.log:
                try:
                    sc.prog_load(prog_type, I.encode(insns), self.obj.license, func_name[:15], log_level=1,
                                 log_size=1 << 22)
                except sc.BpfError as e2:
                    e.log = e2.log
            raise Exception(f"Failed to load BPF program {func_name}: {os.strerror(e.errno or 0)}\n"
                            f"{e.log.strip()}") from None
        self.funcs[func_name] = Function(fd, self, func_name)
        return self.funcs[func_name]

    def load_funcs(self, prog_type: int = uapi.BPF_PROG_TYPE_KPROBE) -> list[int]:
        """Every function of the program loaded as prog_type (BCC's load_funcs)."""
        return [self.load_func(f.name, prog_type) for f in self.obj.funcs]

    def attach_tracepoint(self, tp: str = "", tp_re: str = "", fn_name: str = "") -> None:
        tp, tp_re, fn_name = self._s(tp), self._s(tp_re), self._s(fn_name)
        if tp_re:
            found = [t.decode() for t in BPF.get_tracepoints(tp_re)]
            if not found:
                raise Exception(f"Failed to attach BPF program {fn_name} to tracepoints matching "
                                f"{tp_re!r}: no tracepoint matches")
            self._check_probe_quota(len(found))
            for t in found:
                self.attach_tracepoint(tp=t, fn_name=fn_name)
            return
        cat, _, name = tp.partition(":")
        fmt = tracefs.event_format(cat, name)
        if fmt is None:
            raise Exception(f"Failed to attach BPF program {fn_name} to tracepoint {tp}: not found")
        prog_fd = self.load_func(fn_name)
        fds: list[int] = []
        try:
            # one perf event (cpu 0, any pid) attaches the program to the tracepoint on every CPU
            fd = sc.perf_event_open(sc.PERF_TYPE_TRACEPOINT, fmt.id, pid=-1, cpu=0,
                                    sample_period=1, wakeup_events=1)
            fds.append(fd)
            sc.perf_attach_bpf(fd, prog_fd)
        except OSError as e:
            for fd in fds:
                os.close(fd)
            raise Exception(f"Failed to attach BPF program {fn_name} to tracepoint {tp}: {e}") from None
        self._tp_handles.setdefault((tp, fn_name), []).extend(fds)

    def detach_tracepoint(self, tp: str = "", fn_name: str = "") -> None:
        for key in [k for k in self._tp_handles if k[0] == tp and (not fn_name or k[1] == fn_name)]:
            for fd in self._tp_handles.pop(key):
                os.close(fd)

    @staticmethod
    def tracepoint_exists(category: str | bytes, event: str | bytes) -> bool:
        return tracefs.event_format(BPF._s(category), BPF._s(event)) is not None

    @staticmethod
    def get_tracepoints(tp_re: str | bytes) -> list[bytes]:
        """"category:event" names (bytes, as BCC gives them) that the regex matches from their start."""
        import re

        rx = re.compile(BPF._s(tp_re))
        return [f"{c}:{e}".encode() for c, e in tracefs.list_events() if rx.match(f"{c}:{e}")]

    def _check_probe_quota(self, more: int) -> None:
        """BCC refuses to open more than 1000 probes from one BPF object."""
        have = len(self._tp_handles) + len(self._probes)
        limit = BPF.get_probe_limit()
        if have + more > limit:
            raise Exception(f"Number of open probes would exceed global quota ({limit})")

    @staticmethod
    def get_probe_limit() -> int:
        """How many probes one BPF object may open: BCC_PROBE_LIMIT when it is a number, else 1000."""
        env = os.environ.get("BCC_PROBE_LIMIT", "")
        return int(env) if env.isdigit() else _PROBE_LIMIT

    def num_open_tracepoints(self) -> int:
        return len(self._tp_handles)

    def _auto_attach(self) -> None:
        """BCC attaches functions by their name prefix: kprobe__vfs_read, raw_tracepoint__x..."""
        for f in self.obj.funcs:
            n = f.name
            if n.startswith("kprobe__"):
                self.attach_kprobe(event=self.fix_syscall_fnname(n[8:]), fn_name=n)
            elif n.startswith("kretprobe__"):
                self.attach_kretprobe(event=self.fix_syscall_fnname(n[11:]), fn_name=n)
            elif n.startswith("raw_tracepoint__"):
                self.attach_raw_tracepoint(tp=n[16:], fn_name=n)
            elif n.startswith(("kfunc__", "kretfunc__", "lsm__")):
                raise Unsupported(f"{n}: fentry/fexit (kfunc) and LSM programs are not available here "
                                  "(support_kfunc() is False)")

    def _attach_usdt(self) -> None:
        """Each enabled USDT probe: a uprobe per location (the semaphore raised through
        ref_ctr_offset while attached), running the function compiled for its argument layout."""
        from ..kernel import uprobes

        for u in self._usdt:
            for k, (_args, locs) in enumerate(u.layouts):
                name = u.fn_name if k == 0 else f"{u.fn_name}#{k}"
                prog_fd = self.load_func(name, uapi.BPF_PROG_TYPE_KPROBE)
                for path, off, sem in locs:
                    try:
                        att = uprobes.attach_uprobe(prog_fd, path, off, False, u.pid, ref_ctr_offset=sem,
                                                    what=f"usdt:{path}:{u.probe}")
                    except uprobes.UprobeError as e:
                        raise Unsupported(f"Failed to attach BPF program {u.fn_name} to USDT probe "
                                          f"{u.probe}: {e}") from None
                    self._probes[f"uprobe:{path}:{off}:{name}:{u.pid}"] = att

    # ------------------------------------------------------------------ probes
    @staticmethod
    def _s(x: str | bytes) -> str:
        return x.decode() if isinstance(x, bytes) else x

    def attach_kprobe(self, event: str | bytes = b"", event_off: int = 0, fn_name: str | bytes = b"",
                      event_re: str | bytes = b"", retprobe: bool = False) -> None:
        from ..kernel import features, kprobes

        event, fn = self._s(event), self._s(fn_name)
        kind = "kretprobe" if retprobe else "kprobe"
        if event_re:
            rx = self._s(event_re)
            if not retprobe and not _have_kprobes(features):
                from ..lang.bcc.standins import stand_ins_matching

                standing = stand_ins_matching(rx)
                for s in standing:
                    self._stand_in(s, fn)
                if standing:
                    return
            self._no_kprobes(kind, fn, rx)
            found = sorted(f.decode() for f in BPF.get_kprobe_functions(rx))
            if not found:
                raise Unsupported(f"Failed to attach BPF program {fn} to {kind}s matching {rx!r}: "
                                  "no traceable kernel function matches")
            self._check_probe_quota(len(found))
            failed: list[str] = []
            for f in found:
                try:
                    self.attach_kprobe(event=f, fn_name=fn, retprobe=retprobe)
                except Unsupported as e:
                    failed.append(str(e))
            if len(failed) == len(found):   # BCC fails only when no match could be attached
                raise Unsupported(failed[0])
            return
        if not event_off and not _have_kprobes(features):
            from ..lang.bcc.standins import stand_in_for, syscall_stand_in

            si = None if retprobe else stand_in_for(event)
            if si is None and event in _kallsyms_text():
                si = syscall_stand_in(event, _syscall_numbers(), retprobe)
            if si is not None:
                self._stand_in(si, fn)
                return
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_KPROBE)
        try:
            att = kprobes.attach_kprobe(prog_fd, event, event_off, retprobe)
        except kprobes.KprobeError as e:
            raise Unsupported(f"Failed to attach BPF program {fn} to {kind} {event}: {e}") from None
        self._probes[f"{'kretprobe' if retprobe else 'kprobe'}:{event}:{fn}"] = att

    def _stand_in(self, si: StandIn, fn: str) -> None:
        """Without kprobes, a kprobe on one of a few scheduler functions runs from a raw
        tracepoint inside it (lang/bcc/standins.py): the function compiled again with its
        arguments read from the tracepoint's (finish_task_switch: the current task's pid, comm
        and stacks are next's, see lang/bcc/switchstacks.py); a syscall function's k(ret)probe
        from sys_enter/sys_exit, one variant per syscall. It counts as an open k(ret)probe."""
        from ..kernel import features
        from ..lang.bcc.compiler import compile_bcc
        from ..lang.bcc.errors import render
        from ..lang.diagnostics import CompileError

        kind = "kretprobe" if si.ret else "kprobe"
        try:
            alt = compile_bcc(self.text, _tp_fields, self._cflags, _vmlinux_btf, stand_ins={fn: si})
        except CompileError as e:
            raise Unsupported(f"Failed to attach BPF program {fn} to {kind} {si.function}: "
                              f"{features.explain_missing(kind)}; the {si.tracepoint} tracepoint cannot "
                              f"stand in for it:\n{render(e, self.text, self._filename).rstrip()}") from None
        name = f"{fn}#{si.tracepoint}" + (f"#{si.syscall_nr}" if si.syscall_nr >= 0 else "")
        if name not in self._variants:
            self._variants[name] = next(f for f in alt.funcs if f.name == fn)
            made = {t.name: m for t, m in zip(self.obj.tables, self._maps, strict=True)}
            self._variant_maps[name] = [made.setdefault(t.name, _create_map(t, made))
                                        for t in alt.tables[len(self.obj.tables):]]
        fd = self._open_raw_tracepoint(si.tracepoint, name)
        self._probes[f"{kind}:{si.function}:{fn}"] = _FdHandle(fd)

    @staticmethod
    def _no_kprobes(kind: str, fn: str, what: str) -> None:
        from ..kernel import features

        if not _have_kprobes(features):
            raise Unsupported(f"Failed to attach BPF program {fn} to {kind}s matching {what!r}: "
                              f"{features.explain_missing(kind)}")

    def attach_kretprobe(self, event: str | bytes = b"", fn_name: str | bytes = b"",
                         event_re: str | bytes = b"", maxactive: int = 0) -> None:
        self.attach_kprobe(event=event, fn_name=fn_name, event_re=event_re, retprobe=True)

    def detach_kprobe(self, event: str | bytes = b"", fn_name: str | bytes = b"") -> None:
        self._detach(f"kprobe:{self._s(event)}:")

    def detach_kretprobe(self, event: str | bytes = b"", fn_name: str | bytes = b"") -> None:
        self._detach(f"kretprobe:{self._s(event)}:")

    def _detach(self, prefix: str) -> None:
        for k in [k for k in self._probes if k.startswith(prefix)]:
            self._probes.pop(k).close()

    def attach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                      addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1,
                      sym_off: int = 0, retprobe: bool = False) -> None:
        """name: a path, or a library name as BCC takes it ("c", "pthread"); sym or addr."""
        from ..kernel import elf, uprobes

        lib, sym, fn = self._s(name), self._s(sym), self._s(fn_name)
        path = _user_path(lib, pid)
        if not path or not os.path.exists(path):
            raise Unsupported(f"could not determine address of symbol {sym or self._s(sym_re) or addr} in {lib}: "
                              "no such binary or library")
        if sym_re:
            hits = BPF.get_user_functions_and_addresses(path, sym_re)
            if not hits:
                raise Unsupported(f"no symbol in {path} matches {self._s(sym_re)!r}")
            self._check_probe_quota(len(hits))
            for sname, saddr in hits:
                self.attach_uprobe(name=path, addr=saddr, fn_name=fn, pid=pid, retprobe=retprobe,
                                   sym=sname)
            return
        if addr is None:
            hit = elf.resolve_symbol(path, sym)
            if hit is None:
                raise Unsupported(f"could not determine address of symbol {sym} in {path}")
            vaddr = hit[0] + sym_off
        else:
            vaddr = addr
        off = elf.vaddr_to_file_offset(path, vaddr)
        if off is None:
            raise Unsupported(f"could not map the address of {sym or hex(vaddr)} to a file offset in {path}")
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_KPROBE)
        kind = "uretprobe" if retprobe else "uprobe"
        try:
            att = uprobes.attach_uprobe(prog_fd, path, off, retprobe, pid, what=f"{kind}:{path}:{sym}")
        except uprobes.UprobeError as e:
            raise Unsupported(f"Failed to attach BPF program {fn} to {kind}: {e}") from None
        self._probes[f"{kind}:{path}:{sym or vaddr}:{fn}"] = att

    @staticmethod
    def generate_auto_includes(program_words: Any) -> str:
        """BCC adds kernel #includes for words it sees; types come from BTF here, so none."""
        return ""

    @staticmethod
    def find_library(libname: str | bytes) -> bytes | None:
        """A library by BCC's short name ("c", "pthread") or a path, from the loader's cache."""
        from ..kernel import ldcache

        lib = BPF._s(libname)
        path = lib if "/" in lib and os.path.exists(lib) else ldcache.find_library(lib)
        return path.encode() if path else None

    @staticmethod
    def find_exe(bin_path: str | bytes) -> bytes | None:
        import shutil

        p = BPF._s(bin_path)
        if "/" in p:
            return p.encode() if os.access(p, os.X_OK) else None
        found = shutil.which(p)
        return found.encode() if found else None

    @staticmethod
    def get_user_functions_and_addresses(name: str | bytes, sym_re: str | bytes) -> list[tuple[bytes, int]]:
        """(symbol, address) of the functions in a binary or library whose names the regex
        matches from their start (one per address)."""
        import re

        from ..kernel import elf

        rx = re.compile(BPF._s(sym_re))
        seen: dict[int, bytes] = {}
        for s in elf.function_symbols(BPF._s(name)):
            if rx.match(s.name):
                seen.setdefault(s.value, s.name.encode())
        return [(n, a) for a, n in seen.items()]

    def detach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                      pid: int = -1, sym_off: int = 0) -> None:
        """Detach what attach_uprobe(name, sym or addr) attached (KeyError-free when nothing is)."""
        self._detach_user("uprobe", name, sym, addr, pid)

    def detach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                         pid: int = -1) -> None:
        self._detach_user("uretprobe", name, sym, addr, pid)

    def _detach_user(self, kind: str, name: str | bytes, sym: str | bytes, addr: int | None, pid: int) -> None:
        path = _user_path(self._s(name), pid)
        what = self._s(sym) or (addr if addr is not None else "")
        found = [k for k in self._probes if k.startswith(f"{kind}:{path}:{what}:")]
        if not found:
            raise Exception(f"{kind} {self._s(name)}:{what} is not attached")
        for k in found:
            self._probes.pop(k).close()

    def attach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                         addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1,
                         sym_off: int = 0) -> None:
        self.attach_uprobe(name, sym, sym_re, addr, fn_name, pid, sym_off, retprobe=True)

    def attach_raw_tracepoint(self, tp: str | bytes = b"", fn_name: str | bytes = b"") -> None:
        tp, fn = self._s(tp), self._s(fn_name)
        self._perf_fds.setdefault(f"raw:{tp}", []).append(self._open_raw_tracepoint(tp, fn))

    def _open_raw_tracepoint(self, tp: str, fn: str) -> int:
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_RAW_TRACEPOINT)
        try:
            return sc.raw_tracepoint_open(tp, prog_fd)
        except sc.BpfError as e:
            raise Unsupported(f"Failed to attach BPF program {fn} to raw tracepoint {tp}: "
                              f"{os.strerror(e.errno or 0)}") from None

    def attach_perf_event(self, ev_type: int = -1, ev_config: int = -1, fn_name: str | bytes = b"",
                          pid: int = -1, cpu: int = -1, group_fd: int = -1, sample_period: int = 0,
                          sample_freq: int = 0) -> None:
        """One perf event per online CPU (or the given cpu), each running fn_name on overflow."""
        from .cpus import online_cpus

        fn = self._s(fn_name)
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_PERF_EVENT)
        fds: list[int] = []
        try:
            for c in ([cpu] if cpu >= 0 else online_cpus()):
                fd = sc.perf_event_open(ev_type, ev_config, pid=pid, cpu=c, group_fd=group_fd,
                                        sample_period=sample_period, sample_freq=sample_freq)
                fds.append(fd)
                sc.perf_attach_bpf(fd, prog_fd)
        except sc.BpfError as e:
            for fd in fds:
                os.close(fd)
            raise Unsupported(f"Failed to attach BPF program {fn} to perf event {ev_type}:{ev_config}: "
                              f"{os.strerror(e.errno or 0)}") from None
        self._perf_fds.setdefault(f"perf:{ev_type}:{ev_config}:{fn}", []).extend(fds)

    def attach_perf_event_raw(self, attr: Any = None, fn_name: str | bytes = b"", pid: int = -1,
                              cpu: int = -1, group_fd: int = -1, extra_flags: int = 0) -> None:
        """attach_perf_event with a whole Perf.perf_event_attr (sample_type, precise_ip,
        exclude_* ...): one event per online CPU (or the given cpu), each running fn_name."""
        from .cpus import online_cpus

        if attr is None or not hasattr(attr, "flag_word"):
            raise TypeError("attach_perf_event_raw() needs attr=Perf.perf_event_attr()")
        fn = self._s(fn_name)
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_PERF_EVENT)
        fds: list[int] = []
        try:
            for c in ([cpu] if cpu >= 0 else online_cpus()):
                fd = sc.perf_event_open(attr.type, attr.config, pid=pid, cpu=c, group_fd=group_fd,
                                        sample_period=attr.sample_period, sample_type=attr.sample_type,
                                        wakeup_events=attr.wakeup_events, flags=attr.flag_word(),
                                        config1=attr.config1, config2=attr.config2, bp_type=attr.bp_type)
                fds.append(fd)
                sc.perf_attach_bpf(fd, prog_fd)
        except sc.BpfError as e:
            for fd in fds:
                os.close(fd)
            raise Unsupported(f"Failed to attach BPF program {fn} to perf event {attr.type}:{attr.config}: "
                              f"{os.strerror(e.errno or 0)}") from None
        self._perf_fds.setdefault(f"perf:{attr.type}:{attr.config}:{fn}", []).extend(fds)

    def detach_perf_event(self, ev_type: int = -1, ev_config: int = -1) -> None:
        for k in [k for k in self._perf_fds if k.startswith(f"perf:{ev_type}:{ev_config}:")]:
            for fd in self._perf_fds.pop(k):
                os.close(fd)

    def num_open_kprobes(self) -> int:
        return sum(1 for k in self._probes if k.startswith(("kprobe:", "kretprobe:")))

    def num_open_uprobes(self) -> int:
        return sum(1 for k in self._probes if k.startswith(("uprobe:", "uretprobe:")))

    # ------------------------------------------------------------------ feature queries
    @staticmethod
    def get_syscall_prefix() -> bytes:
        return b"__x64_sys_"

    @staticmethod
    def get_syscall_fnname(name: str | bytes) -> bytes:
        n = name.encode() if isinstance(name, str) else name
        return b"__x64_sys_" + n

    _syscall_prefixes = (b"sys_", b"__x64_sys_", b"__x32_compat_sys_", b"__ia32_compat_sys_", b"__arm64_sys_")

    def fix_syscall_fnname(self, name: str | bytes) -> bytes:
        """A syscall function spelled with any arch's prefix (kprobe__sys_kill) as this
        kernel names it (__x64_sys_kill); other names unchanged, as BCC's auto-attach does."""
        n = name.encode() if isinstance(name, str) else name
        for prefix in self._syscall_prefixes:
            if n.startswith(prefix):
                return self.get_syscall_fnname(n[len(prefix):])
        return n

    @staticmethod
    def get_kprobe_functions(event_re: bytes | str) -> set[bytes]:
        """Kernel functions matching the regex that kprobes could attach to. Where this kernel
        has no kprobes: none for a plain function name (scripts ask `if get_kprobe_functions(
        b'blk_start_request'):` to choose their tracepoint path), and for a pattern (funccount's
        `^vfs_.*$`, a request for the functions to probe) the plain no-kprobe message, not an
        empty list its caller would report as "no functions matched"."""
        import re

        from ..kernel import features

        if not _have_kprobes(features):
            text = event_re.decode() if isinstance(event_re, bytes) else event_re
            if _REGEX_CHARS & set(text):
                raise KernelLacks(f"cannot attach kprobes to the kernel functions matching {text!r}: "
                                  f"{features.explain_missing('kprobe')}")
            return set()
        rx = re.compile(event_re.decode() if isinstance(event_re, bytes) else event_re)
        skip = _kprobe_blacklist()
        return {f.encode() for f in _kallsyms_text() if f not in skip and rx.fullmatch(f)}

    @staticmethod
    def support_raw_tracepoint() -> bool:
        return True

    @staticmethod
    def support_raw_tracepoint_in_module() -> bool:
        return True

    @staticmethod
    def support_kfunc() -> bool:
        return False

    @staticmethod
    def support_lsm() -> bool:
        return False

    @staticmethod
    def kernel_struct_has_field(struct_name: str | bytes, field_name: str | bytes) -> int:
        """1 if the kernel's BTF has struct.field, 0 if not (BCC's answer, an int)."""
        from ..lang.ctype.btftypes import BtfSource

        s = struct_name.decode() if isinstance(struct_name, bytes) else struct_name
        f = field_name.decode() if isinstance(field_name, bytes) else field_name
        src = BtfSource(_vmlinux_btf())
        t = src.named(s if s.startswith(("struct ", "union ")) else f"struct {s}")
        ms = src.members(t) if t is not None else None
        return int(any(m.name == f for m in ms or []))

    # ------------------------------------------------------------------ networking
    @staticmethod
    def attach_raw_socket(fn: Any, dev: str | bytes) -> None:
        """A SOCKET_FILTER function on a new packet socket bound to `dev` (every protocol,
        non-blocking): it sees each frame the device sends or receives, and what it keeps is
        read from `fn.sock` (an fd: socket.fromfd(fn.sock, AF_PACKET, SOCK_RAW))."""
        import socket
        import struct

        if not isinstance(fn, Function):
            raise Exception("arg 1 must be of type BPF.Function")
        name = dev.decode() if isinstance(dev, bytes) else dev
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                                 socket.htons(_ETH_P_ALL))
        except OSError as e:
            raise Exception(f"Failed to open raw device {name}: {e.strerror}") from None
        try:
            sock.bind((name, _ETH_P_ALL))
        except OSError as e:
            sock.close()
            raise Exception(f"Failed to open raw device {name}: {e.strerror or e}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_BPF, struct.pack("i", fn.fd))
        except OSError as e:
            sock.close()
            raise Exception(f"Failed to attach BPF to device {name}: {e.strerror}") from None
        fn.sock = sock.detach()

    @staticmethod
    def attach_xdp(dev: str | bytes, fn: Any, flags: int = 0) -> None:
        """An XDP function on a device (rtnetlink; it stays until remove_xdp(), as BCC's)."""
        BPF._set_xdp(dev, fn.fd if isinstance(fn, Function) else -2, flags, "attach BPF to")

    @staticmethod
    def remove_xdp(dev: str | bytes, flags: int = 0) -> None:
        BPF._set_xdp(dev, -1, flags, "detach BPF from")

    @staticmethod
    def _set_xdp(dev: str | bytes, fd: int, flags: int, what: str) -> None:
        import errno
        import socket

        from ..kernel import netlink

        name = dev.decode() if isinstance(dev, bytes) else dev
        if fd == -2:
            raise Exception("arg 2 must be of type BPF.Function")
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            raise Exception(f"Failed to {what} device {name}: {os.strerror(errno.ENODEV)}") from None
        try:
            nl = netlink.Netlink()
            try:
                netlink.set_xdp(nl, index, fd, flags)
            finally:
                nl.close()
        except OSError as e:
            raise Exception(f"Failed to {what} device {name}: {e.strerror or e}") from None

    @staticmethod
    def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
        """BCC's ksym: b"name", b"name+0x1f" (show_offset), b"name [kernel]" (show_module),
        b"[unknown]" for an address no kernel symbol covers."""
        return BPF.sym(addr, -1, show_module, show_offset, False)

    @staticmethod
    def ksymname(name: str | bytes) -> int:
        from ..kernel import ksyms

        a = ksyms.kaddr(name.decode() if isinstance(name, bytes) else name)
        return -1 if a is None else a

    def add_module(self, modname: str | bytes) -> None:
        """Make an ELF object's symbols answer sym() for BPF_STACK_TRACE_BUILDID frames that
        carry its build id (BCC's build-id symbol cache)."""
        from ..kernel import elf

        path = modname.decode() if isinstance(modname, bytes) else modname
        try:
            bid = elf.build_id(path)
        except (OSError, elf.ElfError):
            bid = None
        if bid is None:
            raise Exception(f"add_module: {path} is not an ELF object with a build id")
        _BUILD_IDS[bid[:40]] = path   # the kernel keeps 20 bytes (BPF_BUILD_ID_SIZE)

    @staticmethod
    def sym(addr: Any, pid: int, show_module: bool = False, show_offset: bool = False,
            demangle: bool = True) -> bytes:
        """BCC's sym: the symbol at addr in process pid (kernel for pid < 0), formatted as
        name[+0xOFF][ [module basename]]; b"[unknown]" when nothing covers it (the process
        is gone, the address is in anonymous memory...). addr may be a frame of a
        BPF_STACK_TRACE_BUILDID table: resolved in the add_module()d object of its build id."""
        if hasattr(addr, "build_id"):
            name, off, module = _resolve_build_id(addr, pid)
        else:
            name, off, module = _resolve(addr, pid)
        out = name if name is not None else "[unknown]"
        if show_offset and name is not None:
            out += f"+0x{off:x}"
        if show_module and module:
            out += f" [{os.path.basename(module)}]"
        return out.encode("utf-8", "surrogateescape")

    @staticmethod
    def monotonic_time() -> int:
        import time

        return time.monotonic_ns()

    def trace_open(self, nonblocking: bool = False) -> Any:
        """tracefs's trace_pipe, where bpf_trace_printk() writes (opened once)."""
        if self._trace_pipe is None:
            from .tracepipe import TracePipe

            self._trace_pipe = TracePipe()
        return self._trace_pipe

    def trace_readline(self, nonblocking: bool = False) -> bytes | None:
        return self.trace_open().readline(nonblocking)

    def trace_fields(self, nonblocking: bool = False) -> tuple[Any, ...]:
        """(task, pid, cpu, flags, ts, msg) of the next bpf_trace_printk line; six Nones when
        nonblocking and nothing is waiting."""
        from .tracepipe import parse_line

        while True:
            line = self.trace_readline(nonblocking)
            if line is None:
                return (None,) * 6
            fields = parse_line(line)
            if fields is not None:
                return fields

    def trace_print(self, fmt: str | None = None) -> None:
        """Print trace_pipe lines until interrupted: raw, or fmt.format(task, pid, cpu, flags,
        ts, msg) with the byte fields decoded."""
        import sys

        while True:
            if fmt:
                fields = self.trace_fields()
                text = fmt.format(*(f.decode(errors="replace") if isinstance(f, bytes) else f
                                    for f in fields))
                sys.stdout.write(text + "\n")
            else:
                line = self.trace_readline() or b""
                sys.stdout.flush()
                sys.stdout.buffer.write(line + b"\n")
            sys.stdout.flush()

    # ------------------------------------------------------------------ tables
    def get_table(self, name: str | bytes, keytype: Any = None, leaftype: Any = None,
                  reducer: Callable[[Any, Any], Any] | None = None) -> Any:
        """The table by name (str or bytes, as BCC takes both); a per-CPU table's reducer
        folds its per-CPU values into one on every read."""
        key = self._s(name)
        if key not in self.tables:
            from .table import make_table

            for spec, m in zip(self.obj.tables, self._maps, strict=True):
                if spec.name == key:
                    self.tables[key] = make_table(spec, m, self._poller)
                    break
            else:
                raise KeyError(name)
        t = self.tables[key]
        if reducer is not None:
            t.reducer = reducer
        return t

    def __getitem__(self, name: str | bytes) -> Any:
        return self.get_table(name)

    def __contains__(self, name: str | bytes) -> bool:
        return any(s.name == self._s(name) for s in self.obj.tables)

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to `timeout` ms (-1: forever) and call the callbacks of every opened buffer."""
        return self._poller.poll(timeout)

    def perf_buffer_consume(self) -> int:
        """Hand every record already in the buffers to the callbacks, without waiting."""
        return self._poller.drain()

    def kprobe_poll(self, timeout: int = -1) -> int:
        """Old BCC's name for perf_buffer_poll, still used by older scripts."""
        return self.perf_buffer_poll(timeout)

    def ring_buffer_poll(self, timeout: int = -1) -> int:
        return self._poller.poll(timeout)

    def ring_buffer_consume(self) -> int:
        return self._poller.drain()

    # ------------------------------------------------------------------ lifetime
    def cleanup(self) -> None:
        """Detach everything, close every program and map (the kernel frees them)."""
        for att in self._probes.values():
            att.close()
        self._probes.clear()
        for fds in self._perf_fds.values():
            for fd in fds:
                os.close(fd)
        self._perf_fds.clear()
        for fds in self._tp_handles.values():
            for fd in fds:
                os.close(fd)
        self._tp_handles.clear()
        self._poller.close()
        if self._trace_pipe is not None:
            self._trace_pipe.close()
            self._trace_pipe = None
        for fd in self.funcs.values():
            os.close(fd)
        self.funcs.clear()
        for k in [k for k, pub in _PUBLIC_TABLES.items() if pub in self._maps]:
            del _PUBLIC_TABLES[k]
        for m in self._maps + [m for ms in self._variant_maps.values() for m in ms]:
            m.close()
        self._maps.clear()
        self._variant_maps.clear()
        self.tables.clear()

    def __enter__(self) -> BPF:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

