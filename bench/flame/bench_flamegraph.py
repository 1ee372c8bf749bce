"""Benchmark: render 20,000 unique stacks (~40,000 frames) and compare with flamegraph.pl.

Usage: python3 bench/flame/bench_flamegraph.py [--stacks N] [--repeat R] [--scaling]
                                               [--flamegraph-pl PATH | --no-peer]
flamegraph.pl is a benchmark peer only: by default the copy that
`python3 -m tests.flame.fgpeer install` (run by .ci/run) put in its fixed directory (rv-profile
wheel from PyPI, pinned by hash); set FLAMEGRAPH_PL or pass --flamegraph-pl to use another.
Without it only our time is printed. The input is synthetic but shaped like CPU profiles: a
few hot trunks fanning out into many distinct leaves. The last line gives the render-time
ratio and whether both drew the same frames.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")


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


def _time(cmd: list[str], path: str, repeat: int) -> tuple[float, float, bytes]:
    """Best wall time and best CPU time (user+sys of the child) of ``cmd < path`` over
    ``repeat`` runs, and the last output."""
    import resource

    best = cpu = float("inf")
    out = b""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with open(path, "rb") as inp:
            out = subprocess.run(cmd, stdin=inp, stdout=subprocess.PIPE, check=True,
                                 env={**os.environ, "PYTHONPATH": SRC}).stdout
        best = min(best, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best, cpu, out


def _peer_script(arg: str) -> tuple[str, str]:
    """flamegraph.pl to compare with: the given path, else the installed test peer."""
    if arg:
        return arg, ""
    sys.path.insert(0, ROOT)
    try:
        from tests.flame.fgpeer import PeerUnavailable, script
    except ImportError as exc:
        return "", f"cannot import tests/flame/fgpeer.py: {exc}"
    try:
        return str(script("flamegraph.pl")), ""
    except PeerUnavailable as exc:
        return "", str(exc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", type=int, default=20000)
    ap.add_argument("--flamegraph-pl", default=os.environ.get("FLAMEGRAPH_PL", ""),
                    help="flamegraph.pl to compare with (default: the installed test peer)")
    ap.add_argument("--no-peer", action="store_true", help="time bpfscope only")
    ap.add_argument("--scaling", action="store_true", help="also time N/2 and 2N stacks (linearity)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ours_cmd = [sys.executable, "-m", "bpfscope.flame.cli", "flamegraph"]
    sizes = [args.stacks // 2, args.stacks, args.stacks * 2] if args.scaling else [args.stacks]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for n in sizes:
            paths[n] = os.path.join(tmp, f"s{n}.folded")
            with open(paths[n], "w") as fh:
                fh.write("\n".join(synth_stacks(n)) + "\n")
        best, cpu, svg = _time(ours_cmd, paths[args.stacks], args.repeat)
        frames = svg.count(b"<g >")
        print(f"bpfscope flamegraph: {args.stacks} stacks, {frames} frames drawn, "
              f"best {best:.3f}s wall, {cpu:.3f}s CPU of {args.repeat}")
        if args.scaling:
            for n in sizes:
                t, c = _time(ours_cmd, paths[n], args.repeat)[:2] if n != args.stacks else (best, cpu)
                print(f"  scaling: {n:6d} stacks  {t:.3f}s wall  {c:.3f}s CPU  {c / n * 1e6:.1f} us CPU/stack")
        if args.no_peer:
            return 0
        pl, why = _peer_script(args.flamegraph_pl)
        if not pl:
            print(f"flamegraph.pl: not timed ({why})")
            return 0
        pbest, pcpu, psvg = _time(["perl", pl], paths[args.stacks], args.repeat)
        same = _frames(svg) == _frames(psvg)
        print(f"flamegraph.pl ({pl}): best {pbest:.3f}s wall, {pcpu:.3f}s CPU of {args.repeat}")
        print(f"ratio bpfscope/flamegraph.pl: wall {best / pbest:.2f}, CPU {cpu / pcpu:.2f}; "
              f"identical frames: {same}")
    return 0


def _frames(svg: bytes) -> list[bytes]:
    """The frame groups (title, rect, label) of a flame graph, sorted."""
    return sorted(re.findall(rb"<title>.*?</title><rect [^\n]*\n<text[^\n]*", svg))


if __name__ == "__main__":
    raise SystemExit(main())
