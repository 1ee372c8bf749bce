"""`import "lib.bt";` (or a directory of .bt files): other scripts merged into this one.

Files are read by the runtime (`loader(path, importer)` → [(filename, text)]), never here.
Each imported file is parsed on its own, its spans shifted past the text already known so
every node keeps a unique location, and `MultiSource` renders a diagnostic against the file
it came from. Imported probes run before the importer's (bpftrace keeps the import graph's
order for begin/end); macros, map declarations and C definitions are merged; a file
imported twice is merged once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..diagnostics import CompileError, Source
from . import ast as A

Loader = Callable[[str, str], list[tuple[str, str]]]


class MultiSource(Source):
    """The main program plus imported files, laid end to end in one offset space."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        self.parts: list[tuple[int, Source]] = [(0, Source(text, filename))]
        self.end = len(text) + 1

    def add(self, text: str, filename: str) -> int:
        base = self.end
        self.parts.append((base, Source(text, filename)))
        self.end = base + len(text) + 1
        return base

    def render(self, level: str, message: str, span: A.Span | None, hint: str | None = None) -> str:
        if span is not None and span.start >= len(self.text) + 1:
            for base, src in reversed(self.parts):
                if span.start >= base:
                    return src.render(level, message, A.Span(span.start - base, span.end - base), hint)
        return super().render(level, message, span, hint)


    def locate(self, span: A.Span) -> tuple[str, int, int]:
        if span.start >= len(self.text) + 1:
            for base, src in reversed(self.parts):
                if span.start >= base:
                    return src.locate(A.Span(span.start - base, span.end - base))
        return super().locate(span)


def shift(node: Any, base: int) -> None:
    """Move every span under `node` by `base` bytes."""
    if isinstance(node, A.Node):
        if node.span is not None:
            node.span = A.Span(node.span.start + base, node.span.end + base)
        for f in dataclasses.fields(node):
            if f.name in ("span", "type"):
                continue
            shift(getattr(node, f.name), base)
    elif isinstance(node, list):
        for x in node:
            shift(x, base)
    elif isinstance(node, dict):
        for k, v in list(node.items()):
            if isinstance(v, A.Span):
                node[k] = A.Span(v.start + base, v.end + base)


def resolve_imports(program: A.Program, source: MultiSource, loader: Loader, importer: str,
                    seen: set[str] | None = None, depth: int = 0) -> None:
    """Merge every `import` of `program` (recursively) into it."""
    from .parser import parse

    seen = seen if seen is not None else {importer}
    if depth > 32:
        raise CompileError("imports nested too deeply (an import cycle?)")
    first: list[A.Probe] = []
    for path in program.imports:
        try:
            files = loader(path, importer)
        except OSError as e:
            raise CompileError(f"Could not import \"{path}\": {e.strerror or e}", program.span) from None
        for filename, text in files:
            if filename in seen:
                continue
            seen.add(filename)
            base = source.add(text, filename)
            try:
                sub = parse(text, filename)
            except CompileError as e:
                if e.span is not None:
                    e.span = A.Span(e.span.start + base, e.span.end + base)
                raise
            shift(sub.probes, base)
            shift(sub.macros, base)
            shift(sub.map_decls, base)
            shift(sub.functions, base)
            resolve_imports(sub, source, loader, filename, seen, depth + 1)
            first.extend(sub.probes)
            program.macros = sub.macros + program.macros
            program.map_decls = sub.map_decls + program.map_decls
            program.functions = sub.functions + program.functions
            if sub.c_definitions.strip():
                program.c_definitions = sub.c_definitions + program.c_definitions
                program.c_spans = [A.Span(sp.start + base, sp.end + base) for sp in sub.c_spans] + program.c_spans
            for k, v in sub.config.items():
                program.config.setdefault(k, v)
    program.probes = first + program.probes
    program.imports = []
