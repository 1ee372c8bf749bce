"""One bpfscope session for the whole BCC checklist: every tool's program loaded once, in this
process, attached for the same window, its events handed to the tool's own handlers.

A tool's `emit()` is redirected to a collector (records, not text), so the checklist reuses
each tool's decoding (execsnoop's argv assembly, opensnoop's errno split, ...) without
printing anything. Events are drained in batches (once a second) rather than woken per
event: that is what keeps the session's own CPU use low.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_RECORDS = 20000   # per tool: a busy machine's opens must not grow the report without bound


@dataclass
class Entry:
    """One checklist item: a tool (name + BCC options) or a plain program standing in for one."""
    name: str
    args: list[str] = field(default_factory=list)
    source: str | None = None          # set for a substitute program (no tool class)
    purpose: str = ""
    status: str = "pending"            # ok | unavailable | failed
    reason: str = ""
    substitute_for: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    lost: int = 0
    helper_errors: int = 0
    tool: Any = None
    prog: Any = None
    setup_s: float = 0.0

    def collect(self, text: str = "", **rec: Any) -> None:
        if len(self.records) < MAX_RECORDS:
            self.records.append(rec)
        else:
            self.dropped += 1

    def sink(self, _ev: Any) -> Callable[[tuple[Any, ...]], None]:
        """Event handler of a program without a tool class: its values, as a tuple."""
        def add(vals: tuple[Any, ...]) -> None:
            if len(self.records) < MAX_RECORDS:
                self.records.append(vals)   # type: ignore[arg-type]
            else:
                self.dropped += 1
        return add

    def on_output(self, text: str) -> None:
        """Program text output (JSON mode): lost-event notices are counted, the rest ignored."""
        try:
            obj = json.loads(text)
        except ValueError:
            return
        if isinstance(obj, dict) and obj.get("type") == "lost_events":
            self.lost += int(obj.get("data", {}).get("events", 0))
        elif isinstance(obj, dict) and obj.get("type") == "helper_error":
            self.helper_errors += 1


def build(entry: Entry) -> str:
    """Instantiate the tool with its options and return its program text; raises ValueError with
    the tool's own message when it cannot run here (missing feature, bad option)."""
    if entry.source is not None:
        return entry.source
    from ..tools import registry
    from ..tools.base import ToolError, parser
    from ..tools.needs import first_missing

    cls = registry.load(entry.name).TOOL
    entry.purpose = cls.purpose
    try:
        opts = parser(cls).parse_args(entry.args)
    except SystemExit:
        raise ValueError(f"{entry.name}: bad options {entry.args}") from None
    opts.json = True
    tool = cls(opts)
    try:
        tool.check()
        missing = first_missing(tool.requires())
        if missing is not None:
            raise ValueError(missing.message(entry.name))
        text = tool.program()
    except ToolError as e:
        raise ValueError(str(e)) from None
    tool.emit = entry.collect            # records instead of lines
    entry.tool = tool
    return str(text)


class Session:
    """Load, attach, drain and close the programs of every runnable entry."""

    def __init__(self, entries: list[Entry], pid: int = -1,
                 progress: Callable[[str], None] | None = None) -> None:
        self.entries = entries
        self.pid = pid
        self.progress = progress or (lambda s: None)

    def start(self) -> None:
        from ..lang.diagnostics import CompileError
        from ..runtime.program import BpfscopeError, Program
        from ..tools import cache
        from ..tools.timefmt import Clock

        for e in self.entries:
            t0 = time.perf_counter()
            try:
                text = build(e)
            except ValueError as err:
                e.status, e.reason = "unavailable", str(err)
                continue
            opts = {"no_warnings": True, **(dict(e.tool.program_opts) if e.tool is not None else {})}
            opts.setdefault("ringbuf_size", 1 << 22)
            prog = Program(text, filename=e.name, opts=opts, json=True)
            prog.on_output = e.on_output
            if e.tool is not None:
                prog.event_sink = e.tool._sink
            else:
                prog.event_sink = e.sink
            try:
                k = cache.key(text, str(sorted(prog.opts.items())))
                cp = cache.load(k)
                if cp is not None:
                    prog.use_compiled(cp)
                else:
                    cache.store(k, prog.compile())
                prog.load()
                prog.attach()
            except CompileError as err:
                prog.close()
                e.status, e.reason = "failed", prog.source.error(err).strip().splitlines()[0]
                continue
            except (BpfscopeError, OSError) as err:
                prog.close()
                e.status, e.reason = "failed", str(err)
                continue
            e.prog = prog
            e.status = "ok"
            if e.name == "profile":   # symbol tables loaded for the report's stacks only, after the window
                prog.symbolizer().background = False
            if e.tool is not None:
                e.tool.prog = prog
                e.tool.clock = Clock()
                if e.name == "profile":
                    e.tool.header()   # snapshots -p processes' mappings for symbolizing
            e.setup_s = time.perf_counter() - t0
            self.progress(f"{e.name}: attached ({e.setup_s * 1000:.0f} ms)")
        from ..kernel.ksyms import kernel_symbols

        kernel_symbols()._ensure()    # parsed during setup: a background parse would bill the window

    def drain(self) -> int:
        n = 0
        for e in self.entries:
            if e.prog is not None:
                n += e.prog.poll(0)
        return n

    def close(self) -> None:
        for e in self.entries:
            if e.prog is not None:
                e.prog.close()
                e.prog = None

    def get(self, name: str) -> Entry | None:
        for e in self.entries:
            if e.name == name:
                return e
        return None
