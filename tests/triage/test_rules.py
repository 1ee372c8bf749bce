"""Pure logic: kernel-log classification, the USE thresholds and their drill-downs, JSON
cleaning. Synthetic figures (a mock is fine here: no kernel involved)."""

from __future__ import annotations

import copy
import json
from typing import Any

from bpfscope.triage import jsonout, kmsg, use


def test_kmsg_parse_and_classify() -> None:
    r = kmsg.parse(b"3,1234,5678901,-;Memory cgroup out of memory: Killed process 42 (leak)\n SUBSYSTEM=x")
    assert r is not None and (r.level, r.usec, r.kind, r.resource) == (3, 5678901, "oom", "memory")
    assert r.text.endswith("(leak)")
    assert kmsg.classify("a.out[9]: segfault at 0 ip 0 sp 0 error 4")[0] == "segfault"
    assert kmsg.classify("INFO: task foo:1 blocked for more than 120 seconds.")[0] == "hung_task"
    assert kmsg.classify("I/O error, dev loop7, sector 8 op 0x1:(WRITE)")[0] == "io_error"
    assert kmsg.classify("TCP: request_sock_TCP: Possible SYN flooding on port 80")[0] == "tcp_drop"
    assert kmsg.classify("eth0: renamed")[0] == "other"
    assert kmsg.parse(b"garbage") is None
    s = kmsg.summary([r, kmsg.parse(b"6,1,2,-;hello")])  # type: ignore[list-item]
    assert s["oom_kills"] == 1 and s["counts"] == {"oom": 1, "other": 1} and len(s["errors"]) == 1
    assert kmsg.devices_named([{"kind": "io_error", "text": "I/O error, dev loop7, sector 8"}]) == {"loop7"}


def _cell(rows: list[dict[str, Any]], res: str, col: str) -> dict[str, Any]:
    return next(r for r in rows if r["resource"] == res)[col]


QUIET: dict[str, Any] = {
    "meta": {"cpus": 2, "pid": None},
    "glance": {
        "mpstat": {"all": {"util": 20.0}, "0": {"util": 25.0}, "1": {"util": 15.0}},
        "cpu_imbalance": {"max": 25.0, "min": 15.0, "spread": 10.0},
        "vmstat": [{"r": 1, "si": 0, "so": 0}, {"r": 1, "si": 0, "so": 0}],
        "psi_window": {"cpu": {"some_pct": 3.0}},
        "kmsg": {"counts": {}, "errors": [], "oom_kills": 0},
        "free": {"total": 1000, "used": 300, "available": 700},
        "vm_delta": {}, "cgroup_memory": [], "pidstat": [{"pid": 7, "command": "x"}], "pidstat_io": [],
        "iostat": [{"device": "vda", "%util": 10.0, "r/s": 1, "w/s": 1, "aqu-sz": 0.1, "await": 1.0}],
        "disk_baseline_await": {"vda": 0.5},
        "net_dev": [{"iface": "eth0", "rxpck/s": 5, "txpck/s": 5, "rxkB/s": 1, "txkB/s": 1, "%ifutil": 1.0,
                     "speed_mbps": 1000, "errors": 0, "drops": 0}],
        "tcp": {"active/s": 0.0, "passive/s": 0.0, "CurrEstab": 1,
                "totals": {"RetransSegs": 0, "EstabResets": 0, "AttemptFails": 0, "InErrs": 0}},
    },
    "checklist": {"runqlat": {"count": 100, "p50": 15, "p99": 4095}, "tcpretrans": {"count": 0, "by_flow": []},
                  "execsnoop": {"per_s": 1, "count": 3, "by_comm": [], "short_lived": {"count": 0}}},
}


def test_quiet_machine_has_no_flags() -> None:
    rows, found = use.table(QUIET)
    assert found == []
    assert [r["resource"] for r in rows] == ["CPU", "run queue", "memory", "disk vda", "net eth0", "TCP"]
    assert not any(r[c]["flag"] for r in rows for c in ("utilization", "saturation", "errors"))


def test_each_threshold_flags_with_its_drill_down() -> None:
    d = copy.deepcopy(QUIET)
    g, cl = d["glance"], d["checklist"]
    cl["runqlat"]["p99"] = 16383                       # p99 bucket 8-16 ms: past 10 ms
    g["vmstat"][1]["si"] = 8                           # a swap-in
    g["iostat"][0].update({"aqu-sz": 2.5, "await": 9.0})   # above the 0.5 ms baseline, queue > 1
    g["tcp"]["totals"]["RetransSegs"] = 3
    g["cgroup_memory"] = [{"cgroup": "/memory/t", "max": 4, "oom": 1, "oom_kill": 1, "high": 0}]
    g["pidstat_io"] = [{"pid": 9, "command": "dd"}]
    rows, found = use.table(d)
    assert _cell(rows, "run queue", "saturation")["flag"]
    assert _cell(rows, "memory", "saturation")["flag"] and _cell(rows, "memory", "errors")["flag"]
    assert _cell(rows, "disk vda", "saturation")["flag"] and not _cell(rows, "disk vda", "utilization")["flag"]
    assert _cell(rows, "TCP", "saturation")["flag"]
    by = {(f["resource"], f["what"].split(" (")[0]): f for f in found}
    assert "bpfscope runqslower 10000" in by[("run queue", "saturation")]["next"]
    assert "bpfscope oomkill" in by[("memory", "errors")]["next"]
    assert "/memory/t" in by[("memory", "errors")]["figure"]
    disk = by[("disk vda", "saturation")]
    assert "top writer: dd" in disk["what"] and any('comm == "dd"' in c for c in disk["next"])
    assert "bpfscope tcpretrans -c" in by[("TCP", "saturation")]["next"]
    # the same await without a queue is not saturation
    g["iostat"][0]["aqu-sz"] = 0.5
    assert not _cell(use.table(d)[0], "disk vda", "saturation")["flag"]


def test_cpu_flags_and_churn() -> None:
    d = copy.deepcopy(QUIET)
    d["glance"]["mpstat"]["all"]["util"] = 95.0
    d["glance"]["vmstat"] = [{"r": 5, "si": 0, "so": 0}]
    d["checklist"]["execsnoop"] = {"per_s": 50, "count": 200, "by_comm": [["sh", 150]], "short_lived": {"count": 190}}
    _rows, found = use.table(d)
    what = {(f["resource"], f["what"]) for f in found}
    assert {("CPU", "utilization"), ("CPU", "saturation"), ("processes", "short-lived process churn")} <= what
    churn = next(f for f in found if f["resource"] == "processes")
    assert churn["next"][0] == "bpfscope execsnoop -T -n sh"


def test_json_has_no_nan() -> None:
    text = jsonout.dumps({"p99": float("nan"), "x": [float("inf"), 1.5], "k": {1: 2}})
    assert json.loads(text) == {"p99": None, "x": [None, 1.5], "k": {"1": 2}}
