"""A small daemon on bpfscope's Python API (run as root: python3 examples/api_daemon.py 3).

Reads maps while the program stays attached, receives printf records as events, and
reports errors through the classes `bpfscope` exports.
"""

from __future__ import annotations

import sys
import time

import bpfscope

PROGRAM = r"""
tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }
tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @read_bytes = hist(args->ret); }
tracepoint:sched:sched_process_exec { printf("exec %s\n", comm); }
"""


def main(seconds: int) -> int:
    try:
        prog = bpfscope.Program(PROGRAM)
        prog.on_event(lambda ev: print("event:", ev.text, end=""))
        prog.attach()
    except bpfscope.CompileError as e:          # ProbeError and VerifierError are CompileErrors
        print(f"cannot load: {e}", file=sys.stderr)
        return 1
    except bpfscope.BpfscopeError as e:         # privileges, kernel features
        print(e, file=sys.stderr)
        return 1
    with prog:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            prog.poll(1.0)                         # delivers events; maps stay live
            maps = prog.maps()
            top = sorted((maps["@opens"] or {}).items(), key=lambda kv: -kv[1])[:3]
            hist: bpfscope.Histogram | None = maps["@read_bytes"]
            p50 = hist.quantile(0.5) if hist else None
            print(f"top openers {top}; reads: {hist.total if hist else 0}, p50 <= {p50} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
