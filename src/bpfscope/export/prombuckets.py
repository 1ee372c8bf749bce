"""Bucket edges of bpftrace's histograms as Prometheus ``le`` bounds.

Prometheus buckets are cumulative and inclusive (``value <= le``); bpftrace's are
half-open integer ranges. For integers ``[lo, hi)`` is ``value <= hi - 1``, so every
bucket's ``le`` is the first value of the next bucket minus one: exact, not rounded.
The index schemes are the runtime's (``runtime.output.hist_bucket_index`` and
``lhist_bucket_index``); this module inverts them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..runtime.histbounds import hist_le, hist_lower, lhist_le

__all__ = ["cumulative", "hist_edges", "hist_le", "hist_lower", "lhist_edges", "lhist_le"]


def cumulative(buckets: dict[int, int], le_of: Iterable[tuple[int, float]],
               scale: float = 1.0) -> list[tuple[str, float]]:
    """Prometheus ``(le, cumulative count)`` pairs, ``+Inf`` last, from ``{index: count}``.

    *le_of* lists every (index, le) edge to emit in order: edges are emitted even when
    empty so that a series keeps the same buckets from scrape to scrape (Prometheus'
    ``histogram_quantile`` needs a stable set). *scale* multiplies the bounds (units).
    """
    out: list[tuple[str, float]] = []
    total = 0
    for index, le in le_of:
        total += buckets.get(index, 0)
        if math.isinf(le):
            continue
        out.append((_le_text(le * scale), float(total)))
    out.append(("+Inf", float(sum(buckets.values()))))
    return out


def hist_edges(buckets: dict[int, int], bits: int = 0, min_index: int = 1,
               max_index: int = 0) -> list[tuple[int, float]]:
    """(index, le) for bucket indices from the lowest used (or *min_index*) to the highest
    used (or *max_index*): a stable ladder that grows, never shrinks, as values arrive."""
    used = [i for i, c in buckets.items() if c]
    lo = min([min_index, *used]) if used else min_index
    hi = max([max_index, *used]) if used else max_index
    return [(i, hist_le(i, bits)) for i in range(max(lo, 0), hi + 1)]


def lhist_edges(lo: int, hi: int, step: int) -> list[tuple[int, float]]:
    """Every (index, le) of a linear histogram; its bucket count is fixed by its arguments."""
    last = (hi - lo) // step + 1
    return [(i, lhist_le(i, lo, hi, step)) for i in range(0, last + 1)]


def _le_text(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x)}.0"
    return repr(float(x))
