"""BPF maps as Python objects: create, read, write, iterate (batched), close.

Per-CPU maps hand back one value per possible CPU; `values_percpu` splits them so the
runtime can sum counters without knowing the kernel's 8-byte rounding rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache

from . import syscall as sc
from . import uapi

PERCPU_TYPES = frozenset({uapi.BPF_MAP_TYPE_PERCPU_HASH, uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
                          uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH, uapi.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE})

BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
BPF_F_NO_PREALLOC = 1


@lru_cache(maxsize=1)
def possible_cpus() -> int:
    """Number of possible CPUs (per-CPU map values have one slot each)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n = max(n, int(hi or lo) + 1)
    return n


class Map:
    """An open BPF map; closing it (or the process exiting) releases it."""

    def __init__(self, fd: int, map_type: int, key_size: int, value_size: int, max_entries: int,
                 name: str = "") -> None:
        self.fd = fd
        self.type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.name = name
        self.percpu = map_type in PERCPU_TYPES
        self._batch_ok: bool | None = None

    @classmethod
    def create(cls, map_type: int, key_size: int, value_size: int, max_entries: int, name: str = "",
               flags: int = 0, inner_map_fd: int = 0) -> Map:
        fd = sc.map_create(map_type, key_size, value_size, max_entries, flags=flags, name=name,
                           inner_map_fd=inner_map_fd)
        return cls(fd, map_type, key_size, value_size, max_entries, name)

    # size of one whole lookup result
    @property
    def stride(self) -> int:
        if self.percpu:
            return ((self.value_size + 7) & ~7) * possible_cpus()
        return self.value_size

    def lookup(self, key: bytes) -> bytes | None:
        return sc.map_lookup(self.fd, key, self.stride)

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        sc.map_update(self.fd, key, value, flags)

    def delete(self, key: bytes) -> bool:
        return sc.map_delete(self.fd, key)

    def keys(self) -> Iterator[bytes]:
        key: bytes | None = None
        while True:
            nxt = sc.map_get_next_key(self.fd, key, self.key_size)
            if nxt is None:
                return
            yield nxt
            key = nxt

    def items(self) -> list[tuple[bytes, bytes]]:
        """All (key, value) pairs; one batched syscall where the kernel allows it."""
        if self.type in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY) and self.max_entries <= 64:
            return [(k, v) for k in (i.to_bytes(4, "little") for i in range(self.max_entries))
                    if (v := self.lookup(k)) is not None]
        batch = self._batch()
        if batch is not None:
            kb, vb, n = batch
            ks, vs = self.key_size, self.stride
            return [(kb[i * ks:(i + 1) * ks], vb[i * vs:(i + 1) * vs]) for i in range(n)]
        return self._items_one_by_one()

    def items_blob(self) -> tuple[bytes, bytes, int]:
        """All entries as (keys back to back, values back to back (`stride` each), count): what
        a batched lookup returns, for callers that decode whole columns at once (big maps)."""
        batch = None
        if not (self.type in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY)
                and self.max_entries <= 64):
            batch = self._batch()
        if batch is not None:
            return batch
        its = self.items()
        return b"".join(k for k, _ in its), b"".join(v for _, v in its), len(its)

    def _batch(self) -> tuple[bytes, bytes, int] | None:
        if self._batch_ok is not False and self.key_size > 0:
            try:
                res = sc.map_lookup_batch(self.fd, self.key_size, self.stride, self.max_entries)
                self._batch_ok = True
                return res
            except sc.BpfError:
                self._batch_ok = False
        return None

    def _items_one_by_one(self) -> list[tuple[bytes, bytes]]:
        out = []
        for k in self.keys():
            v = self.lookup(k)
            if v is not None:
                out.append((k, v))
        return out

    def values_percpu(self, value: bytes) -> list[bytes]:
        """Split a per-CPU lookup result into one value per CPU."""
        step = (self.value_size + 7) & ~7
        return [value[i:i + self.value_size] for i in range(0, len(value), step)]

    def clear(self) -> None:
        if self.type in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY):
            zero = bytes(self.stride)
            for i in range(self.max_entries):
                self.update(i.to_bytes(4, "little"), zero)
            return
        for k in list(self.keys()):
            self.delete(k)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
