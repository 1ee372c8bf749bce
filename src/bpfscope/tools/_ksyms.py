"""Which kernel functions exist (for tools that kprobe BCC's functions, whose names move
between kernel versions: add_to_page_cache_lru became filemap_add_folio, ...)."""

from __future__ import annotations

import re


def present(names: list[str]) -> set[str]:
    """The subset of `names` that are text symbols in /proc/kallsyms (".isra.N"-style
    clones count under their base name)."""
    want = set(names)
    found: set[str] = set()
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tT":
                    base = re.sub(r"\.(isra|constprop|part|cold)\.\d+$", "", parts[2])
                    if base in want:
                        found.add(base)
    except OSError:
        pass
    return found


def first(candidates: list[str], have: set[str]) -> str | None:
    return next((c for c in candidates if c in have), None)
