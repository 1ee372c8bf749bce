"""Folded-stack text (``a;b;c 42``): parsing with flamegraph.pl's exact matching rules.

flamegraph.pl takes the *last* number on a line as the count and, if the remaining stack
text again ends in a number, treats the line as differential (``stack before after``).
We keep that behaviour so the same input draws the same frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Perl: /^(.*)\s+?(\d+(?:\.\d*)?)$/ (greedy stack, lazy gap, numeric tail).
_COUNT_RE = re.compile(r"^(.*)\s+?(\d+(?:\.\d*)?)$")

Number = int | float


def to_number(text: str) -> Number:
    """Convert a count as Perl would use it numerically (``"12."`` is 12)."""
    if text.isdigit():
        return int(text)
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def split_count(line: str) -> tuple[str, str] | None:
    """Split ``stack count`` into its two texts, or None when the line has no count."""
    head, sep, tail = line.rpartition(" ")
    if sep and tail.isdecimal() and "\n" not in head:
        # Fast path, same result as the regex: the count is the all-digit tail.
        return head, tail
    m = _COUNT_RE.match(line)
    if m is None:
        return None
    return m.group(1), m.group(2)


def parse_line(line: str) -> tuple[str, Number, Number | None] | None:
    """Parse one folded line into (stack, count1, count2-or-None)."""
    first = split_count(line)
    if first is None:
        return None
    stack, samples = first
    second = split_count(stack)
    if second is None:
        return stack, to_number(samples), None
    return second[0], to_number(second[1]), to_number(samples)


def perl_split(stack: str, sep: str = ";") -> list[str]:
    """Split like Perl's ``split`` with a literal separator: trailing empty fields are dropped."""
    if not stack:
        return []
    parts = stack.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def format_count(value: Number) -> str:
    """Print a number the way Perl stringifies it (integers without a decimal point)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)


def fold_lines(stacks: Iterable[tuple[str, Number]]) -> Iterator[str]:
    """Yield ``stack count`` lines, for writing folded output."""
    for stack, count in stacks:
        yield f"{stack} {format_count(count)}"


def read_folded(lines: Iterable[str]) -> dict[str, Number]:
    """Sum counts per stack from folded lines (invalid lines are skipped)."""
    out: dict[str, Number] = {}
    for raw in lines:
        parsed = parse_line(raw.rstrip("\n"))
        if parsed is None:
            continue
        stack, count, count2 = parsed
        value = count if count2 is None else count2
        out[stack] = out.get(stack, 0) + value
    return out
