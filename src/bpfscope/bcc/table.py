"""BCC's table objects over our maps: dict-like hash/array tables (keys, values, items,
[key], clear), log2/linear histogram printing in BCC's text, and event tables
(BPF_PERF_OUTPUT / BPF_RINGBUF_OUTPUT) with BCC's callback API."""

from __future__ import annotations

import ctypes as ct
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from ..kernel import syscall as sc
from ..kernel import uapi
from ..kernel.maps import Map, possible_cpus
from ..lang.bcc.tables import TableSpec
from ..lang.ctype.types import Kind
from .ctlayout import ctype_of
from .sprintf import format_value, scanf


class Table:
    """A hash table (BPF_HASH, BPF_HISTOGRAM with a struct key...)."""

    def __init__(self, spec: TableSpec, m: Map) -> None:
        self.spec = spec
        self.map = m
        self.Key = ctype_of(spec.key)
        self.Leaf = ctype_of(spec.leaf)
        self.sLeaf = self.Leaf          # one CPU's value; Leaf is all CPUs' values in a per-CPU table
        self.name = spec.name
        self.flags = spec.flags         # map_flags it was created with (BCC's TableBase.flags)
        self.reducer: Callable[[Any, Any], Any] | None = None
        if m.percpu:
            self.Leaf = _percpu_leaf(self.sLeaf, possible_cpus())

    @property
    def map_fd(self) -> int:
        return self.map.fd

    def get_fd(self) -> int:
        """The map's fd: what a map of maps stores (`outer[k] = c_int(inner.get_fd())`)."""
        return self.map.fd

    # ------------------------------------------------------------------ BCC's text form (sprintf.py)
    def key_sprintf(self, key: Any) -> bytes:
        return format_value(key)

    def leaf_sprintf(self, leaf: Any) -> bytes:
        return format_value(leaf)

    def key_scanf(self, text: bytes | str) -> Any:
        return scanf(self.Key, text)

    def leaf_scanf(self, text: bytes | str) -> Any:
        return scanf(self.sLeaf, text)

    # ------------------------------------------------------------------ conversion
    def _kbytes(self, key: Any) -> bytes:
        if isinstance(key, int):
            key = self.Key(key)
        return bytes(key)

    def _leaf(self, data: bytes) -> Any:
        if self.map.percpu:        # BCC's per-CPU value: an array of the leaf type, one per possible CPU
            vals = self.map.values_percpu(data)
            out = (self.sLeaf * len(vals))()
            for i, v in enumerate(vals):
                out[i] = self.sLeaf.from_buffer_copy(v)
            return out
        return self.Leaf.from_buffer_copy(data[: ct.sizeof(self.Leaf)])

    # ------------------------------------------------------------------ mapping API
    def __getitem__(self, key: Any) -> Any:
        v = self.map.lookup(self._kbytes(key))
        if v is None:
            raise KeyError(key)
        leaf = self._leaf(v)
        if self.reducer is not None and self.map.percpu:
            return functools.reduce(self.reducer, leaf)
        return leaf

    def __setitem__(self, key: Any, leaf: Any) -> None:
        if isinstance(leaf, int):
            leaf = self.sLeaf(leaf)
        data = bytes(leaf)
        if self.map.percpu and len(data) < self.map.stride:   # one value: the same on every CPU
            step = (self.map.value_size + 7) & ~7
            data = (data[: self.map.value_size].ljust(step, b"\0")) * (self.map.stride // step)
        self.map.update(self._kbytes(key), data)

    def __delitem__(self, key: Any) -> None:
        if not self.map.delete(self._kbytes(key)):
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return self.map.lookup(self._kbytes(key)) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self.map.keys())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def keys(self) -> list[Any]:
        return [self.Key.from_buffer_copy(k) for k in self.map.keys()]

    def items(self) -> list[tuple[Any, Any]]:
        return [(self.Key.from_buffer_copy(k), self._leaf(v)) for k, v in self.map.items()]

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def itervalues(self) -> Iterator[Any]:
        return iter(self.values())

    def clear(self) -> None:
        self.map.clear()

    def zero(self) -> None:
        for k in self.map.keys():
            self.map.update(k, bytes(self.map.stride))

    # ------------------------------------------------------------------ batch operations
    def items_lookup_batch(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value), read with BPF_MAP_LOOKUP_BATCH (kernel 5.6+)."""
        return self._batch_items(False)

    def items_lookup_and_delete_batch(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value), read and removed with BPF_MAP_LOOKUP_AND_DELETE_BATCH."""
        return self._batch_items(True)

    def _batch_items(self, delete: bool) -> Iterator[tuple[Any, Any]]:
        ks, vs = self.map.key_size, self.map.stride
        kb, vb, n = sc.map_lookup_batch(self.map.fd, ks, vs, self.map.max_entries, delete=delete)
        if self.map.percpu:
            for i in range(n):
                yield self.Key.from_buffer_copy(kb[i * ks:(i + 1) * ks]), self._leaf(vb[i * vs:(i + 1) * vs])
            return
        # as BCC: elements of ctypes arrays, so simple types come out as plain Python ints
        keys = (self.Key * n).from_buffer_copy(kb[:n * ks]) if n else ()
        leaf = ct.sizeof(self.Leaf)
        values = (self.Leaf * n).from_buffer_copy(b"".join(vb[i * vs:i * vs + leaf] for i in range(n))) if n else ()
        yield from zip(keys, values, strict=True)

    def items_delete_batch(self, ct_keys: Any = None) -> None:
        """Delete the given keys (a ctypes array of Key) in one syscall, or every key when None."""
        if ct_keys is None:
            kb, _, n = sc.map_lookup_batch(self.map.fd, self.map.key_size, self.map.stride,
                                           self.map.max_entries)
        else:
            kb, n = self._key_array(ct_keys), len(ct_keys)
        if n:
            sc.map_delete_batch(self.map.fd, kb, n)

    def _key_array(self, keys: Any) -> bytes:
        """A ctypes array of Key as bytes; a list of keys (what the batch iterators yield) too."""
        if isinstance(keys, ct.Array):
            return bytes(keys)
        return bytes((self.Key * len(keys))(*keys))

    def items_update_batch(self, ct_keys: Any, ct_values: Any) -> None:
        """Write keys[i] = values[i] (ctypes arrays of Key and Leaf, the same length) in one syscall."""
        if len(ct_keys) != len(ct_values):
            raise ValueError("items_update_batch: keys and values must have the same length")
        if len(ct_keys):
            vals = ct_values if isinstance(ct_values, ct.Array) else (self.Leaf * len(ct_values))(*ct_values)
            sc.map_update_batch(self.map.fd, self._key_array(ct_keys), bytes(vals), len(ct_keys))

    # ------------------------------------------------------------------ per-CPU tables
    def _percpu_ints(self, key: Any) -> list[int]:
        if not self.map.percpu or not hasattr(self.sLeaf, "value"):
            raise TypeError(f"{self.name}: sum/max/average need a per-CPU table of integers")
        vals = self.map.lookup(self._kbytes(key))
        if vals is None:
            raise KeyError(key)
        return [int(v) for v in self._leaf(vals)]

    def sum(self, key: Any) -> Any:
        """BCC's PerCpuHash/PerCpuArray.sum: the CPUs' values added, as the leaf type."""
        return self.sLeaf(sum(self._percpu_ints(key)))

    def max(self, key: Any) -> Any:
        return self.sLeaf(max(self._percpu_ints(key)))

    def average(self, key: Any) -> float:
        vals = self._percpu_ints(key)
        return sum(vals) / len(vals)

    # ------------------------------------------------------------------ histograms
    def _slots(self) -> dict[Any, dict[int, int]]:
        """{bucket (None without sections): {slot: count}} — key is the slot, or a struct whose
        `slot` member is the slot and whose other member names the section."""
        out: dict[Any, dict[int, int]] = {}
        for k, v in self.items():
            val = v.value if hasattr(v, "value") else int(v)
            if self.spec.key.kind is Kind.STRUCT:
                names = [n for n, _ in self.Key._fields_]
                slot = int(k.slot)
                other = [n for n in names if n != "slot"]
                bucket = getattr(k, other[0]) if other else None
            else:
                slot, bucket = int(k.value), None
            d = out.setdefault(bucket, {})
            d[slot] = d.get(slot, 0) + val
        return out

    def print_log2_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Callable[[Any], str] | None = None,
                        bucket_fn: Callable[[Any], Any] | None = None,
                        strip_leading_zero: bool | None = None,
                        bucket_sort_fn: Callable[[list[Any]], list[Any]] | None = None) -> None:
        """BCC's print_log2_hist: slot i holds [2^(i-1), 2^i - 1] (bpf_log2l's index)."""
        self._print_hist("log2", val_type, section_header, section_print_fn, bucket_fn,
                         bool(strip_leading_zero), bucket_sort_fn)

    def print_linear_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                          section_print_fn: Callable[[Any], str] | None = None,
                          bucket_fn: Callable[[Any], Any] | None = None,
                          strip_leading_zero: bool | None = None,
                          bucket_sort_fn: Callable[[list[Any]], list[Any]] | None = None) -> None:
        self._print_hist("linear", val_type, section_header, section_print_fn, bucket_fn,
                         bool(strip_leading_zero), bucket_sort_fn)

    def _print_hist(self, kind: str, val_type: str, section_header: str,
                    section_print_fn: Callable[[Any], str] | None, bucket_fn: Callable[[Any], Any] | None,
                    strip: bool, bucket_sort_fn: Callable[[list[Any]], list[Any]] | None) -> None:
        from ..tools import bcchist

        fmt = bcchist.log2_hist if kind == "log2" else bcchist.linear_hist
        groups = self._slots()
        if list(groups) in ([None], []):
            print(fmt(groups.get(None, {}), val_type, strip), end="")
            return
        if bucket_fn is not None:
            merged: dict[Any, dict[int, int]] = {}
            for b, d in groups.items():
                m = merged.setdefault(bucket_fn(b), {})
                for s, c in d.items():
                    m[s] = m.get(s, 0) + c
            groups = merged
        buckets = list(groups)
        buckets = bucket_sort_fn(buckets) if bucket_sort_fn else sorted(buckets)
        for b in buckets:
            label = section_print_fn(b) if section_print_fn else b
            print(f"\n{section_header} = {label}")
            print(fmt(groups[b], val_type, strip), end="")


class Array(Table):
    """BPF_ARRAY / BPF_HISTOGRAM: every index exists; clear() zeroes."""

    def __len__(self) -> int:
        return self.map.max_entries

    def keys(self) -> list[Any]:
        return [self.Key(i) for i in range(self.map.max_entries)]

    def items(self) -> list[tuple[Any, Any]]:
        return [(self.Key.from_buffer_copy(k), self._leaf(v)) for k, v in self.map.items()]

    def _index(self, key: Any) -> Any:
        """An index as BCC's arrays take it: an int or Key; negative counts from the end."""
        i = key if isinstance(key, int) else int(key.value)
        if i < 0:
            i += self.map.max_entries
        if not 0 <= i < self.map.max_entries:
            raise IndexError(key)
        return self.Key(i)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._index(key))

    def __setitem__(self, key: Any, leaf: Any) -> None:
        super().__setitem__(self._index(key), leaf)

    def __delitem__(self, key: Any) -> None:
        self[key] = self.Leaf()

    def clear(self) -> None:
        self.zero()


class QueueStack:
    """BPF_QUEUE / BPF_STACK: keyless; push() adds, pop() removes (FIFO / LIFO), peek() reads."""

    def __init__(self, spec: TableSpec, m: Map) -> None:
        self.spec = spec
        self.map = m
        self.name = spec.name
        self.Leaf = ctype_of(spec.leaf)

    def push(self, leaf: Any, flags: int = 0) -> None:
        """Add a value; flags BPF_EXIST (2) replaces the oldest when full, else a full table raises."""
        if isinstance(leaf, int):
            leaf = self.Leaf(leaf)
        try:
            sc.map_update(self.map.fd, b"", bytes(leaf), flags)
        except sc.BpfError as e:
            raise Exception(f"Could not push to table {self.name}: {e}") from None

    def pop(self) -> Any:
        """Remove and return the next value (KeyError when empty)."""
        v = sc.map_lookup_and_delete(self.map.fd, b"", self.map.value_size)
        if v is None:
            raise KeyError("Could not pop table")
        return self.Leaf.from_buffer_copy(v)

    def peek(self) -> Any:
        """The next value without removing it (KeyError when empty)."""
        v = sc.map_lookup(self.map.fd, b"", self.map.value_size)
        if v is None:
            raise KeyError("Could not peek table")
        return self.Leaf.from_buffer_copy(v)

    def itervalues(self) -> Iterator[Any]:
        """Pop every value (the table is empty afterwards), as BCC's itervalues does."""
        while True:
            try:
                yield self.pop()
            except KeyError:
                return

    def values(self) -> list[Any]:
        return list(self.itervalues())


def _percpu_leaf(leaf: Any, ncpus: int) -> Any:
    """A per-CPU table's Leaf: one value per possible CPU, each in the kernel's 8-byte-aligned
    slot (4-byte and smaller integers widen to 8 bytes, as BCC does)."""
    size = ct.sizeof(leaf)
    if size % 8 == 0:
        return leaf * ncpus
    if hasattr(leaf, "value") and isinstance(leaf().value, int):
        signed = leaf(-1).value < 0
        return (ct.c_int64 if signed else ct.c_uint64) * ncpus

    class Slot(ct.Structure):
        _fields_ = [("v", leaf), ("_pad", ct.c_char * (-size % 8))]

    return Slot * ncpus


class EventTable:
    """BPF_PERF_OUTPUT / BPF_RINGBUF_OUTPUT: records delivered to a Python callback."""

    def __init__(self, spec: TableSpec, m: Map, poller: Any) -> None:
        self.spec = spec
        self.map = m
        self.name = spec.name
        self._poller = poller
        self._event_class: Any = ctype_of(spec.event) if spec.event is not None else None

    def event(self, data: Any) -> Any:
        """The submitted struct, decoded with the layout the compiler used."""
        if self._event_class is None:
            raise ValueError(f"{self.name}: no record type is submitted to this table")
        return ct.cast(data, ct.POINTER(self._event_class)).contents

    def open_perf_buffer(self, callback: Callable[[int, Any, int], None], page_cnt: int = 8,
                         lost_cb: Callable[[int], None] | None = None, wakeup_events: int = 1) -> None:
        """callback(cpu, data, size) per record, from one perf buffer of page_cnt pages (a power
        of two) per online CPU; lost_cb(count) when the kernel dropped records for lack of room."""
        if self.spec.map_type != uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            raise Exception(f"{self.name}: open_perf_buffer() needs a BPF_PERF_OUTPUT table "
                            "(this is a BPF_RINGBUF_OUTPUT: use open_ring_buffer())")
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise Exception("Perf buffer page_cnt must be a power of two")
        self._poller.open_perf(self, callback, page_cnt, lost_cb, wakeup_events)

    def open_ring_buffer(self, callback: Callable[[Any, Any, int], Any], ctx: Any = None) -> None:
        """callback(ctx, data, size) per record, as BCC's ring buffer API."""
        self._poller.open(self, lambda data, size: callback(ctx, data, size))


class StackTrace(Table):
    """BPF_STACK_TRACE: stack id → up to 127 instruction pointers, innermost first."""

    def walk(self, stack_id: int, resolve: Callable[[Any], Any] | None = None) -> Iterator[Any]:
        """The stack's addresses up to its first zero, through resolve() if given (KeyError
        when the id is not stored: evicted, or cleared). A BPF_STACK_TRACE_BUILDID table
        gives its frames (struct bpf_stack_build_id) up to the first empty one, as BCC's."""
        if hasattr(self.sLeaf, "trace"):
            frames: Iterator[Any] = itertools.takewhile(lambda f: f.status != 0, self[stack_id].trace)
        else:
            frames = (int(a) for a in itertools.takewhile(bool, self[stack_id].ip))
        return frames if resolve is None else (resolve(a) for a in frames)


def make_table(spec: TableSpec, m: Map, poller: Any) -> Table | EventTable | QueueStack:
    if spec.output:
        return EventTable(spec, m, poller)
    if spec.map_type in (uapi.BPF_MAP_TYPE_QUEUE, uapi.BPF_MAP_TYPE_STACK):
        return QueueStack(spec, m)
    if spec.map_type == uapi.BPF_MAP_TYPE_STACK_TRACE:
        return StackTrace(spec, m)
    if spec.map_type in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY, uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS):
        return Array(spec, m)
    return Table(spec, m)
