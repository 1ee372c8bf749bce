"""Perl's ``srand``/``rand`` (a drand48 generator since Perl 5.20).

flamegraph.pl's default colouring seeds Perl's generator with the sum of a name's code
points and draws one number, so each function gets a stable colour. Reproducing the
generator lets our frames get the very same fills.
"""

from __future__ import annotations

_MASK48 = (1 << 48) - 1
_A = 0x5DEECE66D
_C = 0xB


def srand_rand(seed: int) -> float:
    """Return the first ``rand(1)`` after ``srand(seed)``."""
    x = (0x330E + ((seed & 0xFFFFFFFF) << 16)) & _MASK48
    x = (x * _A + _C) & _MASK48
    return x / 281474976710656.0


def name_rand(name: str) -> float:
    """flamegraph.pl's per-name random value: seed = 32-bit sum of code points."""
    return srand_rand(sum(map(ord, name)) & 0xFFFFFFFF)
