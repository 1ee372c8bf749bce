"""The benchmark suite of issue 8: bpfscope against Debian's bpftrace 0.17, same machine,
alternating runs; prints one table of medians, spread (min–max), ratios bpfscope/bpftrace and
whether each goal is met.

    python3 bench/run.py [--quick] [--only NAME] [-v]

NAME is one of: startup, per-event, streaming, profile, scale, export, checks (the speed figures
that the unit tests used to assert), tools (BCC-style tools vs bpftrace .bt and libbpf-tools).
Needs root, gcc, and for the comparison /usr/bin/bpftrace (without it only bpfscope is measured).
Exit status 0 when every goal is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BPFTRACE, Config, Row, bytecompile, have_bpftrace, print_table  # noqa: E402

PARTS = {"startup": "startup", "per-event": "per_event", "streaming": "streaming", "profile": "profile",
         "scale": "scale", "export": "export", "checks": "checks", "tools": "tools",
         "triage": "triage", "multitools": "multitools"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and shorter workloads (< 1 min)")
    ap.add_argument("--only", choices=sorted(PARTS), action="append", help="run only this part (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.stderr.write("bench: must run as root (it loads BPF programs)\n")
        return 2
    tools = ("bpfscope", "bpftrace") if have_bpftrace() else ("bpfscope",)
    if len(tools) == 1:
        sys.stderr.write(f"bench: {BPFTRACE} not found, measuring bpfscope alone (no ratios)\n")
    bytecompile()
    workdir = tempfile.mkdtemp(prefix="bpfscope-bench-")
    cfg = Config(quick=a.quick, tools=tools, workdir=workdir, verbose=a.verbose)
    version = subprocess.run([BPFTRACE, "--version"], capture_output=True, text=True).stdout.strip() \
        if len(tools) == 2 else "-"
    print(f"bpfscope bench: kernel {platform.release()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"{version}, {'quick' if a.quick else 'full'} run")
    rows: list[Row] = []
    t0 = time.perf_counter()
    try:
        for name, mod in PARTS.items():
            if a.only and name not in a.only:
                continue
            t = time.perf_counter()
            part_rows = importlib.import_module(mod).run(cfg)
            rows += part_rows
            sys.stderr.write(f"[{name}: {time.perf_counter() - t:.0f} s]\n")
            if a.verbose:
                print_table(part_rows, sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(rows)
    goals = [r.met for r in rows if r.met is not None]
    print(f"\ngoals met: {sum(goals)}/{len(goals)}; total {time.perf_counter() - t0:.0f} s, "
          f"load {os.getloadavg()[0]:.2f}")
    return 0 if all(goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
