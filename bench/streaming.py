"""Part 3, event streaming: printf() of every getppid() of a workload, output to a file (-o),
at full speed and paced at 200,000 events/s. Delivered events per second (lines written over
the time from the workload's start to the last growth of the file), lost events (the tracer's
own `Lost N events` lines), and the check that delivered + lost equals the workload's count.

The probe is filtered on the workload's pid (equally for both tracers) so the known count is
exact on a machine where other processes call getppid() too.
"""

from __future__ import annotations

import os
import time

from common import LOST_RE, Config, Row, Stat, Tracer, Workload, alternate, compile_c

PROGRAM = 'tracepoint:syscalls:sys_enter_getppid /pid == {pid}/ { printf("%d %s\\n", pid, comm); }'
PACED_RATE = 200_000


def _settle(path: str, quiet: float = 0.5, limit: float = 60.0) -> float:
    """Wait until the file stops growing for `quiet` s; returns when it last grew."""
    last_size = -1
    last_change = time.perf_counter()
    end = last_change + limit
    while time.perf_counter() < end:
        size = os.path.getsize(path)
        now = time.perf_counter()
        if size != last_size:
            last_size = size
            last_change = now
        elif now - last_change >= quiet:
            break
        time.sleep(0.02)
    return last_change


def _one(cfg: Config, wl_bin: str, tool: str, rate: int, secs: float) -> tuple[int, int, int, float]:
    """(known, delivered, lost, seconds from workload start to the last output)."""
    wl = Workload([wl_bin, "getppid", str(10**12), str(rate), str(secs)])
    out_path = os.path.join(cfg.workdir, f"stream-{tool}.txt")
    try:
        with Tracer(cfg, tool, PROGRAM.replace("{pid}", str(wl.pid)), "-q", "-o", out_path) as tr:
            tr.start()
            tr.wait_attached()
            wl.go()
            known = wl.result()["calls"]
            t_last = _settle(out_path)
            tr.stop()
            prefix = f"{wl.pid} ".encode()
            delivered = lost = 0
            with open(out_path, "rb") as f:
                for line in f:
                    if line.startswith(prefix):
                        delivered += 1
                    else:
                        m = LOST_RE.search(line.decode(errors="replace"))
                        if m:
                            lost += int(m.group(1))
            for text in (tr.stdout(), tr.stderr()):
                lost += sum(int(n) for n in LOST_RE.findall(text))
        return known, delivered, lost, t_last - wl.t_go
    finally:
        wl.kill()
        try:
            os.unlink(out_path)
        except OSError:
            pass


def run(cfg: Config) -> list[Row]:
    wl_bin = compile_c(cfg, "workload")
    secs = 1.5 if cfg.quick else 4.0
    reps = cfg.reps(3, 1)
    rows: list[Row] = []
    for label, rate in (("full speed", 0), (f"paced {PACED_RATE:,}/s", PACED_RATE)):
        rate_s = {t: Stat() for t in cfg.tools}
        lost_s = {t: Stat() for t in cfg.tools}
        known_s = {t: Stat() for t in cfg.tools}
        exact = {t: True for t in cfg.tools}
        mismatches: list[str] = []

        def one(tool: str, rate: int = rate, rate_s: dict[str, Stat] = rate_s, lost_s: dict[str, Stat] = lost_s,
                known_s: dict[str, Stat] = known_s, exact: dict[str, bool] = exact,
                mismatches: list[str] = mismatches) -> None:
            known, delivered, lost, dt = _one(cfg, wl_bin, tool, rate, secs)
            rate_s[tool].add(delivered / dt if dt > 0 else 0.0)
            lost_s[tool].add(lost)
            known_s[tool].add(known)
            if delivered + lost != known:
                exact[tool] = False
                mismatches.append(f"{tool}: delivered {delivered} + lost {lost} != {known}")

        alternate(cfg.tools, reps, one)
        part = "3 streaming"
        note = "; ".join(mismatches)
        if rate == 0:
            rows.append(Row(part, f"{label}: delivered", "events/s", rate_s["bpfscope"], rate_s.get("bpftrace"),
                            goal=(">=", 1.5), ok=exact["bpfscope"], note="delivered+lost=known"))
        else:
            rows.append(Row(part, f"{label}: delivered", "events/s", rate_s["bpfscope"], rate_s.get("bpftrace"),
                            ok=exact["bpfscope"], note="delivered+lost=known"))
        rows.append(Row(part, f"{label}: lost", "events", lost_s["bpfscope"], lost_s.get("bpftrace"),
                        goal=("<=", 0) if rate else None, absolute=True))
        rows.append(Row(part, f"{label}: workload calls", "events", known_s["bpfscope"], known_s.get("bpftrace"),
                        note=note))
    return rows
