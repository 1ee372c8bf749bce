"""Startup benchmark: wall time and peak RSS of a program, bpfscope vs bpftrace, alternating runs.

    python3 bench/startup.py [-n RUNS] ['PROGRAM']

Prints median and spread (min–max) for each tool and the bpfscope/bpftrace ratios.
Peak RSS comes from wait4()'s rusage of each child (ru_maxrss, KiB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time


def run_once(argv: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execvp(argv[0], argv)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with status {status}")
    return wall, ru.ru_maxrss


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=7)
    ap.add_argument("program", nargs="?", default="BEGIN { exit(); }")
    a = ap.parse_args()
    # byte-compile as `pip install` does (PYTHONDONTWRITEBYTECODE would otherwise recompile each run)
    import compileall

    compileall.compile_dir(os.path.join(os.path.dirname(__file__), "..", "src"), quiet=1)
    tools = {"bpfscope": [sys.executable, "-m", "bpfscope", "-q", "-e", a.program]}
    if shutil.which("bpftrace"):
        tools["bpftrace"] = ["bpftrace", "-q", "-e", a.program]
    res: dict[str, list[tuple[float, int]]] = {t: [] for t in tools}
    for t, argv in tools.items():  # warm caches once
        run_once(argv)
    for _ in range(a.n):
        for t, argv in tools.items():
            res[t].append(run_once(argv))
    print(f"program: {a.program!r}, {a.n} alternating runs")
    med = {}
    for t, rs in res.items():
        walls = [w for w, _ in rs]
        rss = [r for _, r in rs]
        med[t] = (statistics.median(walls), statistics.median(rss))
        print(f"{t:9} wall median {med[t][0] * 1000:7.1f} ms (min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f})"
              f"   peak RSS median {med[t][1] / 1024:6.1f} MiB (min {min(rss) / 1024:.1f}, max {max(rss) / 1024:.1f})")
    if "bpftrace" in med:
        print(f"ratio bpfscope/bpftrace: wall {med['bpfscope'][0] / med['bpftrace'][0]:.2f}, "
              f"peak RSS {med['bpfscope'][1] / med['bpftrace'][1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
