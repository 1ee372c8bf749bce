"""The window's CPU profile as folded stacks, hottest functions and a flame graph SVG (the
project's flamegraph.pl-compatible renderer, so the report's graph is the same as
`bpfscope flamegraph` draws)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def folded(prog: Any) -> list[tuple[str, int]]:
    """profile's @counts[pid, comm, kstack, ustack] as (comm;user root..leaf;kernel root..leaf, n)."""
    from ..tools import _multi

    merged: Counter[str] = Counter()
    for (_pid, comm, ks, us), n in prog.map_entries("@counts"):
        kfr = [f + "_[k]" for f in _multi.frames(ks)] if isinstance(ks, list) else []
        ufr = _multi.frames(us) if isinstance(us, list) else []
        merged[_multi.folded([[comm], ufr, kfr])] += int(n)
    return sorted(merged.items())


def hottest(stacks: list[tuple[str, int]], n: int = 10) -> dict[str, Any]:
    """Leaf functions (on-CPU self samples) and processes, by samples."""
    leaf: Counter[str] = Counter()
    comm: Counter[str] = Counter()
    total = 0
    unknown = 0
    for st, c in stacks:
        parts = st.split(";")
        named = [f for f in parts[1:] if f != "[unknown]"]
        if parts[-1] == "[unknown]":   # not a function: its share is reported apart
            unknown += c
        if named and parts[-1] != "[unknown]":
            leaf[parts[-1]] += c
        comm[parts[0]] += c
        total += c
    return {"samples": total, "unknown_leaf_pct": round(100 * unknown / total, 1) if total else 0.0,
            "leaf": [[f, c, round(100 * c / total, 1)] for f, c in leaf.most_common(n)] if total else [],
            "comm": [[f, c, round(100 * c / total, 1)] for f, c in comm.most_common(n)] if total else []}


def svg(stacks: list[tuple[str, int]], title: str) -> str:
    from ..flame.svg import FlameOptions, error_svg, render_svg

    opts = FlameOptions(title=title, width=1200, countname="samples")
    if not stacks:
        return error_svg(opts)
    return render_svg([f"{s} {c}" for s, c in stacks], opts)
