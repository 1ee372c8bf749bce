"""Benchmark: render 20,000 unique stacks (~40,000 frames) and compare with flamegraph.pl.

Usage: python bench/flame/bench_flamegraph.py [--stacks N] [--flamegraph-pl PATH]
The Perl script is optional (set FLAMEGRAPH_PL or pass its path); without it only our
time is printed. The input is synthetic but shaped like CPU profiles: a few hot trunks
fanning out into many distinct leaves.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time


def synth_stacks(n: int, seed: int = 7) -> list[str]:
    """Make ``n`` unique folded stacks sharing prefixes, deterministic for a seed."""
    rng = random.Random(seed)
    trunks = [f"proc{t}" for t in range(8)]
    mids = [f"mod{m}`func_{m}" for m in range(400)]
    seen: set[str] = set()
    lines: list[str] = []
    while len(lines) < n:
        depth = rng.randint(3, 24)
        frames = [rng.choice(trunks), "main"]
        for d in range(depth):
            frames.append(mids[int(rng.random() ** 2 * (40 + d * 15)) % len(mids)])
        frames.append(f"leaf_{rng.randint(0, 10**9)}")
        stack = ";".join(frames)
        if stack in seen:
            continue
        seen.add(stack)
        lines.append(f"{stack} {rng.randint(1, 500)}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stacks", type=int, default=20000)
    ap.add_argument("--flamegraph-pl", default=os.environ.get("FLAMEGRAPH_PL", ""))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lines = synth_stacks(args.stacks)
    with tempfile.NamedTemporaryFile("w", suffix=".folded", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
        path = fh.name
    try:
        ours = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with open(path, "rb") as inp:
                res = subprocess.run([sys.executable, "-m", "bpfscope.flame.cli", "flamegraph"],
                                     stdin=inp, stdout=subprocess.PIPE, check=True)
            ours.append(time.perf_counter() - t0)
        frames = res.stdout.count(b"<g >")
        best = min(ours)
        print(f"bpfscope flamegraph: {args.stacks} stacks, {frames} frames drawn, "
              f"best {best:.3f}s of {args.repeat}")
        if args.flamegraph_pl:
            perl = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                with open(path, "rb") as inp:
                    subprocess.run(["perl", args.flamegraph_pl], stdin=inp,
                                   stdout=subprocess.DEVNULL, check=True)
                perl.append(time.perf_counter() - t0)
            pbest = min(perl)
            print(f"flamegraph.pl: best {pbest:.3f}s; ratio ours/perl = {best / pbest:.2f}")
    finally:
        os.unlink(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
