"""tracefs: find or mount it, list events, parse event formats.

Tracepoint `args` come from `events/<cat>/<name>/format`; the id there is what
perf_event_open's PERF_TYPE_TRACEPOINT wants.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from functools import lru_cache

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


class TracefsError(OSError):
    pass


@lru_cache(maxsize=1)
def ensure_mounted() -> str:
    """The tracefs root, mounting it at /sys/kernel/tracing when nothing is mounted."""
    for path in CANDIDATES:
        if os.path.exists(os.path.join(path, "events")):
            return path
    root = CANDIDATES[0]
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.mount(b"tracefs", root.encode(), b"tracefs", 0, None)
    if r != 0:
        err = ctypes.get_errno()
        raise TracefsError(err, f"cannot mount tracefs at {root}: {os.strerror(err)}")
    return root


def ensure_debugfs_tracing() -> bool:
    """Mount debugfs at /sys/kernel/debug when nothing is there, so the older path
    /sys/kernel/debug/tracing (tplist, bpflist and reset-trace of BCC hardcode it) reaches
    tracefs as well (the kernel automounts it there). False when it cannot be had."""
    legacy = CANDIDATES[1]
    if os.path.exists(os.path.join(legacy, "events")):
        return True
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if not os.path.isdir("/sys/kernel/debug") or os.listdir("/sys/kernel/debug"):
        return False          # absent, or something is mounted there already
    if libc.mount(b"debugfs", b"/sys/kernel/debug", b"debugfs", 0, None) != 0:
        return False
    return os.path.exists(os.path.join(legacy, "events"))


@dataclass(frozen=True)
class FormatField:
    name: str
    ctype: str      # C spelling without the name, e.g. 'const char *', 'char[16]'
    offset: int
    size: int
    signed: bool
    array: int | None = None   # element count of fixed arrays
    data_loc: bool = False     # __data_loc: u32 (len<<16 | offset)


@dataclass(frozen=True)
class EventFormat:
    category: str
    name: str
    id: int
    fields: tuple[FormatField, ...]   # without the common_ fields

    def field(self, name: str) -> FormatField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


_FIELD_RE = re.compile(r"field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);")


def parse_format(text: str, category: str = "", name: str = "") -> EventFormat:
    ev_id = 0
    fields: list[FormatField] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ID:"):
            ev_id = int(line[3:])
            continue
        m = _FIELD_RE.match(line)
        if not m:
            continue
        decl, off, size, signed = m.group(1).strip(), int(m.group(2)), int(m.group(3)), m.group(4) == "1"
        data_loc = decl.startswith("__data_loc ")
        if data_loc:
            decl = decl[len("__data_loc "):]
        array = None
        am = re.match(r"(.*?)\s*\[(\w*)\]$", decl)
        if am:
            decl = am.group(1)
            if am.group(2).isdigit():
                array = int(am.group(2))
        fname = re.split(r"[\s*]+", decl)[-1]
        ctype = decl[: len(decl) - len(fname)].strip()
        if array is not None:
            ctype = f"{ctype}[{array}]"
        elif data_loc:
            ctype = f"{ctype}[]"
        if fname.startswith("common_"):
            continue
        fields.append(FormatField(fname, ctype, off, size, signed, array, data_loc))
    return EventFormat(category, name, ev_id, tuple(fields))


def event_format(category: str, name: str) -> EventFormat | None:
    root = ensure_mounted()
    path = os.path.join(root, "events", category, name, "format")
    try:
        with open(path) as f:
            return parse_format(f.read(), category, name)
    except (FileNotFoundError, NotADirectoryError):
        return None


@lru_cache(maxsize=1)
def _all_events() -> tuple[tuple[str, str], ...]:
    root = ensure_mounted()
    try:
        with open(os.path.join(root, "available_events")) as f:
            out = []
            for line in f:
                cat, _, name = line.strip().partition(":")
                if name:
                    out.append((cat, name))
            return tuple(sorted(out))
    except OSError:
        evdir = os.path.join(root, "events")
        return tuple(sorted((c, n) for c in os.listdir(evdir) if os.path.isdir(os.path.join(evdir, c))
                            for n in os.listdir(os.path.join(evdir, c))
                            if os.path.isdir(os.path.join(evdir, c, n))))


def list_events(category_glob: str = "*", name_glob: str = "*") -> list[tuple[str, str]]:
    """(category, name) pairs of tracepoints matching shell globs."""
    cat_lit = not any(c in category_glob for c in "*?[{")
    name_lit = not any(c in name_glob for c in "*?[{")
    if cat_lit and name_lit:
        return [(category_glob, name_glob)] if event_format(category_glob, name_glob) else []
    return [(c, n) for c, n in _all_events()
            if glob_match(c, category_glob) and glob_match(n, name_glob)]


def glob_match(text: str, pattern: str) -> bool:
    """Shell-style match with bpftrace's `{a,b}` alternatives."""
    if "{" in pattern:
        m = re.search(r"\{([^{}]*)\}", pattern)
        if m:
            return any(glob_match(text, pattern[: m.start()] + alt + pattern[m.end():])
                       for alt in m.group(1).split(","))
    return fnmatch.fnmatchcase(text, pattern)
