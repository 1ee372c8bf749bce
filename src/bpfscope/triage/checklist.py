"""The BCC checklist (book ch. 3): which tools, with which options, and what each contributes
to the report once the window has ended (records and maps summarised into figures).

Tools this kernel cannot run stay in the list with the tool's own reason and the
substitute used in their place (e.g. cachestat: kprobes only; a filemap tracepoint counts
page-cache misses instead).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .session import Entry, Session

CACHESTAT_SUBSTITUTE = ("tracepoint:filemap:mm_filemap_add_to_page_cache { @misses = count(); }\n"
                        "tracepoint:filemap:mm_filemap_delete_from_page_cache { @evicted = count(); }\n")


def opensnoop_counts(pid: int | None) -> str:
    """opensnoop's probes with the per-open event replaced by in-kernel counts per (comm, path)
    and (comm, path, errno): a busy machine opens tens of thousands of files a second, and
    one event each would cost this process more CPU than the whole rest of the window."""
    from ..tools.needs import have_tracepoint

    calls = [c for c in ("open", "openat", "openat2") if have_tracepoint(f"syscalls:sys_enter_{c}")]
    p = f"/pid == {pid}/ " if pid else ""
    enter = ", ".join(f"tracepoint:syscalls:sys_enter_{c}" for c in calls)
    exit_ = ", ".join(f"tracepoint:syscalls:sys_exit_{c}" for c in calls)
    return ("config = { max_strlen = 160 }\n"
            f"{enter} {p}{{ @start[tid] = args.filename; }}\n"
            f"{exit_} /@start[tid]/ {{\n"
            "  $f = @start[tid];\n"
            "  if (args.ret < 0) { @fail[comm, str($f), -args.ret] = count(); }\n"
            "  else { @opens[comm, str($f)] = count(); }\n"
            "  @n = count();\n"
            "  delete(@start, tid);\n}\n")


def biosnoop_counts() -> str | None:
    """biosnoop's probes with I/Os counted in the kernel by process and disk, and an event only
    for an I/O slower than half the slowest so far (the slowest I/Os, not every one: a disk
    doing thousands of IOPS would otherwise cost more than the rest of the window).
    None when the kernel lacks block_io_start (then biosnoop itself runs)."""
    from ..tools.needs import have_tracepoint

    if not have_tracepoint("block:block_io_start"):
        return None
    return ("rawtracepoint:block_io_start { @who[args.rq] = (pid, comm, nsecs); }\n"
            "rawtracepoint:block_rq_issue { @start[args.rq] = (nsecs, args.rq->__data_len); }\n"
            "rawtracepoint:block_rq_complete {\n"
            "  $s = @start[args.rq];\n"
            "  if ($s.0) {\n"
            "    $rq = args.rq; $lat = nsecs - $s.0; $w = @who[args.rq];\n"
            "    @ios[$w.1, $rq->q->disk->disk_name] = count();\n"
            "    @bytes[$w.1] = sum($s.1);\n"
            "    if ($lat > @mx / 2) {\n"
            "      if ($lat > @mx) { @mx = $lat; }\n"
            "      printf(\"io %d %s %s %d %d %d\\n\", $w.0, $w.1, $rq->q->disk->disk_name, $rq->cmd_flags & 0xff,\n"
            "             $s.1, $lat);\n"
            "    }\n"
            "    delete(@start, args.rq);\n"
            "    if ($w.2) { delete(@who, args.rq); }   // a delete of a missing key is an error event\n"
            "  }\n}\n")


def entries(pid: int | None) -> list[Entry]:
    """The checklist's tools in the book's order, scoped to `pid` where the tool takes -p."""
    p = ["-p", str(pid)] if pid else []
    bio = biosnoop_counts()
    return [
        Entry("execsnoop", ["-x"]),
        Entry("exitsnoop", []),
        Entry("opensnoop", p, source=opensnoop_counts(pid),
              purpose="opensnoop's probes, counted in the kernel by process and path (no event per open)"),
        Entry("ext4slower", p),
        Entry("biolatency", []),
        Entry("biosnoop", [], source=bio, purpose="biosnoop's probes: I/Os counted in the kernel by process and "
              "disk, events only for the slowest") if bio else Entry("biosnoop", []),
        Entry("cachestat", []),
        Entry("tcpconnect", p),
        Entry("tcpaccept", p),
        Entry("tcpretrans", []),
        Entry("runqlat", p),
        Entry("profile", ["-F", "49"] + p),
    ]


def add_substitutes(es: list[Entry]) -> list[Entry]:
    """After build-time checks: an unavailable tool gets its stand-in program, when there is one."""
    out = list(es)
    for e in es:
        if e.status == "unavailable" and e.name == "cachestat":
            out.append(Entry("cachestat*", source=CACHESTAT_SUBSTITUTE, substitute_for="cachestat",
                             purpose="page-cache misses (pages added) and evictions from filemap tracepoints"))
    return out


def histogram(prog: Any, name: str = "@dist") -> dict[str, Any]:
    """A hist() map as buckets plus p50/p90/p99 (bucket upper bounds: bounds, not estimates)."""
    h = prog.maps().get(name)
    if h is None or not getattr(h, "buckets", None):
        return {"buckets": [], "count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    bs = [{"low": b.low, "high": b.high, "count": b.count} for b in h.buckets]
    q = {f"p{int(x * 100)}": h.quantile(x) for x in (0.5, 0.9, 0.99)}
    top = max((b["high"] for b in bs if b["count"]), default=None)
    return {"buckets": bs, "count": h.total, **q, "max": top}


def _top(c: Counter[Any], n: int = 10) -> list[list[Any]]:
    return [[k, v] for k, v in c.most_common(n)]


def summarize(s: Session, window_s: float) -> dict[str, Any]:
    """Every entry's figures, keyed by tool name, plus the status list."""
    out: dict[str, Any] = {"tools": []}
    for e in s.entries:
        row = {"tool": e.name, "args": e.args, "status": e.status, "reason": e.reason,
               "substitute_for": e.substitute_for, "purpose": e.purpose, "events": len(e.records) + e.dropped,
               "dropped": e.dropped, "lost": e.lost,
               "helper_errors": e.helper_errors}
        subs = [x.name for x in s.entries if x.substitute_for == e.name]
        if subs:
            row["substitute"] = subs[0]
        out["tools"].append(row)
    exits = {r["pid"]: r for r in _recs(s, "exitsnoop")}
    ex = _recs(s, "execsnoop")
    if _ok(s, "execsnoop"):
        by = Counter(r["pcomm"] for r in ex)
        short = [dict(r, age=exits[r["pid"]]["age"]) for r in ex if r["pid"] in exits]
        out["execsnoop"] = {"count": len(ex), "per_s": round(len(ex) / window_s, 2), "by_comm": _top(by),
                            "failed": sum(1 for r in ex if r.get("ret")),
                            "recent": [{"pid": r["pid"], "ppid": r["ppid"], "comm": r["pcomm"], "ret": r["ret"],
                                        "args": " ".join(r["args"])[:200]} for r in ex[-15:]],
                            "short_lived": {"count": len(short), "by_comm": _top(Counter(r["pcomm"] for r in short)),
                                            "median_age_s": _median([r["age"] for r in short])}}
    if _ok(s, "exitsnoop"):
        ag = [r["age"] for r in exits.values()]
        out["exitsnoop"] = {"count": len(exits), "under_1s": sum(1 for a in ag if a < 1.0),
                            "by_comm": _top(Counter(r["pcomm"] for r in exits.values())),
                            "signalled": sum(1 for r in exits.values() if r["signal"])}
    oe = s.get("opensnoop")
    if oe is not None and oe.status == "ok":
        opens = Counter({(c, p): int(n) for (c, p), n in oe.prog.map_entries("@opens")})
        fails = Counter({(c, p, _errname(int(er))): int(n) for (c, p, er), n in oe.prog.map_entries("@fail")})
        comms: Counter[str] = Counter()
        for (c, _p), n in list(opens.items()) + [((k[0], k[1]), v) for k, v in fails.items()]:
            comms[c] += n
        total = sum(opens.values()) + sum(fails.values())
        out["opensnoop"] = {"count": total, "per_s": round(total / window_s, 2),
                            "top_files": _top(opens), "top_comms": _top(comms), "failed": sum(fails.values()),
                            "top_failed": _top(fails)}
    if _ok(s, "ext4slower"):
        sl = sorted(_recs(s, "ext4slower"), key=lambda r: -r["lat_us"])
        out["ext4slower"] = {"count": len(sl), "threshold_ms": 10,
                             "slowest": [{k: r[k] for k in ("comm", "pid", "type", "bytes", "lat_us", "file")}
                                         for r in sl[:10]],
                             "by_comm": _top(Counter(r["comm"] for r in sl))}
    for name in ("biolatency", "runqlat"):
        he = s.get(name)
        if he is not None and he.status == "ok":
            out[name] = {"unit": "us", **histogram(he.prog)}
    be = s.get("biosnoop")
    if be is not None and be.status == "ok":
        out["biosnoop"] = _bio(be)
    sub = s.get("cachestat*")
    if sub is not None and sub.status == "ok":
        m = sub.prog.maps()
        miss, ev = int(m.get("@misses") or 0), int(m.get("@evicted") or 0)
        out["cachestat"] = {"substitute": True, "misses": miss, "misses_per_s": round(miss / window_s, 1),
                            "evicted": ev, "hit_ratio": None,
                            "note": "hits need kprobes (mark_page_accessed); misses = pages added to the page cache"}
    if _ok(s, "tcpconnect"):
        tc = _recs(s, "tcpconnect")
        out["tcpconnect"] = {"count": len(tc), "by_dest": _top(Counter(f"{r['daddr']}:{r['dport']}" for r in tc)),
                             "by_comm": _top(Counter(r["comm"] for r in tc))}
    if _ok(s, "tcpaccept"):
        ta = _recs(s, "tcpaccept")
        out["tcpaccept"] = {"count": len(ta), "by_port": _top(Counter(f"{r['laddr']}:{r['lport']}" for r in ta)),
                            "by_comm": _top(Counter(r["comm"] for r in ta))}
    if _ok(s, "tcpretrans"):
        rt = _recs(s, "tcpretrans")
        out["tcpretrans"] = {"count": len(rt),
                             "by_flow": _top(Counter(f"{r['laddr']}:{r['lport']} > {r['raddr']}:{r['rport']}"
                                                     for r in rt)),
                             "by_state": _top(Counter(r["state"] for r in rt))}
    return out


def _ok(s: Session, name: str) -> bool:
    e = s.get(name)
    return e is not None and e.status == "ok"


def _recs(s: Session, name: str) -> list[dict[str, Any]]:
    e = s.get(name)
    return e.records if e is not None and e.status == "ok" else []


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    ys = sorted(xs)
    return round(ys[len(ys) // 2], 4)


def _errname(err: int) -> str:
    import errno

    return errno.errorcode.get(err, str(err))


OPS: dict[Any, str] = {0: "R", 1: "W", 2: "F", 3: "D"}   # REQ_OP_READ, _WRITE, _FLUSH, _DISCARD


def _bio(e: Entry) -> dict[str, Any]:
    """The slowest I/Os and who issued them: from the in-kernel counts, or biosnoop's records."""
    recs: list[dict[str, Any]]
    if e.tool is None:   # our counting program: records are (pid, comm, disk, op, bytes, lat_ns)
        recs = [{"pid": pid, "comm": comm or "?", "disk": disk or "?", "type": OPS.get(op, "?"),
                 "bytes": nb, "lat_ms": round(lat / 1e6, 3)} for pid, comm, disk, op, nb, lat in e.records]  # type: ignore[misc, operator]
        by_comm: Counter[str] = Counter()
        by_disk: Counter[str] = Counter()
        for (comm, disk), n in e.prog.map_entries("@ios"):
            by_comm[comm or "?"] += int(n)
            by_disk[disk or "?"] += int(n)
        nbytes = Counter({(c or "?"): int(n) for c, n in e.prog.map_entries("@bytes")})
    else:
        recs = e.records
        by_comm, by_disk, nbytes = Counter(), Counter(), Counter()
        for r in recs:
            by_comm[r["comm"]] += 1
            by_disk[r["disk"]] += 1
            nbytes[r["comm"]] += r["bytes"]
    slow = sorted(recs, key=lambda r: -r["lat_ms"])
    return {"count": sum(by_comm.values()), "slowest": slow[:10], "by_comm": _top(by_comm),
            "bytes_by_comm": _top(nbytes), "by_disk": _top(by_disk)}
