"""fsslower: trace file system operations slower than a threshold, for a chosen file
system (libbpf-tools' options; BCC's *slower columns; how in _fsslower.py)."""

from __future__ import annotations

import argparse

from ._fsslower import FS_FUNCS, FsSlower

EXAMPLES = """EXAMPLES:
    fsslower -t ext4             # trace ext4 operations slower than 10 ms
    fsslower -t nfs -p 1216      # trace nfs operations with PID 1216 only
    fsslower -t xfs -c -d 1      # trace xfs operations for 1s with csv output
"""


class FsSlowerTool(FsSlower):
    name = "fsslower"
    purpose = "Trace file system operations slower than a threshold"
    description = "Trace file system operations slower than a threshold."
    examples = EXAMPLES
    listing_args = ("-t", "ext4")

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-t", "--type", dest="fstype", choices=sorted(FS_FUNCS),
                        help="Which filesystem to trace, [btrfs/ext4/nfs/xfs]")
        ap.add_argument("-p", "--pid", type=int, help="Process ID to trace")
        ap.add_argument("-m", "--min", dest="min_ms", type=int, default=10,
                        help="Min latency to trace, in ms (default 10)")
        ap.add_argument("-d", "--duration", type=int, help="Total duration of trace in seconds")
        ap.add_argument("-c", "--csv", action="store_true", help="Output as csv")

    def check(self) -> None:
        from .base import ToolError

        if not self.o.fstype:
            raise ToolError("filesystem must be specified using -t option.")
        self.setup(self.o.fstype, self.o.min_ms, self.o.pid, self.o.csv)

    def duration(self) -> float | None:
        return float(self.o.duration) if self.o.duration else None


TOOL = FsSlowerTool
