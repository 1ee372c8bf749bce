"""biosnoop: trace block device I/O, one line per completed request (BCC's columns).

The process is the one that queued the request (block_io_start runs in its context),
the latency runs from driver issue to completion; -Q adds the time queued before issue.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse

from . import _blk
from .base import Tool, pred
from .needs import Need

EXAMPLES = """examples:
    ./biosnoop           # trace all block I/O
    ./biosnoop -Q        # include OS queued time
    ./biosnoop -d sdc    # trace sdc only
    ./biosnoop -P        # display block I/O pattern
"""

REQ_OP_WRITE = 1


class BioSnoop(Tool):
    name = "biosnoop"
    purpose = "Trace block I/O: process, disk, sector, size and latency per request"
    description = "Trace block I/O"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-Q", "--queue", action="store_true", help="include OS queued time")
        ap.add_argument("-d", "--disk", type=str, help="trace this disk only")
        ap.add_argument("-P", "--pattern", action="store_true",
                        help="display block I/O pattern (sequential or random)")

    def check(self) -> None:
        self.filter = _blk.disk_filter(self.o.disk)
        self.last_sector: dict[str, int] = {}

    def requires(self) -> list[Need]:
        return _blk.needs()

    def program(self) -> str:
        p = pred(self.filter)
        return f"""
{_blk.queued_probe()} {p} {{ @who[args.rq] = (pid, comm, nsecs); }}
{_blk.ISSUE} {p} {{ @start[args.rq] = (nsecs, args.rq->__data_len); }}
{_blk.DONE} {{
  $s = @start[args.rq];
  if ($s.0) {{
    $w = @who[args.rq];
    $rq = args.rq;
    printf("io %d %s %s %d %d %d %d %d %d\\n", $w.0, $w.1, $rq->q->disk->disk_name, $rq->cmd_flags & 0xff,
           $rq->__sector, $s.1, nsecs - $s.0, $w.2 ? $s.0 - $w.2 : 0, nsecs);
    delete(@start, args.rq);
    if ($w.2) {{ delete(@who, args.rq); }}
  }}
}}
"""

    def header(self) -> str:
        h = "%-11s %-14s %-7s %-9s %-1s %-10s %-7s" % ("TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES")
        if self.o.pattern:
            h += "%-1s " % "P"
        if self.o.queue:
            h += "%7s " % "QUE(ms)"
        return h + "%7s" % "LAT(ms)"

    def on_io(self, pid: int, comm: str, disk: str, op: int, sector: int, nbytes: int, lat_ns: int,
              que_ns: int, ts: int) -> None:
        o = self.o
        disk = disk or "<unknown>"
        if not comm:           # not seen entering the queue (a flush): BCC's "?" and sector 0
            comm, sector = "?", 0
        rw = "W" if op == REQ_OP_WRITE else "R"
        t = self.clock.since_first(ts)
        pattern = "?"
        if o.pattern:
            last = self.last_sector.get(disk)
            if last is not None:
                pattern = "S" if sector == last else "R"
            self.last_sector[disk] = sector + nbytes // 512
        line = "%-11.6f %-14.14s %-7s %-9s %-1s %-10s %-7s" % (t, comm, pid, disk, rw, sector, nbytes)
        if o.pattern:
            line += "%-1s " % pattern
        if o.queue:
            line += "%7.2f " % (que_ns / 1e6)
        line += "%7.2f" % (lat_ns / 1e6)
        rec = {"ts": t, "comm": comm, "pid": pid, "disk": disk, "type": rw, "sector": sector, "bytes": nbytes,
               "lat_ms": lat_ns / 1e6}
        if o.pattern:
            rec["pattern"] = pattern
        if o.queue:
            rec["que_ms"] = que_ns / 1e6
        self.emit(line, **rec)


TOOL = BioSnoop
