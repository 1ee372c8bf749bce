"""The report: the window's raw data plus the USE table, the findings and the flame graph —
one dict that the text, HTML and JSON renderers all read, so the three say the same thing."""

from __future__ import annotations

from typing import Any

from . import flame, use


def build(data: dict[str, Any]) -> dict[str, Any]:
    rows, found = use.table(data)
    rep = dict(data)
    rep["use"] = rows
    rep["next"] = found
    prof = data.get("profile")
    if prof is not None:
        stacks = []
        for line in prof["folded"]:
            st, _, n = line.rpartition(" ")
            stacks.append((st, int(n)))
        who = f"PID {data['meta']['pid']}" if data["meta"].get("pid") else "all processes"
        prof["svg"] = flame.svg(stacks, f"CPU flame graph: {who}, {data['meta']['duration_s']:.0f} s at 49 Hz")
    from .. import __version__

    rep["meta"] = dict(data["meta"], version=__version__, report="bpfscope triage")
    return rep
