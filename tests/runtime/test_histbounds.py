"""Bucket bounds of hist()/lhist(), against bpftrace's documented bucket ranges and
against the runtime's own bucket index (the BPF side's contract)."""

from __future__ import annotations

import math

from bpfscope.runtime.histbounds import hist_le, hist_lower, lhist_le
from bpfscope.runtime.output import hist_bucket_index, lhist_bucket_index


def bounds(v: int, bits: int = 0) -> tuple[float, float]:
    i = hist_bucket_index(v, bits)
    return hist_lower(i, bits), hist_le(i, bits)


def test_documented_power_of_two_buckets() -> None:
    # bpftrace prints [0], [1], [2, 4), [4, 8), ..., [512, 1K), [1K, 2K)
    assert bounds(0) == (0, 0) and bounds(1) == (1, 1)
    assert bounds(3) == (2, 3) and bounds(5) == (4, 7)
    assert bounds(1000) == (512, 1023) and bounds(1500) == (1024, 2047)
    assert bounds(-5) == (-math.inf, -1)


def test_documented_fractional_buckets() -> None:
    # hist(n, 2): four buckets per power of two, e.g. [8, 10), [10, 12), [12, 14), [14, 16)
    assert bounds(9, 2) == (8, 9) and bounds(10, 2) == (10, 11) and bounds(15, 2) == (14, 15)
    assert bounds(7, 2) == (7, 7)          # below 2 * 2^bits every value has its own bucket


def test_every_value_lies_in_its_bucket() -> None:
    for bits in range(5):
        for v in [*range(-2, 5000), 2**40 + 12345, 2**62]:
            lo, hi = bounds(v, bits)
            assert lo <= v <= hi, (v, bits)


def test_lhist_bounds() -> None:
    # lhist(v, 0, 100, 10): [0, 10) ... [90, 100), then >= 100
    assert lhist_le(lhist_bucket_index(5, 0, 100, 10), 0, 100, 10) == 9
    assert lhist_le(lhist_bucket_index(99, 0, 100, 10), 0, 100, 10) == 99
    assert lhist_le(lhist_bucket_index(100, 0, 100, 10), 0, 100, 10) == math.inf
    assert lhist_le(lhist_bucket_index(-1, 0, 100, 10), 0, 100, 10) == -1
