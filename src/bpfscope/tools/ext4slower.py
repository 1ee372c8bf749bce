"""ext4slower: trace common ext4 file operations slower than a threshold (BCC's options
and columns; how, with and without kprobes, in _fsslower.py)."""

from __future__ import annotations

import argparse

from ._fsslower import FsSlower

EXAMPLES = """examples:
    ./ext4slower             # trace operations slower than 10 ms (default)
    ./ext4slower 1           # trace operations slower than 1 ms
    ./ext4slower -j 1        # ... 1 ms, parsable output (csv)
    ./ext4slower 0           # trace all operations (warning: verbose)
    ./ext4slower -p 185      # trace PID 185 only
"""


class Ext4Slower(FsSlower):
    name = "ext4slower"
    purpose = "Trace common ext4 file operations slower than a threshold"
    description = "Trace common ext4 file operations slower than a threshold"
    examples = EXAMPLES

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-j", "--csv", action="store_true", help="just print fields: comma-separated values")
        ap.add_argument("-p", "--pid", type=int, help="trace this PID only")
        ap.add_argument("min_ms", nargs="?", default="10", type=int,
                        help="minimum I/O duration to trace, in ms (default 10)")

    def check(self) -> None:
        self.setup("ext4", self.o.min_ms, self.o.pid, self.o.csv)


TOOL = Ext4Slower
