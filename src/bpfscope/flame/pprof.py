"""Export stack counts as pprof's profile.proto (gzipped), encoded by hand.

``go tool pprof``, Parca and Pyroscope read this format; writing the few protobuf fields
it needs directly avoids a protobuf dependency. Each distinct frame name becomes one
Function and one Location; samples list locations leaf first, as pprof expects.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Mapping
from typing import BinaryIO


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


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value) if value else b""


def _bytes_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _packed(field: int, values: list[int]) -> bytes:
    return _bytes_field(field, b"".join(_varint(v) for v in values)) if values else b""


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


def encode_profile(stacks: Mapping[tuple[str, ...], int],
                   sample_type: tuple[str, str] = ("samples", "count"),
                   *, period: int = 0, duration_nanos: int = 0,
                   time_nanos: int | None = None) -> bytes:
    """Encode ``{(root, ..., leaf): count}`` as an uncompressed profile.proto message."""
    strings = _Strings()
    st = _bytes_field(1, _int_field(1, strings(sample_type[0])) + _int_field(2, strings(sample_type[1])))
    loc_ids: dict[str, int] = {}
    samples: list[bytes] = []
    for frames, count in stacks.items():
        ids = []
        for name in reversed(frames):
            lid = loc_ids.get(name)
            if lid is None:
                lid = len(loc_ids) + 1
                loc_ids[name] = lid
            ids.append(lid)
        samples.append(_bytes_field(2, _packed(1, ids) + _packed(2, [int(count)])))
    parts = [st, *samples]
    for lid in loc_ids.values():
        line = _bytes_field(4, _int_field(1, lid))
        parts.append(_bytes_field(4, _int_field(1, lid) + line))
    for name, fid in loc_ids.items():
        sid = strings(name)
        parts.append(_bytes_field(5, _int_field(1, fid) + _int_field(2, sid) + _int_field(3, sid)))
    for s in strings.table:
        parts.append(_bytes_field(6, s.encode("utf-8", "surrogateescape")))
    parts.append(_int_field(9, time.time_ns() if time_nanos is None else time_nanos))
    parts.append(_int_field(10, duration_nanos))
    parts.append(_bytes_field(11, _int_field(1, strings.index[sample_type[0]])
                              + _int_field(2, strings.index[sample_type[1]])))
    parts.append(_int_field(12, period))
    return b"".join(parts)


def write_pprof(stacks: Mapping[tuple[str, ...], int], path_or_file: str | BinaryIO,
                sample_type: tuple[str, str] = ("samples", "count"), **kwargs: int) -> None:
    """Write ``stacks`` (root-first frame tuples -> count) as gzipped profile.proto."""
    data = gzip.compress(encode_profile(stacks, sample_type, **kwargs), mtime=0)
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


# --- decoding, used by tests and by anyone wanting to read our profiles back ---

def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
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
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _read_varint(buf, pos)
            out.append((field, val))
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            out.append((field, buf[pos:pos + n]))
            pos += n
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _unpack(data: int | bytes) -> list[int]:
    if isinstance(data, int):
        return [data]
    vals, pos = [], 0
    while pos < len(data):
        v, pos = _read_varint(data, pos)
        vals.append(v)
    return vals


def read_pprof(data: bytes | BinaryIO) -> tuple[tuple[str, str], dict[tuple[str, ...], int]]:
    """Decode a (gzipped) profile back into (sample_type, {root-first frames: value})."""
    raw = data if isinstance(data, bytes) else data.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
    strings: list[str] = []
    sample_types: list[tuple[int, int]] = []
    samples: list[tuple[list[int], list[int]]] = []
    loc_func: dict[int, int] = {}
    func_name: dict[int, int] = {}
    for field, val in _fields(raw):
        if field == 6 and isinstance(val, bytes):
            strings.append(val.decode("utf-8", "surrogateescape"))
        elif field == 1 and isinstance(val, bytes):
            d = dict(_fields(val))
            sample_types.append((int(d.get(1, 0)), int(d.get(2, 0))))  # type: ignore[arg-type]
        elif field == 2 and isinstance(val, bytes):
            locs: list[int] = []
            values: list[int] = []
            for f, v in _fields(val):
                if f == 1:
                    locs += _unpack(v)
                elif f == 2:
                    values += _unpack(v)
            samples.append((locs, values))
        elif field == 4 and isinstance(val, bytes):
            lid = 0
            fid = 0
            for f, v in _fields(val):
                if f == 1 and isinstance(v, int):
                    lid = v
                elif f == 4 and isinstance(v, bytes):
                    fid = int(dict(_fields(v)).get(1, 0))  # type: ignore[arg-type]
            loc_func[lid] = fid
        elif field == 5 and isinstance(val, bytes):
            d = dict(_fields(val))
            func_name[int(d.get(1, 0))] = int(d.get(2, 0))  # type: ignore[arg-type]
    st = sample_types[0] if sample_types else (0, 0)
    out: dict[tuple[str, ...], int] = {}
    for locs, values in samples:
        key = tuple(strings[func_name[loc_func[lid]]] for lid in reversed(locs))
        out[key] = out.get(key, 0) + (values[0] if values else 0)
    return (strings[st[0]], strings[st[1]]), out
