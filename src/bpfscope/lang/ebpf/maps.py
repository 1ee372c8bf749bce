"""Map facts the back end needs wherever maps are read or written."""

from __future__ import annotations

from ..ctype.types import Kind

# aggregations kept per CPU and updated in place (summed/merged when read)
PERCPU_KINDS = (Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG)
