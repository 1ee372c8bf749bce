"""The USE method over the window's figures: utilization, saturation and errors of each
resource, every cell carrying the figure it came from and a flag where it crosses a stated
threshold, and for each flag the command to run next (arguments filled in).

Thresholds (the book's rules of thumb, ch. 2 and the USE method page):
  CPU utilization > 90% (all CPUs, or one CPU while another idles: imbalance);
  run queue: vmstat r above the CPU count, runqlat p99 > 10 ms;
  memory: used > 90%, any swap-in/out, direct reclaim, cgroup limit hits, any OOM kill;
  disk: %util > 60%, await above the device's since-boot average while aqu-sz > 1,
  any I/O error in the kernel log;
  network interface: %ifutil > 70%, any drop, any error;
  TCP: any retransmit (kernel counters or the tcpretrans tracepoint, which sees every
  network namespace), any established connection reset.
"""

from __future__ import annotations

from typing import Any

CPU_UTIL = 90.0
RUNQ_P99_US = 10_000
MEM_USED = 90.0
DISK_UTIL = 60.0
DISK_AQU = 1.0
NET_UTIL = 70.0
KERNEL_WRITERS = ("kworker", "jbd2", "kswapd", "flush-", "xfsaild", "btrfs-", "loop")


def cell(text: str, source: str, value: Any = None, flag: bool = False, rule: str = "") -> dict[str, Any]:
    return {"text": text, "value": value, "source": source, "flag": flag, "rule": rule if flag else ""}


def na(why: str = "n/a") -> dict[str, Any]:
    return cell(why, "", None)


def table(d: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(USE rows, findings with drill-down commands) from window.run()'s data."""
    g, cl = d["glance"], d.get("checklist", {})
    ncpu = d["meta"]["cpus"]
    rows: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    top_pid = _top_pid(d)

    def flag(resource: str, what: str, c: dict[str, Any], drill: list[str]) -> None:
        if c["flag"]:
            found.append({"resource": resource, "what": what, "figure": c["text"], "rule": c["rule"],
                          "source": c["source"], "next": drill})

    # ---------------------------------------------------------------- CPU
    allc = g["mpstat"].get("all", {})
    util = allc.get("util", 0.0)
    imb = g["cpu_imbalance"]
    cu = cell(f"{util:.1f}% busy (per CPU {imb['min']:.0f}–{imb['max']:.0f}%)", "mpstat -P ALL: 100-%idle-%iowait",
              util, util > CPU_UTIL or (imb["max"] > CPU_UTIL and imb["min"] < 100 - CPU_UTIL),
              f"utilization > {CPU_UTIL:.0f}% (or one CPU > {CPU_UTIL:.0f}% while another < "
              f"{100 - CPU_UTIL:.0f}%)")
    rq = [r["r"] for r in g["vmstat"]]
    r_avg = sum(rq) / len(rq) if rq else 0.0
    psi_cpu = g["psi_window"].get("cpu", {}).get("some_pct")
    psi_txt = f"; PSI some {psi_cpu:.0f}%" if psi_cpu is not None else ""
    cs = cell(f"vmstat r avg {r_avg:.1f} on {ncpu} CPUs{psi_txt}",
              "vmstat r (procs_running), /proc/pressure/cpu", round(r_avg, 2), r_avg > ncpu,
              f"runnable threads > CPU count ({ncpu})")
    kc = g["kmsg"]["counts"]
    cpu_err = kc.get("mce", 0) + kc.get("hung_task", 0) + kc.get("segfault", 0)
    ce = cell(f"{kc.get('mce', 0)} MCE, {kc.get('hung_task', 0)} hung/lockup, {kc.get('segfault', 0)} segfault",
              "kernel log (/dev/kmsg)", cpu_err, cpu_err > 0, "machine checks, hung tasks or faults logged")
    rows.append({"resource": "CPU", "utilization": cu, "saturation": cs, "errors": ce})
    hot = (d.get("profile", {}).get("comm") or [[None]])[0][0]
    prof_cmd = f"bpfscope profile -F 99 -p {top_pid} 10" if top_pid else "bpfscope profile -F 99 10"
    fold_cmd = f"bpfscope profile -F 99 -f 10 | grep '^{hot};'" if hot else "bpfscope profile -F 99 -f 10"
    flag("CPU", "utilization", cu, [prof_cmd, fold_cmd])
    flag("CPU", "saturation", cs, ["bpfscope runqlat -P 5 1", "bpfscope runqlen 1 5", "bpfscope cpudist 5 1"])
    flag("CPU", "errors", ce, ["dmesg -T | tail -50", "bpfscope exitsnoop -x"])

    # ---------------------------------------------------------------- run queue
    rl = cl.get("runqlat")
    ru = cell(f"{r_avg / ncpu:.2f} runnable per CPU", "vmstat r / CPUs", round(r_avg / ncpu, 3))
    if rl and rl.get("count"):
        p99 = rl["p99"]
        rs = cell(f"runqlat p99 ≤ {_us(p99)}, p50 ≤ {_us(rl['p50'])} ({rl['count']} wakeups)",
                  "runqlat histogram (log2 buckets, upper bounds)", p99, p99 is not None and p99 > RUNQ_P99_US,
                  "run-queue latency p99 > 10 ms (p99 bucket reaches past 10 ms)")
    else:
        rs = na("runqlat: " + _status(cl, "runqlat"))
    rows.append({"resource": "run queue", "utilization": ru, "saturation": rs, "errors": na()})
    flag("run queue", "saturation", rs, ["bpfscope runqslower 10000", "bpfscope runqlat -P 5 1",
                                         f"bpfscope offcputime -p {top_pid} 5" if top_pid else "bpfscope runqlen 1 5"])

    # ---------------------------------------------------------------- memory
    fr = g["free"]
    used = 100 * fr["used"] / fr["total"] if fr["total"] else 0.0
    mu = cell(f"{used:.0f}% used ({fr['used']} of {fr['total']} MiB, {fr['available']} available)",
              "free -m (total - available)", round(used, 1), used > MEM_USED, f"used > {MEM_USED:.0f}%")
    si = sum(r["si"] for r in g["vmstat"])
    so = sum(r["so"] for r in g["vmstat"])
    vd = g["vm_delta"]
    stall = vd.get("allocstall_normal", 0) + vd.get("allocstall_movable", 0)
    cgmax = sum(c.get("max", 0) for c in g["cgroup_memory"])
    ms = cell(f"si {si} so {so} kB; direct reclaim {stall}; cgroup limit hits {cgmax}",
              "vmstat si/so, /proc/vmstat allocstall, memory.events max", si + so + stall + cgmax,
              si > 0 or so > 0 or stall > 0 or cgmax > 0,
              "swap-ins/outs > 0, direct reclaim, or a memory cgroup at its limit")
    ooms = max(g["kmsg"].get("oom_kills", 0), vd.get("oom_kill", 0),
               sum(c.get("oom_kill", 0) for c in g["cgroup_memory"]))
    me = cell(f"{ooms} OOM kill(s)" + (f" in {', '.join(c['cgroup'] for c in g['cgroup_memory'][:3])}"
                                        if g["cgroup_memory"] else ""),
              "/proc/vmstat oom_kill, memory.events oom_kill, kernel log", ooms, ooms > 0, "any OOM kill")
    rows.append({"resource": "memory", "utilization": mu, "saturation": ms, "errors": me})
    grower = top_pid
    flag("memory", "utilization", mu, [f"bpfscope memleak -p {grower} 5" if grower else "bpfscope memleak 5",
                                       "ps -eo pid,rss,comm --sort=-rss | head"])
    flag("memory", "saturation", ms, ["bpfscope -e 'tracepoint:vmscan:mm_vmscan_direct_reclaim_begin "
                                      "{ @[comm] = count(); }'",
                                      "bpfscope -e 'tracepoint:cgroup:* { @[probe] = count(); }'"
                                      if cgmax else "vmstat 1 5"])
    flag("memory", "errors", me, ["bpfscope oomkill", "dmesg -T | grep -i -A5 'out of memory'"])

    # ---------------------------------------------------------------- disks
    bad = _io_error_devs(g)
    # the writer to name: the busiest process that is not the kernel's writeback on its behalf
    writers = [w for w in g.get("pidstat_io") or [] if not w["command"].startswith(KERNEL_WRITERS)]
    wname = writers[0]["command"] if writers else None
    for row in g["iostat"]:
        dev = row["device"]
        base = g["disk_baseline_await"].get(dev)
        du = cell(f"{row['%util']:.0f}% util, r/s {row['r/s']:.0f} w/s {row['w/s']:.0f}", "iostat -xz: %util",
                  row["%util"], row["%util"] > DISK_UTIL, f"%util > {DISK_UTIL:.0f}%")
        hot_await = base is not None and row["await"] > base and row["aqu-sz"] > DISK_AQU
        ds = cell(f"aqu-sz {row['aqu-sz']:.2f}, await {row['await']:.1f} ms (since boot "
                  f"{base:.1f} ms)" if base is not None else f"aqu-sz {row['aqu-sz']:.2f}, await {row['await']:.1f} ms",
                  "iostat -xz: aqu-sz, await; /proc/diskstats since boot", row["aqu-sz"], hot_await,
                  "await above the device's since-boot average with aqu-sz > 1")
        ne = bad.get(dev, 0)
        de = cell(f"{ne} I/O error(s) logged", "kernel log (/dev/kmsg)", ne, ne > 0, "any I/O error")
        rows.append({"resource": f"disk {dev}", "utilization": du, "saturation": ds, "errors": de})
        who = f" (top writer: {wname})" if wname else ""
        flag(f"disk {dev}", "utilization" + who, du, [f"bpfscope biosnoop -d {dev}", "bpfscope biolatency -D 1 5",
                                                     "bpfscope ext4slower 1"])
        flag(f"disk {dev}", "saturation" + who, ds, ["bpfscope biolatency -D -Q 1 5",
                                                    f"bpfscope biosnoop -Q -d {dev}",
                                                    "bpfscope -e 'tracepoint:block:block_rq_issue "
                                                    f"/comm == \"{wname}\"/ {{ @[args.rwbs] = count(); }}'"
                                                    if wname else f"bpfscope biosnoop -d {dev}"])
        errs_cmd = "bpfscope -e 'tracepoint:block:block_rq_error { @[args.error] = count(); }'"
        flag(f"disk {dev}", "errors", de, [f"dmesg -T | grep -i {dev}", errs_cmd])

    # ---------------------------------------------------------------- network interfaces
    for n in g["net_dev"]:
        name = n["iface"]
        if n["rxpck/s"] + n["txpck/s"] == 0 and n["errors"] + n["drops"] == 0:
            continue
        if n["%ifutil"] is not None:
            nu = cell(f"{n['%ifutil']:.1f}% of {n['speed_mbps']} Mb/s (rx {n['rxkB/s']:.0f} tx {n['txkB/s']:.0f} kB/s)",
                      "sar -n DEV: %ifutil", n["%ifutil"], n["%ifutil"] > NET_UTIL, f"%ifutil > {NET_UTIL:.0f}%")
        else:
            nu = cell(f"rx {n['rxkB/s']:.0f} tx {n['txkB/s']:.0f} kB/s (speed unknown)", "sar -n DEV", n["rxkB/s"]
                      + n["txkB/s"])
        ns = cell(f"{n['drops']} drops/overruns", "sar -n EDEV: rxdrop txdrop rxfifo txfifo", n["drops"],
                  n["drops"] > 0, "any drop")
        ne2 = cell(f"{n['errors']} errors", "sar -n EDEV: rxerr txerr", n["errors"], n["errors"] > 0, "any error")
        rows.append({"resource": f"net {name}", "utilization": nu, "saturation": ns, "errors": ne2})
        flag(f"net {name}", "utilization", nu, ["bpfscope tcplife", "bpfscope -e 'tracepoint:net:net_dev_xmit "
                                               f"/str(args.name) == \"{name}\"/ {{ @[comm] = sum(args.len); }}'"])
        flag(f"net {name}", "saturation", ns, ["bpfscope -e 'tracepoint:skb:kfree_skb { @[args.reason] = count(); }'"])
        flag(f"net {name}", "errors", ne2, [f"ip -s link show {name}"])

    # ---------------------------------------------------------------- TCP
    t = g["tcp"]
    tot = t["totals"]
    rt_bpf = cl.get("tcpretrans", {}).get("count", 0)
    tu = cell(f"active {t['active/s']:.1f}/s passive {t['passive/s']:.1f}/s, {t['CurrEstab']} established",
              "sar -n TCP", t["active/s"] + t["passive/s"])
    retrans = max(tot["RetransSegs"], rt_bpf)
    ts = cell(f"{tot['RetransSegs']} retransmits (counters), {rt_bpf} seen by tcpretrans (all namespaces)",
              "sar -n ETCP retrans/s; tcpretrans", retrans, retrans > 0, "any retransmit")
    te = cell(f"{tot['EstabResets']} resets, {tot['AttemptFails']} failed attempts, {tot['InErrs']} bad segments",
              "sar -n ETCP estres/s atmptf/s isegerr/s", tot["EstabResets"] + tot["InErrs"],
              tot["EstabResets"] + tot["InErrs"] > 0, "established connections reset or segments in error")
    rows.append({"resource": "TCP", "utilization": tu, "saturation": ts, "errors": te})
    flows = cl.get("tcpretrans", {}).get("by_flow") or []
    flag("TCP", "saturation", ts, ["bpfscope tcpretrans -c", "bpfscope tcplife"]
         + ([f"bpfscope tcpstates -D {flows[0][0].split(' > ')[1].rsplit(':', 1)[1]}"] if flows else []))
    flag("TCP", "errors", te, ["bpfscope tcpstates", "bpfscope tcplife"])

    # ---------------------------------------------------------------- beyond USE: churn
    ex = cl.get("execsnoop")
    if ex and ex["per_s"] >= 10:
        name = ex["by_comm"][0][0] if ex["by_comm"] else ""
        found.append({"resource": "processes", "what": "short-lived process churn",
                      "figure": f"{ex['count']} execs ({ex['per_s']:.0f}/s), top {name}; "
                                f"{ex['short_lived']['count']} exited within the window",
                      "rule": "≥ 10 exec()s per second", "source": "execsnoop, exitsnoop",
                      "next": [f"bpfscope execsnoop -T -n {name}" if name else "bpfscope execsnoop -T",
                               "bpfscope exitsnoop", "bpfscope -e 'tracepoint:sched:sched_process_fork "
                               "{ @[comm] = count(); }'"]})
    return rows, found


def _us(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.1f} ms" if v >= 1000 else f"{v:.0f} µs"


def _status(cl: dict[str, Any], name: str) -> str:
    for t in cl.get("tools", []):
        if t["tool"] == name:
            return t["reason"] or ("no samples" if t["status"] == "ok" else t["status"])
    return "not run"


def _top_pid(d: dict[str, Any]) -> int | None:
    if d["meta"].get("pid"):
        return int(d["meta"]["pid"])
    ps = d["glance"].get("pidstat") or []
    return int(ps[0]["pid"]) if ps else None


def _io_error_devs(g: dict[str, Any]) -> dict[str, int]:
    from .kmsg import devices_named

    out: dict[str, int] = {}
    errs = g["kmsg"]["errors"]
    for dev in devices_named(errs):
        out[dev] = sum(1 for r in errs if r["kind"] == "io_error" and dev in r["text"])
    return out
