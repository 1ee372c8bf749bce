"""What BCC's histogram tools (biolatency, runqlat, cpudist, hardirqs -d, ...) share:
the `interval count` positionals, one summary per interval (a blank line, `-T`'s time,
the histograms, then the maps cleared), and a last summary on Ctrl-C.

A subclass sets `maps` (the hist maps printed and cleared each interval) and writes
`summary()`; `log2()` prints one hist map as BCC's `print_log2_hist` does, a section per key;
`unit()`, `extension()` and `extension_summary()` are BCC's -m and -e.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, ClassVar

from . import bcchist
from .base import Tool, ToolError

FOREVER = 99999999   # BCC's default interval and count


def add_interval_args(ap: argparse.ArgumentParser, count_name: str = "count") -> None:
    ap.add_argument("interval", nargs="?", default=FOREVER, help="output interval, in seconds")
    ap.add_argument(count_name, nargs="?", default=FOREVER, help="number of outputs")


def _int_arg(v: Any, what: str) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ToolError(f"invalid {what}: '{v}'") from None


class HistTool(Tool):
    """A tool printing histograms (or tables) from maps every `interval` seconds, `count` times."""

    maps: ClassVar[tuple[str, ...]] = ()   # cleared after each summary
    count_name: ClassVar[str] = "count"

    def check(self) -> None:
        self._interval = _int_arg(self.o.interval, "interval")
        self._count = _int_arg(getattr(self.o, self.count_name), "count")
        if self._interval <= 0 or self._count <= 0:
            raise ToolError(f"{self.name}: interval and count must be positive")

    def interval(self) -> float | None:
        return None if self._interval >= FOREVER else float(self._interval)

    def count(self) -> int | None:
        return None if self._count >= FOREVER else self._count

    def tick(self) -> None:
        self.write("\n")
        if getattr(self.o, "timestamp", False):
            self.write("%-8s\n" % time.strftime("%H:%M:%S"))
        self.summary()
        for m in self.maps:
            self.clear(m)

    def finish(self, interrupted: bool) -> None:
        if interrupted or self.interval() is None:
            self.tick()

    def summary(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ -m and -e
    def unit(self) -> tuple[int, str]:
        """-m: (nanoseconds per unit, BCC's label)."""
        return (1000000, "msecs") if self.o.milliseconds else (1000, "usecs")

    def extension(self) -> str:
        """-e: the program statements summing `$d` (the latency in units) and counting it."""
        return "      @ext_total = sum($d);\n      @ext_count = count();\n" if self.o.extension else ""

    def extension_summary(self, label: str) -> None:
        """-e: BCC's `avg = ..., total: ..., count: ...` line after the histograms, the sums cleared."""
        if not self.o.extension:
            return
        total = self.map("@ext_total") or 0
        count = self.map("@ext_count") or 0
        if count > 0 and not self.json:
            self.write("\navg = %d %s, total: %d %s, count: %d\n\n" % (total // count, label, total, label, count))
        self.clear("@ext_total")
        self.clear("@ext_count")

    # ------------------------------------------------------------ printing
    def log2(self, mapname: str, label: str, section: str = "",
             section_fn: Callable[[Any], str] = str, sort_key: Callable[[Any], Any] | None = None) -> None:
        """BCC's print_log2_hist: one histogram, or with `section` one per key ("\\nsection = key")."""
        data = self.map(mapname) or {}
        if not section:
            hist = data if not _keyed(data) else _merge(data)
            self._one(label, hist, None, "")
            return
        for key in sorted(data, key=sort_key or _sort_key):
            self._one(label, data[key], key, section, section_fn)

    def _one(self, label: str, hist: dict[int, int], key: Any, section: str,
             section_fn: Callable[[Any], str] = str) -> None:
        slots = bcchist.slots_from_hist(hist)
        if self.json:
            rec: dict[str, Any] = {"ts": time.strftime("%Y-%m-%d %H:%M:%S"), "val_type": label,
                                   "data": _json_rows(slots)}
            if section:
                rec[section] = section_fn(key)
            self.emit("", **rec)
            return
        if section:
            self.write(bcchist.section(section, section_fn(key)))
        self.write(bcchist.log2_hist(slots, label))


def _keyed(data: Any) -> bool:
    return bool(data) and all(isinstance(v, dict) for v in data.values())


def _merge(data: dict[Any, dict[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for h in data.values():
        for b, c in h.items():
            out[b] = out.get(b, 0) + c
    return out


def _sort_key(k: Any) -> Any:
    return (0, k, "") if isinstance(k, int) else (1, 0, str(k))


def _json_rows(slots: list[int]) -> list[dict[str, int]]:
    """BCC's print_json_hist rows: every slot up to the last non-empty one."""
    last = max((i for i, c in enumerate(slots) if c), default=0)
    rows = []
    for i in range(1, last + 1):
        low, high = (1 << i) >> 1, (1 << i) - 1
        if low == high:
            low -= 1
        rows.append({"interval-start": low, "interval-end": high, "count": slots[i]})
    return rows
