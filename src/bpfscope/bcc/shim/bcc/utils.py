"""bcc.utils: the helpers tool scripts import (printb, ArgString, CPU lists)."""

from __future__ import annotations

import sys
from typing import Any

from bpfscope.bcc.cpus import online_cpus as get_online_cpus
from bpfscope.bcc.cpus import possible_cpus as get_possible_cpus
from bpfscope.bcc.strcmp import StrcmpRewrite

__all__ = ["get_online_cpus", "get_possible_cpus", "printb", "ArgString", "StrcmpRewrite"]


def printb(s: bytes, file: Any = None, nl: int = 1) -> None:
    """Write bytes as they are (kernel strings are not decoded) and flush."""
    f = sys.stdout if file is None else file
    raw: Any = getattr(f, "buffer", f)
    f.flush()
    raw.write(s + (b"\n" if nl else b""))
    f.flush()


class ArgString:
    """A command-line string that compares as bytes against kernel data (bytes(x))."""

    def __init__(self, arg: str) -> None:
        self.s = arg

    def __bytes__(self) -> bytes:
        return self.s.encode(sys.getfilesystemencoding())

    def __str__(self) -> str:
        return self.s
