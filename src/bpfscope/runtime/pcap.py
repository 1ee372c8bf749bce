"""skboutput(): the pcap files its packets go to.

Why: bpf_skb_output can only write to a perf event array, so the packets do not travel with
the other output records through the ring buffer. Each perf record is the meta record the
program built (u64 event id, u64 boot-clock ns, u64 length) followed by the skb's first
`length` bytes (perf pads the record to 8 bytes; the length strips the padding). As bpftrace
0.26: every file is created when the program is loaded, written as libpcap's pcap_dump does
for DLT_RAW (RAW IP, snaplen 65535, microsecond timestamps of boot time + ns), one record per
call holding the bytes from `offset` on, and nothing when `offset` is past the data.
"""

from __future__ import annotations

import struct
import time
from typing import IO, Any

from ..kernel.perfbuf import PerfBuffer
from ..lang.spec import CompiledProgram

PERF_MAP = "$skboutput"          # lang/bpftrace/codegen_stdlib.SKB_PERF_MAP
LINKTYPE_RAW = 101                # what libpcap writes to the file for DLT_RAW
SNAPLEN = 65535
PAGES = 64                        # per CPU, bpftrace's BPFTRACE_PERF_RB_PAGES default
_HEADER = struct.Struct("=IHHiIII")   # magic, version 2.4, thiszone, sigfigs, snaplen, linktype
_RECORD = struct.Struct("=IIII")      # ts_sec, ts_usec, incl_len, orig_len
_META = struct.Struct("<QQQ")


class PcapError(Exception):
    pass


def file_header() -> bytes:
    return _HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW)


class PcapOutput:
    """The pcap files of one loaded script and the perf buffers that feed them."""

    def __init__(self, cp: CompiledProgram, maps: list[Any]) -> None:
        self.calls: dict[int, tuple[str, int]] = {
            i: (ev.fmt, int(ev.extra.get("offset", 0))) for i, ev in enumerate(cp.events) if ev.kind == "skboutput"}
        self.files: dict[str, IO[bytes]] = {}
        self.lost = 0
        self.boot_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self.perf: PerfBuffer | None = None
        try:
            for path, _off in self.calls.values():
                if path not in self.files:
                    f = self.files[path] = open(path, "wb")   # noqa: SIM115 - kept open while tracing
                    f.write(file_header())
                    f.flush()
            from .probes.perf import online_cpus

            idx = next(i for i, m in enumerate(cp.maps) if m.name == PERF_MAP)
            self.perf = PerfBuffer(maps[idx].fd, online_cpus(), PAGES)
        except OSError as e:
            self.close()
            raise PcapError(f"ERROR: Failed to create pcap file(s): {e.filename or ''}: {e.strerror}") from None

    def drain(self) -> int:
        """Append every pending packet to its file; returns how many were read."""
        if self.perf is None:
            return 0
        n = self.perf.drain(self._sample, self._lost)
        if n:
            for f in self.files.values():
                f.flush()
        return n

    def _sample(self, _cpu: int, raw: bytes) -> None:
        if len(raw) < _META.size:
            return
        ev, ns, length = _META.unpack_from(raw)
        call = self.calls.get(ev)
        if call is None:
            return
        path, off = call
        pkt = raw[_META.size:_META.size + (length & 0xFFFFFFFF)][off:]
        if not pkt:
            return
        ts = ns + self.boot_ns
        self.files[path].write(_RECORD.pack(ts // 1_000_000_000, ts % 1_000_000_000 // 1000, len(pkt), len(pkt))
                               + pkt)

    def _lost(self, _cpu: int, n: int) -> None:
        self.lost += n

    def close(self) -> None:
        """Write what is still buffered, then close the buffers and the files."""
        if self.perf is not None:
            try:
                self.drain()
            finally:
                self.perf.close()
                self.perf = None
        for f in self.files.values():
            f.close()
        self.files.clear()
