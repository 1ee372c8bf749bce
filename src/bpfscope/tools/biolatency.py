"""biolatency: block device I/O latency as a histogram (BCC's options and output).

Timed from the driver issue (or, with -Q, from the OS queue) to completion, keyed by
the `struct request *` the block tracepoints give through BTF (see _blk.py).
"""

from __future__ import annotations

import argparse

from . import _blk
from ._histtool import HistTool, add_interval_args
from .base import ToolError, pred
from .needs import Need

EXAMPLES = """examples:
    ./biolatency                    # summarize block I/O latency as a histogram
    ./biolatency 1 10               # print 1 second summaries, 10 times
    ./biolatency -mT 1              # 1s summaries, milliseconds, and timestamps
    ./biolatency -Q                 # include OS queued time in I/O time
    ./biolatency -D                 # show each disk device separately
    ./biolatency -F                 # show I/O flags separately
    ./biolatency -j                 # print a dictionary
    ./biolatency -e                 # show extension summary(total, average)
    ./biolatency -d sdc             # Trace sdc only
"""


class BioLatency(HistTool):
    name = "biolatency"
    purpose = "Summarize block device I/O latency as a histogram"
    description = "Summarize block device I/O latency as a histogram"
    examples = EXAMPLES
    maps = ("@dist",)

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-T", "--timestamp", action="store_true", help="include timestamp on output")
        ap.add_argument("-Q", "--queued", action="store_true", help="include OS queued time in I/O time")
        ap.add_argument("-m", "--milliseconds", action="store_true", help="millisecond histogram")
        ap.add_argument("-D", "--disks", action="store_true", help="print a histogram per disk device")
        ap.add_argument("-F", "--flags", action="store_true", help="print a histogram per set of I/O flags")
        ap.add_argument("-e", "--extension", action="store_true", help="summarize average/total value")
        add_interval_args(ap)
        ap.add_argument("-j", "--json", action="store_true", help="json output")
        ap.add_argument("-d", "--disk", type=str, help="Trace this disk only")

    def check(self) -> None:
        super().check()
        if self.o.flags and self.o.disks:
            raise ToolError("ERROR: can only use -D or -F. Exiting.")
        self.filter = _blk.disk_filter(self.o.disk)

    def requires(self) -> list[Need]:
        return _blk.needs()

    def header(self) -> str | None:
        return "Tracing block device I/O... Hit Ctrl-C to end."

    def program(self) -> str:
        o = self.o
        div, _ = self.unit()
        start = _blk.queued_probe() if o.queued else _blk.ISSUE
        key = "[args.rq->q->disk->disk_name]" if o.disks else "[args.rq->cmd_flags]" if o.flags else ""
        ext = self.extension()
        p = pred(self.filter)
        return f"""
{start} {p} {{ @start[args.rq] = nsecs; }}
{_blk.DONE} {{
  $ts = @start[args.rq];
  if ($ts) {{
      $d = (nsecs - $ts) / (uint64){div};
      @dist{key} = hist($d);
{ext}      delete(@start, args.rq);
  }}
}}
"""

    def summary(self) -> None:
        o = self.o
        _, label = self.unit()
        if o.flags:
            self.log2("@dist", label, "flags", _blk.flags_text)
        elif o.disks:
            self.log2("@dist", label, "disk", lambda d: d or "<unknown>")
        else:
            self.log2("@dist", label)
        self.extension_summary(label)


TOOL = BioLatency
