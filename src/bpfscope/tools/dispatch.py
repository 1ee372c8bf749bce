"""`bpfscope <tool> ARGS...` and `bpfscope tools`: the dispatch above the registry and the
listing (kept apart from `registry` so that `listing`, which uses the registry, is not
imported by it: no import loop)."""

from __future__ import annotations

import sys

from . import registry


def main(argv: list[str]) -> int:
    """`bpfscope <tool> ARGS...` or `bpfscope tools`."""
    if argv[0] == "tools":
        from .listing import main as listing_main

        return listing_main(argv[1:])
    mod = registry.load(argv[0])
    tool = getattr(mod, "TOOL", None)
    if tool is None:
        sys.stderr.write(f"ERROR: {argv[0]} is not a tool\n")
        return 1
    from .base import run

    return run(tool, argv[1:])
