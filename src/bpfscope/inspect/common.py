"""Shared pieces of the bpftool-style commands: type names, options, time, errors.

Names follow libbpf 1.1 (what Debian's bpftool 7.1 prints), so a type the reference
peer does not know prints as `type N` in both.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from ..kernel import uapi
from .jsonw import JsonWriter


def _names(prefix: str, extra: dict[int, str] | None = None) -> dict[int, str]:
    out = {v: k[len(prefix):].lower() for k, v in vars(uapi).items()
           if k.startswith(prefix) and isinstance(v, int)}
    out.update(extra or {})
    return out


PROG_TYPES = _names("BPF_PROG_TYPE_")
MAP_TYPES = _names("BPF_MAP_TYPE_", {32: "cgrp_storage"})
LINK_TYPES = {k: v for k, v in _names("BPF_LINK_TYPE_").items() if v != "max_bpf_link_type"}
ATTACH_TYPES = {v: k[4:].lower() for k, v in vars(uapi).items()
                if isinstance(v, int) and k.startswith(("BPF_CGROUP_", "BPF_SK_", "BPF_TRACE_", "BPF_LSM_",
                                                        "BPF_XDP", "BPF_FLOW_", "BPF_LIRC_", "BPF_MODIFY_",
                                                        "BPF_PERF_EVENT"))}
PROG_TYPE_BY_NAME = {v: k for k, v in PROG_TYPES.items()}
MAP_TYPE_BY_NAME = {v: k for k, v in MAP_TYPES.items()}


class CmdError(Exception):
    """A user-facing failure: printed as `Error: ...` (or a JSON error object), exit 255."""


@dataclass
class Ctx:
    """Global options and output stream of one invocation."""

    json: bool = False
    pretty: bool = False
    bpffs: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def writer(self) -> JsonWriter:
        return JsonWriter(self.out, self.pretty)

    def p(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)


def boot_time_wall(nsecs: int) -> int:
    """Wall-clock seconds of a CLOCK_BOOTTIME timestamp, computed as bpftool does."""
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    rs, rn = divmod(real, 1_000_000_000)
    bs, bn = divmod(boot, 1_000_000_000)
    return (rs - bs) + (rn - bn + nsecs) // 1_000_000_000


def format_boot_time(nsecs: int) -> str:
    """`%FT%T%z` local time, as in bpftool's `loaded_at`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(boot_time_wall(nsecs)))


_STRTOUL = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_uint(text: str, limit: int = 0xFFFF_FFFF) -> int | None:
    """strtoul(text, 0) accepting the whole word only (hex, octal, decimal), as bpftool parses
    numbers; None for anything else or a value above `limit`."""
    if not _STRTOUL.fullmatch(text):
        return None
    v = int(text, 16) if text[:2] in ("0x", "0X") else int(text, 8) if text.startswith("0") else int(text)
    return v if v <= limit else None


def parse_id(text: str) -> int:
    """An object id word: bpftool's `can't parse X as ID` for anything but a 32-bit number."""
    v = parse_uint(text)
    if v is None:
        raise CmdError(f"can't parse {text} as ID")
    return v


def parse_int(text: str) -> int:
    return int(text, 0)


def object_kind(fd: int) -> str:
    """`prog`, `map`, `link` or `unknown`: what a bpffs pin holds, from its fdinfo."""
    from ..kernel import objinfo

    try:
        info = objinfo.fdinfo(fd)
    except OSError:
        return "unknown"
    for kind in ("link", "prog", "map"):
        if f"{kind}_type" in info:
            return kind
    return "unknown"


def open_pinned(path: str, kind: str) -> int:
    """The fd of the `kind` object pinned at `path`; bpftool's errors for a missing pin or a
    pin of another kind (`prog show pinned LINK` must not print the link's program)."""
    from ..kernel import syscall as sc

    try:
        fd = sc.obj_get(path)
    except OSError as e:
        raise CmdError(f"bpf obj get ({path}): {os.strerror(e.errno or 0)}") from None
    except ValueError:  # a NUL byte cannot name a file
        raise CmdError(f"bpf obj get ({path!r}): {os.strerror(2)}") from None
    actual = object_kind(fd)
    if actual != kind:
        os.close(fd)
        raise CmdError(f"incorrect object type: {actual}")
    return fd


def hex_bytes(data: bytes) -> str:
    """bpftool's fprint_hex: space separated, a double space every 8 bytes, newline every 16."""
    parts: list[str] = []
    for i, b in enumerate(data):
        if i == 0:
            pfx = ""
        elif i % 16 == 0:
            pfx = "\n"
        elif i % 8 == 0:
            pfx = "  "
        else:
            pfx = " "
        parts.append(f"{pfx}{b:02x}")
    return "".join(parts)


def hex_json(data: bytes) -> list[str]:
    return [f"0x{b:02x}" for b in data]


def parse_bytes(words: list[str], size: int, what: str) -> tuple[bytes, list[str]]:
    """Consume `size` byte words (`0x1f`, `31`, `hex 1f 2a ...`); return bytes and the rest."""
    if words and words[0] == "hex":
        words = words[1:]
        vals = [int(w, 16) for w in words[:size]]
    else:
        vals = [int(w, 0) for w in words[:size]]
    if len(vals) < size:
        raise CmdError(f"{what} expected {size} bytes got {len(vals)}")
    if any(v < 0 or v > 255 for v in vals):
        raise CmdError(f"error parsing byte: {what}")
    return bytes(vals), words[size:]


def bpffs_pins(kind: str, root: str = "/sys/fs/bpf") -> dict[int, list[str]]:
    """Pinned paths per object id under bpffs (what bpftool -f shows)."""
    from ..kernel import objinfo

    want = {"prog": "prog_id", "map": "map_id", "link": "link_id"}[kind]
    out: dict[int, list[str]] = {}
    if not os.path.isdir(root):
        return out
    from ..kernel import syscall as sc

    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            path = os.path.join(dirpath, fn)
            try:
                fd = sc.obj_get(path)
            except OSError:
                continue
            try:
                info = objinfo.fdinfo(fd)
                if want in info and f"{kind}_type" in info:
                    out.setdefault(int(info[want]), []).append(path)
            finally:
                os.close(fd)
    return out
