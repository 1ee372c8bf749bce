"""Part 5, scale: printing a map of 100,000 keys (SIGINT to exit), compiling a 500-probe script,
attaching to every `syscalls:sys_enter_*` tracepoint (start to attached; full run only, as the
kernel's detach of that many tracepoints takes ~30 s), and the tracer's RSS under millions of
events (it must stay bounded).
"""

from __future__ import annotations

import os
import re
import sys
import time

from common import BPFTRACE, NOTIFY, Config, Row, Stat, Tracer, Workload, alternate, compile_c, env_for

TRACEFS = "/sys/kernel/tracing/events/syscalls"


def _map_100k(cfg: Config, wl_bin: str, reps: int) -> list[Row]:
    keys = 100_000
    exit_ms = {t: Stat() for t in cfg.tools}
    printed = {t: Stat() for t in cfg.tools}

    def one(tool: str) -> None:
        wl = Workload([wl_bin, "getppid", str(keys)])
        body = f"tracepoint:syscalls:sys_enter_getppid /pid == {wl.pid}/ {{ @[nsecs] = count(); }}"
        program = "config = { max_map_keys = 200000 } " + body if tool == "bpfscope" else body
        try:
            with Tracer(cfg, tool, program, "-q", env={"BPFTRACE_MAP_KEYS_MAX": "200000"}) as tr:
                tr.start()
                tr.wait_attached()
                wl.go()
                wl.result()
                exit_ms[tool].add(tr.stop() * 1000)
                printed[tool].add(tr.stdout().count("@["))
        finally:
            wl.kill()

    alternate(cfg.tools, reps, one)
    part = "5 scale"
    return [Row(part, "print 100k-key map: SIGINT to exit", "ms", exit_ms["bpfscope"], exit_ms.get("bpftrace")),
            Row(part, "print 100k-key map: keys printed", "keys", printed["bpfscope"], printed.get("bpftrace"))]


def _attach_many(cfg: Config, reps: int, label: str, make: dict[str, str], n_re: dict[str, str]) -> list[Row]:
    attach_ms = {t: Stat() for t in cfg.tools}
    exit_ms = {t: Stat() for t in cfg.tools}
    probes = {t: Stat() for t in cfg.tools}

    def one(tool: str) -> None:
        with Tracer(cfg, tool, make[tool]) as tr:
            tr.start()
            attach_ms[tool].add(tr.wait_attached(timeout=180) * 1000)
            exit_ms[tool].add(tr.stop() * 1000)
            m = re.search(n_re[tool], tr.stderr() + tr.stdout())
            if m:
                probes[tool].add(int(m.group(1)))

    alternate(cfg.tools, reps, one)
    part = "5 scale"
    return [Row(part, f"{label}: start to attached", "ms", attach_ms["bpfscope"], attach_ms.get("bpftrace")),
            Row(part, f"{label}: SIGINT to exit", "ms", exit_ms["bpfscope"], exit_ms.get("bpftrace")),
            Row(part, f"{label}: probes attached", "probes", probes["bpfscope"], probes.get("bpftrace"))]


def _compile_500(cfg: Config, reps: int, path: str) -> list[Row]:
    """Compile-only: bpfscope --dry-run (parse, compile, and load into the kernel, no attach)
    against bpftrace 0.17 --emit-elf (parse and compile to an ELF file, nothing loaded)."""
    from startup import run_once

    wall = {t: Stat() for t in cfg.tools}
    elf = os.path.join(cfg.workdir, "p500.o")

    def one(tool: str) -> None:
        argv = ([sys.executable, "-m", "bpfscope", "--dry-run", path] if tool == "bpfscope"
                else [BPFTRACE, "--emit-elf", elf, path])
        env = env_for(tool)
        env.pop(NOTIFY, None)
        wall[tool].add(run_once(argv, env)[0] * 1000)

    alternate(cfg.tools, reps, one)
    return [Row("5 scale", "500-probe script: compile (bpftrace: --emit-elf)", "ms", wall["bpfscope"],
                wall.get("bpftrace"))]


def _memory(cfg: Config, wl_bin: str) -> list[Row]:
    secs = 3.0 if cfg.quick else 8.0
    early = {t: Stat() for t in cfg.tools}
    late = {t: Stat() for t in cfg.tools}
    events = {t: Stat() for t in cfg.tools}

    def one(tool: str) -> None:
        wl = Workload([wl_bin, "getppid", str(10**12), "0", str(secs)])
        program = (f"tracepoint:syscalls:sys_enter_getppid /pid == {wl.pid}/ "
                   '{ @n = count(); @t[tid] = count(); printf("%d %s\\n", pid, comm); }')
        try:
            with Tracer(cfg, tool, program, "-q", "-o", os.devnull) as tr:
                tr.start()
                tr.wait_attached()
                wl.go()
                time.sleep(1.0)
                early[tool].add(tr.rss_kib() / 1024)
                events[tool].add(wl.result()["calls"])
                time.sleep(0.5)
                late[tool].add(tr.rss_kib() / 1024)
                tr.stop()
        finally:
            wl.kill()

    alternate(cfg.tools, 1, one)
    growth = {t: Stat([b - a for a, b in zip(early[t].values, late[t].values, strict=True)]) for t in cfg.tools}
    part = "5 scale"
    return [Row(part, "RSS under load: events", "events", events["bpfscope"], events.get("bpftrace")),
            Row(part, "RSS under load: after 1 s", "MiB", early["bpfscope"], early.get("bpftrace")),
            Row(part, "RSS under load: at end", "MiB", late["bpfscope"], late.get("bpftrace")),
            Row(part, "RSS under load: growth", "MiB", growth["bpfscope"], growth.get("bpftrace"),
                goal=("<=", 5.0), absolute=True)]


def run(cfg: Config) -> list[Row]:
    wl_bin = compile_c(cfg, "workload")
    reps = cfg.reps(3, 1)
    rows = _map_100k(cfg, wl_bin, reps)
    tps = sorted(e for e in os.listdir(TRACEFS) if e.startswith(("sys_enter_", "sys_exit_")))[:500]
    path = os.path.join(cfg.workdir, "p500.bt")
    with open(path, "w") as f:
        f.write("\n".join(f"tracepoint:syscalls:{tp} {{ @[{i}] = count(); }}" for i, tp in enumerate(tps)))
    rows += _compile_500(cfg, reps, path)
    if not cfg.quick:
        # one run only: detaching ~360 tracepoints costs the kernel an RCU grace period each
        # (perf_trace_event_unreg), about 30 s for either tracer
        attached = {"bpfscope": r"Attached (\d+) probe", "bpftrace": r"Attaching (\d+) probe"}
        every = "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }"
        rows += _attach_many(cfg, 1, "all sys_enter_*", {t: every for t in cfg.tools}, attached)
    rows += _memory(cfg, wl_bin)
    return rows
