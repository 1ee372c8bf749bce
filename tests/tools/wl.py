"""Workloads for the tool tests, run as `python wl.py ACTION COMM ...` so the process has a
known, unique comm (set with prctl before it does the traced work).

    open COMM PATH N        open PATH N times (created first), then PATH.missing once (ENOENT)
    stat COMM PATH N        stat PATH N times, then PATH.missing once
    exec COMM N [EXE]       fork+exec EXE (default /bin/true) N times with argv [COMM, arg-COMM],
                            then once a missing file (ENOENT)
    kill COMM SIG N         send SIG to a sleeping child N times, then to pid 999999999 once (ESRCH)
    exit COMM N CODE        fork N children that exit with CODE
    syscalls COMM N         getppid() N times
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def set_comm(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)   # PR_SET_NAME


def main(argv: list[str]) -> int:
    action, comm = argv[0], argv[1]
    set_comm(comm)
    if action == "open":
        path, n = argv[2], int(argv[3])
        with open(path, "w"):
            pass
        for _ in range(n):
            os.close(os.open(path, os.O_RDONLY))
        try:
            os.open(path + ".missing", os.O_RDONLY)
        except FileNotFoundError:
            pass
    elif action == "stat":
        path, n = argv[2], int(argv[3])
        with open(path, "w"):
            pass
        for _ in range(n):
            os.stat(path)
        try:
            os.stat(path + ".missing")
        except FileNotFoundError:
            pass
    elif action == "exec":
        n = int(argv[2])
        exe = argv[3] if len(argv) > 3 else "/bin/true"
        for path in [exe] * n + [exe + ".missing"]:
            pid = os.fork()
            if pid == 0:
                try:
                    os.execv(path, [comm, "arg-" + comm])
                finally:
                    os._exit(127)
            os.waitpid(pid, 0)
    elif action == "kill":
        sig, n = int(argv[2]), int(argv[3])
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.signal(sig, lambda *a: None)
            os.write(w, b"!")   # the handler is in place: the signals below are caught
            while True:
                signal.pause()
        os.read(r, 1)
        for _ in range(n):
            os.kill(pid, sig)
        try:
            os.kill(999999999, sig)
        except ProcessLookupError:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    elif action == "exit":
        n, code = int(argv[2]), int(argv[3])
        for _ in range(n):
            pid = os.fork()
            if pid == 0:
                os._exit(code)
            os.waitpid(pid, 0)
    elif action == "syscalls":
        n = int(argv[2])
        for _ in range(n):
            os.getppid()
    else:
        raise SystemExit(f"unknown action {action}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
