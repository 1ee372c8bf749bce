"""The observation window: the checklist session attached, /proc sampled once a second, the
kernel log read from the window's start; returns every raw figure for the rules and renderers.

The window's own cost is measured here (this process's CPU time during the window, the
figure the report states as overhead), apart from setup (compiling/loading) and the
report's assembly after the window.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

from . import checklist, flame, kmsg, procstats
from .session import Session


def _cpu() -> float:
    """This process's CPU seconds, all threads (getrusage: microseconds, not clock ticks)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_io(pids: set[int] | None = None) -> dict[int, tuple[str, int, int]]:
    """{pid: (comm, read_bytes, write_bytes)} from /proc/PID/io (`pidstat -d`)."""
    out: dict[int, tuple[str, int, int]] = {}
    for pid in pids if pids is not None else (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/io") as f:
                kv = dict(line.split(": ") for line in f.read().splitlines() if ": " in line)
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            out[pid] = (comm, int(kv.get("read_bytes", 0)), int(kv.get("write_bytes", 0)))
        except (OSError, ValueError):
            continue
    return out


def pid_io_rows(a: dict[int, tuple[str, int, int]], b: dict[int, tuple[str, int, int]],
                dt: float, top: int = 10) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for pid, (comm, r1, w1) in b.items():
        _c, r0, w0 = a.get(pid, (comm, 0, 0))
        dr, dw = max(0, r1 - r0), max(0, w1 - w0)
        if dr + dw:
            rows.append({"pid": pid, "command": comm, "kB_rd/s": round(dr / 1024 / dt, 1),
                         "kB_wr/s": round(dw / 1024 / dt, 1)})
    rows.sort(key=lambda r: -(r["kB_rd/s"] + r["kB_wr/s"]))
    return rows[:top]


def focus(pid: int) -> dict[str, Any]:
    """The --pid process: identity and resources from /proc (its state at the window's end)."""
    out: dict[str, Any] = {"pid": pid}
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        out.update({"name": st.get("Name", "").strip(), "state": st.get("State", "").strip(),
                    "threads": int(st.get("Threads", "0")), "rss_kB": int(st.get("VmRSS", "0 kB").split()[0]),
                    "vol_ctxt": int(st.get("voluntary_ctxt_switches", "0")),
                    "invol_ctxt": int(st.get("nonvoluntary_ctxt_switches", "0"))})
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/cmdline", "rb") as fb:
            out["cmdline"] = fb.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        out["gone"] = True
    return out


def run(duration: float, pid: int | None = None, progress: Callable[[str], None] | None = None,
        stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Observe for `duration` seconds (or until `stop()` says so); return the raw data
    (JSON-serialisable)."""
    say = progress or (lambda s: None)
    stopped = stop or (lambda: False)
    c_setup = _cpu()
    t_setup = time.monotonic()
    sess = Session(checklist.entries(pid), pid=pid or -1, progress=say)
    data: dict[str, Any] = {}
    try:
        say("loading the checklist's programs (one session)")
        sess.start()
        extra = checklist.add_substitutes(sess.entries)[len(sess.entries):]
        if extra:
            sub = Session(extra, progress=say)
            sub.start()
            sess.entries += extra
        setup_cpu, setup_wall = _cpu() - c_setup, time.monotonic() - t_setup

        disks = procstats.whole_disks()
        log = kmsg.KernelLog()
        cg0 = procstats.cgroup_memory_events()
        scope = {pid} if pid else None
        p0, io0 = procstats.proc_times(scope), proc_io(scope)
        s0 = procstats.snapshot(disks)
        psi0 = {r: procstats.psi(r) for r in ("cpu", "memory", "io")}
        c0, w0 = _cpu(), time.monotonic()
        say(f"window: {duration:g} s")
        samples = [s0]
        end = w0 + duration
        while True:
            now = time.monotonic()
            nxt = min(samples[-1].t + 1.0, end)
            while now < nxt and not stopped():
                time.sleep(min(0.25, nxt - now))
                now = time.monotonic()
            samples.append(procstats.snapshot(disks))
            sess.drain()
            el = samples[-1].t - w0
            if len(samples) % 5 == 1 or samples[-1].t >= end:
                say(f"{el:4.0f}/{duration:g} s  load {samples[-1].load[0]:.2f}")
            if samples[-1].t >= end - 0.01 or stopped():
                break
        s1 = samples[-1]
        sess.drain()
        c1, w1 = _cpu(), time.monotonic()
        window = w1 - w0
        psi1 = {r: procstats.psi(r) for r in ("cpu", "memory", "io")}
        p1, io1 = procstats.proc_times(scope), proc_io(scope)
        records = log.read()
        log.close()
        cg1 = procstats.cgroup_memory_events()
        say("building the report")
        c_rep = _cpu()
        data["checklist"] = checklist.summarize(sess, window)
        prof = sess.get("profile")
        if prof is not None and prof.status == "ok":
            stacks = flame.folded(prof.prog)
            data["profile"] = {"folded": [f"{s} {c}" for s, c in stacks], **flame.hottest(stacks),
                               "hz": 49}
        data["meta"] = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count() or 1,
                        "duration_s": round(window, 3), "pid": pid, "started": time.time() - window,
                        "kmsg_error": log.error}
        data["glance"] = _glance(samples, s0, s1, p0, p1, io0, io1, records, cg0, cg1, psi0, psi1, window, pid)
        data["overhead"] = {"window_cpu_s": round(c1 - c0, 4), "window_s": round(window, 3),
                            "window_pct_of_one_cpu": round(100 * (c1 - c0) / window, 3),
                            "setup_cpu_s": round(setup_cpu, 3), "setup_wall_s": round(setup_wall, 3),
                            "report_cpu_s": round(_cpu() - c_rep, 3)}
    finally:
        sess.close()
    return data


def _glance(samples: list[procstats.Snapshot], s0: procstats.Snapshot, s1: procstats.Snapshot,
            p0: Any, p1: Any, io0: Any, io1: Any, records: list[kmsg.Record],
            cg0: dict[str, dict[str, int]], cg1: dict[str, dict[str, int]], psi0: dict[str, Any],
            psi1: dict[str, Any], window: float, pid: int | None) -> dict[str, Any]:
    g: dict[str, Any] = {}
    g["load"] = {"start": list(s0.load), "end": list(s1.load), "per_s": [round(s.load[0], 2) for s in samples],
                 "trend": _trend(s0.load, s1.load)}
    g["kmsg"] = kmsg.summary(records)
    g["vmstat"] = [procstats.vmstat_row(a, b) for a, b in zip(samples, samples[1:], strict=False)]
    g["mpstat"] = procstats.mpstat(s0, s1)
    per = [v for k, v in g["mpstat"].items() if k != "all"]
    utils = [c["util"] for c in per]
    g["cpu_imbalance"] = {"max": max(utils, default=0), "min": min(utils, default=0),
                          "spread": round(max(utils, default=0) - min(utils, default=0), 2)}
    g["mpstat_per_s"] = [procstats.mpstat(a, b) for a, b in zip(samples, samples[1:], strict=False)]
    g["pidstat"] = procstats.pidstat(p0, p1, window)
    g["pidstat_io"] = pid_io_rows(io0, io1, window)
    g["iostat"] = procstats.iostat(s0, s1)
    g["iostat_per_s"] = [procstats.iostat(a, b) for a, b in zip(samples, samples[1:], strict=False)]
    g["disk_baseline_await"] = {d: procstats.boot_await(s0, d) for d in s0.disks}
    g["free"] = procstats.free(s1)
    g["vm_delta"] = procstats.vm_delta(s0, s1)
    g["net_dev"] = procstats.net_dev(s0, s1)
    g["tcp"] = procstats.tcp(s0, s1)
    g["psi"] = psi1
    g["psi_window"] = {r: _psi_pct(psi0[r], g["psi"][r], window) for r in psi0}
    g["cgroup_memory"] = _cg_delta(cg0, cg1)
    if pid:
        g["focus"] = focus(pid)
    return g


def _trend(a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    """uptime's reading: 1-min against 15-min load."""
    one, fifteen = b[0], b[2]
    if one > fifteen * 1.25 + 0.1:
        return "rising"
    if one < fifteen * 0.75 - 0.1:
        return "falling"
    return "steady"


def _psi_pct(a: dict[str, float], b: dict[str, float], window: float) -> dict[str, float]:
    """Share of the window some/all tasks stalled on the resource (from PSI totals)."""
    return {k.replace("_total_us", "_pct"): round(100 * (b.get(k, 0) - v) / 1e6 / window, 2)
            for k, v in a.items() if k.endswith("_total_us")}


def _cg_delta(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Cgroups whose memory.events max/oom/oom_kill grew during the window."""
    out = []
    for path, ev in b.items():
        old = a.get(path, {})
        d = {k: ev.get(k, 0) - old.get(k, 0) for k in ("max", "oom", "oom_kill", "high")}
        if any(v > 0 for v in d.values()):
            out.append({"cgroup": path, **d})
    return out
