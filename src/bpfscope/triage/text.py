"""The report for the terminal: the four sections as aligned plain text; flagged figures in
colour when the output is a terminal (through `rich` when installed — the `triage` extra —
else ANSI escapes), plain text otherwise."""

from __future__ import annotations

import sys
from typing import IO, Any

from .charts import text_hist

Seg = tuple[str, str]       # (text, style): style "" plain, "flag", "head", "dim"
Line = list[Seg]


def _p(text: str, style: str = "") -> Line:
    return [(text, style)]


def lines(rep: dict[str, Any]) -> list[Line]:
    m, g, cl = rep["meta"], rep["glance"], rep.get("checklist", {})
    out: list[Line] = []
    ov = rep["overhead"]
    scope = f"PID {m['pid']}" if m.get("pid") else "whole system"
    out.append(_p(f"bpfscope triage — {m['host']} {m['kernel']}, {m['cpus']} CPUs, {m['duration_s']:.1f} s window, "
                  f"{scope}", "head"))
    out.append(_p(f"overhead: {ov['window_cpu_s'] * 1000:.0f} ms CPU in the window = "
                  f"{ov['window_pct_of_one_cpu']:.2f}% of one CPU (setup {ov['setup_cpu_s']:.2f} s CPU, "
                  f"report {ov['report_cpu_s']:.2f} s)", "dim"))
    out.append([])
    # ------------------------------------------------------------------ 1
    out.append(_p("1. SYSTEM AT A GLANCE", "head"))
    ld = g["load"]
    out.append(_p(f"uptime   load {ld['end'][0]:.2f} {ld['end'][1]:.2f} {ld['end'][2]:.2f} ({ld['trend']}); "
                  f"per second: {' '.join(f'{x:.2f}' for x in ld['per_s'])}"))
    km = g["kmsg"]
    if m.get("kmsg_error"):
        out.append(_p(f"dmesg    unreadable: {m['kmsg_error']}", "dim"))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(km["counts"].items())) or "none"
        out.append(_p(f"dmesg    {km['total']} record(s) in the window: {counts}"))
        for r in km["errors"][:8]:
            out.append(_p(f"         [{r['kind']}] {r['text'][:110]}", "flag"))
    out.append(_p("vmstat 1", "dim"))
    cols = ["r", "b", "swpd", "free", "buff", "cache", "si", "so", "bi", "bo", "in", "cs", "us", "sy", "id", "wa",
            "st"]
    widths = [3, 3, 7, 8, 7, 8, 5, 5, 6, 6, 6, 6, 3, 3, 3, 3, 3]
    out.append(_p("  " + " ".join(f"{c:>{w}s}" for c, w in zip(cols, widths, strict=True))))
    for r in g["vmstat"]:
        out.append(_p("  " + " ".join(f"{r[c]:>{w}d}" for c, w in zip(cols, widths, strict=True))))
    out.append(_p("mpstat -P ALL (window)", "dim"))
    out.append(_p(f"  {'CPU':>4s} {'%usr':>6s} {'%nice':>6s} {'%sys':>6s} {'%iowait':>7s} {'%irq':>5s} {'%soft':>6s} "
                  f"{'%steal':>6s} {'%idle':>6s}"))
    for k, c in g["mpstat"].items():
        style = "flag" if c["util"] > 90 else ""
        out.append(_p(f"  {k:>4s} {c['usr']:6.2f} {c['nice']:6.2f} {c['sys']:6.2f} {c['iowait']:7.2f} {c['irq']:5.2f} "
                      f"{c['soft']:6.2f} {c['steal']:6.2f} {c['idle']:6.2f}", style))
    imb = g["cpu_imbalance"]
    out.append(_p(f"  imbalance: busiest {imb['max']:.0f}%, idlest {imb['min']:.0f}% (spread {imb['spread']:.0f})"))
    out.append(_p("pidstat (window, top by %CPU)", "dim"))
    out.append(_p(f"  {'PID':>7s} {'%usr':>7s} {'%system':>7s} {'%CPU':>7s}  Command"))
    for p in g["pidstat"][:8]:
        out.append(_p(f"  {p['pid']:>7d} {p['%usr']:7.2f} {p['%system']:7.2f} {p['%CPU']:7.2f}  {p['command']}"))
    if g.get("pidstat_io"):
        out.append(_p("pidstat -d (window, top by I/O)", "dim"))
        for p in g["pidstat_io"][:5]:
            out.append(_p(f"  {p['pid']:>7d} kB_rd/s {p['kB_rd/s']:9.1f} kB_wr/s {p['kB_wr/s']:9.1f}  {p['command']}"))
    out.append(_p("iostat -xz (window)", "dim"))
    out.append(_p(f"  {'Device':<10s} {'r/s':>8s} {'w/s':>8s} {'rkB/s':>9s} {'wkB/s':>9s} {'r_await':>7s} "
                  f"{'w_await':>7s} {'aqu-sz':>6s} {'%util':>6s}"))
    for d in g["iostat"]:
        style = "flag" if d["%util"] > 60 else ""
        out.append(_p(f"  {d['device']:<10s} {d['r/s']:8.1f} {d['w/s']:8.1f} {d['rkB/s']:9.1f} {d['wkB/s']:9.1f} "
                      f"{d['r_await']:7.2f} {d['w_await']:7.2f} {d['aqu-sz']:6.2f} {d['%util']:6.1f}", style))
    if not g["iostat"]:
        out.append(_p("  (no disk I/O)"))
    f = g["free"]
    out.append(_p("free -m", "dim"))
    out.append(_p(f"  Mem:  total {f['total']}  used {f['used']}  free {f['free']}  shared {f['shared']}  "
                  f"buff/cache {f['buff/cache']}  available {f['available']}"))
    out.append(_p(f"  Swap: total {f['swap_total']}  used {f['swap_used']}  free {f['swap_free']}"))
    out.append(_p("sar -n DEV (window)", "dim"))
    out.append(_p(f"  {'IFACE':<12s} {'rxpck/s':>9s} {'txpck/s':>9s} {'rxkB/s':>9s} {'txkB/s':>9s} {'%ifutil':>7s} "
                  f"{'err':>5s} {'drop':>5s}"))
    for n in g["net_dev"]:
        if n["rxpck/s"] + n["txpck/s"] == 0 and not n["errors"] + n["drops"]:
            continue
        u = f"{n['%ifutil']:.2f}" if n["%ifutil"] is not None else "-"
        out.append(_p(f"  {n['iface']:<12s} {n['rxpck/s']:9.1f} {n['txpck/s']:9.1f} {n['rxkB/s']:9.1f} "
                      f"{n['txkB/s']:9.1f} {u:>7s} {n['errors']:5d} {n['drops']:5d}",
                      "flag" if n["errors"] + n["drops"] else ""))
    t = g["tcp"]
    out.append(_p("sar -n TCP,ETCP (window, per second)", "dim"))
    out.append(_p(f"  active/s {t['active/s']:.1f}  passive/s {t['passive/s']:.1f}  iseg/s {t['iseg/s']:.0f}  "
                  f"oseg/s {t['oseg/s']:.0f}  atmptf/s {t['atmptf/s']:.1f}  estres/s {t['estres/s']:.1f}  "
                  f"retrans/s {t['retrans/s']:.2f}  isegerr/s {t['isegerr/s']:.1f}  orsts/s {t['orsts/s']:.1f}",
                  "flag" if t["totals"]["RetransSegs"] else ""))
    if g.get("focus"):
        fo = g["focus"]
        out.append(_p(f"process {fo['pid']}: " + ("gone" if fo.get("gone") else
                      f"{fo['name']} [{fo['state']}] threads {fo['threads']} rss {fo['rss_kB']} kB fds {fo['fds']} "
                      f"ctxt vol {fo['vol_ctxt']} invol {fo['invol_ctxt']}: {fo.get('cmdline', '')[:80]}")))
    out.append([])
    # ------------------------------------------------------------------ 2
    out.extend(_checklist(rep, cl))
    out.append([])
    # ------------------------------------------------------------------ 3
    out.append(_p("3. USE METHOD", "head"))
    out.append(_p(f"  {'resource':<14s} {'utilization':<44s} {'saturation':<48s} errors"))
    for r in rep["use"]:
        ln: Line = [(f"  {r['resource']:<14s} ", "")]
        for k, w in (("utilization", 44), ("saturation", 48), ("errors", 0)):
            c = r[k]
            txt = ("! " if c["flag"] else "") + c["text"]
            ln.append((f"{txt:<{w}s} " if w else txt, "flag" if c["flag"] else ""))
        out.append(ln)
    out.append(_p("  (! = crosses its threshold; sources and rules in the JSON/HTML report)", "dim"))
    out.append([])
    # ------------------------------------------------------------------ 4
    out.append(_p("4. WHERE TO LOOK NEXT", "head"))
    if not rep["next"]:
        out.append(_p("  nothing crossed a threshold in this window"))
    for fnd in rep["next"]:
        out.append(_p(f"  {fnd['resource']} {fnd['what']}: {fnd['figure']}  [{fnd['rule']}]", "flag"))
        for cmd in fnd["next"]:
            out.append(_p(f"      $ {cmd}"))
    return out


def _checklist(rep: dict[str, Any], cl: dict[str, Any]) -> list[Line]:
    out: list[Line] = [_p("2. BCC CHECKLIST (one session, same window)", "head")]
    for t in cl.get("tools", []):
        if t["status"] != "ok":
            sub = f"; substitute: {t['substitute']}" if t.get("substitute") else ""
            out.append(_p(f"  {t['tool']}: {t['status']} — {t['reason']}{sub}", "dim"))
        elif t.get("lost") or t.get("dropped"):
            out.append(_p(f"  {t['tool']}: {t['lost']} events lost, {t['dropped']} records over the cap", "dim"))
    ex = cl.get("execsnoop")
    if ex:
        by = ", ".join(f"{c} {n}" for c, n in ex["by_comm"][:6]) or "-"
        sl = ex["short_lived"]
        out.append(_p(f"execsnoop   {ex['count']} new processes ({ex['per_s']}/s, {ex['failed']} failed): {by}"))
        ages = (f", median age {sl['median_age_s']:.3f} s: " + ", ".join(f"{c} {n}" for c, n in sl["by_comm"][:5])
                if sl["count"] else "")
        out.append(_p(f"            short-lived (exited in the window): {sl['count']}{ages}"))
        for r in ex["recent"][-5:]:
            out.append(_p(f"            {r['pid']:>7d} {r['ppid'] or '?':>7} {r['comm']:<16s} {r['args'][:70]}", "dim"))
    op = cl.get("opensnoop")
    if op:
        out.append(_p(f"opensnoop   {op['count']} opens ({op['per_s']}/s), {op['failed']} failed; most opened:"))
        for (comm, path), n in op["top_files"][:5]:
            out.append(_p(f"            {n:>6d} {comm:<16s} {path[:80]}"))
        for (comm, path, err), n in op["top_failed"][:5]:
            out.append(_p(f"            {n:>6d} {comm:<16s} {path[:70]} ({err})", "dim"))
    es = cl.get("ext4slower")
    if es:
        out.append(_p(f"ext4slower  {es['count']} ext4 operations slower than {es['threshold_ms']} ms"))
        for r in es["slowest"][:5]:
            out.append(_p(f"            {r['lat_us'] / 1000:8.2f} ms {r['type']} {r['comm']:<16s} {r['file']}"))
    bl = cl.get("biolatency")
    if bl:
        out.append(_p(f"biolatency  {bl['count']} I/Os, p50 ≤ {bl['p50']} µs, p99 ≤ {bl['p99']} µs"))
        if bl["count"]:
            out.extend(_p(x) for x in text_hist(bl))
    bs = cl.get("biosnoop")
    if bs:
        who = ", ".join(f"{c} {n}" for c, n in bs["by_comm"][:5])
        out.append(_p(f"biosnoop    {bs['count']} I/Os; by process: {who}"))
        for r in bs["slowest"][:5]:
            out.append(_p(f"            {r['lat_ms']:8.2f} ms {r['type']} {r['disk']:<8s} {r['bytes']:>8d} B "
                          f"{r['comm']} ({r['pid']})"))
    cs = cl.get("cachestat")
    if cs:
        out.append(_p(f"cachestat*  page-cache misses {cs['misses']} ({cs['misses_per_s']}/s), "
                      f"evicted {cs['evicted']}; "
                      f"hit ratio n/a: {cs['note']}"))
    for name, key, label in (("tcpconnect", "by_dest", "outbound"), ("tcpaccept", "by_port", "inbound")):
        c = cl.get(name)
        if c:
            out.append(_p(f"{name:<11s} {c['count']} {label}: " + ", ".join(f"{k} {n}" for k, n in c[key][:5])
                          + "; by process: " + ", ".join(f"{k} {n}" for k, n in c["by_comm"][:3])))
    rt = cl.get("tcpretrans")
    if rt:
        flows = ": " + ", ".join(f"{k} ({n})" for k, n in rt["by_flow"][:4]) if rt["count"] else ""
        out.append(_p(f"tcpretrans  {rt['count']} retransmits{flows}", "flag" if rt["count"] else ""))
    rq = cl.get("runqlat")
    if rq:
        out.append(_p(f"runqlat     {rq['count']} wakeups, p50 ≤ {rq['p50']} µs, p99 ≤ {rq['p99']} µs"))
        if rq["count"]:
            out.extend(_p(x) for x in text_hist(rq))
    pr = rep.get("profile")
    if pr:
        out.append(_p(f"profile     {pr['samples']} samples at {pr['hz']} Hz; hottest functions (self):"))
        for fn, n, pct in pr["leaf"][:6]:
            out.append(_p(f"            {pct:5.1f}% {n:>6d}  {fn}"))
        out.append(_p("            by process: " + ", ".join(f"{c} {p}%" for c, _n, p in pr["comm"][:5])))
    return out


ANSI = {"flag": "\x1b[1;31m", "head": "\x1b[1m", "dim": "\x1b[2m"}
RICH = {"flag": "bold red", "head": "bold", "dim": "dim"}


def render(rep: dict[str, Any], out: IO[str] | None = None, colour: bool | None = None) -> None:
    out = out or sys.stdout
    if colour is None:
        colour = out.isatty()
    ls = lines(rep)
    if not colour:
        out.write("".join("".join(t for t, _s in ln).rstrip() + "\n" for ln in ls))
        return
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:
        out.write("".join("".join(f"{ANSI[s]}{t}\x1b[0m" if s else t for t, s in ln).rstrip() + "\n" for ln in ls))
        return
    con = Console(file=out, highlight=False, soft_wrap=True)
    for ln in ls:
        tx = Text()
        for t, s in ln:
            tx.append(t, style=RICH.get(s, ""))
        con.print(tx)
