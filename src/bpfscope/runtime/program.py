"""`bpfscope.Program`: compile, load, attach, poll, read maps, detach.

    with bpfscope.Program('tracepoint:syscalls:sys_enter_getppid { @ = count(); }') as p:
        p.attach()
        time.sleep(1)
        print(p.maps()["@"])

The CLI is a thin layer over this class; tools and exporters use it too.
"""

from __future__ import annotations

import operator
import os
import re
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ..kernel import insn as I
from ..kernel import syscall as sc
from ..kernel import uapi
from ..kernel.maps import Map, possible_cpus
from ..lang.ctype.types import Kind, Type
from ..lang.diagnostics import CompileError, Source
from ..lang.spec import CompiledProgram, EventSpec, MapSpec, ProgSpec
from . import output
from .decode import Decoder
from .fdwrite import write_all
from .keymerge import has_stack, hashable, merge_entries
from .probes import provider
from .probes.base import Env

if TYPE_CHECKING:   # the AST module is imported where a program is parsed: a cached tool never is
    from ..lang.bpftrace import ast as A

SPECIAL = ("begin", "end", "self", "test", "bench")


class BpfscopeError(Exception):
    """A failure explained in plain words (no traceback for the user); exit status 1."""


class VerifierError(CompileError):
    pass


class Program:
    def __init__(self, source: str, *, filename: str = "stdin", args: list[str] | tuple[str, ...] = (),
                 unsafe: bool = False, pid: int = -1, json: bool = False,
                 out: IO[str] | None = None, opts: dict[str, Any] | None = None) -> None:
        self.source = Source(source, filename)
        self.positional = list(args)
        self.unsafe = unsafe
        self.pid = pid
        self.json = json
        self.out = out if out is not None else sys.stdout
        self.opts: dict[str, Any] = dict(opts or {})
        self.ast: A.Program | None = None
        self.compiled: CompiledProgram | None = None
        self.maps_: list[Map] = []
        self.prog_fds: list[int] = []
        self.handles: list[Any] = []
        self.ring: Any = None
        self.pcap: Any = None      # pcap.PcapOutput of skboutput() calls
        self.exiting = False
        self.exit_code = 0
        self.lost_reported = 0
        self._symbolizer: Any = None
        self._mmaps: Any = None
        self._stopped = False
        self._exit_deferred = False   # an iterator's walk is running: exit() waits for its end
        self.lost_stacks = 0
        self._maps_synced: dict[int, int] = {}
        self._stack_cache: dict[tuple[Any, ...], list[str]] = {}
        self._mmaps_drained = 0.0
        self._pid_gc: Any = None   # pidgc.ExitedPidCollector, with the mapping tracker
        # (tracker drain number, ring producer position after it), oldest first: once our
        # reading passed the position, exits read by that drain are safe to act on
        self._mmaps_marks: deque[tuple[int, int]] = deque()
        self._mmaps_safe = 0
        self._records = 0
        self._lost_map: Map | None = None
        self.on_output: Callable[[str], None] | None = None
        self._sites: dict[int, set[str]] | None = None     # uprobe sites by page offset (_probe_site)
        # typed events for front ends (tools/): given a printf's EventSpec once, returns the
        # callable that receives each record's values (ints, strs) instead of formatted text
        self.event_sink: Callable[[EventSpec], Callable[[tuple[Any, ...]], None]] | None = None
        self.attached = 0
        self._zeroed: set[str] = set()   # maps zero()ed: a keyless hist of zeros still prints (0.26)
        self._handlers: dict[int, Callable[[bytes], None]] = {}
        self._batch: list[str] | None = None
        self.error_count = 0      # errorf() messages seen (a --test test with errors fails)

    # ------------------------------------------------------------------ compile
    def parse(self) -> A.Program:
        if self.ast is None:
            from ..lang.bpftrace.parser import parse

            self.ast = parse(self.source.text, self.source.filename, self.positional)
        return self.ast

    def compile(self) -> CompiledProgram:
        if self.compiled is not None:
            return self.compiled
        prog = self.parse()
        from ..lang.compiler import compile_program

        if prog.imports:
            self._resolve_imports(prog)
        self._add_stdlib(prog)
        self.opts = {**_script_config(prog), **self.opts}
        from ..lang.bpftrace.config import inline_config_calls

        inline_config_calls(prog, self.opts)
        env = Env(pid=self.pid, opts=self.opts)
        opts = {"positional": self.positional, "unsafe": self.unsafe, "ncpus": os.cpu_count() or 1,
                "kaddr": _kaddr,
                "btf": _vmlinux_btf, "have_btf": os.path.exists(_VMLINUX),
                **self.opts}
        env.opts = opts

        probe_users = _probe_builtin_users(prog)
        args_users = _probe_builtin_users(prog, "args")

        def resolve(ap: A.AttachPoint) -> list[Any]:
            env.opts["wants_probe_name"] = id(ap) in probe_users
            env.opts["wants_args"] = id(ap) in args_users   # uprobes then read DWARF
            if ap.provider in ("test", "bench") and self.opts.get("mode") != ap.provider:
                return []   # as bpftrace: test:/bench: probes only run under --test/--bench
            ap = _expand_positional(ap, self.positional)
            mod = provider(ap.provider)
            if mod is None:
                raise CompileError(f"{ap.provider} probes are not supported yet by bpfscope", ap.span)
            return list(mod.resolve(ap, env))

        from ..lang.bpftrace.aggmaps import array_aggregates

        opts.setdefault("agg_arrays", array_aggregates(prog))   # maps cheaper as per-CPU arrays
        from ..lang.compiler import check_iter_mix
        from .probes.missing import resolve_probes

        check_iter_mix(prog)   # before resolving: the mix is the mistake, not a missing probe
        found, probe_warnings = resolve_probes(prog, resolve, str(opts.get("missing_probes", "warn")))
        try:
            self.compiled = compile_program(prog, lambda ap: found[id(ap)], opts)
        except CompileError:
            if not self.opts.get("no_warnings"):   # the skipped probes explain "No probes to attach"
                sys.stderr.write("".join(self.source.warning(m, sp) for m, sp in probe_warnings))
            raise
        self.compiled.warnings[:0] = probe_warnings
        self._env = env
        return self.compiled

    def use_compiled(self, cp: CompiledProgram) -> None:
        """Adopt a program compiled earlier (a front end's cache of the same source on the same
        kernel), so load/attach skip parsing and compiling altogether."""
        self.compiled = cp
        self._env = Env(pid=self.pid, opts={"positional": self.positional, **self.opts})

    def _resolve_imports(self, prog: A.Program) -> None:
        """`import "x.bt"`: files are read here (relative to the importing script), merged in lang."""
        from ..lang.bpftrace.imports import MultiSource, resolve_imports

        src = MultiSource(self.source.text, self.source.filename)
        self.source = src
        resolve_imports(prog, src, _read_import, self.source.filename)
        self.opts.setdefault("imported", True)

    def _add_stdlib(self, prog: A.Program) -> None:
        """stdlib/base.bt's macros (assert), when the program calls them: diagnostics point there."""
        if not prog.imports and "assert" not in self.source.text:   # start-up: no imports needed
            return
        from ..lang.bpftrace.imports import MultiSource
        from ..lang.bpftrace.stdlib_macros import with_stdlib

        src = self.source if isinstance(self.source, MultiSource) else MultiSource(self.source.text,
                                                                                   self.source.filename)
        if with_stdlib(prog, src):
            self.source = src

    # ------------------------------------------------------------------ load
    def load(self, cpid: int = 0) -> None:
        cp = self.compile()
        sc.raise_memlock()
        for spec in cp.maps:
            try:
                n = spec.max_entries or (possible_cpus() if spec.map_type == uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY
                                         else 0)   # a perf event array: one slot per CPU
                self.maps_.append(Map.create(spec.map_type, spec.key_size, spec.value_size, n,
                                             name=_map_name(spec.name), flags=spec.flags))
            except OSError as e:
                self.close()
                raise BpfscopeError(f"ERROR: failed to create map {spec.name}: {e.strerror}"
                                    + _privilege_hint(e)) from None
        if cp.ringbuf_map >= 0:
            from ..kernel.ringbuf import RingBuffer

            m = self.maps_[cp.ringbuf_map]
            self.ring = RingBuffer(m.fd, m.max_entries)
            self._lost_map = self.maps_[cp.lost_map]
        consts = {"start_ns": time.monotonic_ns(), "cpid": cpid}
        self._env.cpid = cpid   # providers that must arm at the child's exec (watchpoints)
        lic = str(cp.config.get("license", "GPL"))   # config's license goes to the kernel as is (0.26)
        for ps in cp.progs:
            insns = self._relocate(ps, consts)
            mod = provider(ps.probe.provider)
            extra: dict[str, Any] = {}
            try:
                if mod is not None and hasattr(mod, "load_attrs"):
                    extra = mod.load_attrs(ps.probe)
                if ps.subprogs:
                    extra.update(_func_info(ps.subprogs))
                fd, _log = sc.prog_load(ps.probe.prog_type, I.encode(insns), license=lic, name=_prog_name(ps),
                                        expected_attach_type=ps.probe.expected_attach_type,
                                        attach_btf_id=ps.probe.attach_btf_id, **extra)
            except sc.BpfError as first:
                err = first
                try:  # load again with the verifier log on, to explain the rejection
                    sc.prog_load(ps.probe.prog_type, I.encode(insns), license=lic, name=_prog_name(ps),
                                 expected_attach_type=ps.probe.expected_attach_type,
                                 attach_btf_id=ps.probe.attach_btf_id, log_level=1, log_size=1 << 22,
                                 **extra)
                except sc.BpfError as second:
                    err = second
                self.close()
                raise self._verifier_error(ps, err) from None
            except Exception as e:
                self.close()
                raise BpfscopeError(f"ERROR: cannot load {ps.probe.name}: {e}") from None
            finally:
                if extra.get("attach_btf_obj_fd"):
                    os.close(extra["attach_btf_obj_fd"])
                if extra.get("prog_btf_fd"):
                    os.close(extra["prog_btf_fd"])
            self.prog_fds.append(fd)
        if any(ev.kind == "skboutput" for ev in cp.events):
            from .pcap import PcapError, PcapOutput

            try:
                self.pcap = PcapOutput(cp, self.maps_)
            except PcapError as e:
                self.close()
                raise BpfscopeError(str(e)) from None

    def _relocate(self, ps: ProgSpec, consts: dict[str, int]) -> list[I.Insn]:
        insns = [I.Insn(i.code, i.dst, i.src, i.off, i.imm) for i in ps.insns]
        for i in insns:
            if I.is_ld_imm64(i) and i.src == I.PSEUDO_MAP_FD:
                i.imm = self.maps_[i.imm].fd
        for idx, name in ps.consts:
            v = (consts[name] if name in consts else self._stdlib_const(name)) & 0xFFFFFFFFFFFFFFFF
            insns[idx].imm = v & 0xFFFFFFFF
            insns[idx + 1].imm = v >> 32
        return insns

    def _stdlib_const(self, name: str) -> int:
        from .stdlib_actions import ConstError, resolve_const

        try:
            return resolve_const(name)
        except ConstError as e:
            self.close()
            raise BpfscopeError(str(e)) from None

    def _verifier_error(self, ps: ProgSpec, e: sc.BpfError) -> CompileError:
        if e.errno in (1, 13) and os.geteuid() != 0:
            return CompileError(f"Error loading BPF program for {ps.probe.name}: {e.strerror}. "
                                "bpfscope must run as root (or with CAP_BPF and CAP_PERFMON).")
        log = e.log or ""
        from .kernelreq import missing_helper

        missing = missing_helper(ps, log)   # a feature this kernel is too old for
        if missing is not None:
            return missing
        from .kernelreq import gpl_only_helper

        gpl = gpl_only_helper(ps, log)   # a GPL-only helper under a non-GPL license
        if gpl is not None:
            return gpl
        lines = [ln for ln in log.splitlines() if ln.strip()]
        idx = -1
        for ln in lines:
            m = re.match(r"^(\d+): \(", ln)
            if m:
                idx = int(m.group(1))
        span = ps.probe.span
        for first, sp in ps.spans:
            if first <= idx:
                span = sp
        reason = ""
        for ln in reversed(lines):
            if not ln.startswith(("processed ", "verification time", "stack depth", "mark_precise")) \
                    and not re.match(r"^\d+: ", ln):
                reason = ln.strip()
                break
        detail = "\n".join(lines[-6:])
        msg = f"Error loading BPF program for {ps.probe.name}: {e.strerror}"
        if reason:
            msg += f": the kernel verifier rejected it: {reason}"
        if "ldimm64 failed to find the address for kernel symbol" in reason:   # percpu_kaddr()
            msg += (" (the kernel resolves variables through kallsyms, which lists data symbols "
                    "only with CONFIG_KALLSYMS_ALL)")
        return VerifierError(msg, span, hint=f"verifier log (last lines):\n{detail}" if detail else None)

    # ------------------------------------------------------------------ attach / run
    def attach(self) -> int:
        """Attach every non-special probe; returns the number of attached probes."""
        cp = self.compile()
        if not self.prog_fds:
            self.load()
        self._track_mappings(cp)
        if _uses_kinds(cp, (Kind.KSTACK, Kind.KSYM)):
            from ..kernel.ksyms import kernel_symbols

            kernel_symbols().preload()   # kallsyms parsed while tracing, not at the first print
        n = 0
        for ps, fd in _attach_order(cp.progs, self.prog_fds):
            if ps.probe.provider in SPECIAL:
                n += 1 if ps.probe.provider in ("begin", "end", "self") else 0
                continue
            mod = provider(ps.probe.provider)
            assert mod is not None
            try:
                self.handles.extend(mod.attach(ps.probe, fd, self._env))
            except OSError as e:
                self.close()
                raise BpfscopeError(f"ERROR: Could not attach probe {ps.probe.name}: {e.strerror}"
                                    + _privilege_hint(e)) from None
            n += 1
        self.attached = n
        return n

    def run_special(self, kind: str) -> None:
        """Run begin/end probes (in script order) once, in the kernel, via BPF_PROG_TEST_RUN."""
        cp = self.compile()
        if kind == "end":
            self._stopped = False
        for ps, fd in zip(cp.progs, self.prog_fds, strict=True):
            if ps.probe.provider == kind:
                sc.prog_test_run(fd, ctx_in=bytes(8), repeat=0)
                self.drain()
                if self.exiting and kind == "begin":
                    return

    def run_iterators(self) -> int:
        """Walk each attached iter probe's objects once (script order), handling the events its
        program sends as they come; returns how many iterators ran."""
        from .probes.iter import IterLink

        def drained() -> bool:   # after each read(): handle events; the walk goes to its end
            self.drain()
            return False

        links = [h for h in self.handles if isinstance(h, IterLink)]
        # as 0.26 (its printf writes the iterator's own output): an exit() in the program takes
        # effect once the walk is over, so every object is seen ("comm: bpftrace" among the tasks)
        self._exit_deferred = True
        try:
            for link in links:
                try:
                    link.run(drained)
                except OSError as e:
                    raise BpfscopeError(f"ERROR: iter:{link.name}: reading the iterator failed: "
                                        f"{e.strerror or e}") from None
                if self.exiting:
                    break
        finally:
            self._exit_deferred = False
            if self.exiting:
                self._stopped = True
        return len(links)

    def special_fds(self, name: str) -> list[tuple[ProgSpec, int]]:
        """The loaded programs of special probes called `name` ('self:signal:SIGUSR1', 'test:x')."""
        cp = self.compile()
        return [(ps, fd) for ps, fd in zip(cp.progs, self.prog_fds, strict=True) if ps.probe.name == name]

    def run_named(self, name: str) -> int:
        """Run the special probes called `name` once each, in script order; returns how many ran."""
        progs = self.special_fds(name)
        for _ps, fd in progs:
            sc.prog_test_run(fd, ctx_in=bytes(8), repeat=0)
            self.drain()
        return len(progs)

    def drain(self) -> int:
        if self.pcap is not None:
            self._drain_pcap()
        if self.ring is None:
            return 0
        self._batch = []
        try:
            return int(self.ring.drain(self._on_record))
        finally:
            self._flush_batch(stop=True)
            self._housekeep()

    def poll(self, timeout: float | None = 0.1) -> int:
        """Wait for events up to `timeout` seconds and handle them."""
        if self.ring is None:
            time.sleep(timeout or 0)
            return self._drain_pcap()
        self._batch = []
        try:
            n = int(self.ring.poll(timeout, self._on_record))
        finally:
            self._flush_batch(stop=True)
        self._drain_pcap()
        self.report_lost()
        self._housekeep()
        return n

    def _drain_pcap(self) -> int:
        """skboutput()'s packets into their pcap files; the perf buffers' losses reported."""
        if self.pcap is None:
            return 0
        n = int(self.pcap.drain())
        if self.pcap.lost:
            sys.stderr.write(output.lost_events(self.pcap.lost, json=False))
            self.pcap.lost = 0
        return n

    # ------------------------------------------------------------------ events
    def write(self, text: str) -> None:
        if self.on_output is not None:
            self.on_output(text)
        else:
            write_all(self.out, text)

    def _flush_batch(self, stop: bool = False) -> None:
        """printf lines of one drained batch go out in one write (one syscall when line-buffered)."""
        batch = self._batch
        if batch:
            self.write("".join(batch))
            batch.clear()
        if stop:
            self._batch = None

    def _decoder(self) -> Decoder:
        return Decoder(stack=self._stack, sym=self._sym)

    def _on_record(self, data: bytes) -> None:
        self._records += 1
        if not self._records & 1023 and self._mmaps is not None:   # a long backlog drains for
            self._housekeep(min_interval=0.5)                    # minutes: keep up meanwhile
        ev_id = struct.unpack_from("<Q", data, 0)[0]
        handler = self._handlers.get(ev_id)
        if handler is None:
            handler = self._handlers[ev_id] = self._make_handler(ev_id)
        handler(data)

    def _make_handler(self, ev_id: int) -> Callable[[bytes], None]:
        """The record handler of one event id, built on its first record: printf of plain
        integers and strings gets one struct unpack and one %-format per record, its line
        batched; everything else flushes the batch (keeping output order) and decodes field
        by field."""
        cp = self.compiled
        assert cp is not None
        ev = cp.events[ev_id]
        assert ev.layout is not None
        elems, offsets = ev.layout.elems[1:], ev.layout.offsets[1:]
        if ev.kind == "printf" and self.event_sink is not None:
            return self._sink_handler(ev, elems, offsets, self.event_sink(ev))
        if ev.kind == "printf" and self.on_output is None:
            from .decode import record_unpacker
            from .printf import compile_printf

            unpack = record_unpacker(elems, offsets)
            if unpack is not None:
                render = compile_printf(ev.fmt, ev.arg_types)
                json_event = output.json_event if self.json else None

                def printf(data: bytes) -> None:
                    if self._stopped:
                        return   # behind an exit() (see _handle)
                    text = render(unpack(data))
                    if json_event is not None:
                        text = json_event("printf", text)
                    if self._batch is not None:
                        self._batch.append(text)
                    else:
                        self.write(text)

                return printf
        dec = self._decoder()

        def generic(data: bytes) -> None:
            if self._batch:
                self._flush_batch()
            self._handle(ev, [dec.decode(data, o, t) for t, o in zip(elems, offsets, strict=True)])

        return generic

    def _sink_handler(self, ev: EventSpec, elems: Any, offsets: Any,
                      sink: Callable[[tuple[Any, ...]], None]) -> Callable[[bytes], None]:
        """printf records handed to a front end's sink as a tuple of decoded values."""
        from .decode import record_unpacker

        unpack = record_unpacker(elems, offsets)
        if unpack is None:
            dec = self._decoder()

            def unpack(data: bytes) -> tuple[Any, ...]:
                return tuple(dec.decode(data, o, t) for t, o in zip(elems, offsets, strict=True))

        def handler(data: bytes) -> None:
            if not self._stopped:
                sink(unpack(data))

        return handler

    def _handle(self, ev: EventSpec, args: list[Any]) -> None:
        k = ev.kind
        if self._stopped and k != "seen_pid":
            return   # as bpftrace: events behind an exit() in the buffer are not acted upon
        if k == "exit":   # before importing stdlib_actions (and subprocess): 4 ms of a short run
            if not self.exiting and args:
                self.exit_code = int(args[0]) & 0xFF
            self.exiting = True
            self._stopped = not self._exit_deferred
            return
        from . import stdlib_actions

        if k in stdlib_actions.EVENTS:
            stdlib_actions.handle(self, ev, args)
            return
        if k == "printf":
            from .printf import format_printf

            text = format_printf(ev.fmt, list(zip(args, ev.arg_types, strict=True)))
            self.write(output.json_event("printf", text) if self.json else text)
        elif k in ("errorf", "warnf", "debugf"):
            from .printf import format_printf

            text = format_printf(ev.fmt, list(zip(args, ev.arg_types, strict=True)))
            level = {"errorf": "ERROR", "warnf": "WARNING", "debugf": "DEBUG"}[k]
            sys.stderr.write(f"{level}: {text}\n")
        elif k == "join":
            count = int(args[0])
            text = str(ev.extra.get("sep", " ")).join(args[1:1 + count])
            self.write(output.json_event("join", text) if self.json else text + "\n")
        elif k == "seen_pid":
            if self._mmaps is not None:
                self._mmaps.keep(int(args[0]))   # its mappings outlive it while its stacks may
            self.symbolizer().capture(int(args[0]))
        elif k == "print_map":
            top, div = int(ev.extra.get("top", 0)), int(ev.extra.get("div", 1))
            # print(@tseries, min, max): the chart's range instead of top/div (bpftrace 0.26)
            self.print_map(ev.map_name, top=top, div=div,
                           bounds=(top, div) if ev.extra.get("nargs", 0) >= 3 else None)
        elif k == "print_value":
            self.write(output.format_print_value(args[0], ev.arg_types[0], json=self.json))
        elif k == "clear":
            self._map(ev.map_name).clear()
        elif k == "zero":
            self._zero(ev.map_name)
        elif k == "time":
            text = time.strftime(ev.fmt)
            self.write(output.json_event("time", text) if self.json else text)
        elif k == "map_full":
            if not self.opts.get("no_warnings"):
                sys.stderr.write(self.source.warning(ev.fmt, ev.extra.get("span")))

    def report_lost(self) -> None:
        if self._lost_map is None:
            return
        v = self._lost_map.lookup(bytes(4))
        if v is None:
            return
        total = sum(struct.unpack_from("<Q", v, i)[0] for i in range(0, len(v), 8))
        if total > self.lost_reported:
            text = output.lost_events(total - self.lost_reported, json=self.json)
            self.lost_reported = total
            if self.json:
                self.write(text)
            else:
                sys.stderr.write(text)

    # ------------------------------------------------------------------ maps
    def _spec(self, name: str) -> tuple[MapSpec, Map]:
        cp = self.compile()
        for spec, m in zip(cp.maps, self.maps_, strict=False):
            if spec.name == name:
                return spec, m
        raise KeyError(name)

    def _map(self, name: str) -> Map:
        return self._spec(name)[1]

    def _zero(self, name: str) -> None:
        _spec, m = self._spec(name)
        self._zeroed.add(name)
        zero = bytes(m.stride)
        for k, _v in m.items():
            m.update(k, zero)

    def map_entries(self, name: str) -> list[tuple[Any, Any]]:
        """Decoded (key, value) pairs of a map; aggregations combined over CPUs."""
        spec, m = self._spec(name)
        vt = spec.value_type
        kt = spec.key_type
        if vt.kind in (Kind.COUNT, Kind.SUM) and m.value_size == 8:
            return _merge_stacks(self._counter_entries(m, kt), kt, vt)
        if vt.kind in (Kind.HIST, Kind.LHIST) and m.type == uapi.BPF_MAP_TYPE_PERCPU_ARRAY:
            # a keyless hist kept as one array slot per bucket (lang.aggmaps): empty ones are absent
            kb, _n, sums = _column_sums(m)
            h = {b: c for b, c in zip(memoryview(kb).cast("I").tolist(), sums, strict=True) if c}
            return [(None, h)] if h or name in self._zeroed else []
        dec = self._decoder()
        out: dict[bytes, Any] = {}
        keyval: dict[bytes, Any] = {}
        ksize = spec.key_size - (8 if vt.kind in (Kind.HIST, Kind.LHIST, Kind.TSERIES) else 0)
        for kb, vb in m.items():
            ukey = kb[:ksize]
            if ukey not in keyval:
                keyval[ukey] = dec.decode(ukey, 0, kt) if kt is not None else None
            if m.percpu:
                cpus = m.values_percpu(vb)
            else:
                cpus = [vb]
            if vt.kind in (Kind.COUNT, Kind.SUM):
                out[ukey] = sum(struct.unpack_from("<q", c, 0)[0] for c in cpus)
            elif vt.kind in (Kind.AVG, Kind.STATS):
                cnt = sum(struct.unpack_from("<q", c, 0)[0] for c in cpus)
                tot = sum(struct.unpack_from("<q", c, 8)[0] for c in cpus)
                out[ukey] = (cnt, tot)
            elif vt.kind in (Kind.MIN, Kind.MAX):
                vals = [struct.unpack_from("<q", c, 0)[0] for c in cpus if struct.unpack_from("<q", c, 8)[0]]
                if vals:
                    out[ukey] = min(vals) if vt.kind is Kind.MIN else max(vals)
            elif vt.kind is Kind.TSERIES:   # {epoch: value} of the slots' latest intervals
                from .tseries import reduce_slot

                hit = reduce_slot(cpus, vt)
                if hit is not None:
                    out.setdefault(ukey, {})[hit[0]] = hit[1]
                else:
                    out.setdefault(ukey, {})
            elif vt.kind in (Kind.HIST, Kind.LHIST):
                bucket = struct.unpack_from("<Q", kb, ksize)[0]
                n = sum(struct.unpack_from("<q", c, 0)[0] for c in cpus)
                h = out.setdefault(ukey, {})
                h[bucket] = h.get(bucket, 0) + n
            else:
                out[ukey] = dec.decode(vb, 0, vt)
        if vt.kind in (Kind.HIST, Kind.LHIST):
            out = {k: v for k, v in out.items() if any(v.values()) or (kt is None and name in self._zeroed)}
        elif vt.kind is Kind.TSERIES:   # a zero()ed keyless series still prints, empty (0.26)
            out = {k: v for k, v in out.items() if v or (kt is None and name in self._zeroed)}
        return _merge_stacks([(keyval[k], v) for k, v in out.items()], kt, vt)

    def _counter_entries(self, m: Map, kt: Type | None) -> list[tuple[Any, Any]]:
        """map_entries for count()/sum() maps, column at a time (a 100k-key map prints in a
        fraction of the per-entry time): per-CPU slots summed with C-level map(), int keys cast."""
        kb, n, sums = _column_sums(m)
        if not n:
            return []
        if kt is None:
            if m.type == uapi.BPF_MAP_TYPE_PERCPU_ARRAY:   # lang.aggmaps: a zero count was never hit
                return [(None, v) for v in sums if v]
            return [(None, v) for v in sums]
        ks = m.key_size
        if (kt.kind is Kind.INT and kt.size == 8 and ks == 8 and len(kt.params) != 2):
            keys = memoryview(kb).cast("q" if kt.signed else "Q").tolist()
        else:
            dec = self._decoder()
            keys = [dec.decode(kb, i * ks, kt) for i in range(n)]
        return list(zip(keys, sums, strict=True))

    def maps(self) -> dict[str, Any]:
        """Every user map as Python values: scalar maps as a value, keyed maps as a dict.

        Readable while attached (events keep flowing). Values are typed for a program that
        consumes them: ``hist``/``lhist`` as ``values.Histogram`` (buckets with inclusive
        bounds), ``avg`` as the integer bpftrace prints, ``stats`` as ``values.Stats``;
        ``map_entries()`` keeps the raw runtime form."""
        from .values import typed

        cp = self.compile()
        res: dict[str, Any] = {}
        for spec in cp.maps:
            if spec.internal:
                continue
            vt = spec.value_type
            ents = [(k, typed(v, vt)) for k, v in self.map_entries(spec.name)]
            if spec.key_type is None:
                res[spec.name] = ents[0][1] if ents else None
            elif has_stack(spec.key_type):   # stacks decode as lists: frames tuples key the dict
                res[spec.name] = {hashable(k): v for k, v in ents}
            else:
                res[spec.name] = dict(ents)
        return res

    def print_map(self, name: str, top: int = 0, div: int = 1, bounds: tuple[int, int] | None = None) -> None:
        spec, _m = self._spec(name)
        ents = self.map_entries(name)
        self.write(output.format_map(name, spec.key_type, spec.value_type, ents, json=self.json,
                                     top=top, div=div, bounds=bounds))

    def print_maps_at_exit(self) -> None:
        cp = self.compile()
        if self._symbolizer is not None:
            self._symbolizer.stop_prewarm()   # load only what the print needs
        user = sorted((s for s in cp.maps if not s.internal), key=lambda s: s.name)
        items = [(s.name, s.key_type, s.value_type, self.map_entries(s.name)) for s in user]
        self.write(output.print_maps_at_exit(items, json=self.json))
        if self.lost_stacks and not self.opts.get("no_warnings"):
            sys.stderr.write(f"WARNING: {self.lost_stacks} map entries have a lost stack (stack map full or "
                             "hash collision); raise it with BPFTRACE_STACK_MAP_ENTRIES / config stack_map_entries\n")

    # ------------------------------------------------------------------ stacks
    def symbolizer(self) -> Any:
        if self._symbolizer is None:
            from ..kernel.symbols import Symbolizer

            # background: binaries of pids seen while tracing get their symbols loaded meanwhile
            self._symbolizer = Symbolizer(background=True)
        return self._symbolizer

    def _track_mappings(self, cp: CompiledProgram) -> None:
        """Record exec mappings from now on if user stacks/symbols are printed later, so
        processes that exit before the print still symbolize (kernel.mmap_events)."""
        if self._mmaps is not None or not _uses_user_symbols(cp):
            return
        from ..kernel.mmap_events import MmapTracker
        from .probes.perf import online_cpus

        try:
            self._mmaps = MmapTracker(online_cpus())
        except OSError:
            self._mmaps = None   # symbolization falls back to /proc/PID/maps of live processes

    def _drain_mmaps(self) -> None:
        """Read the mapping records, noting where our own event reading must get to before
        the exits among them are acted upon (see _housekeep)."""
        t = self._mmaps
        t.drain()
        self._mmaps_drained = time.monotonic()
        if self.ring is not None:
            marks, prod = self._mmaps_marks, self.ring.positions()[1]
            if marks and (marks[-1][1] == prod or len(marks) >= 1024):
                marks.pop()   # nothing written since (or a long backlog): the newer mark covers it
            marks.append((t.gen, prod))

    def _housekeep(self, min_interval: float = 0.0) -> None:
        """During and after each read of the event buffer: read the mapping records, drop
        those of exited processes never traced, and forget traced ones nothing refers to any
        more (runtime.pidgc), so process churn does not grow the tracer. An exit is acted
        upon once our event reading has passed where the ring stood when the exit was read:
        a first-sight event (keep) or a printf of its stack sent before it exited is handled."""
        t = self._mmaps
        if t is None or time.monotonic() - self._mmaps_drained < min_interval:
            return
        if self.ring is not None:
            consumed = self.ring.positions()[0]
            marks = self._mmaps_marks
            while marks and marks[0][1] <= consumed:
                self._mmaps_safe = marks.popleft()[0]
        else:
            self._mmaps_safe = t.gen
        t.reap(self._mmaps_safe)
        self._drain_mmaps()
        if self._pid_gc is None:
            from .pidgc import ExitedPidCollector

            self._pid_gc = ExitedPidCollector()
        cp = self.compiled
        if cp is None or len(self.maps_) != len(cp.maps):
            return
        stacks = ("$ustack", "$ustack_build_id", "$kstack", "$seen")
        maps = [(s, m) for s, m in zip(cp.maps, self.maps_, strict=True) if s.name not in stacks]
        seen = next((m for s, m in zip(cp.maps, self.maps_, strict=True) if s.name == "$seen"), None)
        dead = self._pid_gc.step(t, maps, seen, self._mmaps_safe)
        if not dead:
            return
        sym = self.symbolizer()
        for pid in dead:
            sym.forget(pid)
            self._maps_synced.pop(pid, None)
        self._stack_cache = {k: v for k, v in self._stack_cache.items()
                             if k[0] is not Kind.USTACK or k[2] not in dead}

    def _user_maps(self, pid: int) -> None:
        """Give the symbolizer the recorded mappings of `pid` when they are the better source:
        complete (it exec'd after we started) or the only one left (it is gone or a zombie)."""
        t = self._mmaps
        if t is None:
            return
        now = time.monotonic()
        if now - self._mmaps_drained > 0.05:   # not once per frame of a long map print
            self._drain_mmaps()
        ver = t.version(pid)
        if ver < 0 and self._mmaps_drained < now and self.symbolizer().maps(pid) is None:
            # a pid we know nothing of: its exec may have been recorded since the last read
            # (a process started just after attach, gone before its event is decoded)
            self._drain_mmaps()
            ver = t.version(pid)
        if ver < 0 or self._maps_synced.get(pid) == ver:
            return
        if len(self._maps_synced) > 65536:   # bounded over long runs with process churn
            self._maps_synced.clear()
        if not t.complete(pid) and (_has_live_maps(pid) or self.symbolizer().maps(pid) is not None):
            # a process older than us: its /proc maps are complete, ours are not (and the
            # symbolizer snapshots them next, or did while it lived: that capture is better
            # than our partial record); decided for this version, not re-read per stack
            self._maps_synced[pid] = ver
            return
        snap = t.snapshot(pid)
        if snap is not None:
            self.symbolizer().set_maps(snap)
            self._maps_synced[pid] = ver

    def _stack(self, kind: Kind, sid: int, pid: int, t: Type) -> list[str]:
        cp = self.compiled
        assert cp is not None
        ret = 0
        if kind is Kind.USTACK and pid >> 63:   # entry uprobe: return address packed in (codegen)
            ret = ((pid >> 32) & 0xFFFF) << 32 | (sid >> 32) & 0xFFFFFFFF
            sid, pid = sid & 0xFFFFFFFF, pid & 0xFFFFFFFF
        if sid < 0:
            if sid not in (-14, -2):   # -EFAULT/-ENOENT: no stack there (kernel thread), not a loss
                self.lost_stacks += 1
            return []
        # a stack id names the same frames for the map's life (entries are never deleted), and
        # maps keyed by (ustack, kstack) repeat ids: symbolize each (id, pid, format) once
        ckey = (kind, sid, pid if kind is Kind.USTACK else 0, t.params, t.mode, ret, self._source_lines())
        frames = self._stack_cache.get(ckey)
        if frames is None:
            if len(self._stack_cache) >= 65536:   # bounded over long runs with many pids
                self._stack_cache.clear()
            frames = self._stack_cache[ckey] = self._stack_frames(kind, sid, pid, t, ret)
        return list(frames)

    def _stack_frames(self, kind: Kind, sid: int, pid: int, t: Type, ret: int = 0) -> list[str]:
        build_id = kind is Kind.USTACK and t.mode == "build_id"
        name = "$kstack" if kind is Kind.KSTACK else "$ustack_build_id" if build_id else "$ustack"
        try:
            _spec, m = self._spec(name)
        except KeyError:
            return []
        raw = m.lookup(struct.pack("<I", sid))
        if raw is None:
            return []
        if build_id:
            frames = _build_id_frames(raw, t.params[0] if t.params else 127)
            if ret:   # the caller the unwind skipped at a function's entry, as in the other modes
                caller = self._build_id_frame(pid, ret)
                if len(frames) < 2 or frames[1] != caller:
                    frames.insert(1, caller)
            return frames[:t.params[0] if t.params else 127]
        addrs = [a for a in struct.unpack(f"<{len(raw) // 8}Q", raw) if a]
        if ret and addrs and (len(addrs) < 2 or addrs[1] != ret):
            addrs.insert(1, ret)   # the caller the unwind skipped (kernels < 6.12 or frameless entry)
        limit = t.params[0] if t.params else 127
        addrs = addrs[:limit]
        mode = t.mode or "bpftrace"
        if mode == "raw":
            return [f"{a:x}" for a in addrs]
        if kind is Kind.USTACK:
            self._user_maps(pid)
        sym = self.symbolizer()
        perf = mode == "perf"
        frames = sym.kstack(addrs, perf=perf) if kind is Kind.KSTACK else sym.ustack(pid, addrs, perf=perf)
        if perf:   # perf mode lines are "<hex address> <frame>", as perf script prints them
            frames = [f"{a:x} {f}" for a, f in zip(addrs, frames, strict=True)]
        elif kind is Kind.USTACK and self._source_lines():
            frames = self._with_source_lines(pid, addrs, list(frames))
        return list(frames)

    def _source_lines(self) -> bool:
        """Whether ustack frames get `@file:line` (config show_debug_info; on where the bpftrace
        CLI runs the program; exports turn it off while they read)."""
        return bool(self.opts.get("show_debug_info", self.opts.get("show_debug_info_default")))

    def _with_source_lines(self, pid: int, addrs: list[int], frames: list[str]) -> list[str]:
        """0.26's ustack frames in binaries with DWARF line tables: `func+off@file:line`."""
        from ..kernel import dwarf
        from ..kernel.elf import open_elf
        from ..kernel.procmaps import is_file_backed

        snap = self.symbolizer().maps(pid)
        if snap is None:
            return frames
        out = []
        for a, f in zip(addrs, frames, strict=True):
            entry = snap.find(a)
            where = None
            if entry is not None and is_file_backed(entry.path) and not f.startswith("0x"):
                try:
                    vaddr = open_elf(entry.open_path).offset_to_vaddr(entry.file_offset(a))
                    where = dwarf.source_line(entry.open_path, vaddr) if vaddr is not None else None
                except (OSError, ValueError):
                    where = None
            out.append(f"{f}@{where[0]}:{where[1]}" if where else f)
        return out

    def _build_id_frame(self, pid: int, addr: int) -> str:
        """`addr` in pid as a build-id frame (`<build id> 0x<file offset>`), from the mappings
        recorded for symbolization; the bare hex address when its object has no build id."""
        from ..kernel.elf import build_id
        from ..kernel.procmaps import is_file_backed

        self._user_maps(pid)
        snap = self.symbolizer().maps(pid)
        entry = snap.find(addr) if snap is not None else None
        if entry is not None and is_file_backed(entry.path):
            try:
                bid = build_id(entry.open_path)
            except (OSError, ValueError):
                bid = None
            if bid:
                return f"{bid} 0x{entry.file_offset(addr):02x}"
        return f"{addr:x}"

    def _sym(self, kind: Kind, addr: int, pid: int) -> str:
        sym = self.symbolizer()
        if kind is Kind.KSYM:
            return str(sym.ksym(addr))
        self._user_maps(pid)
        name = str(sym.usym(pid, addr))
        if name.startswith("0x"):   # the process is gone before its maps were read
            name = self._probe_site(addr) or name
        return name

    def _probe_site(self, addr: int) -> str | None:
        """The uprobe function whose entry `addr` is, known without the process's maps: load
        biases are page-aligned, so the page offset picks it when only one probed site has it
        (`func` of a process that exited before its event was read)."""
        if self._sites is None:
            sites: dict[int, set[str]] = {}
            for ps in self.compile().progs:
                if ps.probe.provider in ("uprobe", "uretprobe") and isinstance(ps.probe.attach, dict):
                    for name, _off, vaddr in ps.probe.attach.get("locs", ()):
                        sites.setdefault(vaddr & 0xFFF, set()).add(name.partition("+")[0])
            self._sites = sites
        names = self._sites.get(addr & 0xFFF, set())
        return next(iter(names)) if len(names) == 1 else None

    # ------------------------------------------------------------------ teardown
    def on_event(self, callback: Callable[[Any], None]) -> None:
        """Hand each ``printf`` record to *callback* as a ``values.Event`` instead of writing
        it to ``out`` (a daemon's event API). Call before ``attach()``; ``poll()`` delivers."""
        from .values import Event

        def sink_for(ev: EventSpec) -> Callable[[tuple[Any, ...]], None]:
            fmt, types = ev.fmt, tuple(ev.arg_types)
            return lambda values: callback(Event(fmt, tuple(values), types))

        self.event_sink = sink_for
        self._handlers.clear()

    def reload(self) -> int:
        """Detach and release every kernel object, then load and attach the same program
        again with fresh maps; returns the number of probes attached."""
        self.close()
        self._handlers.clear()
        self._stack_cache.clear()
        self._maps_synced.clear()
        self.exiting = self._stopped = False
        self.lost_reported = self.lost_stacks = 0
        self._lost_map = None
        self.load()
        return self.attach()

    def close(self) -> None:
        if self._mmaps is not None:
            self._mmaps.close()
            self._mmaps = None
        for h in self.handles:
            try:
                h.close()
            except OSError:
                pass
        self.handles.clear()
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.pcap is not None:
            self.pcap.close()
            self.pcap = None
        for fd in self.prog_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.prog_fds.clear()
        for m in self.maps_:
            m.close()
        self.maps_.clear()

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Kernel lists that run the newest consumer first: a uprobe's consumers, a software event's
# perf events (but cpu-clock and task-clock run one hrtimer per event: the first started fires
# first). Attaching those last-declared first makes the probes of one event fire in script
# order, as bpftrace 0.26 promises (tests/runtime/scripts/*_order.bt).
_NEWEST_FIRST = frozenset(("uprobe", "uretprobe", "usdt"))


def _newest_first(ps: ProgSpec) -> bool:
    p = ps.probe
    if p.provider == "software":
        return p.attach[1] not in (0, 1)   # PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK
    return p.provider in _NEWEST_FIRST


def _attach_order(progs: list[ProgSpec], fds: list[int]) -> list[tuple[ProgSpec, int]]:
    pairs = list(zip(progs, fds, strict=True))
    lifo = [pf for pf in pairs if _newest_first(pf[0])]
    return [pf for pf in pairs if not _newest_first(pf[0])] + lifo[::-1]


def _expand_positional(ap: A.AttachPoint, args: list[str]) -> A.AttachPoint:
    if "$" not in ap.raw:
        return ap

    def sub(s: str) -> str:
        return re.sub(r"\$(\d+)", lambda m: args[int(m.group(1)) - 1] if int(m.group(1)) <= len(args) else "", s)

    from ..lang.bpftrace.ast import AttachPoint

    return AttachPoint(sub(ap.raw), ap.provider, [sub(p) for p in ap.parts], span=ap.span)


def _kaddr(name: str) -> int | None:
    """kaddr(): a kernel symbol's address from /proc/kallsyms (resolved at compile time)."""
    from ..kernel.ksyms import kaddr

    return kaddr(name)


def _merge_stacks(ents: list[tuple[Any, Any]], kt: Type | None, vt: Type) -> list[tuple[Any, Any]]:
    """Entries whose keys hold a stack, merged by printed frames (runtime.keymerge)."""
    return merge_entries(ents, vt) if has_stack(kt) else ents


def _column_sums(m: Map) -> tuple[bytes, int, list[int]]:
    """(keys blob, count, per-entry sums over CPUs) of a map whose values are one i64 each."""
    kb, vb, n = m.items_blob()
    if not n:
        return kb, 0, []
    vals = memoryview(vb).cast("q")
    ncpu = m.stride // 8 if m.percpu else 1
    sums = vals[0::ncpu].tolist()
    for c in range(1, ncpu):
        sums = list(map(operator.add, sums, vals[c::ncpu].tolist()))
    return kb, n, sums


def _has_live_maps(pid: int) -> bool:
    """/proc/PID/maps has content (a zombie's is empty)."""
    try:
        with open(f"/proc/{pid}/maps", "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


def _uses_user_symbols(cp: CompiledProgram) -> bool:
    """Whether any map or event carries a user stack or user symbol."""
    return _uses_kinds(cp, (Kind.USTACK, Kind.USYM))


def _uses_kinds(cp: CompiledProgram, kinds: tuple[Kind, ...]) -> bool:
    """Whether any map or event carries a value of one of `kinds` (stacks, symbols)."""
    def has(t: Type | None) -> bool:
        if t is None:
            return False
        if t.kind in kinds:
            return True
        return any(has(e) for e in (t.elems or ()))

    return (any(has(m.key_type) or has(m.value_type) for m in cp.maps)
            or any(has(ev.layout) or any(has(a) for a in ev.arg_types) for ev in cp.events))


def _probe_builtin_users(prog: A.Program, builtin: str = "probe") -> set[int]:
    """Attach points whose probe reads the `probe` builtin: wildcards expand per match there
    (and those reading `args`: a uprobe's are typed per function from DWARF)."""
    from ..lang.bpftrace.ast import Builtin, Call, walk

    users: set[str] = set()   # macros that read it, directly or through other macros
    grew = True
    while grew:
        grew = False
        for m in prog.macros:
            if m.name not in users and any((isinstance(n, Builtin) and n.name == builtin)
                                           or (isinstance(n, Call) and n.name in users) for n in walk(m.body)):
                users.add(m.name)
                grew = True
    out: set[int] = set()
    for p in prog.probes:
        if any((isinstance(n, Builtin) and n.name == builtin) or (isinstance(n, Call) and n.name in users)
               for n in walk([p.predicate, p.body])):
            out.update(id(ap) for ap in p.attach_points)
    return out


_VMLINUX = "/sys/kernel/btf/vmlinux"


def _read_import(path: str, importer: str) -> list[tuple[str, str]]:
    """The .bt file(s) an `import` names: a file, or every .bt file of a directory."""
    base = os.path.dirname(importer) if importer not in ("stdin", "") else os.getcwd()
    full = os.path.normpath(os.path.join(base, path))
    if os.path.isdir(full):
        names = sorted(n for n in os.listdir(full) if n.endswith(".bt"))
        files = [os.path.join(full, n) for n in names]
    else:
        if not full.endswith(".bt"):
            raise CompileError(f"Could not import \"{path}\": only bpftrace scripts (.bt) can be imported")
        files = [full]
    out = []
    for f in files:
        with open(f) as fh:
            out.append((f, fh.read()))
    return out


def _func_info(subprogs: list[int]) -> dict[str, Any]:
    """prog_load attributes for a program with callback subprograms (for-loops over maps)."""
    from ..kernel.btfgen import func_btf

    blob, records = func_btf([0, *subprogs])
    return {"prog_btf_fd": sc.btf_load(blob), "func_info": records, "func_info_rec_size": 8}


def _vmlinux_btf() -> Any:
    """The kernel's BTF for the compiler's type lookups (loaded on first use), or None."""
    if not os.path.exists(_VMLINUX):
        return None
    from ..kernel.btf import Btf

    return Btf.vmlinux()


def _script_config(prog: A.Program) -> dict[str, Any]:
    """Config block + BPFTRACE_* environment (which wins), checked; output settings applied."""
    from ..lang.bpftrace.config import check_config

    cfg = check_config(prog, os.environ)
    output.configure(str_trunc_trailer=cfg.get("str_trunc_trailer", ".."))
    return cfg


def _config(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = k.lower()
        if key.startswith("bpftrace_"):
            key = key[len("bpftrace_"):]
        out[key] = v
    return out


def _map_name(name: str) -> str:
    n = re.sub(r"[^A-Za-z0-9_]", "_", name.lstrip("@$")) or "map"
    return ("AT_" + n)[:15] if name.startswith("@") else n[:15]


def _prog_name(ps: ProgSpec) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", ps.probe.name)[:15]


def _privilege_hint(e: OSError) -> str:
    if e.errno in (1, 13):
        return " (bpfscope needs root, or CAP_BPF with CAP_PERFMON)"
    return ""


# keep percpu helper importable for API users
__all__ = ["Program", "BpfscopeError", "VerifierError", "possible_cpus", "uapi"]


BPF_STACK_BUILD_ID_VALID, BPF_STACK_BUILD_ID_IP = 1, 2


def _build_id_frames(raw: bytes, limit: int) -> list[str]:
    """Frames of a BPF_F_STACK_BUILD_ID stack (struct bpf_stack_build_id: s32 status, 20-byte
    build id, u64 offset or ip), as 0.26 prints them: `<build id hex> 0x<offset>`, or the bare
    hex ip where the kernel could not read the object's build id."""
    frames: list[str] = []
    for i in range(0, len(raw) - 31, 32):
        status = int.from_bytes(raw[i:i + 4], "little", signed=True)
        value = int.from_bytes(raw[i + 24:i + 32], "little")
        if status == BPF_STACK_BUILD_ID_VALID:
            frames.append(f"{raw[i + 4:i + 24].hex()} 0x{value:02x}")
        elif status == BPF_STACK_BUILD_ID_IP:
            frames.append(f"{value:x}")
        else:
            break
    return frames[:limit]
