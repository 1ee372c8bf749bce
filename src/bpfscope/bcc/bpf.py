"""`BPF`: BCC's main class — compile C text with bpfscope's BCC compiler, create the
tables, load the functions, auto-attach TRACEPOINT_PROBEs, poll event buffers, clean up."""

from __future__ import annotations

import ctypes as ct
import os
import select
from collections.abc import Callable
from typing import Any

from ..kernel import insn as I
from ..kernel import syscall as sc
from ..kernel import tracefs, uapi
from ..kernel.maps import Map
from .errors import Unsupported


class BPFCompileError(Exception):
    """The program did not compile: the message is the located diagnostic (no traceback)."""


class _Poller:
    """Event tables opened for callbacks, polled together as perf_buffer_poll()/ring_buffer_poll()."""

    def __init__(self) -> None:
        self.rings: list[tuple[Any, Callable[[Any, int], None]]] = []
        self.epoll: select.epoll | None = None

    def open(self, table: Any, cb: Callable[[Any, int], None]) -> None:
        from ..kernel.ringbuf import RingBuffer

        ring = RingBuffer(table.map.fd, table.map.max_entries)
        self.rings.append((ring, cb))
        if self.epoll is None:
            self.epoll = select.epoll()
        self.epoll.register(ring.fileno(), select.EPOLLIN)

    def poll(self, timeout_ms: int) -> int:
        n = self.drain()
        if n or self.epoll is None:
            return n
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
        return n

    def close(self) -> None:
        for ring, _ in self.rings:
            ring.close()
        self.rings.clear()
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


def _have_kprobes(features: Any) -> bool:
    return bool(features.kprobes())


def _vmlinux_btf() -> Any:
    from ..kernel.btf import Btf

    return Btf.vmlinux()


class BPF:
    def __init__(self, src_file: str = "", hdr_file: str = "", text: str | bytes | None = None,
                 debug: int = 0, cflags: list[str] | None = None, usdt_contexts: list[Any] | None = None,
                 allow_rlimit: bool = True, device: Any = None, attach_usdt_ignore_pid: bool = False) -> None:
        from ..lang.bcc.compiler import compile_bcc
        from ..lang.bcc.errors import render
        from ..lang.diagnostics import CompileError

        if usdt_contexts:
            raise BPFCompileError("usdt_contexts are not supported yet by bpfscope.bcc")
        filename = "<text>"
        if text is None:
            if not src_file:
                raise ValueError("BPF() needs text= or src_file=")
            filename = src_file
            with open(src_file) as fh:
                text = fh.read()
        self.text = text.decode() if isinstance(text, bytes) else text
        self.debug = debug
        self.tables: dict[str, Any] = {}
        self.funcs: dict[str, int] = {}
        self._maps: list[Map] = []
        self._tp_handles: dict[tuple[str, str], list[int]] = {}
        self._probes: dict[str, Any] = {}           # "kprobe:fn"/"uprobe:path:sym"/... → attachment(s)
        self._perf_fds: dict[str, list[int]] = {}
        self._poller = _Poller()
        try:
            self.obj = compile_bcc(self.text, _tp_fields, cflags or [], _vmlinux_btf)
        except CompileError as e:
            msg = render(e, self.text, filename)
            raise BPFCompileError(msg.rstrip("\n")) from None
        import atexit

        atexit.register(self.cleanup)
        if allow_rlimit:
            sc.raise_memlock()
        try:
            for spec in self.obj.tables:
                self._maps.append(Map.create(spec.map_type, 0 if spec.output else spec.key.size,
                                             0 if spec.output else spec.leaf.size, spec.max_entries,
                                             name=spec.name[:15]))
            for f in self.obj.funcs:
                if f.tracepoint is not None:
                    self.attach_tracepoint(tp=":".join(f.tracepoint), fn_name=f.name)
            self._auto_attach()
        except BaseException:
            self.cleanup()
            raise

    # ------------------------------------------------------------------ programs
    def load_func(self, func_name: str, prog_type: int = uapi.BPF_PROG_TYPE_TRACEPOINT) -> int:
        """Load one function of the program (once); returns its program fd."""
        if func_name in self.funcs:
            return self.funcs[func_name]
        fp = next((f for f in self.obj.funcs if f.name == func_name), None)
        if fp is None:
            raise Exception(f"Failed to load BPF program {func_name}: no such function")
        insns = [I.Insn(i.code, i.dst, i.src, i.off, i.imm) for i in fp.insns]
        for i in insns:
            if I.is_ld_imm64(i) and i.src == I.PSEUDO_MAP_FD:
                i.imm = self._maps[i.imm].fd
        try:
            fd, _ = sc.prog_load(prog_type, I.encode(insns), "GPL", func_name[:15],
                                 log_level=1 if self.debug else 0, log_size=1 << 20 if self.debug else 0)
        except sc.BpfError as e:
            if not e.log:
                try:
                    sc.prog_load(prog_type, I.encode(insns), "GPL", func_name[:15], log_level=1,
                                 log_size=1 << 22)
                except sc.BpfError as e2:
                    e.log = e2.log
            raise Exception(f"Failed to load BPF program {func_name}: {os.strerror(e.errno or 0)}\n"
                            f"{e.log.strip()}") from None
        self.funcs[func_name] = fd
        return fd

    def attach_tracepoint(self, tp: str = "", tp_re: str = "", fn_name: str = "") -> None:
        if tp_re:
            raise Exception("attach_tracepoint(tp_re=) is not supported yet")
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
    def tracepoint_exists(category: str, event: str) -> bool:
        return tracefs.event_format(category, event) is not None

    def num_open_tracepoints(self) -> int:
        return len(self._tp_handles)

    def _auto_attach(self) -> None:
        """BCC attaches functions by their name prefix: kprobe__vfs_read, raw_tracepoint__x..."""
        for f in self.obj.funcs:
            n = f.name
            if n.startswith("kprobe__"):
                self.attach_kprobe(event=n[8:], fn_name=n)
            elif n.startswith("kretprobe__"):
                self.attach_kretprobe(event=n[11:], fn_name=n)
            elif n.startswith("raw_tracepoint__"):
                self.attach_raw_tracepoint(tp=n[16:], fn_name=n)
            elif n.startswith(("kfunc__", "kretfunc__", "lsm__")):
                raise Unsupported(f"{n}: fentry/fexit (kfunc) and LSM programs are not available here "
                                  "(support_kfunc() is False)")

    # ------------------------------------------------------------------ probes
    @staticmethod
    def _s(x: str | bytes) -> str:
        return x.decode() if isinstance(x, bytes) else x

    def attach_kprobe(self, event: str | bytes = b"", event_off: int = 0, fn_name: str | bytes = b"",
                      event_re: str | bytes = b"", retprobe: bool = False) -> None:
        from ..kernel import kprobes

        event, fn = self._s(event), self._s(fn_name)
        if event_re:
            raise Unsupported("attach_kprobe(event_re=) is not supported by bpfscope yet")
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_KPROBE)
        try:
            att = kprobes.attach_kprobe(prog_fd, event, event_off, retprobe)
        except kprobes.KprobeError as e:
            kind = "kretprobe" if retprobe else "kprobe"
            raise Unsupported(f"Failed to attach BPF program {fn} to {kind} {event}: {e}") from None
        self._probes[f"{'kretprobe' if retprobe else 'kprobe'}:{event}:{fn}"] = att

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
        from ..kernel import elf, ldcache, uprobes

        lib, sym, fn = self._s(name), self._s(sym), self._s(fn_name)
        if sym_re:
            raise Unsupported("attach_uprobe(sym_re=) is not supported by bpfscope yet")
        path = lib if "/" in lib else (ldcache.find_library(lib) or __import__("shutil").which(lib))
        if not path or not os.path.exists(path):
            raise Unsupported(f"could not determine address of symbol {sym or addr} in {lib}: "
                              "no such binary or library")
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

    def attach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                         addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1,
                         sym_off: int = 0) -> None:
        self.attach_uprobe(name, sym, sym_re, addr, fn_name, pid, sym_off, retprobe=True)

    def attach_raw_tracepoint(self, tp: str | bytes = b"", fn_name: str | bytes = b"") -> None:
        tp, fn = self._s(tp), self._s(fn_name)
        prog_fd = self.load_func(fn, uapi.BPF_PROG_TYPE_RAW_TRACEPOINT)
        try:
            fd = sc.raw_tracepoint_open(tp, prog_fd)
        except sc.BpfError as e:
            raise Unsupported(f"Failed to attach BPF program {fn} to raw tracepoint {tp}: "
                              f"{os.strerror(e.errno or 0)}") from None
        self._perf_fds.setdefault(f"raw:{tp}", []).append(fd)

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

    @staticmethod
    def get_kprobe_functions(event_re: bytes | str) -> set[bytes]:
        """Kernel functions matching the regex that kprobes could attach to: none where this
        kernel has no kprobes, so scripts take their tracepoint paths."""
        import re

        from ..kernel import features, kprobes

        if not _have_kprobes(features):
            return set()
        rx = re.compile(event_re.decode() if isinstance(event_re, bytes) else event_re)
        return {f.encode() for f in kprobes.list_kernel_functions("*") if rx.match(f)}

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

    @staticmethod
    def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
        from ..kernel import ksyms

        return ksyms.ksym(addr, show_offset).encode()

    @staticmethod
    def ksymname(name: str | bytes) -> int:
        from ..kernel import ksyms

        a = ksyms.kaddr(name.decode() if isinstance(name, bytes) else name)
        return -1 if a is None else a

    @staticmethod
    def sym(addr: int, pid: int, show_module: bool = False, show_offset: bool = False,
            demangle: bool = True) -> bytes:
        if pid < 0:
            return BPF.ksym(addr, show_module, show_offset)
        from ..kernel import procmaps, symbols

        try:
            name = symbols.usym(procmaps.ProcessMaps.capture(pid), addr, show_offset)
        except Exception:
            return b"[unknown]"
        return b"[unknown]" if name.startswith("0x") else name.encode()

    @staticmethod
    def monotonic_time() -> int:
        import time

        return time.monotonic_ns()

    def trace_fields(self, nonblocking: bool = False) -> tuple[bytes, int, int, bytes, float, bytes]:
        raise Unsupported("bpf_trace_printk output (trace_print/trace_fields) is not supported by "
                          "bpfscope yet")

    def trace_print(self, fmt: str | None = None) -> None:
        self.trace_fields()

    # ------------------------------------------------------------------ tables
    def get_table(self, name: str) -> Any:
        if name not in self.tables:
            from .table import make_table

            for spec, m in zip(self.obj.tables, self._maps, strict=True):
                if spec.name == name:
                    self.tables[name] = make_table(spec, m, self._poller)
                    break
            else:
                raise KeyError(name)
        return self.tables[name]

    def __getitem__(self, name: str) -> Any:
        return self.get_table(name)

    def __contains__(self, name: str) -> bool:
        return any(s.name == name for s in self.obj.tables)

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to `timeout` ms (-1: forever) and call the callbacks of every opened buffer."""
        return self._poller.poll(timeout)

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
        for fd in self.funcs.values():
            os.close(fd)
        self.funcs.clear()
        for m in self._maps:
            m.close()
        self._maps.clear()
        self.tables.clear()

    def __enter__(self) -> BPF:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

