"""bashreadline: print commands entered in every running bash, as BCC's tool.

A uretprobe on bash's readline() (or libreadline's, with -s) reads the returned line;
only processes whose comm is exactly "bash" are reported, as BCC does.
"""

from __future__ import annotations

import argparse
import os

from .base import Tool, ToolError, bpf_string
from .needs import Need
from .timefmt import hms


class BashReadline(Tool):
    name = "bashreadline"
    purpose = "Print entered bash commands from all running shells"
    description = "Print entered bash commands from all running shells"

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-s", "--shared", nargs="?", const="/lib/libreadline.so", type=str,
                        help="specify the location of libreadline.so library. Default is /lib/libreadline.so")

    def target(self) -> str:
        return self.o.shared if self.o.shared else "/bin/bash"

    def check(self) -> None:
        if not os.path.exists(self.target()):
            raise ToolError(f"bashreadline: {self.target()} not found"
                            + ("" if self.o.shared else "; with bash linked to libreadline use -s PATH"))

    def requires(self) -> list[Need]:
        return [Need("feature", "uprobe")]

    def program(self) -> str:
        return ("config = { max_strlen = 80 }\n"
                f"uretprobe:{self.target()}:readline /retval != 0 && comm == {bpf_string('bash')}/ {{\n"
                '  printf("line %d %s\\n", pid, str(retval));\n'
                "}\n")

    def header(self) -> str:
        return f"{'TIME':<9s} {'PID':<7s} COMMAND"

    def on_line(self, pid: int, text: str) -> None:
        t = hms()
        self.emit(f"{t:<9s} {pid:<7d} {text}", time=t, pid=pid, command=text)


TOOL = BashReadline
