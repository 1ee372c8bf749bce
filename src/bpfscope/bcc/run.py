"""`bpfscope bcc SCRIPT [ARGS]`: run an unchanged BCC tool script (a path, or a name on PATH
such as runqlat-bpfcc) with its `import bcc` served by bpfscope.bcc (the shim/ directory goes
first on sys.path). Failures end with one plain line, never a traceback."""

from __future__ import annotations

import os
import runpy
import shutil
import sys

USAGE = """usage: bpfscope bcc SCRIPT [ARGS...]

Run a BCC tool script (e.g. /usr/sbin/syscount-bpfcc, or a name found on PATH) unchanged,
its BPF programs compiled by bpfscope instead of libbcc/clang.
"""


def find_script(name: str) -> str | None:
    if os.sep in name or os.path.isfile(name):
        return name if os.path.isfile(name) else None
    return shutil.which(name)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 1
    path = find_script(argv[0])
    if path is None:
        sys.stderr.write(f"bpfscope bcc: {argv[0]}: no such script (not a file, not on PATH)\n")
        return 1
    if not {"-h", "--help"} & set(argv[1:]):   # the script's own help needs no privilege
        from ..privilege import denied_message, privileged

        if not privileged():
            sys.stderr.write(f"ERROR: {denied_message()}\n")
            return 1
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")
    for mod in [m for m in sys.modules if m == "bcc" or m.startswith("bcc.")]:
        del sys.modules[mod]
    sys.path.insert(0, shim)
    sys.argv = [path] + argv[1:]
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
        try:
            sys.stdout.flush()
        except Exception:
            pass
    return 0
