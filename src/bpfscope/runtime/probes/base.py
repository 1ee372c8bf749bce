"""Probe providers: one module per probe type, each knowing how to resolve an attach
point into concrete `ProbeInfo`s, what context its programs see, and how to attach.

A provider module exposes `NAMES`, `resolve(ap, env) -> list[ProbeInfo]`,
`attach(info, prog_fd, env) -> list[Closeable]` and optionally `listing(pattern)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...lang.bpftrace.ast import AttachPoint, Span
from ...lang.diagnostics import CompileError


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
    """What providers may consult: -p PID, positional params, options."""
    pid: int = -1
    opts: dict[str, Any] = field(default_factory=dict)


class ProbeError(CompileError):
    """An attach point that cannot be resolved or attached (located at the attach point)."""


def fail(ap: AttachPoint, message: str, hint: str | None = None) -> ProbeError:
    return ProbeError(message, ap.span, hint)


def is_glob(s: str) -> bool:
    return any(c in s for c in "*?[{")


Listing = Callable[[str], list[str]]
NOSPAN = Span()
