"""Which keyless aggregation maps may live in a per-CPU array instead of a per-CPU hash.

`@ = count()`, `@ = hist(x)` and `@ = lhist(x, ...)` update one slot per event. In a
PERCPU_ARRAY that slot is found by index (the kernel inlines the lookup: no helper call, no
hashing), the cheapest per-event path there is; a hist's bucket number is the array index.
An array entry always exists, though, so the runtime reads a zero count as "never written" —
exactly what the hash shows as long as nothing but the aggregation, print() and clear()
(and zero() for histograms, whose empty buckets print as absent ones) touch the map. Any other
use (a read in an expression, delete, has_key, len, a for-loop, a macro argument, ...)
keeps the hash.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import ast as A

ARRAY_AGGS = ("count", "hist", "lhist")
_PRINTERS = {"count": ("print", "clear"), "hist": ("print", "clear", "zero"),
             "lhist": ("print", "clear", "zero")}


def array_aggregates(program: A.Program) -> set[str]:
    """Names of the maps that only ever take a keyless count()/hist()/lhist() and are only
    printed or cleared; declared maps (`let @m = hash(...)`) are never among them."""
    agg: dict[str, set[str]] = {}     # map -> aggregation functions assigned to it
    uses: dict[str, set[str]] = {}    # map -> print/clear/zero calls on it
    other: set[str] = set()           # maps used any other way

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
            return
        if not isinstance(node, A.Node):
            return
        if isinstance(node, A.Map):
            other.add(node.name)
            for k in node.keys:
                visit(k)
            return
        if (isinstance(node, A.Assign) and isinstance(node.target, A.Map) and not node.target.keys
                and not node.op and isinstance(node.value, A.Call) and node.value.name in ARRAY_AGGS):
            agg.setdefault(node.target.name, set()).add(node.value.name)
            visit(node.value.args)
            return
        if (isinstance(node, A.Call) and node.name in ("print", "clear", "zero") and node.args
                and isinstance(node.args[0], A.Map) and not node.args[0].keys):
            uses.setdefault(node.args[0].name, set()).add(node.name)
            visit(node.args[1:])
            return
        for f in dataclasses.fields(node):
            if f.name not in ("span", "type"):
                visit(getattr(node, f.name))

    visit([program.probes, program.macros, program.functions])
    declared = {d.name for d in program.map_decls} if program.map_decls else set()
    out = set()
    for name, funcs in agg.items():
        if name in other or name in declared or len(funcs) != 1:
            continue
        (fn,) = funcs
        if uses.get(name, set()) <= set(_PRINTERS[fn]):
            out.add(name)
    return out
