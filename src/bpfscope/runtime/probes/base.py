"""Probe providers: one module per probe type, each knowing how to resolve an attach
point into concrete `ProbeInfo`s, what context its programs see, and how to attach.

A provider module exposes `NAMES`, `resolve(ap, env) -> list[ProbeInfo]`,
`attach(info, prog_fd, env) -> list[Closeable]` and optionally `listing(pattern)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ...lang.diagnostics import CompileError, Span

if TYPE_CHECKING:   # annotations only: attaching a cached program does not import the AST
    from ...lang.bpftrace.ast import AttachPoint


class Closeable(Protocol):
    def close(self) -> None: ...


class FdHandle:
    """Owns one file descriptor (perf event, link, raw tracepoint)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1


@dataclass
class Env:
    """What providers may consult: -p PID, positional params, options, and the `-c` child
    (held before its exec while probes attach; 0 without -c)."""
    pid: int = -1
    opts: dict[str, Any] = field(default_factory=dict)
    cpid: int = 0


class ProbeError(CompileError):
    """An attach point that cannot be resolved or attached (located at the attach point)."""


def fail(ap: AttachPoint, message: str, hint: str | None = None) -> ProbeError:
    return ProbeError(message, ap.span, hint)


class MissingProbe(ProbeError):
    """Nothing on this system matches the attach point: not a mistake in the program, so the
    `missing_probes` config (missing.py) decides between an error, a warning and silence."""

    def __init__(self, ap: AttachPoint, wildcard: bool, what: str = "") -> None:
        super().__init__(f"No matches for {ap.provider} {what or ':'.join(ap.parts)}", ap.span)
        self.wildcard = wildcard


def missing(ap: AttachPoint, what: str = "") -> MissingProbe:
    """`what`: the target as resolved (a uprobe's library path) when it differs from the text."""
    return MissingProbe(ap, any(is_glob(p) for p in ap.parts), what)


def is_glob(s: str) -> bool:
    return any(c in s for c in "*?[{")


Listing = Callable[[str], list[str]]
NOSPAN = Span()
