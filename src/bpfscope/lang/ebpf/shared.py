"""What the programs of one script share: their maps in index order (an instruction names a map
by its index until the runtime patches in the fd), the table of output records and the ring
buffer that carries them. A front end subclasses `SharedTables` and adds its own maps first."""

from __future__ import annotations

from typing import Any

from ...kernel import uapi
from ..ctype.types import INT64, UINT64
from ..spec import EventSpec, MapSpec


class SharedTables:
    def __init__(self, opts: dict[str, Any]) -> None:
        self.opts = opts                      # compile options (sizes of internal maps)
        self.specs: list[MapSpec] = []
        self.index: dict[str, int] = {}
        self.events: list[EventSpec] = []     # event id -> how user space decodes the record
        self.ringbuf = -1                     # map indices, -1 until a record is sent
        self.lost = -1

    def add(self, spec: MapSpec) -> int:
        self.index[spec.name] = len(self.specs)
        self.specs.append(spec)
        return len(self.specs) - 1

    def internal_map(self, spec: MapSpec) -> int:
        """Index of the map named `spec.name`, added the first time it is asked for (maps are
        numbered in first-use order, so unused internal maps are never created)."""
        if spec.name not in self.index:
            self.add(spec)
        return self.index[spec.name]

    def event(self, ev: EventSpec) -> int:
        self.events.append(ev)
        return len(self.events) - 1

    def ringbuf_map(self) -> int:
        """The ring buffer of output records (and its per-CPU lost-records counter)."""
        if self.ringbuf < 0:
            size = int(self.opts.get("ringbuf_size", 1 << 22))
            self.ringbuf = self.add(MapSpec("$ringbuf", uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, size, None, INT64,
                                            internal=True))
            self.lost = self.add(MapSpec("$lost", uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1, None, UINT64,
                                         internal=True))
        return self.ringbuf
