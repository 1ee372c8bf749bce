"""Snapshots of /proc and /sys, and the per-interval figures the 60-second analysis reads
from vmstat, mpstat, pidstat, iostat -xz, free, sar -n DEV and sar -n TCP,ETCP.

The same counters those tools read, with their formulas (sysstat 12, procps-ng 4), so the
report's numbers can be checked against them side by side. Reading these files costs a few
hundred microseconds a second, which is why triage samples them itself instead of running
the tools.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
HZ = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@dataclass
class Snapshot:
    """One reading of every counter triage samples, at monotonic time `t`."""
    t: float
    cpus: dict[str, list[int]] = field(default_factory=dict)   # "all", "0", "1", ... -> jiffies
    intr: int = 0
    ctxt: int = 0
    running: int = 0
    blocked: int = 0
    vm: dict[str, int] = field(default_factory=dict)
    mem: dict[str, int] = field(default_factory=dict)          # kB
    disks: dict[str, list[int]] = field(default_factory=dict)
    net: dict[str, list[int]] = field(default_factory=dict)
    snmp: dict[str, int] = field(default_factory=dict)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)


def whole_disks() -> set[str]:
    """Devices iostat lists without -p: the entries of /sys/block (partitions are not there)."""
    try:
        return set(os.listdir("/sys/block"))
    except OSError:
        return set()


def snapshot(disks: set[str] | None = None) -> Snapshot:
    s = Snapshot(t=time.monotonic())
    for line in _read("/proc/stat").splitlines():
        parts = line.split()
        if not parts:
            continue
        k = parts[0]
        if k.startswith("cpu"):
            s.cpus["all" if k == "cpu" else k[3:]] = [int(x) for x in parts[1:11]] + [0] * (11 - len(parts))
        elif k == "intr":
            s.intr = int(parts[1])
        elif k == "ctxt":
            s.ctxt = int(parts[1])
        elif k == "procs_running":
            s.running = int(parts[1])
        elif k == "procs_blocked":
            s.blocked = int(parts[1])
    for line in _read("/proc/vmstat").splitlines():
        k, _, v = line.partition(" ")
        if k in ("pswpin", "pswpout", "pgpgin", "pgpgout", "pgmajfault", "oom_kill", "pgscan_direct",
                 "pgscan_kswapd", "allocstall_normal", "allocstall_movable"):
            s.vm[k] = int(v)
    for line in _read("/proc/meminfo").splitlines():
        k, _, v = line.partition(":")
        s.mem[k] = int(v.split()[0]) if v.split() else 0
    keep = whole_disks() if disks is None else disks
    for line in _read("/proc/diskstats").splitlines():
        p = line.split()
        if len(p) >= 14 and p[2] in keep:
            s.disks[p[2]] = [int(x) for x in p[3:]]
    for line in _read("/proc/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        s.net[name.strip()] = [int(x) for x in rest.split()]
    lines = _read("/proc/net/snmp").splitlines()
    for i in range(0, len(lines) - 1, 2):
        hk, hv = lines[i].split(), lines[i + 1].split()
        if hk and hk[0] == "Tcp:":
            s.snmp = {k: int(v) for k, v in zip(hk[1:], hv[1:], strict=False)}
    la = _read("/proc/loadavg").split()
    if len(la) >= 3:
        s.load = (float(la[0]), float(la[1]), float(la[2]))
    return s


def _r(x: float, nd: int = 2) -> float:
    return round(x, nd)


def cpu_pct(a: list[int], b: list[int]) -> dict[str, float]:
    """mpstat's columns for one CPU between two readings (guest time is inside user/nice)."""
    d = [max(0, y - x) for x, y in zip(a, b, strict=False)]
    user, nice, system, idle, iowait, irq, soft, steal, guest, gnice = d[:10]
    tot = sum(d[:8]) or 1
    pct = {"usr": (user - guest) / tot, "nice": (nice - gnice) / tot, "sys": system / tot,
           "iowait": iowait / tot, "irq": irq / tot, "soft": soft / tot, "steal": steal / tot,
           "guest": guest / tot, "gnice": gnice / tot, "idle": idle / tot}
    out = {k: _r(v * 100) for k, v in pct.items()}
    out["util"] = _r(100 - out["idle"] - out["iowait"])
    return out


def vmstat_row(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """One line of `vmstat 1`: procs, memory (kB), swap and io per second, cpu percentages."""
    dt = max(b.t - a.t, 1e-6)
    m = b.mem
    c = [max(0, y - x) for x, y in zip(a.cpus["all"], b.cpus["all"], strict=False)]
    tot = sum(c[:8]) or 1

    def rate(k: str) -> int:
        return round((b.vm.get(k, 0) - a.vm.get(k, 0)) / dt)

    return {"r": b.running, "b": b.blocked,
            "swpd": m.get("SwapTotal", 0) - m.get("SwapFree", 0), "free": m.get("MemFree", 0),
            "buff": m.get("Buffers", 0), "cache": m.get("Cached", 0) + m.get("SReclaimable", 0),
            "si": rate("pswpin") * PAGE_KB, "so": rate("pswpout") * PAGE_KB,
            "bi": rate("pgpgin"), "bo": rate("pgpgout"),
            "in": round((b.intr - a.intr) / dt), "cs": round((b.ctxt - a.ctxt) / dt),
            "us": round(100 * (c[0] + c[1]) / tot), "sy": round(100 * (c[2] + c[5] + c[6]) / tot),
            "id": round(100 * c[3] / tot), "wa": round(100 * c[4] / tot), "st": round(100 * c[7] / tot)}


def mpstat(a: Snapshot, b: Snapshot) -> dict[str, dict[str, float]]:
    """`mpstat -P ALL` over the interval a..b: "all" and each CPU."""
    return {k: cpu_pct(a.cpus[k], v) for k, v in b.cpus.items() if k in a.cpus}


def iostat(a: Snapshot, b: Snapshot) -> list[dict[str, Any]]:
    """`iostat -xz` over a..b: devices with I/O in the interval (sysstat's formulas)."""
    dt = max(b.t - a.t, 1e-6)
    out = []
    for dev, y in sorted(b.disks.items()):
        x = a.disks.get(dev)
        if x is None:
            continue
        d = [max(0, q - p) for p, q in zip(x, y, strict=False)]
        rd, rm, rsec, rticks, wr, wm, wsec, wticks = d[:8]
        io_ticks, weighted = d[9], d[10]
        fl, fticks = (d[15], d[16]) if len(d) > 16 else (0, 0)
        if rd + wr + fl == 0 and io_ticks == 0:
            continue   # -z
        ios = rd + wr
        out.append({"device": dev, "r/s": _r(rd / dt), "w/s": _r(wr / dt),
                    "rkB/s": _r(rsec / 2 / dt), "wkB/s": _r(wsec / 2 / dt),
                    "rrqm/s": _r(rm / dt), "wrqm/s": _r(wm / dt),
                    "r_await": _r(rticks / rd) if rd else 0.0, "w_await": _r(wticks / wr) if wr else 0.0,
                    "f/s": _r(fl / dt), "f_await": _r(fticks / fl) if fl else 0.0,
                    "await": _r((rticks + wticks) / ios) if ios else 0.0,
                    "aqu-sz": _r(weighted / dt / 1000), "%util": _r(min(100.0, io_ticks / dt / 10))})
    return out


def boot_await(s: Snapshot, dev: str) -> float | None:
    """The device's average await since boot (ms): the baseline a window's await is compared to."""
    x = s.disks.get(dev)
    if not x or x[0] + x[4] == 0:
        return None
    return (x[3] + x[7]) / (x[0] + x[4])


def net_dev(a: Snapshot, b: Snapshot) -> list[dict[str, Any]]:
    """`sar -n DEV` and `sar -n EDEV` over a..b, one row per interface."""
    dt = max(b.t - a.t, 1e-6)
    out = []
    for name, y in sorted(b.net.items()):
        x = a.net.get(name)
        if x is None:
            continue
        d = [max(0, q - p) for p, q in zip(x, y, strict=False)]
        speed = _speed(name)
        rxkb, txkb = d[0] / 1024 / dt, d[8] / 1024 / dt
        util = None
        if speed:   # sar's %ifutil: the busier direction against the link speed (full duplex)
            util = _r(max(rxkb, txkb) * 1024 * 8 / (speed * 1e6) * 100)
        out.append({"iface": name, "rxpck/s": _r(d[1] / dt), "txpck/s": _r(d[9] / dt),
                    "rxkB/s": _r(rxkb), "txkB/s": _r(txkb), "rxmcst/s": _r(d[7] / dt),
                    "%ifutil": util, "speed_mbps": speed,
                    "rxerr/s": _r(d[2] / dt), "txerr/s": _r(d[10] / dt), "coll/s": _r(d[13] / dt),
                    "rxdrop/s": _r(d[3] / dt), "txdrop/s": _r(d[11] / dt),
                    "rxfifo/s": _r(d[4] / dt), "txfifo/s": _r(d[12] / dt),
                    "errors": d[2] + d[10], "drops": d[3] + d[11] + d[4] + d[12]})
    return out


def _speed(iface: str) -> int | None:
    try:
        v = int(_read(f"/sys/class/net/{iface}/speed").strip() or "0")
    except ValueError:
        return None
    return v if v > 0 else None


def tcp(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """`sar -n TCP,ETCP` over a..b (per second) plus the interval's totals."""
    dt = max(b.t - a.t, 1e-6)

    def d(k: str) -> int:
        return max(0, b.snmp.get(k, 0) - a.snmp.get(k, 0))

    names = {"active/s": "ActiveOpens", "passive/s": "PassiveOpens", "iseg/s": "InSegs", "oseg/s": "OutSegs",
             "atmptf/s": "AttemptFails", "estres/s": "EstabResets", "retrans/s": "RetransSegs",
             "isegerr/s": "InErrs", "orsts/s": "OutRsts"}
    out: dict[str, Any] = {k: _r(d(v) / dt) for k, v in names.items()}
    out["totals"] = {v: d(v) for v in names.values()}
    out["CurrEstab"] = b.snmp.get("CurrEstab", 0)
    return out


def free(s: Snapshot) -> dict[str, int]:
    """`free -m` (procps-ng 4: used = total - available), in MiB."""
    m = s.mem
    total, avail = m.get("MemTotal", 0), m.get("MemAvailable", m.get("MemFree", 0))
    cache = m.get("Cached", 0) + m.get("SReclaimable", 0)
    out = {"total": total, "used": total - avail, "free": m.get("MemFree", 0), "shared": m.get("Shmem", 0),
           "buff/cache": m.get("Buffers", 0) + cache, "available": avail,
           "swap_total": m.get("SwapTotal", 0), "swap_used": m.get("SwapTotal", 0) - m.get("SwapFree", 0),
           "swap_free": m.get("SwapFree", 0)}
    return {k: v // 1024 for k, v in out.items()}


def vm_delta(a: Snapshot, b: Snapshot) -> dict[str, int]:
    return {k: max(0, b.vm.get(k, 0) - v) for k, v in a.vm.items()}


# ------------------------------------------------------------------ processes (pidstat)

def proc_times(pid_filter: set[int] | None = None) -> dict[int, tuple[str, int, int, int]]:
    """{pid: (comm, utime, stime, starttime)} in clock ticks for every process (or those given)."""
    out: dict[int, tuple[str, int, int, int]] = {}
    pids = pid_filter if pid_filter is not None else (int(p) for p in os.listdir("/proc") if p.isdigit())
    for pid in pids:
        text = _read(f"/proc/{pid}/stat")
        if not text:
            continue
        lp, rp = text.find("("), text.rfind(")")
        rest = text[rp + 2:].split()
        try:
            out[pid] = (text[lp + 1:rp], int(rest[11]), int(rest[12]), int(rest[19]))
        except (IndexError, ValueError):
            continue
    return out


def pidstat(a: dict[int, tuple[str, int, int, int]], b: dict[int, tuple[str, int, int, int]],
            dt: float, top: int = 10) -> list[dict[str, Any]]:
    """`pidstat` over the window: %usr %system %CPU of processes alive at both ends (as pidstat,
    which reports a process once it has two readings), busiest first."""
    rows: list[dict[str, Any]] = []
    for pid, (comm, u1, s1, st1) in b.items():
        x = a.get(pid)
        if x is None or x[3] != st1:
            continue
        du, ds = max(0, u1 - x[1]), max(0, s1 - x[2])
        if du + ds == 0:
            continue
        rows.append({"pid": pid, "command": comm, "%usr": _r(100 * du / HZ / dt), "%system": _r(100 * ds / HZ / dt),
                     "%CPU": _r(100 * (du + ds) / HZ / dt)})
    rows.sort(key=lambda r: -r["%CPU"])
    return rows[:top]


def psi(resource: str) -> dict[str, float]:
    """Pressure stall information (some/full avg10) for cpu, memory or io; {} when absent."""
    out: dict[str, float] = {}
    for line in _read(f"/proc/pressure/{resource}").splitlines():
        p = line.split()
        if p and p[0] in ("some", "full"):
            kv = dict(x.split("=") for x in p[1:])
            out[f"{p[0]}_avg10"] = float(kv.get("avg10", 0))
            out[f"{p[0]}_total_us"] = float(kv.get("total", 0))
    return out


def cgroup_memory_events(root: str = "/sys/fs/cgroup") -> dict[str, dict[str, int]]:
    """{cgroup path: counters} for every memory cgroup that has hit its limit or OOM-killed: a
    leak against a cgroup limit shows here, not in /proc/meminfo. cgroup v2's memory.events
    (max, oom, oom_kill) and v1's memory.failcnt (as max) and memory.oom_control (oom_kill)."""
    out: dict[str, dict[str, int]] = {}
    for dirpath, _dirs, files in os.walk(root):
        ev: dict[str, int] = {}
        if "memory.events" in files:
            for line in _read(os.path.join(dirpath, "memory.events")).splitlines():
                k, _, v = line.partition(" ")
                if v.strip().isdigit():
                    ev[k] = int(v)
        elif "memory.oom_control" in files:
            for line in _read(os.path.join(dirpath, "memory.oom_control")).splitlines():
                k, _, v = line.partition(" ")
                if k == "oom_kill" and v.strip().isdigit():
                    ev["oom_kill"] = int(v)
            fc = _read(os.path.join(dirpath, "memory.failcnt")).strip()
            ev["max"] = int(fc) if fc.isdigit() else 0
        else:
            continue
        if ev.get("max", 0) or ev.get("oom_kill", 0) or ev.get("oom", 0):
            out[dirpath[len(root):] or "/"] = ev
    return out
