"""Inclusive bounds of bpftrace's histogram buckets: the inverse of the bucket index
schemes in ``runtime.output`` (``hist_bucket_index``, ``lhist_bucket_index``).

bpftrace's buckets are half-open integer ranges ``[lo, hi)``; for integers that is
``lo <= v <= hi - 1``, so each bound here is exact. The Python API's ``Histogram`` and
the Prometheus exporter's ``le`` edges both use these.
"""

from __future__ import annotations

import math


def hist_lower(index: int, bits: int = 0) -> float:
    """The smallest value that ``hist(v, bits)`` puts in bucket *index* (-inf for index 0)."""
    if index <= 0:
        return -math.inf
    n = 1 << bits
    j = index - 1
    if j < 2 * n:           # the single-value buckets 0 .. 2n-1
        return j
    shift = (j >> bits) - 1
    return (n + (j & (n - 1))) << shift


def hist_le(index: int, bits: int = 0) -> float:
    """Inclusive upper bound of bucket *index* (index 0 holds every negative value)."""
    if index <= 0:
        return -1
    return hist_lower(index + 1, bits) - 1


def lhist_le(index: int, lo: int, hi: int, step: int) -> float:
    """Inclusive upper bound of ``lhist(v, lo, hi, step)``'s bucket *index* (+Inf for the last)."""
    last = (hi - lo) // step + 1
    if index >= last:
        return math.inf
    return lo + index * step - 1
