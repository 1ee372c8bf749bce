"""Startup benchmark: wall time and peak RSS of a program, bpfscope vs bpftrace, alternating runs.

    python3 bench/startup.py [-n RUNS] ['PROGRAM']

Prints median and spread (min–max) for each tool and the bpfscope/bpftrace ratios.
Peak RSS comes from wait4()'s rusage of each child (ru_maxrss, KiB).
As part 1 of bench/run.py, `run(cfg)` measures the issue's two programs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Config, Row, Stat, alternate, argv_for, bytecompile, env_for, have_bpftrace  # noqa: E402

PROGRAMS = {
    "BEGIN exit": "BEGIN { exit(); }",
    "read hist + interval exit": "tracepoint:syscalls:sys_enter_read { @ = hist(args->count); } "
                                 "interval:ms:1 { exit(); }",
}


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of argv, output discarded."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execvpe(argv[0], argv, env if env is not None else os.environ)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with status {status}")
    return wall, ru.ru_maxrss


def run(cfg: Config) -> list[Row]:
    import sysconfig

    rows: list[Row] = []
    n = cfg.reps(7, 3)
    # "bpfscope -S": as on a machine whose site-packages has no start-up .pth hooks (this one
    # has some that are no part of the project): -S skips site, PYTHONPATH keeps site-packages
    nosite = env_for("bpfscope")
    nosite["PYTHONPATH"] += os.pathsep + sysconfig.get_paths()["purelib"]
    variants = [*cfg.tools, "bpfscope -S"]
    for label, program in PROGRAMS.items():
        wall = {t: Stat() for t in variants}
        rss = {t: Stat() for t in variants}

        def one(v: str, program: str = program, wall: dict[str, Stat] = wall, rss: dict[str, Stat] = rss) -> None:
            if v == "bpfscope -S":
                argv, env = [sys.executable, "-S", "-m", "bpfscope", "-q", "-e", program], dict(nosite)
            else:
                argv, env = argv_for(v, program, "-q"), env_for(v)
            env.pop("__BPFTRACE_NOTIFY_PROBES_ATTACHED", None)
            w, r = run_once(argv, env)
            wall[v].add(w * 1000)
            rss[v].add(r / 1024)

        for v in variants:  # warm the page cache once
            one(v, wall={v: Stat() for v in variants}, rss={v: Stat() for v in variants})
        alternate(variants, n, one)
        rows.append(Row("1 startup", f"{label}: wall", "ms", wall["bpfscope"], wall.get("bpftrace"),
                        goal=("<=", 0.4)))
        rows.append(Row("1 startup", f"{label}: peak RSS", "MiB", rss["bpfscope"], rss.get("bpftrace"),
                        goal=("<=", 0.35)))
        rows.append(Row("1 startup", f"{label}: wall, python -S (no .pth hooks)", "ms", wall["bpfscope -S"],
                        wall.get("bpftrace")))
    # the floor under bpfscope's numbers: this interpreter starting, with and without site
    for label, argv in (("python3 -c pass", [sys.executable, "-c", "pass"]),
                        ("python3 -S -c pass", [sys.executable, "-S", "-c", "pass"])):
        w = Stat()
        for _ in range(n):
            w.add(run_once(argv)[0] * 1000)
        rows.append(Row("1 startup", f"reference: {label}", "ms", w))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=7)
    ap.add_argument("program", nargs="?", default="BEGIN { exit(); }")
    a = ap.parse_args()
    bytecompile()
    tools = {"bpfscope": argv_for("bpfscope", a.program, "-q")}
    if have_bpftrace():
        tools["bpftrace"] = argv_for("bpftrace", a.program, "-q")
    envs = {t: env_for(t) for t in tools}
    res: dict[str, list[tuple[float, int]]] = {t: [] for t in tools}
    for t, argv in tools.items():  # warm caches once
        run_once(argv, envs[t])
    for _ in range(a.n):
        for t, argv in tools.items():
            res[t].append(run_once(argv, envs[t]))
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
