"""Bench part `export` (issue 16): the cost of a Prometheus scrape of 10,000 series at the
exporter, and the exporter's idle CPU use.

A scrape is timed end to end over HTTP (request to last byte) against a running
`bpfscope export` whose program fills one count() map with 10,000 keys in BEGIN; idle CPU
is the exporter's user+system time over a quiet window, as a share of one CPU.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from common import Config, Row, Stat

SERIES = 10_000
PROGRAM = f"let @series = hash({2 * SERIES}); BEGIN {{ for ($i : 0..{SERIES}) {{ @series[$i] = count(); }} }}"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(cfg: Config) -> list[Row]:
    port = _port()
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   "src"))
    err = open(os.path.join(cfg.workdir, "export.err"), "w+")
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "export", "--listen", f"127.0.0.1:{port}",
                          "-e", PROGRAM], env=env, stderr=err, text=True)
    deadline = time.monotonic() + 60
    line = ""
    while "attached" not in line and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        err.seek(0)
        line = err.read()
    scrape = Stat()
    idle = Stat()
    ok = True
    try:
        if "attached" not in line:
            raise RuntimeError(f"exporter did not start: {line}")
        url = f"http://127.0.0.1:{port}/metrics"
        n_series = 0
        for _ in range(cfg.reps(15, 5)):
            t = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
            scrape.add((time.perf_counter() - t) * 1000)
            n_series = sum(1 for x in body.splitlines() if x.startswith(b"bpfscope_series_total{"))
        ok = n_series == SERIES
        window = 2.0 if cfg.quick else 10.0
        for _ in range(cfg.reps(3, 1)):
            c0, t0 = _cpu_seconds(p.pid), time.monotonic()
            time.sleep(window)
            idle.add(100 * (_cpu_seconds(p.pid) - c0) / (time.monotonic() - t0))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        err.close()
    return [
        Row("export", f"scrape of {SERIES} series", "ms", scrape, goal=("<=", 50.0), absolute=True, ok=ok,
            note="HTTP request to last byte; every series present"),
        Row("export", "exporter idle CPU", "% of 1 CPU", idle, note="reported, no goal"),
    ]
