"""The `missing_probes` config (bpftrace 0.26): what happens to attach points that match nothing.

Resolution runs before compiling, probe by probe, so that a probe left without any attach point
is known and can be pruned (or reported) as bpftrace's probe-prune pass does. `error` stops at the
first missing attach point, `warn` (the default) reports and skips, `ignore` skips silently. A
wildcard that matches nothing is never reported by itself: only a probe it leaves empty is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...lang.bpftrace import ast as A
from .base import MissingProbe, ProbeError

EMPTY_ERROR = ("Probe has no valid attach points. If this is expected, set the 'missing_probes' config "
               "variable to 'warn'.")
# bpftrace 0.26 builds this one from "Probe " + " has no ...": two spaces, kept as printed
EMPTY_WARNING = ("Probe  has no valid attach points. It is being removed which may cause issues with "
                 "program behavior.")

Warning = tuple[str, A.Span | None]


def resolve_probes(program: A.Program, resolve: Callable[[A.AttachPoint], list[Any]],
                   policy: str = "warn") -> tuple[dict[int, list[Any]], list[Warning]]:
    """Every attach point resolved once, by id(ap); the warnings the policy asks for, in order."""
    found: dict[int, list[Any]] = {}
    warnings: list[Warning] = []
    for probe in program.probes:
        went_missing = False
        for ap in probe.attach_points:
            try:
                found[id(ap)] = resolve(ap)
            except MissingProbe as e:
                found[id(ap)] = []
                went_missing = True
                if e.wildcard or policy == "ignore":
                    continue
                if policy == "error":
                    raise ProbeError(e.message + ".", e.span) from None
                warnings.append((e.message + ". Skipping.", e.span))
        if went_missing and not any(found[id(ap)] for ap in probe.attach_points):
            span = probe.attach_points[0].span.to(probe.attach_points[-1].span)
            if policy == "error":
                raise ProbeError(EMPTY_ERROR, span)
            if policy == "warn":
                warnings.append((EMPTY_WARNING, span))
    return found, warnings
