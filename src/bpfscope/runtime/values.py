"""Typed map values for the Python API: what a daemon reads from ``Program.maps()``.

A histogram is its buckets with their bounds (not bpftrace's internal ``{index: count}``),
``avg()`` is the integer bpftrace prints, ``stats()`` is count/average/total. Bounds are
inclusive integers, the same edges the Prometheus exporter publishes as ``le``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..lang.ctype.types import Kind, Type
from . import histbounds as pb


@dataclass(frozen=True)
class Bucket:
    """Values ``low <= v <= high`` (``low`` is -inf for the negatives' bucket, ``high`` +inf
    for lhist's overflow)."""
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Histogram:
    """``hist()``/``lhist()`` as buckets from the lowest to the highest non-empty one."""
    kind: str                  # "hist" | "lhist"
    buckets: tuple[Bucket, ...]

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets)

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the q-th value (0 < q <= 1): a bound, not an estimate."""
        if not 0 < q <= 1:
            raise ValueError("quantile takes 0 < q <= 1")
        need = q * self.total
        seen = 0
        for b in self.buckets:
            seen += b.count
            if seen >= need and b.count:
                return b.high
        return math.nan

    def as_dict(self) -> dict[tuple[float, float], int]:
        return {(b.low, b.high): b.count for b in self.buckets}


@dataclass(frozen=True)
class Stats:
    count: int
    average: int
    total: int


def typed(value: Any, vt: Type) -> Any:
    """One decoded map value (runtime conventions) as the API's typed value."""
    k = vt.kind
    if k is Kind.AVG:
        cnt, tot = value
        return int(tot / cnt) if cnt else 0
    if k is Kind.STATS:
        cnt, tot = value
        return Stats(cnt, int(tot / cnt) if cnt else 0, tot)
    if k is Kind.HIST:
        bits = vt.params[0] if vt.params else 0
        used = sorted(i for i, c in value.items() if c)
        if not used:
            return Histogram("hist", ())
        return Histogram("hist", tuple(Bucket(pb.hist_lower(i, bits), pb.hist_le(i, bits), int(value.get(i, 0)))
                                       for i in range(used[0], used[-1] + 1)))
    if k is Kind.LHIST:
        lo, hi, step = vt.params
        used = sorted(i for i, c in value.items() if c)
        if not used:
            return Histogram("lhist", ())
        return Histogram("lhist", tuple(
            Bucket(-math.inf if i == 0 else lo + (i - 1) * step, pb.lhist_le(i, lo, hi, step), int(value.get(i, 0)))
            for i in range(used[0], used[-1] + 1)))
    return value


@dataclass(frozen=True)
class Event:
    """One ``printf`` record as ``Program.on_event`` delivers it: the format, the typed
    arguments (ints, strs, ...), and the line bpftrace would print (``text``, made on use)."""
    format: str
    args: tuple[Any, ...]
    arg_types: tuple[Type, ...]

    @property
    def text(self) -> str:
        from .printf import format_printf

        return format_printf(self.format, list(zip(self.args, self.arg_types, strict=True)))
