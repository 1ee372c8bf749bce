"""`bpfscope bcc SCRIPT [ARGS]`: run an unchanged BCC tool script (a path, or a name on PATH
such as runqlat-bpfcc) with its `import bcc` served by bpfscope.bcc (the shim/ directory goes
first on sys.path). Debian's bash wrappers (javastat-bpfcc: `$lib/ustat -l java "$@"`) are
read, not run (bcc/wrapper.py): the Python tool they wrap is served with their arguments.
Failures end with one plain line, never a traceback; so does a Ctrl-C that arrives while a
script is already ending (`timeout` sends two): the exit status is then 130, and SIGINT is
ignored from there on so the atexit clean-up (BPF.cleanup) runs to its end."""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import sys

from .wrapper import NotAWrapper, is_shell_script, unwrap

USAGE = """usage: bpfscope bcc SCRIPT [ARGS...]

Run a BCC tool script (e.g. /usr/sbin/syscount-bpfcc, or a name found on PATH) unchanged,
its BPF programs compiled by bpfscope instead of libbcc/clang.
"""


def find_script(name: str) -> str | None:
    if os.sep in name or os.path.isfile(name):
        return name if os.path.isfile(name) else None
    return shutil.which(name)


def resolve(name: str, args: list[str]) -> tuple[str, list[str]]:
    """The Python script to run and its arguments: `name` itself, or the tool it wraps."""
    path = find_script(name)
    if path is None:
        raise LookupError(f"{name}: no such script (not a file, not on PATH)")
    for _ in range(4):
        if not is_shell_script(path):
            return path, args
        try:
            tool, extra = unwrap(path)
        except (NotAWrapper, OSError):
            raise LookupError(f"{name} is a shell script, not a BCC tool written in Python (nor a wrapper "
                              "of the form `$lib/TOOL ARGS \"$@\"`): run it directly") from None
        if not os.path.isfile(tool):
            raise LookupError(f"{name} wraps {tool}, which does not exist")
        path, args = tool, extra + args
    raise LookupError(f"{name}: too many nested wrappers")


def _legacy_tracing_path(path: str) -> None:
    """Scripts that hardcode /sys/kernel/debug/tracing (tplist, bpflist) find tracefs there:
    debugfs is mounted when nothing is (as root; BCC's own docs assume it)."""
    try:
        with open(path, "rb") as fh:
            wants = b"/sys/kernel/debug/tracing" in fh.read()
    except OSError:
        return
    if wants:
        from ..kernel.tracefs import ensure_debugfs_tracing

        ensure_debugfs_tracing()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 1
    try:
        path, args = resolve(argv[0], argv[1:])
    except LookupError as e:
        sys.stderr.write(f"bpfscope bcc: {e}\n")
        return 1
    if not {"-h", "--help"} & set(args):   # the script's own help needs no privilege
        from ..privilege import denied_message, privileged

        if not privileged():
            sys.stderr.write(f"ERROR: {denied_message()}\n")
            return 1
        _legacy_tracing_path(path)
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")
    for mod in [m for m in sys.modules if m == "bcc" or m.startswith("bcc.")]:
        del sys.modules[mod]
    sys.path.insert(0, shim)
    # as `python3 SCRIPT`: the script's own directory comes first (its helper modules import)
    sys.path.insert(1, os.path.dirname(os.path.abspath(path)))
    sys.argv = [path] + args
    try:
        return _serve(path)
    except KeyboardInterrupt:      # a second Ctrl-C while the first one's handling ran
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 130


def _serve(path: str) -> int:
    name = os.path.basename(path)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        sys.stderr.write(f"{code}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as e:  # the script's own failure or ours: one line, as the brief asks
        msg = str(e).strip() or type(e).__name__
        sys.stderr.write(f"{name}: {msg}\n")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # the script is over: nothing to interrupt
        try:
            sys.stdout.flush()
        except Exception:
            pass
    return 0
