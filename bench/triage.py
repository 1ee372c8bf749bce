"""`bpfscope triage`'s own cost during its window (CPU time it used / window, the figure the
report states about itself): on the machine as it is, and under a workload that feeds every
checklist tool (opens, execs, fsync'd writes, TCP connects on loopback, one busy CPU).
Goals: < 2% of one CPU without the workload, < 5% with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from common import SRC, Config, Row, Stat

WORKLOAD = {
    "opens": "import time\nwhile True:\n    for _ in range(500): open('/etc/hostname').close()\n    time.sleep(0.1)\n",
    "cpu": "while True: pass\n",
    "tcp": ("import socket, threading, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64); port = s.getsockname()[1]\n"
            "def srv():\n    while True: s.accept()[0].close()\n"
            "threading.Thread(target=srv, daemon=True).start()\n"
            "while True:\n    socket.create_connection(('127.0.0.1', port)).close(); time.sleep(0.02)\n"),
}


def _start_workload(workdir: str) -> list[subprocess.Popen[bytes]]:
    ps = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for code in WORKLOAD.values()]
    ps.append(subprocess.Popen(["sh", "-c", "while :; do /bin/true; sleep 0.05; done"], start_new_session=True))
    ps.append(subprocess.Popen(["dd", "if=/dev/zero", f"of={workdir}/triage-dd", "bs=4k", "count=100000000",
                                "oflag=dsync"], stderr=subprocess.DEVNULL, start_new_session=True))
    return ps


def _triage(cfg: Config, window: int) -> dict[str, float]:
    out = os.path.join(cfg.workdir, "triage.json")
    env = dict(os.environ, PYTHONPATH=SRC)
    subprocess.run([sys.executable, "-m", "bpfscope", "triage", "-q", "-d", str(window), "--json", out],
                   env=env, check=True, stdout=subprocess.DEVNULL, timeout=window + 120)
    with open(out) as f:
        rep = json.load(f)
    ov = rep["overhead"]
    events = sum(t["events"] for t in rep["checklist"]["tools"])
    return {"pct": ov["window_pct_of_one_cpu"], "setup": ov["setup_cpu_s"], "report": ov["report_cpu_s"],
            "events": events, "opens": rep["checklist"].get("opensnoop", {}).get("count", 0)}


def run(cfg: Config) -> list[Row]:
    window = 5 if cfg.quick else 15
    idle, busy, setup = Stat(), Stat(), Stat()
    notes: list[str] = []
    for _ in range(cfg.reps(3, 1)):
        r = _triage(cfg, window)
        idle.add(r["pct"])
        setup.add(r["setup"])
    procs = _start_workload(cfg.workdir)
    try:
        for _ in range(cfg.reps(3, 1)):
            r = _triage(cfg, window)
            busy.add(r["pct"])
            notes.append(f"{r['events']} events + {r['opens']} opens counted in kernel")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        try:
            os.unlink(os.path.join(cfg.workdir, "triage-dd"))
        except OSError:
            pass
    load = os.getloadavg()[0]
    return [
        Row("triage", f"window CPU, machine as is ({window} s)", "% of 1 CPU", idle, goal=("<=", 2.0), absolute=True,
            note=f"load {load:.1f}: other work on the machine feeds the tools too"),
        Row("triage", f"window CPU, bench workload ({window} s)", "% of 1 CPU", busy, goal=("<=", 5.0), absolute=True,
            note=notes[-1] if notes else ""),
        Row("triage", "setup CPU (compile/load 13 programs)", "s", setup, note="reported, no goal; cached after the"
            " first run"),
    ]
