"""# BASE READY
BCC's single-purpose tools on our engine: a tool is a bpftrace-language program plus the
Python that turns its events and maps into BCC's columns (see tools/README.md).

A tool subclasses `Tool`, declares BCC's options, returns its program text from
`program()`, and handles events by tag: the program's `printf("open %d %s\\n", ...)`
records arrive, unformatted and typed (ints, strs), at `on_open(self, a, b)`, where the
tool writes BCC's line with `emit()`. Map-based tools read maps in `tick()`/`finish()`.
`run()` does the rest the same way for every tool: BCC's argparse usage (-h on stdout,
exit 0), the common options (--ebpf, -d with --ebpf, --json), the requirement check (one
plain line, exit 1), the compiled-program cache (tools/cache.py), attach, the header line
(the readiness signal tests and benchmarks wait for), interval/count/duration, Ctrl-C and
SIGTERM ending in an orderly exit, and every kernel object released.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from .needs import Need, first_missing
from .timefmt import Clock


class ToolError(Exception):
    """Bad options or a missing feature: printed as one plain line, exit status 1."""


class Tool:
    """Base class of every tool. Class attributes describe it; methods are overridden as needed."""

    name: ClassVar[str] = ""
    purpose: ClassVar[str] = ""          # one line, shown by `bpfscope tools`
    description: ClassVar[str] = ""      # argparse description (BCC's first help line)
    examples: ClassVar[str] = ""         # argparse epilog (BCC's "examples:" block)
    program_opts: dict[str, Any] = {}   # Program(opts=...), e.g. {"ringbuf_size": 1 << 24}; may be set per instance
    listing_args: ClassVar[tuple[str, ...]] = ()  # typical arguments (`bpfscope tools` checks requires() with them)

    def __init__(self, opts: argparse.Namespace) -> None:
        self.o = opts
        self.json = bool(getattr(opts, "json", False))
        self.clock = Clock()
        self.prog: Any = None            # the attached runtime.program.Program, once running
        self._buf: list[str] = []
        self._stop = False

    # ---------------------------------------------------------------- declared by tools
    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        """BCC's options for this tool."""

    def check(self) -> None:
        """Validate option combinations; raise ToolError("...") with BCC's message."""

    def requires(self) -> list[Need]:
        """Kernel features the program built for these options needs."""
        return []

    def program(self) -> str:
        """The bpftrace-language program for these options."""
        raise NotImplementedError

    def header(self) -> str | None:
        """Printed once the probes are attached (BCC's column header or "Tracing... Hit Ctrl-C")."""
        return None

    def interval(self) -> float | None:
        """Seconds between tick() calls, or None."""
        return None

    def count(self) -> int | None:
        """Number of ticks before exiting, or None for no limit."""
        return None

    def duration(self) -> float | None:
        """Seconds to run before exiting, or None."""
        return None

    def tick(self) -> None:
        """Interval output (map-based tools)."""

    def finish(self, interrupted: bool) -> None:
        """Output at exit, after the probes are detached and the last events handled."""

    # ---------------------------------------------------------------- used by tools
    def emit(self, text: str, **rec: Any) -> None:
        """One event or row: `text` (BCC's line, no newline) or, with --json, `rec` as one JSON line."""
        if self.json:
            import json

            self._buf.append(json.dumps(rec) + "\n")
        else:
            self._buf.append(text + "\n")

    def write(self, text: str) -> None:
        """Raw text output (headers, histograms); dropped with --json, whose output stays
        one JSON record a line (emit() the rows there)."""
        if not self.json:
            self._buf.append(text)

    def flush(self) -> None:
        from ..runtime.fdwrite import write_all

        if self._buf:
            text = "".join(self._buf)
            self._buf.clear()
            write_all(sys.stdout, text)
        sys.stdout.flush()

    def stop(self) -> None:
        """End the run after the current batch of events (like BCC's exiting on a count)."""
        self._stop = True

    def map(self, name: str) -> Any:
        """A map's contents: a value for a scalar map, else {key: value} (per-CPU values summed;
        hist/lhist values are {bucket index: count}, see bcchist.slots_from_hist)."""
        spec, _m = self.prog._spec(name)
        ents = self.prog.map_entries(name)
        if spec.key_type is None:
            return ents[0][1] if ents else None
        return dict(ents)

    def clear(self, name: str) -> None:
        self.prog._map(name).clear()

    # ---------------------------------------------------------------- plumbing
    def _sink(self, ev: Any) -> Callable[[tuple[Any, ...]], None]:
        """Event handler for one printf format: `on_<first word of the format>`."""
        tag = ev.fmt.split(" ", 1)[0].strip()
        method = getattr(self, f"on_{tag}", None)
        if method is None:
            def ignore(vals: tuple[Any, ...]) -> None:
                pass
            return ignore

        def call(vals: tuple[Any, ...]) -> None:
            method(*vals)

        return call


# ------------------------------------------------------------------ helpers for programs

def pred(*conds: str) -> str:
    """A bpftrace predicate from the non-empty conditions: "/a && b/" or ""."""
    cs = [c for c in conds if c]
    return f"/{' && '.join(cs)}/" if cs else ""


def uid_of(user: str) -> int:
    """-u USER as BCC takes it: a number or a user name."""
    if user.isdigit():
        return int(user)
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ToolError(f'Error: user "{user}" does not exist') from None


def positive_int(s: str) -> int:
    """argparse type for BCC's positive integer options."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid positive int value: '{s}'") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def add_pinned_map_args(ap: argparse.ArgumentParser) -> None:
    """BCC's --cgroupmap/--mntnsmap (filters on maps pinned by BCC's tooling): accepted, then
    refused by `refuse_pinned_maps` with the tool's own alternative."""
    ap.add_argument("--cgroupmap", help="trace cgroups in this BPF map only")
    ap.add_argument("--mntnsmap", help="trace mount namespaces in this BPF map only")


def refuse_pinned_maps(tool: str, o: argparse.Namespace, instead: str) -> None:
    if o.cgroupmap or o.mntnsmap:
        raise ToolError(f"{tool}: --cgroupmap/--mntnsmap filter on BCC's pinned maps, "
                        f"which bpfscope does not support; use {instead} instead")


def bpf_string(s: str) -> str:
    """A Python string as a bpftrace string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ running a tool

def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size().columns` finds it ($COLUMNS, then
    stdout's terminal, else 80), without importing shutil (and the compression modules it pulls
    in): argparse builds a formatter for every add_argument, so it would at every start."""
    try:
        cols = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        cols = 0
    if cols <= 0:
        try:
            cols = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            cols = 0
    return cols or 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """BCC's help layout (argparse's RawDescriptionHelpFormatter) at the terminal's width."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def parser(cls: type[Tool]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=cls.name, description=cls.description, epilog=cls.examples or None,
                                 formatter_class=_Formatter)
    cls.add_arguments(ap)
    taken = set(ap._option_string_actions)
    ap.add_argument("--ebpf", action="store_true", help=argparse.SUPPRESS)
    debug = [f for f in ("-d", "--ebpf-debug") if f not in taken]   # -d unless the tool has its own
    ap.add_argument(*debug, dest="debug_insns", action="store_true", help=argparse.SUPPRESS)
    if "--json" not in taken:
        ap.add_argument("--json", action="store_true",
                        help="print newline-delimited JSON records instead of text")
    return ap


def run(cls: type[Tool], argv: list[str]) -> int:
    """Parse BCC's options, then print the program (--ebpf) or run the tool. Exit status."""
    opts = parser(cls).parse_args(argv)   # -h: stdout, exit 0; bad usage: stderr, exit 2 (as BCC)
    tool = cls(opts)
    try:
        tool.check()
        text = tool.program()
    except ToolError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    if opts.ebpf:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return _dump_insns(cls, text) if opts.debug_insns else 0
    missing = first_missing(tool.requires())
    if missing is not None:
        sys.stderr.write(missing.message(cls.name) + "\n")
        return 1
    return _Run(tool, text).main()


def _dump_insns(cls: type[Tool], text: str) -> int:
    """--ebpf -d: our instructions for each program, as `bpfscope -d` prints them."""
    from ..kernel.uapi import HELPER_ID
    from ..lang.bpftrace.debugdump import format_insns
    from ..lang.diagnostics import CompileError
    from ..runtime.program import Program

    prog = Program(text, filename=cls.name, opts=dict(cls.program_opts))
    try:
        cp = prog.compile()
    except CompileError as e:
        sys.stderr.write(prog.source.error(e))
        return 1
    names = {v: k for k, v in HELPER_ID.items()}
    for ps in cp.progs:
        sys.stdout.write(f"\nInstructions {ps.probe.name} ({len(ps.insns)}):\n")
        sys.stdout.write("".join(f"{ln}\n" for ln in format_insns(ps.insns, names)))
    return 0


class _Run:
    """One run of a tool: load (through the cache), attach, header, event loop, orderly exit."""

    def __init__(self, tool: Tool, text: str) -> None:
        self.tool = tool
        self.text = text

    def main(self) -> int:
        from ..lang.diagnostics import CompileError
        from ..runtime.program import BpfscopeError, Program
        from ..runtime.runner import Signals

        tool = self.tool
        sigs = Signals()       # before anything is loaded: a signal at any moment exits cleanly
        prog = Program(self.text, filename=tool.name, opts={"no_warnings": True, **tool.program_opts},
                       pid=getattr(tool, "target_pid", -1))   # uprobes scoped to one process
        prog.event_sink = tool._sink
        try:
            try:
                self._compile(prog)
                if sigs.stop:
                    return 0
                prog.load()
                prog.attach()
            except CompileError as e:
                sys.stderr.write(prog.source.error(e))
                return 1
            except BpfscopeError as e:
                sys.stderr.write(f"{e}\n")
                return 1
            tool.prog = prog
            tool.clock = Clock()
            try:
                sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
            except (AttributeError, ValueError):
                pass
            hdr = tool.header()
            if self.tool.json:   # the readiness record, as bpftrace -f json prints it
                tool._buf.append(f'{{"type": "attached_probes", "data": {{"probes": {prog.attached}}}}}\n')
            elif hdr is not None:
                tool.write(hdr if hdr.endswith("\n") else hdr + "\n")
            tool.flush()
            self._loop(prog, sigs)
            prog.drain()
            prog.report_lost()   # events the ring had no room for while we were blocked writing
            tool.finish(sigs.stop)
            tool.flush()
            return 0
        except BrokenPipeError:   # `bpfscope opensnoop | head`: stop quietly
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes it at exit
            except OSError:
                pass
            return 0
        except OSError as e:
            sys.stderr.write(f"ERROR: {e.strerror or e}\n")
            return 1
        finally:
            prog.close()
            sigs.restore()

    def _compile(self, prog: Any) -> None:
        from . import cache

        k = cache.key(self.text, str(sorted(prog.opts.items())))
        cp = cache.load(k)
        if cp is not None:
            prog.use_compiled(cp)
            return
        cache.store(k, prog.compile())

    def _loop(self, prog: Any, sigs: Any) -> None:
        import select
        import time

        tool = self.tool
        now = time.monotonic()
        interval = tool.interval()
        ticks_left = tool.count()
        dur = tool.duration()
        deadline = now + dur if dur else None
        next_tick = now + interval if interval else None
        ep = select.epoll()
        try:
            ep.register(sigs.rfd, select.EPOLLIN)
            if prog.ring is not None:
                ep.register(prog.ring.fileno(), select.EPOLLIN)
            while not sigs.stop and not tool._stop and not prog.exiting:
                now = time.monotonic()
                wake = min((t for t in (next_tick, deadline) if t is not None), default=now + 1.0)
                ev = ep.poll(max(0.0, min(wake - now, 1.0)))
                prog.drain()
                tool.flush()
                prog.report_lost()
                if any(fd == sigs.rfd for fd, _ in ev):
                    try:
                        os.read(sigs.rfd, 64)
                    except BlockingIOError:
                        pass
                now = time.monotonic()
                if next_tick is not None and interval and now >= next_tick and not sigs.stop:
                    tool.tick()
                    tool.flush()
                    next_tick += interval
                    if ticks_left is not None:
                        ticks_left -= 1
                        if ticks_left <= 0:
                            break
                if deadline is not None and now >= deadline:
                    break
        finally:
            ep.close()
