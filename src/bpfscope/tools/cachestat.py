"""cachestat: page cache hit/miss ratios per interval (BCC's options and columns).

BCC counts calls of four kernel functions (page accessed, page added to the cache, page
dirtied, buffer dirtied) with kprobes. Two of them have no tracepoint, so without kprobes
the tool says so and exits.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse
import time

from . import _ksyms
from .base import Tool, ToolError
from .needs import Need

EXAMPLES = """examples:
    ./cachestat             # run with default option of 1 second delay
    ./cachestat -T          # include timestamps
    ./cachestat 1 5         # print every second, 5 times
"""
# BCC's functions and their successors on folio kernels
ACCESSED = ["mark_page_accessed", "folio_mark_accessed"]
ADDED = ["add_to_page_cache_lru", "filemap_add_folio"]
DIRTIED = ["account_page_dirtied", "folio_account_dirtied", "__folio_mark_dirty"]
BUFFER_DIRTY = ["mark_buffer_dirty"]


class CacheStat(Tool):
    name = "cachestat"
    purpose = "Count cache kernel function calls (page cache hit ratio)"
    description = "Count cache kernel function calls"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("interval", nargs="?", default=1, help="output interval, in seconds")
        ap.add_argument("count", nargs="?", default=-1, help="number of outputs")

    def check(self) -> None:
        try:
            self._interval = int(self.o.interval)
            self._count = int(self.o.count)
        except ValueError:
            raise ToolError("cachestat: interval and count must be integers") from None
        if self._interval <= 0:
            raise ToolError("cachestat: interval must be positive")
        self.funcs: dict[str, str] = {}

    def requires(self) -> list[Need]:
        return [Need("feature", "kprobe",
                     instead="cachestat counts calls of mark_page_accessed and friends, which have no "
                             "tracepoints; tracepoint:filemap:mm_filemap_add_to_page_cache alone counts misses")]

    def program(self) -> str:
        have = _ksyms.present(ACCESSED + ADDED + DIRTIED + BUFFER_DIRTY)
        for role, cands in (("mpa", ACCESSED), ("apcl", ADDED), ("apd", DIRTIED), ("mbd", BUFFER_DIRTY)):
            f = _ksyms.first(cands, have)
            if f is not None:
                self.funcs[role] = f
        for role in ("mpa", "apcl"):
            if role not in self.funcs and have:
                raise ToolError(f"cachestat: none of {', '.join(ACCESSED if role == 'mpa' else ADDED)} "
                                "is in /proc/kallsyms on this kernel")
        if not self.funcs:   # no kallsyms (yet): BCC's names, for --ebpf
            self.funcs = {"mpa": ACCESSED[0], "apcl": ADDED[0], "apd": DIRTIED[0], "mbd": BUFFER_DIRTY[0]}
        return "".join(f"kprobe:{f} {{ @{role} = count(); }}\n" for role, f in self.funcs.items())

    def header(self) -> str:
        h = "%-8s " % "TIME" if self.o.timestamp else ""
        return h + "%8s %8s %8s %8s %12s %10s" % ("HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB",
                                                  "CACHED_MB")

    def interval(self) -> float | None:
        return float(self._interval)

    def count(self) -> int | None:
        return self._count if self._count > 0 else None

    def tick(self) -> None:
        vals = {role: max(0, self.map(f"@{role}") or 0) for role in ("mpa", "mbd", "apcl", "apd")
                if role in self.funcs}
        for role in vals:
            self.clear(f"@{role}")
        mpa, mbd, apcl, apd = (vals.get(r, 0) for r in ("mpa", "mbd", "apcl", "apd"))
        total = max(0, mpa - mbd)
        misses = max(0, apcl - apd)
        hits = total - misses
        if hits < 0:      # read-ahead added more pages than were accessed (BCC's correction)
            misses, hits = total, 0
        ratio = hits / total if total > 0 else 0.0
        mem = _meminfo_kb()
        buff, cached = mem.get("Buffers", 0) / 1024, mem.get("Cached", 0) / 1024
        line = "%-8s " % time.strftime("%H:%M:%S") if self.o.timestamp else ""
        line += "%8d %8d %8d %7.2f%% %12.0f %10.0f" % (hits, misses, mbd, 100 * ratio, buff, cached)
        self.emit(line, hits=hits, misses=misses, dirties=mbd, ratio=ratio, buffers_mb=buff, cached_mb=cached)

    def finish(self, interrupted: bool) -> None:
        if interrupted:
            self.tick()
            self.write("Detaching...\n")


def _meminfo_kb() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


TOOL = CacheStat
