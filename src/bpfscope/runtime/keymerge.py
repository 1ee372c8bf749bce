"""Merge map entries whose decoded keys are equal though their raw keys differ.

A stack key is a stack id (plus a pid for user stacks). `kstack(N)` / `ustack(N)` keep only
the first N frames of the stack the id names, so different ids (different full stacks,
different pids) can decode to the same frame list. bpftrace prints one entry per printed key
with the values combined; so do we, for every map whose key holds a stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..lang.ctype.types import Kind, Type

_STACKS = (Kind.KSTACK, Kind.USTACK)


def has_stack(t: Type | None) -> bool:
    """Whether a key type holds a stack (alone, in a tuple, or in a record)."""
    if t is None:
        return False
    if t.kind in _STACKS:
        return True
    return any(has_stack(e) for e in t.elems)


def hashable(v: Any) -> Any:
    """The value with lists (decoded stacks) turned into tuples, so it can key a dict."""
    if isinstance(v, list | tuple):
        return tuple(hashable(x) for x in v)
    return v


def combine(a: Any, b: Any, vt: Type) -> Any:
    """Two values of one aggregation (as map_entries decodes them) folded into one."""
    k = vt.kind
    if k in (Kind.COUNT, Kind.SUM):
        return a + b
    if k in (Kind.AVG, Kind.STATS):
        return (a[0] + b[0], a[1] + b[1])
    if k is Kind.MIN:
        return min(a, b)
    if k is Kind.MAX:
        return max(a, b)
    if k in (Kind.HIST, Kind.LHIST):
        out = dict(a)
        for i, c in b.items():
            out[i] = out.get(i, 0) + c
        return out
    if k is Kind.TSERIES:
        from .tseries import AGG_MAX, AGG_MIN, AGG_SUM

        agg = vt.params[2] if len(vt.params) > 2 else -1
        out = dict(a)
        for ep, v in b.items():
            if ep not in out:
                out[ep] = v
            elif agg == AGG_SUM:
                out[ep] += v
            elif agg == AGG_MAX:
                out[ep] = max(out[ep], v)
            elif agg == AGG_MIN:
                out[ep] = min(out[ep], v)
            else:
                out[ep] = v   # plain/avg series: one of the writes stands for the interval
        return out
    return b   # a plain value (`@[kstack(1)] = nsecs`): any one write is as good as another


def merge_entries(entries: Iterable[tuple[Any, Any]], vt: Type) -> list[tuple[Any, Any]]:
    """Entries with equal decoded keys folded into the first of them, in first-seen order."""
    out: dict[Any, list[Any]] = {}
    for key, value in entries:
        h = hashable(key)
        cur = out.get(h)
        if cur is None:
            out[h] = [key, value]
        else:
            cur[1] = combine(cur[1], value, vt)
    return [(k, v) for k, v in out.values()]
