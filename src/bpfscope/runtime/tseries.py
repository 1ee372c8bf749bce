"""tseries maps in user space: merge the per-CPU copies of each interval slot, then print
the series as bpftrace 0.26 does (src/output/text.cpp and json.cpp, TimeSeries).

Text: a 53-column strip chart per key, one row per interval from the key's oldest live
interval to the map's newest, the value after each row ('-' when the interval has none),
min and max above and below, a '.' column for zero when the range spans it. JSON: a list
of {"interval_start", "value"} with empty intervals left out.
"""

from __future__ import annotations

import os
import struct
import time

from ..lang.ctype.types import Type

GRAPH = 53
PAD = 21
AGG_NONE, AGG_AVG, AGG_MAX, AGG_MIN, AGG_SUM = range(5)
_UNITS = ((1_000_000_000, "s", 0), (1_000_000, "ms", 3), (1_000, "μs", 6))


def reduce_slot(cpus: list[bytes], vt: Type) -> tuple[int, int] | None:
    """(epoch, value) of one slot's newest interval, combining the CPUs that wrote it."""
    agg = vt.params[2]
    fmt = "<qQQ" if vt.signed else "<QQQ"
    latest: dict[int, list[int]] = {}
    for raw in cpus:
        value, meta, epoch = struct.unpack_from(fmt, raw, 0)
        if epoch == 0:
            continue   # never written on this CPU
        cur = latest.get(epoch)
        if cur is None:
            latest[epoch] = [value, meta]
        elif agg == AGG_NONE:
            if meta > cur[1]:
                cur[:] = [value, meta]   # the most recent write wins
        elif agg == AGG_AVG:
            cur[0] += value
            cur[1] += meta
        elif agg == AGG_MAX:
            cur[0] = max(cur[0], value)
        elif agg == AGG_MIN:
            cur[0] = min(cur[0], value)
        else:
            cur[0] += value
    if not latest:
        return None
    epoch = max(latest)
    value, meta = latest[epoch]
    if agg == AGG_AVG and meta:
        value = int(value / meta) if value < 0 else value // meta
    return epoch, value


def _series(points: dict[int, int], last: int, vt: Type) -> list[tuple[int, int | None]]:
    """(interval start in TAI ns, value or None) from the key's oldest live interval."""
    interval, intervals = vt.params[0], vt.params[1]
    live = [ep for ep in points if ep > last - intervals]
    if not live:
        return []
    return [(ep * interval, points.get(ep)) for ep in range(min(live), last + 1)]


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _unit(interval: int) -> tuple[int, str, int]:
    for scale, name, digits in _UNITS:
        if interval >= scale:
            return scale, name, digits
    return 1, "ns", 9


def _bytes_ljust(s: str, width: int) -> str:
    return s + " " * max(0, width - len(s.encode()))


def _clock_offset() -> int:
    """Wall clock minus CLOCK_TAI (what ktime_get_tai_ns reads): whole seconds (leap seconds).
    None under BPFTRACE_DUMMY_TS_MAP, whose map holds the times themselves."""
    if os.environ.get("BPFTRACE_DUMMY_TS_MAP", "").startswith("@"):
        return 0
    return round((time.time_ns() - time.clock_gettime_ns(time.CLOCK_TAI)) / 1e9) * 1_000_000_000


def _stamp(ns: int, digits: int, scale: int, fmt: str) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    text = time.strftime(fmt, time.localtime(sec))
    return f"{text}.{frac // scale:0{digits}d}" if digits else text


def graph_text(series: list[tuple[int, int | None]], bounds: tuple[int, int] | None = None,
               signed: bool = True) -> str:
    """The strip chart; `bounds` (print(@, min, max)) fixes its range, else the values span it.
    A flat series widens by one each way where its type allows (an unsigned 0 stays the floor)."""
    if not series:
        return "<no data>"   # TextEmitter<TimeSeries>: no newline; the map's own ends the line
    vals = [v for _t, v in series if v is not None]
    lo, hi = bounds if bounds else (min(vals), max(vals))
    if lo == hi:
        floor, ceil = (-(1 << 63), (1 << 63) - 1) if signed else (0, (1 << 64) - 1)
        lo, hi = (lo - 1 if lo > floor else lo), (hi + 1 if hi < ceil else hi)
    # the time column's precision comes from the rows' spacing (one row: nanoseconds, as 0.26)
    step = (series[-1][0] - series[0][0]) // (len(series) - 1 if len(series) > 1 else 1)
    scale, unit, digits = _unit(step)
    tfmt = "hh:mm:ss" + (f".{unit}" if digits else "")
    tsize = 8 + (1 + digits if digits else 0)
    scale_line = f"{lo!s:<{PAD}}{hi!s:>{GRAPH - PAD}}"
    out = [" " * (tsize + 1) + scale_line, _bytes_ljust(tfmt, tsize + 1) + "|" + "_" * (GRAPH - 2) + "|"]
    zero = 0
    if lo < 0 < hi:
        zero = int(_f32(_f32(float(GRAPH)) * _f32(float(-lo)) / _f32(float(hi - lo))))
    offset = _clock_offset()
    for t, v in series:
        line = [" "] * GRAPH
        line[0] = line[-1] = "|"
        if zero > 0:
            line[zero] = "."
        row = _stamp(t + offset, digits, scale, "%H:%M:%S") + " "
        if v is None:
            out.append(row + "".join(line) + " -")
            continue
        pos = int(_f32(_f32(float(GRAPH - 1)) * _f32(float(v - lo)) / _f32(float(hi - lo))))
        line[max(0, min(GRAPH - 1, pos))] = "*"
        out.append(row + "".join(line) + f" {v}")
    out.append(" " * (tsize + 1) + "v" + "_" * (GRAPH - 2) + "v")
    out.append(" " * (tsize + 1) + scale_line)
    return "".join(ln + "\n" for ln in out)


def graph_json(series: list[tuple[int, int | None]]) -> str:
    offset = _clock_offset()
    pts = [f'{{"interval_start":"{_stamp(t + offset, 9, 1, "%Y-%m-%d %H:%M:%S")}","value":{v}}}'
           for t, v in series if v is not None]
    return "[" + ",".join(pts) + "]"
