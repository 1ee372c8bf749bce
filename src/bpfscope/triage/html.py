"""The report as one self-contained HTML file: the four sections, histograms as inline SVG,
the interactive flame graph, and every raw figure (per-second tables and the full JSON).

The flame graph keeps its own script (zoom, search) and looks its elements up by document-wide
ids, so it is embedded as its own document (an iframe of a data: URL) rather than mixed into
this page's DOM; it is still inside the one file.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from .charts import hist_svg
from .use import RUNQ_P99_US

CSS = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{border-bottom:2px solid #ccc;margin-top:1.6em}h3{font-size:1.05em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:13px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}
.flag{background:#fde2e1;color:#a40000;font-weight:bold}.ok{color:#2a6b2a}.dim{color:#777}
.src{display:block;font-size:11px;color:#777;font-weight:normal}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f7f7f7;padding:.5em;overflow:auto;max-height:30em}
iframe.flame{width:100%;height:560px;border:1px solid #ccc}
.hists svg{margin-right:2em;vertical-align:top}
"""


def _t(rows: list[dict[str, Any]], cols: list[str], left: tuple[str, ...] = (), flag: Any = None) -> str:
    if not rows:
        return '<p class="dim">(none)</p>'
    h = "".join(f'<th class="{"l" if c in left else ""}">{escape(c)}</th>' for c in cols)
    body = []
    for r in rows:
        cls = ' class="flag"' if flag is not None and flag(r) else ""
        tds = "".join(f'<td class="{"l" if c in left else ""}">{escape(_fmt(r.get(c)))}</td>' for c in cols)
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><tr>{h}</tr>{''.join(body)}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, list | tuple):
        return " ".join(map(str, v))
    return str(v)


def _pairs(items: list[list[Any]], a: str, b: str) -> str:
    return _t([{a: "  ".join(map(str, k)) if isinstance(k, list | tuple) else k, b: n} for k, n in items], [a, b],
              left=(a,))


def render(rep: dict[str, Any]) -> str:
    from .jsonout import dumps

    m, g, cl = rep["meta"], rep["glance"], rep.get("checklist", {})
    ov = rep["overhead"]
    scope = f"PID {m['pid']}" if m.get("pid") else "whole system"
    o: list[str] = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>bpfscope triage: {escape(m['host'])}"
                    f"</title><style>{CSS}</style></head><body>",
                    f"<h1>bpfscope triage — {escape(m['host'])}</h1>",
                    f"<p>kernel {escape(m['kernel'])}, {m['cpus']} CPUs, window {m['duration_s']:.1f} s, {scope}. "
                    f"<span id='overhead'>Overhead: {ov['window_cpu_s'] * 1000:.0f} ms CPU in the window = "
                    f"{ov['window_pct_of_one_cpu']:.2f}% of one CPU</span> (setup {ov['setup_cpu_s']:.2f} s, "
                    f"report {ov['report_cpu_s']:.2f} s).</p>",
                    "<p><a href='#glance'>1. System at a glance</a> · <a href='#checklist'>2. BCC checklist</a> · "
                    "<a href='#use'>3. USE method</a> · <a href='#next'>4. Where to look next</a> · "
                    "<a href='#raw'>raw data</a></p>"]
    # ---------------------------------------------------------------- 3 and 4 first in reading order? no: book order
    o.append("<section id='glance'><h2>1. System at a glance</h2>")
    ld = g["load"]
    o.append(f"<h3>uptime</h3><p>load averages {ld['end'][0]:.2f} {ld['end'][1]:.2f} {ld['end'][2]:.2f} "
             f"(trend: {ld['trend']}); per second: {' '.join(f'{x:.2f}' for x in ld['per_s'])}</p>")
    km = g["kmsg"]
    o.append(f"<h3>dmesg (window)</h3><p>{km['total']} record(s); "
             + escape(", ".join(f"{k}: {v}" for k, v in sorted(km["counts"].items())) or "no records") + "</p>")
    o.append(_t(km["errors"][:50], ["kind", "t_s", "text"], left=("kind", "text"), flag=lambda r: True))
    if km["tail"]:
        o.append("<pre>" + escape("\n".join(r["text"] for r in km["tail"])) + "</pre>")
    vcols = "r b swpd free buff cache si so bi bo in cs us sy id wa st".split()
    o.append("<h3>vmstat 1</h3>" + _t(g["vmstat"], vcols))
    mp = [dict(cpu=k, **v) for k, v in g["mpstat"].items()]
    o.append("<h3>mpstat -P ALL (window)</h3>" + _t(mp, ["cpu", "usr", "nice", "sys", "iowait", "irq", "soft", "steal",
                                                         "idle", "util"], flag=lambda r: r["util"] > 90))
    imb = g["cpu_imbalance"]
    o.append(f"<p>imbalance: busiest CPU {imb['max']:.0f}%, idlest {imb['min']:.0f}%</p>")
    o.append("<h3>pidstat (window)</h3>" + _t(g["pidstat"], ["pid", "command", "%usr", "%system", "%CPU"],
                                              left=("command",)))
    o.append("<h3>pidstat -d (window)</h3>" + _t(g.get("pidstat_io") or [], ["pid", "command", "kB_rd/s", "kB_wr/s"],
                                                 left=("command",)))
    o.append("<h3>iostat -xz (window)</h3>" + _t(g["iostat"], ["device", "r/s", "w/s", "rkB/s", "wkB/s", "r_await",
                                                               "w_await", "f/s", "aqu-sz", "%util"], left=("device",),
                                                 flag=lambda r: r["%util"] > 60))
    o.append("<h3>free -m</h3>" + _t([g["free"]], list(g["free"])))
    act = [n for n in g["net_dev"] if n["rxpck/s"] + n["txpck/s"] or n["errors"] + n["drops"]]
    o.append("<h3>sar -n DEV, EDEV (window)</h3>" + _t(act, ["iface", "rxpck/s", "txpck/s", "rxkB/s", "txkB/s",
                                                            "%ifutil", "rxerr/s", "txerr/s", "rxdrop/s", "txdrop/s"],
                                                       left=("iface",), flag=lambda r: r["errors"] + r["drops"] > 0))
    t = {k: v for k, v in g["tcp"].items() if k != "totals"}
    o.append("<h3>sar -n TCP,ETCP (window)</h3>" + _t([t], list(t), flag=lambda r: r["retrans/s"] > 0))
    if g.get("focus"):
        o.append("<h3>process</h3>" + _t([g["focus"]], list(g["focus"]), left=("cmdline", "name")))
    o.append("</section>")
    o.append(_checklist(rep, cl))
    o.append("<section id='use'><h2>3. USE method</h2><table><tr><th class='l'>resource</th><th class='l'>utilization"
             "</th><th class='l'>saturation</th><th class='l'>errors</th></tr>")
    for r in rep["use"]:
        o.append(f"<tr><td class='l'>{escape(r['resource'])}</td>")
        for k in ("utilization", "saturation", "errors"):
            c = r[k]
            rule = f" — {escape(c['rule'])}" if c["flag"] else ""
            o.append(f"<td class='l{' flag' if c['flag'] else ''}'>{'⚑ ' if c['flag'] else ''}{escape(c['text'])}"
                     f"<span class='src'>{escape(c['source'])}{rule}</span></td>")
        o.append("</tr>")
    o.append("</table></section>")
    o.append("<section id='next'><h2>4. Where to look next</h2>")
    if not rep["next"]:
        o.append("<p class='ok'>Nothing crossed a threshold in this window.</p>")
    for f in rep["next"]:
        o.append(f"<h3 class='flag'>{escape(f['resource'])} {escape(f['what'])}: {escape(f['figure'])}</h3>"
                 f"<p class='dim'>{escape(f['rule'])} (from {escape(f['source'])})</p><pre>"
                 + escape("\n".join("$ " + c for c in f["next"])) + "</pre>")
    o.append("</section>")
    o.append("<section id='raw'><h2>Raw data</h2><details><summary>per-second mpstat, iostat; every figure "
             "(JSON)</summary><pre id='rawjson'>" + escape(dumps({k: v for k, v in rep.items() if k != "profile"}))
             + "</pre></details></section></body></html>\n")
    return "".join(o)


def _checklist(rep: dict[str, Any], cl: dict[str, Any]) -> str:
    o = ["<section id='checklist'><h2>2. BCC checklist</h2><p>All tools in one bpfscope session over the same window."
         "</p>"]
    o.append(_t(cl.get("tools", []), ["tool", "args", "status", "events", "lost", "reason", "substitute"],
                left=("tool", "args", "status", "reason", "substitute"), flag=lambda r: r["status"] != "ok"))
    ex = cl.get("execsnoop")
    if ex:
        o.append(f"<h3>execsnoop: {ex['count']} new processes ({ex['per_s']}/s), {ex['short_lived']['count']} "
                 "short-lived</h3>" + _pairs(ex["by_comm"], "command", "execs")
                 + _t(ex["recent"], ["pid", "ppid", "comm", "ret", "args"], left=("comm", "args")))
    op = cl.get("opensnoop")
    if op:
        o.append(f"<h3>opensnoop: {op['count']} opens, {op['failed']} failed</h3>"
                 + _pairs(op["top_files"], "process / file", "opens")
                 + _pairs(op["top_failed"], "process / file / error", "failures"))
    es = cl.get("ext4slower")
    if es:
        o.append(f"<h3>ext4slower: {es['count']} operations &gt; {es['threshold_ms']} ms</h3>"
                 + _t(es["slowest"], ["comm", "pid", "type", "bytes", "lat_us", "file"], left=("comm", "file")))
    o.append("<div class='hists'>")
    for name, title in (("biolatency", "block I/O latency"), ("runqlat", "run-queue latency")):
        h = cl.get(name)
        if h:
            o.append(f"<span id='hist-{name}'>" + hist_svg(h, f"{name}: {title} ({h['count']})",
                                                           mark=RUNQ_P99_US if name == "runqlat" else None)
                     + "</span>")
    o.append("</div>")
    bs = cl.get("biosnoop")
    if bs:
        o.append(f"<h3>biosnoop: {bs['count']} I/Os, slowest</h3>"
                 + _t(bs["slowest"], ["comm", "pid", "disk", "type", "bytes", "lat_ms"], left=("comm", "disk"))
                 + _pairs(bs["by_comm"], "process", "I/Os"))
    cs = cl.get("cachestat")
    if cs:
        o.append(f"<h3>cachestat (substitute)</h3><p>page-cache misses {cs['misses']} ({cs['misses_per_s']}/s), "
                 f"evicted {cs['evicted']}; hit ratio n/a: {escape(cs['note'])}</p>")
    for name, key, label in (("tcpconnect", "by_dest", "destination"), ("tcpaccept", "by_port", "local port")):
        c = cl.get(name)
        if c:
            o.append(f"<h3>{name}: {c['count']}</h3>" + _pairs(c[key], label, "connections"))
    rt = cl.get("tcpretrans")
    if rt:
        o.append(f"<h3>tcpretrans: {rt['count']} retransmits</h3>" + _pairs(rt["by_flow"], "flow", "retransmits"))
    pr = rep.get("profile")
    if pr:
        o.append(f"<h3>profile: {pr['samples']} samples, CPU flame graph</h3>"
                 + _t([{"function": f, "samples": n, "%": p} for f, n, p in pr["leaf"]], ["function", "samples", "%"],
                      left=("function",)))
        data = base64.b64encode(pr["svg"].encode()).decode()
        o.append(f"<iframe class='flame' id='flamegraph' title='CPU flame graph' "
                 f"src='data:image/svg+xml;base64,{data}'></iframe>")
    o.append("</section>")
    return "".join(o)


def write_html(rep: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        f.write(render(rep))
