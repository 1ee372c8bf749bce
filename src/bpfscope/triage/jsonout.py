"""The report as JSON: the same dict the text and HTML renderers read (every raw figure,
the USE cells with their sources and flags, the findings, the folded stacks and the SVG)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def _clean(v: Any) -> Any:
    """NaN/inf (an empty histogram's quantile) are not JSON: null instead."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def dumps(rep: dict[str, Any]) -> str:
    return json.dumps(_clean(rep), indent=1, sort_keys=False) + "\n"


def write_json(rep: dict[str, Any], path: str) -> None:
    text = dumps(rep)
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path, "w") as f:
        f.write(text)
