"""bcc.utils: the helpers tool scripts import (printb, ArgString, CPU lists)."""

from __future__ import annotations

import sys
from typing import Any

from bpfscope.bcc.cpus import online_cpus as get_online_cpus
from bpfscope.bcc.cpus import possible_cpus as get_possible_cpus
from bpfscope.bcc.strcmp import StrcmpRewrite

__all__ = ["get_online_cpus", "get_possible_cpus", "printb", "ArgString", "StrcmpRewrite", "detect_language"]

_LANGUAGES = ("java", "node", "perl", "php", "python", "ruby")


def detect_language(candidates: list[str], pid: int) -> str | None:
    """The runtime a process runs, as BCC's procutils guess it: its comm starting with a
    language's name (python3 -> python), else a mapped lib<language> library, else "c" when
    libc is mapped; None unless that answer is one of the candidates."""
    lang = _language_of(pid)
    return lang if lang in candidates else None


def _language_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            comm = fh.read().strip()
    except OSError:
        return None
    for lang in _LANGUAGES:
        if comm.startswith(lang):
            return lang
    libc = False
    try:
        with open(f"/proc/{pid}/maps") as fh:
            for line in fh:
                base = line.rsplit("/", 1)[-1] if "/" in line else ""
                for lang in _LANGUAGES:
                    if base.startswith("lib" + lang):
                        return lang
                libc = libc or base.startswith("libc.") or base.startswith("libc-")
    except OSError:
        return None
    return "c" if libc else None


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
