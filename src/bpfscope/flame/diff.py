"""difffolded: join two folded profiles into ``stack before after`` lines.

The output feeds a differential flame graph (red = grew, blue = shrank). Same rules as
FlameGraph's difffolded.pl: missing stacks count 0, ``-n`` scales the first profile to the
second's total, ``-s`` replaces hex numbers so address-only differences merge. Like the
Perl script, a line without a count adds 0 to an empty stack (so ``" 0 0"`` appears).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bpfscope.flame.folded import Number, format_count, split_count, to_number

_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")


def _load(lines: Iterable[str], strip_hex: bool) -> tuple[dict[str, Number], Number]:
    out: dict[str, Number] = {}
    total: Number = 0
    for raw in lines:
        parsed = split_count(raw.rstrip("\n"))
        if parsed is None:
            out.setdefault("", 0)
            continue
        stack, count_text = parsed
        if strip_hex:
            stack = _HEX_RE.sub("0x...", stack)
        count = to_number(count_text)
        out[stack] = out.get(stack, 0) + count
        total += count
    return out, total


def difffolded(before: Iterable[str], after: Iterable[str], *, normalize: bool = False,
               strip_hex: bool = False) -> list[str]:
    """Return sorted ``stack count1 count2`` lines for the union of both profiles."""
    a, total1 = _load(before, strip_hex)
    b, total2 = _load(after, strip_hex)
    lines = []
    for stack in sorted(a.keys() | b.keys()):
        c1: Number = a.get(stack, 0)
        c2: Number = b.get(stack, 0)
        if normalize and total1 != total2 and total1:
            c1 = int(c1 * total2 / total1)
        lines.append(f"{stack} {format_count(c1)} {format_count(c2)}")
    return lines
