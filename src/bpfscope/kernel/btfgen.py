"""A minimal program BTF: function prototypes for a program and its callback subprograms.

The verifier insists on BTF func_info as soon as a program takes the address of one of its
own subprograms (bpf_for_each_map_elem callbacks). The types are the smallest that satisfy
it: `long f(void *ctx)` for the program and `long cbN(void *, void *, void *, void *)` for
each callback, all static.
"""

from __future__ import annotations

import struct

BTF_MAGIC = 0xEB9F
KIND_INT, KIND_PTR, KIND_FUNC, KIND_FUNC_PROTO = 1, 2, 12, 13


def _info(kind: int, vlen: int = 0) -> int:
    return (kind << 24) | vlen


def func_btf(subprog_starts: list[int]) -> tuple[bytes, bytes]:
    """(BTF blob, func_info records) for a program whose subprograms start at `subprog_starts`.

    The first start must be 0 (the program itself).
    """
    strings = bytearray(b"\0")

    def s(name: str) -> int:
        off = len(strings)
        strings.extend(name.encode() + b"\0")
        return off

    types = bytearray()
    # 1: long
    types += struct.pack("<III", s("long"), _info(KIND_INT), 8) + struct.pack("<I", (1 << 24) | 64)
    # 2: void *
    types += struct.pack("<III", 0, _info(KIND_PTR), 0)
    # 3: long (void *ctx)
    types += struct.pack("<III", 0, _info(KIND_FUNC_PROTO, 1), 1) + struct.pack("<II", s("ctx"), 2)
    # 4: long (void *map, void *key, void *value, void *ctx)
    types += struct.pack("<III", 0, _info(KIND_FUNC_PROTO, 4), 1)
    for name in ("map", "key", "value", "ctx"):
        types += struct.pack("<II", s(name), 2)
    next_id = 5
    records = bytearray()
    for k, start in enumerate(subprog_starts):
        proto = 3 if k == 0 else 4
        types += struct.pack("<III", s("prog" if k == 0 else f"cb{k}"), _info(KIND_FUNC), proto)
        records += struct.pack("<II", start, next_id)
        next_id += 1
    hdr = struct.pack("<HBBIIIII", BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + bytes(types) + bytes(strings), bytes(records)
