"""Part 4, stack profiling: `profile:hz:999 { @[ustack, kstack] = count(); }` while a busy
two-thread C program runs, for 5 s; measured is the time from SIGINT to exit, which is the
map read plus the symbolization of every distinct user and kernel stack.
"""

from __future__ import annotations

import subprocess
import time

from common import Config, Row, Stat, Tracer, alternate, compile_c

PROGRAM = "profile:hz:999 { @[ustack, kstack] = count(); }"


def run(cfg: Config) -> list[Row]:
    busy = compile_c(cfg, "busy", "-pthread", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer",
                     "-fno-optimize-sibling-calls")
    secs = 2.0 if cfg.quick else 5.0
    reps = cfg.reps(3, 1)
    exit_s = {t: Stat() for t in cfg.tools}
    keys = {t: Stat() for t in cfg.tools}
    rss = {t: Stat() for t in cfg.tools}
    # bpftrace 0.17 can take tens of seconds to symbolize at exit on a busy machine; a run that
    # hits the cap is killed and counted as the cap (a lower bound, so the ratio only improves)
    cap = 10.0 if cfg.quick else 40.0
    capped: list[str] = []

    def one(tool: str) -> None:
        proc = subprocess.Popen([busy, "3600"])
        try:
            with Tracer(cfg, tool, PROGRAM, "-q") as tr:
                tr.start()
                tr.wait_attached()
                time.sleep(secs)
                exit_s[tool].add(tr.stop(timeout=cap) * 1000)
                if tr.capped:
                    capped.append(tool)
                rss[tool].add(tr.maxrss_kib / 1024)
                out = tr.stdout()
                keys[tool].add(out.count("]: "))
                if "leaf" not in out and cfg.verbose:
                    print(f"[{tool}: busy's frames missing from the profile]")
        finally:
            proc.kill()
            proc.wait()

    alternate(cfg.tools, reps, one)
    part = "4 profile"
    return [
        Row(part, "SIGINT to exit", "ms", exit_s["bpfscope"], exit_s.get("bpftrace"), goal=("<=", 0.5)),
        Row(part, "runs killed at the exit cap", "runs", Stat([capped.count("bpfscope")]),
            Stat([capped.count("bpftrace")]) if "bpftrace" in cfg.tools else None,
            note=f"cap {cap:g} s; a capped run counts as the cap" if capped else ""),
        Row(part, "distinct stacks printed", "keys", keys["bpfscope"], keys.get("bpftrace")),
        Row(part, "peak RSS", "MiB", rss["bpfscope"], rss.get("bpftrace")),
    ]
