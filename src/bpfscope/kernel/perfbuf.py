"""Per-CPU perf buffers behind a BPF_MAP_TYPE_PERF_EVENT_ARRAY (bpf_perf_event_output).

Why: BCC's BPF_PERF_OUTPUT delivers each record with the CPU it was written on and reports
records the kernel dropped when a CPU's buffer was full (PERF_RECORD_LOST), which a BPF ring
buffer cannot do. One `bpf-output` software event per CPU, its ring mmap'ed, its fd stored
in the map at the CPU's index.
"""

from __future__ import annotations

import mmap
import os
import select
import struct
from collections.abc import Callable

from . import syscall

PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
REC_LOST, REC_SAMPLE = 2, 9
_PAGE = mmap.PAGESIZE
_HEAD, _TAIL = 1024, 1032        # perf_event_mmap_page.data_head / data_tail


class CpuBuffer:
    """One CPU's perf ring: (1 + pages) pages mapped, records read from data_tail to data_head."""

    def __init__(self, cpu: int, pages: int, wakeup_events: int = 1) -> None:
        self.cpu = cpu
        self.fd = syscall.perf_event_open(syscall.PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, pid=-1,
                                          cpu=cpu, sample_period=1, sample_type=PERF_SAMPLE_RAW,
                                          wakeup_events=max(1, wakeup_events))
        try:
            self.mem = mmap.mmap(self.fd, (1 + pages) * _PAGE, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            os.close(self.fd)
            raise
        self.size = pages * _PAGE
        syscall.ioctl(self.fd, syscall.PERF_EVENT_IOC_ENABLE, 0)

    def _bytes(self, pos: int, n: int) -> bytes:
        """n bytes at ring position pos, joined across the wrap."""
        start = _PAGE + pos % self.size
        end = start + n
        limit = _PAGE + self.size
        if end <= limit:
            return self.mem[start:end]
        return self.mem[start:limit] + self.mem[_PAGE:_PAGE + end - limit]

    def drain(self, on_sample: Callable[[int, bytes], None], on_lost: Callable[[int, int], None]) -> int:
        """Every pending record: on_sample(cpu, raw) / on_lost(cpu, count); returns samples read."""
        head, tail = struct.unpack_from("QQ", self.mem, _HEAD)
        n = 0
        try:
            while tail < head:
                rtype, _misc, size = struct.unpack("IHH", self._bytes(tail, 8))
                if size < 8:
                    break
                rec = self._bytes(tail, size)
                tail += size
                if rtype == REC_SAMPLE:
                    (raw_size,) = struct.unpack_from("I", rec, 8)
                    on_sample(self.cpu, rec[12:12 + raw_size])
                    n += 1
                elif rtype == REC_LOST:
                    on_lost(self.cpu, struct.unpack_from("Q", rec, 16)[0])
                if tail >= head:     # more may have arrived while the callbacks ran
                    head = struct.unpack_from("Q", self.mem, _HEAD)[0]
        finally:
            struct.pack_into("Q", self.mem, _TAIL, tail)
        return n

    def close(self) -> None:
        try:
            self.mem.close()
        except (BufferError, ValueError):
            pass
        os.close(self.fd)


class PerfBuffer:
    """The perf buffers of one perf event array: opened on the given CPUs, their fds stored in
    the map, polled together."""

    def __init__(self, map_fd: int, cpus: list[int], pages: int, wakeup_events: int = 1) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError("Perf buffer page_cnt must be a power of two")
        self.bufs: list[CpuBuffer] = []
        self.epoll = select.epoll()
        try:
            for cpu in cpus:
                b = CpuBuffer(cpu, pages, wakeup_events)
                self.bufs.append(b)
                syscall.map_update(map_fd, cpu.to_bytes(4, "little"), b.fd.to_bytes(4, "little"))
                self.epoll.register(b.fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        return self.epoll.fileno()

    def drain(self, on_sample: Callable[[int, bytes], None], on_lost: Callable[[int, int], None]) -> int:
        return sum(b.drain(on_sample, on_lost) for b in self.bufs)

    def close(self) -> None:
        for b in self.bufs:
            b.close()
        self.bufs = []
        self.epoll.close()
