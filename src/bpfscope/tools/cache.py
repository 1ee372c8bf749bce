"""Compiled tool programs cached between runs, so a tool starts without the compiler.

Parsing, type checking and code generation cost ~200-400 ms (most of it importing the
compiler); the result depends only on the program text, the kernel (its BTF and tracepoint
ids: both fixed for one boot) and bpfscope's own code. The key hashes all three; an entry
is a pickled `CompiledProgram` plus checks re-done at load (tracepoint ids, probed files'
identity) so a module reload or a replaced binary recompiles instead of misattaching.

Where: $BPFSCOPE_CACHE_DIR, else /var/cache/bpfscope/tools (root) or ~/.cache/bpfscope/tools.
BPFSCOPE_NO_CACHE=1 turns it off (benchmarks of the cold path). Only a directory owned by
us and not writable by others is trusted: a pickle is code.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FORMAT = b"bpfscope-tools-cache-1"


def cache_dir() -> str:
    d = os.environ.get("BPFSCOPE_CACHE_DIR")
    if d:
        return d
    if os.geteuid() == 0:
        return "/var/cache/bpfscope/tools"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bpfscope", "tools")


def enabled() -> bool:
    return os.environ.get("BPFSCOPE_NO_CACHE", "") in ("", "0")


def _sha256() -> Any:
    """sha256 without `hashlib`, whose OpenSSL binding costs ~10 ms of a tool's start."""
    try:
        from _sha256 import sha256  # Python <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256()


def _code_stamp() -> bytes:
    """Identity of the compiler and runtime code: names, sizes and mtimes of their modules."""
    h = _sha256()
    for sub in ("lang", "runtime", "kernel"):
        for d, dirs, files in os.walk(os.path.join(_PKG, sub)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                try:
                    st = os.stat(os.path.join(d, name))
                except OSError:
                    continue
                h.update(f"{d[len(_PKG):]}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.digest()


def _kernel_stamp() -> bytes:
    parts = []
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            with open(path, "rb") as f:
                parts.append(f.read().strip())
        except OSError:
            parts.append(b"?")
    try:
        st = os.stat("/sys/kernel/btf/vmlinux")
        parts.append(f"{st.st_size}".encode())
    except OSError:
        parts.append(b"nobtf")
    return b"|".join(parts)


def key(text: str, extra: str = "") -> str:
    h = _sha256()
    h.update(_FORMAT)
    h.update(sys.version.encode())
    h.update(_code_stamp())
    h.update(_kernel_stamp())
    h.update(extra.encode())
    h.update(b"\0")
    h.update(text.encode())
    return h.hexdigest()[:40]


def _trusted(d: str) -> bool:
    try:
        st = os.stat(d)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _checks(cp: Any) -> list[tuple[str, str]]:
    """(path, expected content/identity) pairs that must still hold when the entry is reused."""
    out = []
    for ps in cp.progs:
        p = ps.probe
        if p.provider == "tracepoint" and isinstance(p.attach, int):
            cat, _, name = p.name.split(":", 1)[1].partition(":")
            out.append((f"tp:{cat}/{name}", str(p.attach)))
        elif p.provider in ("uprobe", "uretprobe", "usdt"):
            path = p.attach.get("path") if isinstance(p.attach, dict) else None
            if path:
                out.append((f"file:{path}", _file_id(path)))
    return out


def _file_id(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "?"
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _still_valid(checks: list[tuple[str, str]]) -> bool:
    from .needs import tracefs_root

    root = tracefs_root()
    for what, expected in checks:
        kind, _, arg = what.partition(":")
        if kind == "tp":
            try:
                with open(os.path.join(root or "/sys/kernel/tracing", "events", arg, "id")) as f:
                    if f.read().strip() != expected:
                        return False
            except OSError:
                return False
        elif kind == "file" and _file_id(arg) != expected:
            return False
    return True


def _loads() -> Any:
    """The C unpickler alone: `pickle.py` (the pure-Python pickler and its imports) is not
    needed to read an entry, and every warm start reads one."""
    try:
        from _pickle import loads
    except ImportError:
        from pickle import loads
    return loads


def load(k: str) -> Any | None:
    """The cached CompiledProgram for key `k`, or None."""
    if not enabled():
        return None
    d = cache_dir()
    if not _trusted(d):
        return None
    try:
        with open(os.path.join(d, k), "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        checks, cp = _loads()(data)
    except Exception:   # a corrupt or foreign entry is a miss, never an error
        return None
    return cp if _still_valid(checks) else None


def store(k: str, cp: Any) -> None:
    """Save atomically; a failure to write only costs the next start its compile."""
    if not enabled():
        return
    import pickle

    d = cache_dir()
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        if not _trusted(d):
            return
        data = pickle.dumps((_checks(cp), cp), protocol=pickle.HIGHEST_PROTOCOL)
        tmp = os.path.join(d, f".{k}.{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(d, k))
        _prune(d)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass


MAX_ENTRIES = 256   # a few per tool and option set; older entries (other kernels, old code) go


def _prune(d: str) -> None:
    """Keep the newest MAX_ENTRIES entries: keys change with the kernel and our code, so an
    unpruned cache only grows."""
    with os.scandir(d) as it:
        entries = [(e.stat().st_mtime, e.path) for e in it if e.is_file() and not e.name.startswith(".")]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort()
    for _mtime, path in entries[:len(entries) - MAX_ENTRIES]:
        try:
            os.unlink(path)
        except OSError:
            pass
