"""Consumer side of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF), via mmap and epoll.

Records are drained in batches: one epoll wake-up, then every committed record up to the
producer position, then a single consumer-position store.
"""

from __future__ import annotations

import mmap
import select
import struct
from collections.abc import Callable

BUSY = 1 << 31
DISCARD = 1 << 30
PAGE = mmap.PAGESIZE


class RingBuffer:
    def __init__(self, map_fd: int, size: int) -> None:
        self.fd = map_fd
        self.size = size
        self.mask = size - 1
        self._cons = mmap.mmap(map_fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._prod = mmap.mmap(map_fd, PAGE + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=PAGE)
        self._data = memoryview(self._prod)[PAGE:]
        self._epoll = select.epoll()
        self._epoll.register(map_fd, select.EPOLLIN)

    def fileno(self) -> int:
        return self._epoll.fileno()

    def poll(self, timeout: float | None, callback: Callable[[bytes], None]) -> int:
        """Wait up to `timeout` seconds for data, then drain; returns records handled."""
        n = self.drain(callback)
        if n:
            return n
        try:
            self._epoll.poll(-1 if timeout is None else timeout)
        except InterruptedError:
            pass
        return self.drain(callback)

    def drain(self, callback: Callable[[bytes], None]) -> int:
        cons = struct.unpack_from("<Q", self._cons, 0)[0]
        prod = struct.unpack_from("<Q", self._prod, 0)[0]
        n = 0
        data = self._data
        mask = self.mask
        while cons < prod:
            hdr = struct.unpack_from("<I", data, cons & mask)[0]
            if hdr & BUSY:
                break
            length = hdr & ~(BUSY | DISCARD)
            start = (cons & mask) + 8
            if not hdr & DISCARD:
                callback(bytes(data[start:start + length]))
                n += 1
            cons += (length + 8 + 7) & ~7
            if cons >= prod:  # re-read: more may have been committed meanwhile
                prod = struct.unpack_from("<Q", self._prod, 0)[0]
        struct.pack_into("<Q", self._cons, 0, cons)
        return n

    def close(self) -> None:
        try:
            self._epoll.close()
            self._data.release()
            self._prod.close()
            self._cons.close()
        except (BufferError, ValueError):
            pass
