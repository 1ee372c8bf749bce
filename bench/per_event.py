"""Part 2, per-event cost: a C workload makes COUNT getppid() calls or 1-byte read()s and prints
its own thread's CPU time; run with no tracer and under each tracer (alternating), the added
CPU ns per call is the cost of the tracer's probe. Also reported: xlated instruction count of
the loaded programs and, from one extra run with kernel.bpf_stats_enabled, the kernel's
run_time_ns / run_cnt per program run.
"""

from __future__ import annotations

from common import (
    BpfStats,
    Config,
    Row,
    Stat,
    Tracer,
    Workload,
    compile_c,
    foreign_syscall_tracers,
    prog_fds,
    prog_stats,
)

CASES = {
    # name: (workload mode, program; {pid} is the workload's pid)
    "count getppid": ("getppid", "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"),
    "hist read": ("read", "tracepoint:syscalls:sys_enter_read /pid == {pid}/ { @ = hist(args->count); }"),
}


def _one(cfg: Config, wl_bin: str, mode: str, count: int, tool: str | None, program: str,
         stats: bool = False) -> tuple[float, int, float]:
    """(CPU ns per call, xlated insns, kernel ns per program run) of one workload run."""
    wl = Workload([wl_bin, mode, str(count)])
    try:
        if tool is None:
            wl.go()
            r = wl.result()
            return r["cpu_ns"] / r["calls"], 0, 0.0
        with Tracer(cfg, tool, program.replace("{pid}", str(wl.pid)), "-q") as tr:
            tr.start()
            tr.wait_attached()
            wl.go()
            r = wl.result()
            ids = prog_fds(tr.pid)
            st = prog_stats(ids)
            tr.stop()
        insns = sum(x[1] for x in st)
        run_ns = sum(x[2] for x in st)
        run_cnt = sum(x[3] for x in st)
        per_run = run_ns / run_cnt if stats and run_cnt else 0.0
        return r["cpu_ns"] / r["calls"], insns, per_run
    finally:
        wl.kill()


def run(cfg: Config) -> list[Row]:
    wl_bin = compile_c(cfg, "workload")
    count = 500_000 if cfg.quick else 2_000_000
    reps = cfg.reps(4, 2)
    rows: list[Row] = []
    for name, (mode, program) in CASES.items():
        base = Stat()
        traced = {t: Stat() for t in cfg.tools}
        insns: dict[str, int] = {}
        foreign: set[str] = set()
        for i in range(reps):
            order: list[str | None] = [None, *cfg.tools]
            if i % 2:
                order.reverse()
            for t in order:
                if t is None:
                    foreign.update(foreign_syscall_tracers())
                per_call, n_insns, _ = _one(cfg, wl_bin, mode, count, t, program)
                if t is None:
                    base.add(per_call)
                else:
                    traced[t].add(per_call)
                    insns[t] = n_insns
        # CPU-time noise only ever adds, so the no-tracer cost is its best run (as timeit does)
        floor = min(base.values)
        added = {t: Stat([v - floor for v in traced[t].values]) for t in cfg.tools}
        note = ""
        if foreign:
            note = ("baseline taken while other processes had syscall tracepoints attached ("
                    + ", ".join(sorted(foreign)) + "): it already includes the syscall tracing slow path, "
                    "so 'added' here is mostly the programs' own cost")
        rows.append(Row("2 per-event", f"{name}: no tracer", "ns/call", base, note=note))
        rows.append(Row("2 per-event", f"{name}: traced", "ns/call", traced["bpfscope"], traced.get("bpftrace")))
        rows.append(Row("2 per-event", f"{name}: added", "ns/event", added["bpfscope"], added.get("bpftrace"),
                        goal=("<=", 0.7)))
        rows.append(Row("2 per-event", f"{name}: xlated insns", "insns", Stat([insns["bpfscope"]]),
                        Stat([insns["bpftrace"]]) if "bpftrace" in insns else None))
        if not cfg.quick:
            run_ns = {t: Stat() for t in cfg.tools}
            with BpfStats():
                for t in cfg.tools:
                    run_ns[t].add(_one(cfg, wl_bin, mode, count // 4, t, program, stats=True)[2])
            rows.append(Row("2 per-event", f"{name}: bpf_stats run time", "ns/run", run_ns["bpfscope"],
                            run_ns.get("bpftrace")))
    return rows
