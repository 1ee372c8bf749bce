"""``-f folded``: a Program's stack maps as folded lines (``root;...;leaf count``).

The same lines stackcollapse-bpftrace.pl makes of bpftrace's printed maps, straight from
the maps, so ``bpfscope -f folded -e '...' | bpfscope flamegraph`` needs no collapse step.
"""

from __future__ import annotations

from typing import Any

from .stacks import merged_stacks, stack_maps


def folded_lines(prog: Any) -> tuple[list[str], list[str]]:
    """(sorted ``stack count`` lines, names of maps that could not be folded)."""
    maps, skipped = stack_maps(prog)
    stacks = merged_stacks(maps)
    lines = [f"{';'.join(frames)} {value}" for frames, value in stacks.items() if value > 0]
    lines.sort()
    return lines, skipped
