"""Merge folded stacks into frames, the way flamegraph.pl lays them out.

Stacks are sorted as whole lines (byte/code-point order, counts included) unless a flame
chart is wanted, then walked once: frames shared with the previous stack stay open, the
rest close at the running sample total. Each closed frame is (name, depth, start, end).
Differential input gives each newly opened frame a delta (the leaf gets the stack's
``after - before``), which is flamegraph.pl's self-delta colouring.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from bpfscope.flame.folded import Number, format_count, parse_line, perl_split, split_count


@dataclass(slots=True)
class Frame:
    """One merged frame: [start, end) in sample units at a depth (0 is the root)."""

    name: str
    depth: int
    start: Number
    end: Number
    delta: Number | None = None


@dataclass
class Merged:
    """Result of merging: (start, delta) keyed like flamegraph.pl's (name, depth, end) ids."""

    frames: dict[tuple[str, int, Number], tuple[Number, Number | None]]
    total: Number
    maxdelta: Number
    ignored: int


def _reverse_line(line: str) -> str | None:
    """--reverse: flip the frame order of one input line, keeping its counts."""
    first = split_count(line)
    if first is None:
        return None
    stack, samples = first
    second = split_count(stack)
    if second is not None:
        stack2, samples1 = second
        return ";".join(reversed(perl_split(stack2))) + f" {samples1} {samples}"
    return ";".join(reversed(perl_split(stack))) + f" {samples}"


def _chain_mark(stack: str) -> str:
    """--colors=chain: mark waker frames (after the ``--`` separator) with ``_[w]``."""
    parts = stack.split(";--;")
    head = parts[0]
    rest = [p.replace(";", "_[w];") + "_[w]" for p in parts[1:]]
    return head + ";--;" + ";--;".join(rest)


def order_lines(lines: Iterable[str], reverse: bool, flamechart: bool) -> list[str]:
    """Order input lines as flamegraph.pl merges them (sorted, or input order for charts)."""
    data: list[str] = []
    for raw in lines:
        line = raw[:-1] if raw.endswith("\n") else raw
        if reverse:
            flipped = _reverse_line(line)
            if flipped is None:
                # Perl builds a line from undefined parts; it is then ignored as invalid.
                data.append(" ")
                continue
            line = flipped
        data.append(line)
    if flamechart:
        return data
    data.sort()
    return data


def merge(lines: Iterable[str], *, reverse: bool = False, flamechart: bool = False,
          chain: bool = False) -> Merged:
    """Merge folded lines (``stack count`` or ``stack c1 c2``) into frames."""
    frames: dict[tuple[str, int, Number], tuple[Number, Number | None]] = {}
    open_names: list[str] = []
    open_start: list[Number] = []
    open_delta: list[Number | None] = []
    time: Number = 0
    maxdelta: Number = 1
    ignored = 0

    def close_to(keep: int, now: Number) -> None:
        for i in range(len(open_names) - 1, keep - 1, -1):
            frames[(open_names[i], i, now)] = (open_start[i], open_delta[i])
        del open_names[keep:], open_start[keep:], open_delta[keep:]

    for line in order_lines(lines, reverse, flamechart):
        parsed = parse_line(line)
        if parsed is None:
            ignored += 1
            continue
        stack, samples, samples2 = parsed
        delta: Number | None = None
        if samples2 is not None:
            delta = samples2 - samples
            if abs(delta) > maxdelta:
                maxdelta = abs(delta)
        if chain:
            stack = _chain_mark(stack)
        this = ["", *perl_split(stack)]
        same = 0
        limit = min(len(open_names), len(this))
        while same < limit and open_names[same] == this[same]:
            same += 1
        close_to(same, time)
        last = len(this) - 1
        for i in range(same, len(this)):
            open_names.append(this[i])
            open_start.append(time)
            open_delta.append(None if delta is None else (delta if i == last else 0))
        time += samples if samples2 is None else samples2
    close_to(0, time)
    return Merged(frames, time, maxdelta, ignored)


def prune(merged: Merged, minwidth_time: float) -> tuple[list[Frame], int]:
    """Drop frames narrower than ``minwidth_time`` samples; return frames and max depth."""
    kept: list[Frame] = []
    depthmax = 0
    for (name, depth, end), (start, delta) in merged.frames.items():
        if end - start < minwidth_time:
            continue
        if depth > depthmax:
            depthmax = depth
        kept.append(Frame(name, depth, start, end, delta))
    return kept, depthmax


def warn(msg: str) -> None:
    """Diagnostics go to stderr like the Perl tool's warnings."""
    sys.stderr.write(msg + "\n")


__all__ = ["Frame", "Merged", "merge", "prune", "order_lines", "format_count"]
