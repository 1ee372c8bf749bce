"""bpftrace 0.26's text and ``-f json`` output, byte for byte.

Sources (bpftrace/bpftrace, post output-driver rewrite PR #4302, mid-2025, which
0.26 contains): src/output/text.cpp, src/output/json.cpp, src/types_format.cpp;
expectations in tests/runtime/outputs/*.txt|json, tests/runtime/json-output,
tests/runtime/record.  Where 0.26 differs from the installed 0.17 it is noted.

Differences from 0.17 worth knowing:
  * hist/lhist headers are ``@h:`` -- 0.17 printed ``@h: `` (trailing space).
  * stats values print as a record ``{ .count = 1, .average = 3, .total = 3 }``
    (types_format builds a Record; 0.17 printed ``count 1, average 3, total 3``).
  * avg/stats maps no longer get a trailing blank line (PR #3338); hist/lhist
    blocks still do.
  * lhist rows spanning one value print as ``[3]`` (text.cpp single_value());
    0.17 printed ``[3, 4)``.
  * the banner is ``Attached N probe(s)`` on stderr (PR #4194), 0.17 printed
    ``Attaching N probes...`` on stdout; JSON adds ``"count"`` (PR #4481).
  * JSON: an empty keyed map prints nothing (JsonOutput::map).

Decoded-value conventions are those of the runtime (see module docs of
runtime/): ints are sign-correct Python ints, strings are ``str`` (decode with
errors="surrogateescape" so raw bytes survive), tuples are Python tuples, stacks
are lists of frame strings, AVG/STATS are ``(count, total)``, HIST/LHIST are
``{bucket index: count}``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bpfscope.lang.ctype.types import Kind, Type

# --------------------------------------------------------------------------
# histogram bucket schemes (shared contract with the code generator)
# --------------------------------------------------------------------------


def hist_bucket_index(value: int, bits: int = 0) -> int:
    """log2 bucket of *value* for ``hist(value, bits)``; the BPF side must compute the same.

    Index 0 holds negative values.  With N = 1 << bits, indices 1..2N hold the
    single values 0..2N-1 (index = value + 1).  Above that, each power of two
    [2^p, 2^(p+1)) is cut into N equal slices: index = ((p - bits) << bits) +
    (value >> (p - bits)) + 1, where p = floor(log2(value)).  With bits = 0 this
    is: 0 -> 1, 1 -> 2, 2..3 -> 3, 4..7 -> 4, i.e. index = floor(log2 v) + 2.
    (Inverse of hist_index_label() in bpftrace's src/types_format.cpp.)
    """
    if value < 0:
        return 0
    n = 1 << bits
    if value < 2 * n:
        return value + 1
    p = value.bit_length() - 1
    return ((p - bits) << bits) + (value >> (p - bits)) + 1


def lhist_bucket_index(value: int, lo: int, hi: int, step: int) -> int:
    """Linear bucket of *value* for ``lhist(value, lo, hi, step)``.

    Index 0 = below *lo*; index i >= 1 covers [lo + (i-1)*step, lo + i*step);
    the last index, (hi - lo) // step + 1, takes everything >= hi.
    """
    if value < lo:
        return 0
    last = (hi - lo) // step + 1
    if value >= hi:
        return last
    return (value - lo) // step + 1


class _Sym:
    """A label printed as text but carrying a number (bpftrace's Primitive::Symbolic)."""

    __slots__ = ("text", "num")

    def __init__(self, text: str, num: int) -> None:
        self.text, self.num = text, num


_Label = int | _Sym


def _hist_label(index: int, bits: int) -> _Sym:
    n = 1 << bits
    interval = index & (n - 1)
    power = (index >> bits) - 1
    value = (1 << power) * (n + interval)
    decade = power // 10
    suffix = "\0KMGTPE"[decade]
    power -= 10 * decade
    text = str((1 << power) * (n + interval)) + (suffix if suffix != "\0" else "")
    return _Sym(text, value)


def _lhist_label(number: int, step: int) -> _Label:
    if step % 1024:
        return number
    if number == 0:
        return _Sym("0", 0)
    if number % (1024 * 1024) == 0:
        return _Sym(f"{number // (1024 * 1024)}M", number)
    if number % 1024 == 0:
        return _Sym(f"{number // 1024}K", number)
    return _Sym(str(number), number)


class _Hist:
    """bpftrace's Value::Histogram: labels are bucket upper bounds."""

    def __init__(self) -> None:
        self.lower: _Label | None = None
        self.labels: list[_Label] = []
        self.counts: list[int] = []


def _span(buckets: dict[int, int]) -> tuple[int, int] | None:
    used = [i for i, c in buckets.items() if c > 0]
    return (min(used), max(used)) if used else None


def _build_hist(buckets: dict[int, int], bits: int, div: int) -> _Hist:
    h = _Hist()
    span = _span(buckets)
    if span is None:
        return h
    lo, hi = span
    limit = 2 << bits
    if lo != 0:
        h.lower = lo - 1 if lo - 1 <= limit else _hist_label(lo - 1, bits)
    for i in range(lo, hi + 1):
        h.labels.append(0 if i == 0 else i if i <= limit else _hist_label(i, bits))
        h.counts.append(buckets.get(i, 0) // div)
    return h


def _build_lhist(buckets: dict[int, int], lo_v: int, hi_v: int, step: int) -> _Hist:
    h = _Hist()
    span = _span(buckets)
    if span is None:
        return h
    lo, hi = span
    if lo != 0:
        h.lower = _lhist_label(lo_v + (lo - 1) * step, step)
    for i in range(lo, hi + 1):
        if lo_v + i * step <= hi_v:
            h.labels.append(_lhist_label(lo_v + i * step, step))
        h.counts.append(buckets.get(i, 0))  # div has no effect on lhist
    return h


def _label_text(x: _Label) -> str:
    return x.text if isinstance(x, _Sym) else str(x)


def _single(a: _Label, b: _Label) -> bool:
    return not isinstance(a, _Sym) and not isinstance(b, _Sym) and a + 1 == b


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _hist_text(h: _Hist) -> str:
    """Rows exactly as TextEmitter<Value::Histogram> (52-wide bar, float32 scaling)."""
    top = max(h.counts, default=0)
    rows = []
    for i, count in enumerate(h.counts):
        if i == 0:
            if h.lower is None:
                head = f"(..., {_label_text(h.labels[0])})"
            elif not h.labels:
                head = f"[{_label_text(h.lower)}, ...)"
            elif _single(h.lower, h.labels[0]):
                head = f"[{_label_text(h.lower)}]"
            else:
                head = f"[{_label_text(h.lower)}, {_label_text(h.labels[0])})"
        elif i >= len(h.labels):
            head = f"[{_label_text(h.labels[i - 1])}, ...)"
        elif _single(h.labels[i - 1], h.labels[i]):
            head = f"[{_label_text(h.labels[i - 1])}]"
        else:
            head = f"[{_label_text(h.labels[i - 1])}, {_label_text(h.labels[i])})"
        bar = int(_f32(_f32(_f32(float(count)) / _f32(float(top))) * 52)) if top else 0
        rows.append(f"{head:<16}{count:>8} |{'@' * bar:<52}|\n")
    return "".join(rows)


def _hist_json(h: _Hist) -> str:
    parts = []
    for i, count in enumerate(h.counts):
        fields = []
        if i == 0 and h.lower is not None:
            fields.append(f'"min": {_json_num(_label_num(h.lower))}')
        elif i > 0:
            fields.append(f'"min": {_json_num(_label_num(h.labels[i - 1]))}')
        if i < len(h.labels):
            fields.append(f'"max": {_json_num(_label_num(h.labels[i]) - 1)}')
        fields.append(f'"count": {count}')
        parts.append("{" + ", ".join(fields) + "}")
    return "[" + ",".join(parts) + "]"


def _label_num(x: _Label) -> int:
    return x.num if isinstance(x, _Sym) else x


# --------------------------------------------------------------------------
# primitive values
# --------------------------------------------------------------------------

_STACK_INDENT = 8  # types_format.cpp passes indent 8 to BPFtrace::get_stack


def format_stack(frames: list[str], mode: str = "bpftrace") -> str:
    """A symbolized stack as BPFtrace::get_stack lays it out.

    bpftrace mode: frames are symbols, each line indented 8 spaces.  perf mode:
    frames are "hexaddr symbol", each line starts with a tab.  raw mode: frames
    are hex addresses, unindented.  Every form starts with a newline.
    """
    if mode == "perf":
        lines = ["\t" + f for f in frames]
    elif mode in ("raw", "build_id"):
        lines = list(frames)
    else:
        lines = [" " * _STACK_INDENT + f for f in frames]
    return "\n" + "".join(line + "\n" for line in lines)


_SETTINGS = {"str_trunc_trailer": ".."}


def configure(*, str_trunc_trailer: str = "..") -> None:
    """Output settings that come from config variables (str_trunc_trailer)."""
    _SETTINGS["str_trunc_trailer"] = str_trunc_trailer


def _string_text(value: str, t: Type) -> str:
    # types_format.cpp: a string that fills its whole buffer (no NUL) was
    # truncated, so the trailer (config str_trunc_trailer, default "..") is added.
    if t.size and len(value.encode("utf-8", "surrogateescape")) >= t.size:
        return value + _SETTINGS["str_trunc_trailer"]
    return value


def _enum_name(value: int, t: Type) -> str:
    for num, name in t.enum_values:
        if num == value:
            return name
    return str(value & (2**64 - 1))


def _text(value: Any, t: Type) -> str:
    k = t.kind
    if k is Kind.BOOL:
        return "true" if value else "false"
    if k is Kind.STRING:
        return _string_text(str(value), t)
    if k is Kind.BUFFER:
        return hex_format_buffer(bytes(value))
    if k is Kind.POINTER:
        return hex(int(value) & (2**64 - 1))
    if k is Kind.ENUM:
        return _enum_name(int(value), t)
    if k in (Kind.KSTACK, Kind.USTACK):
        return format_stack(list(value), t.mode or "bpftrace")
    if k is Kind.TUPLE:
        vals = value if isinstance(value, tuple) else tuple(value)
        return "(" + ", ".join(_text(v, e) for v, e in zip(vals, t.elems, strict=True)) + ")"
    if k in (Kind.RECORD, Kind.STRUCT):
        vals = value if isinstance(value, tuple) else tuple(value)
        if not vals:
            return "{}"
        return "{ " + ", ".join(f".{n} = {_text(v, e)}"
                                for n, v, e in zip(t.names, vals, t.elems, strict=True)) + " }"
    if k is Kind.ARRAY and t.pointee is not None:
        return "[" + ",".join(_text(v, t.pointee) for v in value) + "]"
    if k is Kind.STATS:
        cnt, total = value
        return f"{{ .count = {cnt}, .average = {_cdiv(total, cnt) if cnt else 0}, .total = {total} }}"
    if k is Kind.AVG:
        cnt, total = value
        return str(_cdiv(total, cnt) if cnt else 0)
    if k is Kind.NONE:
        return "null"
    return str(value)


def _cdiv(a: int, b: int) -> int:
    """C/C++ integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _json_str(s: str) -> str:
    """JsonEmitter<std::string>: only " \\ \\n \\r \\t and control bytes are escaped."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) <= 0x1F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_num(v: int) -> str:
    """Integers not exactly representable as a double are emitted as strings (RFC 8259)."""
    return str(v) if int(float(v)) == v else f'"{v}"'


def _json(value: Any, t: Type) -> str:
    k = t.kind
    if k is Kind.BOOL:
        return "true" if value else "false"
    if k in (Kind.INT, Kind.ENUM, Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX):
        return _json_num(int(value))
    if k is Kind.POINTER:
        return _json_num(int(value) & (2**64 - 1))
    if k is Kind.BUFFER:
        # std::vector<char> -> each char as a (signed) number.
        return "[" + ",".join(str(b - 256 if b > 127 else b) for b in bytes(value)) + "]"
    if k is Kind.TUPLE:
        return "[" + ",".join(_json(v, e) for v, e in zip(value, t.elems, strict=True)) + "]"
    if k in (Kind.RECORD, Kind.STRUCT):
        return "{" + ", ".join(f"{_json_str(n)}: {_json(v, e)}"
                               for n, v, e in zip(t.names, value, t.elems, strict=True)) + "}"
    if k is Kind.ARRAY and t.pointee is not None:
        return "[" + ",".join(_json(v, t.pointee) for v in value) + "]"
    if k is Kind.STATS:
        cnt, total = value
        avg = _cdiv(total, cnt) if cnt else 0
        return f'{{"count": {_json_num(cnt)}, "average": {_json_num(avg)}, "total": {_json_num(total)}}}'
    if k is Kind.AVG:
        cnt, total = value
        return _json_num(_cdiv(total, cnt) if cnt else 0)
    if k is Kind.NONE:
        return "null"
    return _json_str(_text(value, t))


def format_value(value: Any, t: Type, *, json: bool = False) -> str:
    """Text (or JSON fragment) of one value, as print(expr)/printf("%s") show it; no newline."""
    return _json(value, t) if json else _text(value, t)


def format_print_value(value: Any, t: Type, *, json: bool = False) -> str:
    """Full output of ``print(expr)`` for a non-map value (TextOutput::value / JsonOutput::value).

    An enum prints as its name, as 0.26 does (tests/runtime/other: symbolize enum in scratch variable)."""
    if json:
        return f'{{"type": "value", "data": {_json(value, t)}}}\n'
    return _text(value, t) + "\n"


# --------------------------------------------------------------------------
# maps
# --------------------------------------------------------------------------


def _u64(v: int) -> int:
    return v & (2**64 - 1)


def _signed_of(v: int, size: int) -> int:
    bits = 8 * (size or 8)
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _sort_entries(key_type: Type | None, vt: Type,
                  entries: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Ordering of types_format.cpp format(): by value for scalar aggregates, else by key."""
    k = vt.kind
    if k in (Kind.COUNT, Kind.SUM, Kind.INT):
        signed = vt.signed and k is not Kind.COUNT
        return sorted(entries, key=lambda e: int(e[1]) if signed else _u64(int(e[1])))
    if k in (Kind.MIN, Kind.MAX):
        return sorted(entries, key=lambda e: _u64(int(e[1])))
    if k in (Kind.AVG, Kind.STATS):
        def avg(e: tuple[Any, Any]) -> int:
            cnt, total = e[1]
            a = _cdiv(total, cnt) if cnt else 0
            return a if vt.signed else _u64(a)
        return sorted(entries, key=avg)
    if key_type is None:
        return list(entries)
    return _sort_by_key(key_type, entries)


def _sort_by_key(kt: Type, entries: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    out = list(entries)
    if kt.kind is Kind.TUPLE:
        # Later fields first, each a stable sort: the result orders by field 0, then 1, ...
        for idx in reversed(range(len(kt.elems))):
            ft = kt.elems[idx]
            if ft.kind in (Kind.INT, Kind.BOOL, Kind.ENUM):
                out.sort(key=functools.partial(_field_int, idx, ft.size))
            elif ft.kind is Kind.STRING:
                out.sort(key=functools.partial(_field_str, idx))
    elif kt.kind in (Kind.INT, Kind.BOOL, Kind.ENUM):
        out.sort(key=lambda e: _signed_of(int(e[0]), kt.size))
    elif kt.kind is Kind.STRING:
        out.sort(key=lambda e: _str_key(e[0]))
    return out


def _raw_key(kt: Type | None, key: Any) -> bytes:
    """A key's bytes as the map holds them (ints little-endian), for memcmp-like ordering;
    kinds without a plain byte form compare equal (their order is kept)."""
    if kt is None:
        return b""
    if kt.kind is Kind.TUPLE:
        return b"".join(_raw_key(ft, k) for ft, k in zip(kt.elems, key, strict=False))
    if kt.kind in (Kind.INT, Kind.BOOL, Kind.ENUM):
        size = kt.size or 8
        return (int(key) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if kt.kind is Kind.STRING:
        return _str_key(key)
    return b""


def _field_int(idx: int, size: int, e: tuple[Any, Any]) -> int:
    return _signed_of(int(e[0][idx]), size)


def _field_str(idx: int, e: tuple[Any, Any]) -> bytes:
    return _str_key(e[0][idx])


def _str_key(s: Any) -> bytes:
    return str(s).encode("utf-8", "surrogateescape")


def _apply_top(items: list[tuple[Any, Any]], top: int) -> list[tuple[Any, Any]]:
    if top and len(items) > top:
        return items[len(items) - top:]
    return items


def _key_text(key: Any, kt: Type) -> str:
    s = _text(key, kt)
    if len(s) >= 2 and s[0] == "(" and s[-1] == ")":
        s = s[1:-1]
    return s


def _scaled(value: Any, vt: Type, div: int) -> Any:
    """Apply print()'s divisor the way types_format.cpp does (avg/stats: average only)."""
    k = vt.kind
    if div == 1:
        return value
    if k in (Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.INT):
        return _cdiv(int(value), div)
    return value


def _value_text(value: Any, vt: Type, div: int) -> str:
    # enum map values are symbolized, as 0.26 does (tests/runtime/other: symbolize enum in map value)
    if vt.kind in (Kind.AVG, Kind.STATS) and div != 1:
        cnt, total = value
        avg = _cdiv(_cdiv(total, cnt) if cnt else 0, div)
        if vt.kind is Kind.AVG:
            return str(avg)
        return f"{{ .count = {cnt}, .average = {avg}, .total = {total} }}"
    return _text(_scaled(value, vt, div), vt)


def _value_json(value: Any, vt: Type, div: int) -> str:
    if vt.kind is Kind.ENUM:
        vt = Type(Kind.INT, size=vt.size, signed=vt.signed)
    if vt.kind in (Kind.AVG, Kind.STATS) and div != 1:
        cnt, total = value
        avg = _cdiv(_cdiv(total, cnt) if cnt else 0, div)
        if vt.kind is Kind.AVG:
            return _json_num(avg)
        return f'{{"count": {_json_num(cnt)}, "average": {_json_num(avg)}, "total": {_json_num(total)}}}'
    return _json(_scaled(value, vt, div), vt)


def _hist_of(value: Any, vt: Type, div: int) -> _Hist:
    buckets = dict(value)
    if vt.kind is Kind.HIST:
        return _build_hist(buckets, vt.params[0] if vt.params else 0, div)
    lo, hi, step = vt.params
    return _build_lhist(buckets, lo, hi, step)


def format_map(name: str, key_type: Type | None, value_type: Type,
               entries: Sequence[tuple[Any, Any]], *, json: bool = False,
               top: int = 0, div: int = 1, bounds: tuple[int, int] | None = None) -> str:
    """Everything bpftrace prints for ``print(@name, top, div)`` or for a map at exit.

    *entries* are (key, value) in map-iteration order; key is None for a scalar
    map.  Sorting, top and div follow types_format.cpp: hist/lhist maps sort by
    total count; count/sum/int maps by value; min/max by value as u64; avg/stats
    by average; everything else by key.  top keeps the last *top* after sorting.
    div divides counts/values (lhist ignores it; avg/stats divide the average).
    An empty map prints nothing (a zeroed hist prints just its header). A tseries map takes
    `bounds`, print()'s min and max, as its chart's range instead of top and div.
    """
    if div == 0:
        div = 1
    vt = value_type
    if vt.kind is Kind.TSERIES:
        ordered = _sort_by_key(key_type, entries) if key_type is not None else list(entries)
        return format_tseries_map(name, key_type, vt, ordered if bounds else _apply_top(ordered, top), json=json,
                                  bounds=bounds)
    is_hist = vt.kind in (Kind.HIST, Kind.LHIST)
    if not json and not is_hist and key_type is not None:
        fast = _int_map_text(name, key_type, vt, entries, top, div)
        if fast is not None:
            return fast
    if is_hist:
        def total(e: tuple[Any, Any]) -> int:
            return sum(dict(e[1]).values())
        # 0.26 collects hist keys in a std::map over the key's bytes, then sorts by total count
        items = _apply_top(sorted(sorted(entries, key=lambda e: _raw_key(key_type, e[0])), key=total), top)
    else:
        items = _apply_top(_sort_entries(key_type, vt, entries), top)
    scalar = key_type is None
    is_stats = vt.kind in (Kind.AVG, Kind.STATS)
    kt = key_type if key_type is not None else vt

    if json:
        return _map_json(name, kt, vt, items, scalar=scalar, is_hist=is_hist,
                         is_stats=is_stats, div=div)
    if scalar:
        if not items:
            return ""
        value = items[0][1]
        if is_hist:
            return f"{name}:\n{_hist_text(_hist_of(value, vt, div))}\n"
        return f"{name}: {_value_text(value, vt, div)}\n"
    out = []
    for key, value in items:
        if is_hist:
            out.append(f"{name}[{_key_text(key, kt)}]:\n{_hist_text(_hist_of(value, vt, div))}\n")
        else:
            out.append(f"{name}[{_key_text(key, kt)}]: {_value_text(value, vt, div)}\n")
    return "".join(out)


# kinds whose text is not plain str(value) (see _text)
_TEXT_SPECIAL = frozenset({Kind.BOOL, Kind.STRING, Kind.BUFFER, Kind.POINTER, Kind.ENUM, Kind.KSTACK,
                           Kind.USTACK, Kind.TUPLE, Kind.RECORD, Kind.STRUCT, Kind.ARRAY, Kind.STATS,
                           Kind.AVG, Kind.NONE})


def _int_map_text(name: str, kt: Type, vt: Type, entries: Sequence[tuple[Any, Any]], top: int,
                  div: int) -> str | None:
    """format_map's text for the common big case, integer values under plain keys (`@[x] =
    count()`, 100k keys): one sort on the value and str() per field, no per-entry dispatch.
    None when the entries need the general path; the output is the same either way."""
    k = vt.kind
    if k not in (Kind.COUNT, Kind.SUM, Kind.INT, Kind.MIN, Kind.MAX) or kt.kind in _TEXT_SPECIAL:
        return None
    vals = [e[1] for e in entries]
    if set(map(type, vals)) - {int}:
        return None
    if vals and min(vals) < 0 and (k in (Kind.COUNT, Kind.MIN, Kind.MAX) or not vt.signed):
        return None   # negative values sort as u64 (_sort_entries)
    items = _apply_top(sorted(entries, key=_second), top)
    if div != 1:
        items = [(key, _cdiv(v, div)) for key, v in items]
    keys = list(map(str, [e[0] for e in items]))
    if any(ks[:1] == "(" for ks in keys):
        keys = [ks[1:-1] if len(ks) >= 2 and ks[-1] == ")" else ks for ks in keys]   # as _key_text
    return "".join([f"{name}[{ks}]: {vs}\n" for ks, vs in zip(keys, map(str, [e[1] for e in items]),
                                                             strict=True)])


def _second(e: tuple[Any, Any]) -> Any:
    return e[1]


def _json_key(key: Any, kt: Type) -> str:
    # JSON keys: the text form, tuple parentheses stripped, every space removed.
    return _json_str(_key_text(key, kt).replace(" ", ""))


def _map_json(name: str, kt: Type, vt: Type, items: list[tuple[Any, Any]], *,
              scalar: bool, is_hist: bool, is_stats: bool, div: int) -> str:
    kind = "stats" if is_stats else "hist" if is_hist else "map"
    render: Callable[[Any], str]
    if is_hist:
        def render(v: Any) -> str:
            return _hist_json(_hist_of(v, vt, div))
    else:
        def render(v: Any) -> str:
            return _value_json(v, vt, div)
    if scalar and items:
        body = render(items[0][1])
    else:
        if not items and not is_stats:
            return ""  # JsonOutput::map skips empty ordered maps
        body = "{" + ", ".join(f"{_json_key(k, kt)}: {render(v)}" for k, v in items) + "}"
    return f'{{"type": "{kind}", "data": {{{_json_str(name)}: {body}}}}}\n'


# --------------------------------------------------------------------------
# events and banners
# --------------------------------------------------------------------------


def json_event(kind: str, data: Any) -> str:
    """``{"type": kind, "data": ...}`` line for printf/time/cat/join/syscall (str data)."""
    if isinstance(data, str):
        body = _json_str(data)
    elif isinstance(data, bool):
        body = "true" if data else "false"
    elif isinstance(data, int):
        body = _json_num(data)
    else:
        body = _json_str(str(data))
    return f'{{"type": "{kind}", "data": {body}}}\n'


def attached_banner(n: int, *, json: bool = False) -> str:
    """0.26: text goes to stderr ("Attached 1 probe"); JSON goes to stdout.  -q suppresses both."""
    if json:
        return f'{{"type": "attached_probes", "count": {n}, "data": {{"probes": {n}}}}}\n'
    return f"Attached {n} probe\n" if n == 1 else f"Attached {n} probes\n"


def lost_events(n: int, *, json: bool = False) -> str:
    """Lost ring-buffer events notice; text goes to stderr in 0.26."""
    if json:
        return f'{{"type": "lost_events", "count": {n}, "data": {{"events": {n}}}}}\n'
    return f"Lost {n} events\n"


def exit_preamble(*, json: bool = False) -> str:
    """TextOutput::end(): two newlines after the main loop, before maps print at exit."""
    return "" if json else "\n\n"


def print_maps_at_exit(maps: Iterable[tuple[str, Type | None, Type, Sequence[tuple[Any, Any]]]],
                       *, json: bool = False) -> str:
    """The exit sequence: end() then every map in the order given (bpftrace: by map name)."""
    parts = [exit_preamble(json=json)]
    parts.extend(format_map(n, kt, vt, e, json=json) for n, kt, vt, e in maps)
    return "".join(parts)


def format_tseries_map(name: str, key_type: Type | None, vt: Type, items: list[tuple[Any, Any]], *,
                       json: bool, bounds: tuple[int, int] | None = None) -> str:
    """A tseries map for print() or the exit dump; `items` are (key, {epoch: value}), sorted."""
    from .tseries import _series, graph_json, graph_text

    last = max((ep for _k, pts in items for ep in pts), default=0)
    # an entry without points is a zero()ed series: "<no data>" / [] as 0.26 prints it
    rows = [(k, _series(pts, last, vt)) for k, pts in items]
    rows = [(k, s) for (k, s), (_k, pts) in zip(rows, items, strict=True) if s or not pts]
    if not rows:
        return ""
    if json:
        if key_type is None:
            body = graph_json(rows[0][1])
        else:
            body = "{" + ", ".join(f"{_json_key(k, key_type)}: {graph_json(s)}" for k, s in rows) + "}"
        return f'{{"type": "tseries", "data": {{{_json_str(name)}: {body}}}}}\n'
    if key_type is None:
        return f"{name}:\n{graph_text(rows[0][1], bounds, vt.signed)}\n"
    return "".join(f"{name}[{_key_text(k, key_type)}]:\n{graph_text(s, bounds, vt.signed)}\n" for k, s in rows)


def hex_format_buffer(data: bytes) -> str:
    """Printable ASCII kept, everything else as \\xNN (bpftrace's default buffer text)."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in data)
