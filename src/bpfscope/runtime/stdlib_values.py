"""User-space text of the standard library's values: buf(), ntop(), macaddr(), strftime(),
cgroup_path(), strerror(), signal_name(), syscall_name().

These are computed in BPF as raw bytes/integers (see lang/codegen_stdlib.py) and turned into
their printed form here, when the event or map is decoded — so every printer (printf %s,
print(), map dumps, JSON) sees a finished string (a buffer stays bytes, for %r/%rx/%rh).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

from ..lang.ctype.types import Kind, Type

# strsignal(3) texts, as bpftrace's signal_name() table has them
_SIGNALS = ["Unknown signal 0", "Hangup", "Interrupt", "Quit", "Illegal instruction",
            "Trace/breakpoint trap", "Aborted", "Bus error", "Floating point exception", "Killed",
            "User defined signal 1", "Segmentation fault", "User defined signal 2", "Broken pipe",
            "Alarm clock", "Terminated", "Stack fault", "Child exited", "Continued",
            "Stopped (signal)", "Stopped", "Stopped (tty input)", "Stopped (tty output)",
            "Urgent I/O condition", "CPU time limit exceeded", "File size limit exceeded",
            "Virtual timer expired", "Profiling timer expired", "Window changed", "I/O possible",
            "Power failure", "Bad system call", "Unknown signal 32", "Unknown signal 33"]


def signal_text(n: int) -> str:
    if 0 <= n < len(_SIGNALS):
        return _SIGNALS[n]
    if len(_SIGNALS) <= n <= 64:
        return f"Real-time signal {n - 34}"
    return "N/A"


def named_int(t: Type, v: int) -> str:
    """strerror / signal_name / syscall_name of an integer."""
    if t.name == "signal_name":
        return signal_text(v)
    if t.name == "syscall_name":
        from .syscall_names import syscall_name

        return syscall_name(v)
    try:
        return os.strerror(v)
    except (ValueError, OverflowError):
        return f"Unknown error {v}"


_BOOT_TO_WALL: list[int] = []


def _boot_to_wall_ns() -> int:
    """CLOCK_REALTIME - CLOCK_BOOTTIME, taken once: turns BPF boot timestamps into wall time."""
    if not _BOOT_TO_WALL:
        _BOOT_TO_WALL.append(time.clock_gettime_ns(time.CLOCK_REALTIME)
                             - time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    return _BOOT_TO_WALL[0]


def strftime_text(fmt: str, boot_ns: int) -> str:
    """strftime(3) of a boot-relative timestamp, with bpftrace's %f (microseconds, 6 digits)."""
    wall = boot_ns + _boot_to_wall_ns()
    secs, ns = divmod(wall, 1_000_000_000)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            if fmt[i + 1] == "f":
                out.append(f"{ns // 1000:06d}")
            else:
                out.append(fmt[i:i + 2])
            i += 2
            continue
        out.append(fmt[i])
        i += 1
    try:
        return time.strftime("".join(out), time.localtime(secs))
    except (ValueError, OverflowError):
        return ""


def inet_text(af: int, addr: bytes) -> str:
    try:
        if af == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, addr[:4])
        if af == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, addr[:16])
    except (OSError, ValueError):
        pass
    return ""


def mac_text(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data[:6])


_CGROUP_PATHS: dict[int, str] = {}
CGROUP2_ROOT = "/sys/fs/cgroup"


def cgroup_path_text(cgid: int) -> str:
    """The cgroup v2 directory whose inode number is the id, as 'unified:/path' (bpftrace's form)."""
    hit = _CGROUP_PATHS.get(cgid)
    if hit is not None:
        return hit
    found = ""
    try:
        if os.stat(CGROUP2_ROOT).st_ino == cgid:
            found = "/"
        else:
            for dirpath, dirnames, _files in os.walk(CGROUP2_ROOT):
                for d in dirnames:
                    full = os.path.join(dirpath, d)
                    try:
                        if os.stat(full, follow_symlinks=False).st_ino == cgid:
                            found = full[len(CGROUP2_ROOT):]
                            break
                    except OSError:
                        continue
                if found:
                    break
    except OSError:
        pass
    text = f"unified:{found}" if found else ""
    _CGROUP_PATHS[cgid] = text
    return text


def decode(data: bytes | memoryview, off: int, t: Type) -> Any:
    """Decode one stdlib value at `off` (None when `t` is not one of these types)."""
    k = t.kind
    if k is Kind.BUFFER:
        n = struct.unpack_from("<I", data, off)[0]
        return bytes(data[off + 4:off + 4 + min(n, t.size - 4)])
    if k is Kind.INET:
        af = struct.unpack_from("<Q", data, off)[0]
        return inet_text(af, bytes(data[off + 8:off + 24]))
    if k is Kind.MAC:
        return mac_text(bytes(data[off:off + 6]))
    if k is Kind.TIMESTAMP:
        return strftime_text(t.name, struct.unpack_from("<Q", data, off)[0])
    if k is Kind.CGROUP_PATH:
        return cgroup_path_text(struct.unpack_from("<Q", data, off)[0])
    return None
