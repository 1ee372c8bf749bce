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
LEN_MASK = ~(BUSY | DISCARD) & 0xFFFFFFFF
RELEASE = 1 << 16  # bytes consumed between consumer-position stores


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

    def positions(self) -> tuple[int, int]:
        """(consumed, produced) byte positions: every record written before now is read once
        the published consumer position reaches this producer position (both only grow)."""
        return struct.unpack_from("<Q", self._cons, 0)[0], struct.unpack_from("<Q", self._prod, 0)[0]

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

    def drain(self, callback: Callable[[bytes], None], limit: int = 1 << 16) -> int:
        """Hand every committed record (at most `limit`) to `callback`, in order.

        The consumer position is published every RELEASE bytes, not only at the end, so a
        producer running while a long batch is handled finds the space already freed; the
        limit returns control to the caller's loop (signals, child exit) under sustained load.
        """
        unpack = struct.unpack_from
        cons = unpack("<Q", self._cons, 0)[0]
        prod = unpack("<Q", self._prod, 0)[0]
        n = 0
        raw = self._prod  # slicing the mmap itself gives bytes in one step
        mask = self.mask
        released = cons
        try:
            while cons < prod and n < limit:
                off = (cons & mask) + PAGE
                hdr = unpack("<I", raw, off)[0]
                if hdr & BUSY:
                    break
                length = hdr & LEN_MASK
                if not hdr & DISCARD:
                    callback(raw[off + 8:off + 8 + length])
                    n += 1
                cons += (length + 15) & ~7
                if cons - released >= RELEASE:
                    struct.pack_into("<Q", self._cons, 0, cons)
                    released = cons
                if cons >= prod:  # re-read: more may have been committed meanwhile
                    prod = unpack("<Q", self._prod, 0)[0]
        finally:
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
