"""Stack counts as pprof's profile.proto (gzipped), encoded and decoded by hand.

``go tool pprof``, Parca and Pyroscope read this format; writing the few protobuf fields
it needs directly avoids a protobuf dependency. Each distinct frame text becomes one
Location; frames that name the same function (``f+12`` and ``f+40``) share one Function;
a module named in the frame (``f+12 (/usr/lib/libc.so.6)``, perf-style) or given by the
caller becomes a Mapping (frames of unknown module share one unnamed Mapping).
Samples list locations leaf first, as pprof expects.
"""

from __future__ import annotations

import gzip
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

# --- encoding ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field_no: int, wire: int) -> bytes:
    return _varint((field_no << 3) | wire)


def _int_field(field_no: int, value: int) -> bytes:
    return _key(field_no, 0) + _varint(value) if value else b""


def _bytes_field(field_no: int, data: bytes) -> bytes:
    return _key(field_no, 2) + _varint(len(data)) + data


def _packed(field_no: int, values: list[int] | tuple[int, ...]) -> bytes:
    return _bytes_field(field_no, b"".join(_varint(v) for v in values)) if values else b""


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def __call__(self, s: str) -> int:
        got = self.index.get(s)
        if got is None:
            got = len(self.table)
            self.index[s] = got
            self.table.append(s)
        return got


# ``func+12``, ``func+0x1f``, ``func+12 (/path/lib.so)``, ``0x7f00 ([unknown])``
_FRAME_RE = re.compile(r"^(?P<name>.*?)(?:\+(?:0x[0-9a-fA-F]+|\d+))?(?: \((?P<module>[^()]*)\))?$")
_HEX_RE = re.compile(r"^(?:0x[0-9a-fA-F]{1,16}|[0-9a-fA-F]{12,16})$")  # raw mode: bare hex


def split_frame(text: str) -> tuple[str, str, int]:
    """A printed frame -> (function name, module or "", address or 0).

    The offset is dropped from the function (pprof aggregates by function); an
    unsymbolized hex address is kept as the name and also returned as the address.
    """
    m = _FRAME_RE.match(text)
    name = m.group("name") if m and m.group("name") else text
    module = (m.group("module") or "") if m else ""
    if module == "[unknown]":
        module = ""
    addr = int(name, 16) if _HEX_RE.match(name) else 0
    return name, module, addr


@dataclass
class Profile:
    """What one profile.proto holds, in our terms.

    ``samples`` are (root-first frame texts, one value per sample type). Frame texts are
    shown as printed (with offsets) as Location-level detail; Functions get the names
    ``split_frame`` derives.
    """
    sample_types: list[tuple[str, str]]
    samples: list[tuple[tuple[str, ...], tuple[int, ...]]]
    period_type: tuple[str, str] | None = None
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    comments: list[str] = field(default_factory=list)
    # module of frames whose text names none (e.g. "[kernel.kallsyms]" for kernel frames)
    frame_modules: dict[str, str] = field(default_factory=dict)


def encode(profile: Profile) -> bytes:
    """Encode a Profile as an uncompressed profile.proto message."""
    strings = _Strings()
    parts = [_bytes_field(1, _int_field(1, strings(t)) + _int_field(2, strings(u)))
             for t, u in profile.sample_types]
    loc_ids: dict[str, int] = {}
    for frames, values in profile.samples:
        ids = []
        for text in reversed(frames):
            lid = loc_ids.get(text)
            if lid is None:
                lid = loc_ids[text] = len(loc_ids) + 1
            ids.append(lid)
        parts.append(_bytes_field(2, _packed(1, ids) + _packed(2, [int(v) for v in values])))
    map_ids: dict[str, int] = {}
    func_ids: dict[tuple[str, str], int] = {}
    locations: list[bytes] = []
    for text, lid in loc_ids.items():
        name, module, addr = split_frame(text)
        module = module or profile.frame_modules.get(text, "")
        # every location gets a mapping (an unnamed one when unknown): some readers need one
        mid = map_ids.setdefault(module, len(map_ids) + 1)
        fid = func_ids.setdefault((name, module), len(func_ids) + 1)
        locations.append(_bytes_field(4, _int_field(1, lid) + _int_field(2, mid) + _int_field(3, addr)
                                      + _bytes_field(4, _int_field(1, fid))))
    for module, mid in map_ids.items():
        # id, filename, has_functions: frames arrive symbolized
        parts.append(_bytes_field(3, _int_field(1, mid) + _int_field(5, strings(module) if module else 0)
                                  + _int_field(7, 1)))
    parts += locations
    for (name, module), fid in func_ids.items():
        sid = strings(name)
        parts.append(_bytes_field(5, _int_field(1, fid) + _int_field(2, sid) + _int_field(3, sid)
                                  + _int_field(4, strings(module) if module else 0)))
    comment_ids = [strings(c) for c in profile.comments]
    period_ids = ((strings(profile.period_type[0]), strings(profile.period_type[1]))
                  if profile.period_type else None)
    for s in strings.table:
        parts.append(_bytes_field(6, s.encode("utf-8", "surrogateescape")))
    parts.append(_int_field(9, profile.time_nanos))
    parts.append(_int_field(10, profile.duration_nanos))
    if period_ids is not None:
        parts.append(_bytes_field(11, _int_field(1, period_ids[0]) + _int_field(2, period_ids[1])))
    parts.append(_int_field(12, profile.period))
    parts.append(_packed(13, comment_ids))
    return b"".join(parts)


def encode_profile(stacks: Mapping[tuple[str, ...], int],
                   sample_type: tuple[str, str] = ("samples", "count"),
                   *, period: int = 0, duration_nanos: int = 0,
                   time_nanos: int | None = None) -> bytes:
    """Encode ``{(root, ..., leaf): count}`` as an uncompressed profile.proto message."""
    return encode(Profile(
        sample_types=[sample_type], samples=[(k, (int(v),)) for k, v in stacks.items()],
        period_type=sample_type, period=period, duration_nanos=duration_nanos,
        time_nanos=time.time_ns() if time_nanos is None else time_nanos))


def gzip_bytes(raw: bytes) -> bytes:
    """Gzip with a fixed mtime, so equal profiles give equal files."""
    return gzip.compress(raw, mtime=0)


def write_pprof(stacks: Mapping[tuple[str, ...], int], path_or_file: str | BinaryIO,
                sample_type: tuple[str, str] = ("samples", "count"), **kwargs: int) -> None:
    """Write ``stacks`` (root-first frame tuples -> count) as gzipped profile.proto."""
    data = gzip_bytes(encode_profile(stacks, sample_type, **kwargs))
    if isinstance(path_or_file, str):
        with open(path_or_file, "wb") as fh:
            fh.write(data)
    else:
        path_or_file.write(data)


def folded_to_stacks(lines: list[str]) -> dict[tuple[str, ...], int]:
    """Convenience: folded lines -> the ``stacks`` mapping write_pprof takes."""
    from bpfscope.flame.folded import perl_split, read_folded

    out: dict[tuple[str, ...], int] = {}
    for stack, count in read_folded(lines).items():
        key = tuple(perl_split(stack))
        out[key] = out.get(key, 0) + int(count)
    return out


# --- decoding, used by tests and by anyone wanting to read profiles back -------------------

class PprofError(ValueError):
    """The bytes are not a profile.proto message we can read."""


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise PprofError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field_no, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _read_varint(buf, pos)
            out.append((field_no, val))
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise PprofError("truncated length-delimited field")
            out.append((field_no, buf[pos:pos + n]))
            pos += n
        elif wire == 1:
            out.append((field_no, int.from_bytes(buf[pos:pos + 8], "little")))
            pos += 8
        elif wire == 5:
            out.append((field_no, int.from_bytes(buf[pos:pos + 4], "little")))
            pos += 4
        else:
            raise PprofError(f"unsupported wire type {wire}")
    return out


def _unpack(data: int | bytes) -> list[int]:
    if isinstance(data, int):
        return [data]
    vals, pos = [], 0
    while pos < len(data):
        v, pos = _read_varint(data, pos)
        vals.append(v - (1 << 64) if v >= 1 << 63 else v)
    return vals


def _ints(msg: bytes) -> dict[int, int]:
    return {f: v for f, v in _fields(msg) if isinstance(v, int)}


@dataclass
class Decoded:
    """A profile.proto message as tables (ids as in the file)."""
    sample_types: list[tuple[str, str]] = field(default_factory=list)
    samples: list[tuple[list[int], list[int]]] = field(default_factory=list)  # (location ids leaf first, values)
    mappings: dict[int, str] = field(default_factory=dict)                    # id -> filename
    locations: dict[int, tuple[int, int, list[int]]] = field(default_factory=dict)  # id -> (mapping, addr, funcs)
    functions: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # id -> (name, system name, file)
    strings: list[str] = field(default_factory=list)
    period_type: tuple[str, str] = ("", "")
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    comments: list[str] = field(default_factory=list)

    def stacks(self, value_index: int = 0) -> dict[tuple[str, ...], int]:
        """Root-first function names -> summed value (inlined frames expand in order)."""
        out: dict[tuple[str, ...], int] = {}
        for locs, values in self.samples:
            names: list[str] = []
            for lid in reversed(locs):
                funcs = self.locations[lid][2]
                names.extend(self.functions[f][0] for f in reversed(funcs))
            key = tuple(names)
            out[key] = out.get(key, 0) + (values[value_index] if len(values) > value_index else 0)
        return out


def decode(data: bytes) -> Decoded:
    """Decode a (possibly gzipped) profile.proto message into tables."""
    raw = data
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
        except (OSError, EOFError) as exc:
            raise PprofError(f"bad gzip data: {exc}") from None
    d = Decoded()
    sample_types: list[tuple[int, int]] = []
    funcs: dict[int, tuple[int, int, int]] = {}
    maps: dict[int, int] = {}
    comments: list[int] = []
    period_type = (0, 0)
    for field_no, val in _fields(raw):
        if isinstance(val, bytes):
            if field_no == 1:
                st = _ints(val)
                sample_types.append((st.get(1, 0), st.get(2, 0)))
            elif field_no == 2:
                locs: list[int] = []
                values: list[int] = []
                for f, v in _fields(val):
                    if f == 1:
                        locs += _unpack(v)
                    elif f == 2:
                        values += _unpack(v)
                d.samples.append((locs, values))
            elif field_no == 3:
                m = _ints(val)
                maps[m.get(1, 0)] = m.get(5, 0)
            elif field_no == 4:
                loc = _ints(val)
                fids = [_ints(v).get(1, 0) for f, v in _fields(val) if f == 4 and isinstance(v, bytes)]
                d.locations[loc.get(1, 0)] = (loc.get(2, 0), loc.get(3, 0), fids)
            elif field_no == 5:
                fn = _ints(val)
                funcs[fn.get(1, 0)] = (fn.get(2, 0), fn.get(3, 0), fn.get(4, 0))
            elif field_no == 6:
                d.strings.append(val.decode("utf-8", "surrogateescape"))
            elif field_no == 11:
                pt = _ints(val)
                period_type = (pt.get(1, 0), pt.get(2, 0))
            elif field_no == 13:
                comments += _unpack(val)
        elif field_no == 9:
            d.time_nanos = val
        elif field_no == 10:
            d.duration_nanos = val
        elif field_no == 12:
            d.period = val
        elif field_no == 13:
            comments.append(val)

    def s(i: int) -> str:
        if not 0 <= i < len(d.strings):
            raise PprofError(f"string index {i} out of range")
        return d.strings[i]

    d.sample_types = [(s(a), s(b)) for a, b in sample_types]
    d.mappings = {k: s(v) for k, v in maps.items()}
    d.functions = {k: (s(a), s(b), s(c)) for k, (a, b, c) in funcs.items()}
    d.period_type = (s(period_type[0]), s(period_type[1]))
    d.comments = [s(c) for c in comments]
    return d


def read_pprof(data: bytes | BinaryIO) -> tuple[tuple[str, str], dict[tuple[str, ...], int]]:
    """Decode a (gzipped) profile back into (first sample type, {root-first frames: value})."""
    d = decode(data if isinstance(data, bytes) else data.read())
    st = d.sample_types[0] if d.sample_types else ("", "")
    return st, d.stacks()
