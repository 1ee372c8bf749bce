"""`bpfscope export` scraped by a real Prometheus server (Debian's package) while a workload
the test drives makes known counts; plus promtool's lint, config files, reload and SIGTERM."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = needs_root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_copy(tmp: Path, exe: str | Path, prefix: str) -> Path:
    """A copy of *exe* under a comm no other test uses (comm is the file name, 15 chars)."""
    dst = tmp / f"{prefix}{random.randrange(10**5, 10**6)}"
    shutil.copy(str(exe), dst)
    return dst


class Exporter:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.p = subprocess.Popen([sys.executable, "-m", "bpfscope", "export", "--listen",
                                   f"127.0.0.1:{self.port}", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.p.stderr is not None
        line = self.p.stderr.readline()
        if "attached" not in line:
            self.p.kill()
            raise AssertionError(f"exporter did not start: {line}{self.p.stderr.read()}")

    def metrics(self, accept: str = "") -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics",
                                     headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(r.read().decode())

    def value(self, series: str) -> float | None:
        for line in self.metrics().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return None

    def stop(self) -> tuple[int, str]:
        self.p.send_signal(signal.SIGTERM)
        _out, err = self.p.communicate(timeout=30)
        return self.p.returncode, err


def prog_ids_held(pid: int) -> set[int]:
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_exists(pid_ids: set[int]) -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    live = {int(p["id"]) for p in json.loads(out.stdout)}
    return pid_ids & live


def gone(ids: set[int]) -> bool:
    """The kernel frees a program after its last perf event's RCU grace period: wait for it."""
    deadline = time.monotonic() + 10
    while prog_exists(ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not prog_exists(ids)


def test_counts_histogram_and_lint(tmp_path: Path, workload: Path) -> None:
    wl = unique_copy(tmp_path, workload, "pw")
    dd = unique_copy(tmp_path, shutil.which("dd") or "/bin/dd", "pd")
    prog = (f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @calls = count(); }}\n'
            f'tracepoint:syscalls:sys_enter_read /comm == "{dd.name}"/ {{ @read_size_bytes = hist(args->count); '
            f'@reads[comm] = count(); }}')
    ex = Exporter("-e", prog)
    try:
        subprocess.run([str(wl), "1234"], check=True)
        subprocess.run([str(dd), "if=/dev/zero", "of=/dev/null", "bs=300", "count=500"], check=True,
                       capture_output=True)
        text = ex.metrics()
        assert "bpfscope_calls_total 1234.0" in text.splitlines(), text
        assert f'bpfscope_reads_total{{key="{dd.name}"}} ' in text
        # 300-byte reads land in [256, 511]: le=255 holds none of them, le=511 all
        lines = text.splitlines()
        le255 = next(float(x.split()[-1]) for x in lines if x.startswith('bpfscope_read_size_bytes_bucket{le="255.0"}'))
        le511 = next(float(x.split()[-1]) for x in lines if x.startswith('bpfscope_read_size_bytes_bucket{le="511.0"}'))
        assert le511 - le255 >= 500, (le255, le511)
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        om = ex.metrics("application/openmetrics-text; version=1.0.0")
        assert om.rstrip().endswith("# EOF") and "bpfscope_calls_total 1234.0" in om
        held = prog_ids_held(ex.p.pid)
        assert len(held) == 2
    finally:
        rc, err = ex.stop()
    assert rc == 0, err
    assert "Traceback" not in err
    assert gone(held), "programs outlived the exporter"


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus package is not installed")
def test_real_prometheus_scrapes_exact_counter_and_quantile(tmp_path: Path, workload: Path) -> None:
    wl = unique_copy(tmp_path, workload, "pq")
    dd = unique_copy(tmp_path, shutil.which("dd") or "/bin/dd", "pe")
    prog = (f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @calls = count(); }}\n'
            f'tracepoint:syscalls:sys_enter_read /comm == "{dd.name}"/ {{ @read_size_bytes = hist(args->count); }}')
    ex = Exporter("-e", prog, "--label", "job_host=ci")
    pport = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: bpfscope\n    static_configs:\n"
                   f"      - targets: ['127.0.0.1:{ex.port}']\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run([str(wl), "4321"], check=True)
        subprocess.run([str(dd), "if=/dev/zero", "of=/dev/null", "bs=3000", "count=200"], check=True,
                       capture_output=True)

        def query(q: str) -> list[dict]:
            url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return list(json.loads(r.read())["data"]["result"])
            except OSError:
                return []

        # wait on Prometheus having scraped the final value (bounded: prometheus start + a few scrapes)
        deadline = time.monotonic() + 90
        counter: list[dict] = []
        while time.monotonic() < deadline:
            counter = query('bpfscope_calls_total{job="bpfscope"}')
            if counter and float(counter[0]["value"][1]) == 4321:
                break
            time.sleep(0.5)
        assert counter and float(counter[0]["value"][1]) == 4321, counter
        assert counter[0]["metric"]["job_host"] == "ci"
        q = query("histogram_quantile(0.5, bpfscope_read_size_bytes_bucket)")
        assert q, "no histogram in Prometheus"
        # every read was 3000 bytes: bucket [2048, 4095], so the median interpolates inside it
        assert 2047 < float(q[0]["value"][1]) <= 4095, q
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        rc, err = ex.stop()
    assert rc == 0, err


def test_config_names_labels_and_cardinality_guard(tmp_path: Path, workload: Path) -> None:
    wl = unique_copy(tmp_path, workload, "pc")
    cfg = tmp_path / "export.yaml"
    cfg.write_text(
        "programs:\n"
        "  - name: calls\n"
        "    program: |\n"
        f"      tracepoint:syscalls:sys_enter_getppid /comm == \"{wl.name}\"/ {{ @calls[comm] = count();\n"
        "        @bypid[pid, tid] = count(); }\n"
        "    labels: {role: test}\n"
        "    metrics:\n"
        "      - {map: \"@calls\", name: getppid_calls, help: \"getppid by command\", labels: [command]}\n"
        "      - {map: \"@bypid\", name: getppid_by_task, labels: [pid, tid], max_series: 2}\n")
    ex = Exporter("--config", str(cfg))
    try:
        for _ in range(5):
            subprocess.run([str(wl), "10"], check=True)
        text = ex.metrics()
        assert f'getppid_calls_total{{command="{wl.name}",role="test"}} 50.0' in text, text
        assert "# HELP getppid_calls_total getppid by command" in text
        by_task = [x for x in text.splitlines() if x.startswith("getppid_by_task_total{")]
        assert len(by_task) == 2, by_task          # five tasks, two kept
        dropped = ex.value('bpfscope_export_dropped_series_total{metric="getppid_by_task"}')
        assert dropped is not None and dropped >= 3
        assert ex.value("bpfscope_export_programs") == 1.0
    finally:
        rc, err = ex.stop()
    assert rc == 0, err


def test_reload_while_scraping_and_bad_input(tmp_path: Path, workload: Path) -> None:
    wl = unique_copy(tmp_path, workload, "pr")
    cfg = tmp_path / "export.yaml"

    def write(map_name: str) -> None:
        cfg.write_text("programs:\n  - program: |\n"
                       f"      tracepoint:syscalls:sys_enter_getppid /comm == \"{wl.name}\"/ "
                       f"{{ @{map_name} = count(); }}\n")

    write("before")
    ex = Exporter("--config", str(cfg))
    try:
        subprocess.run([str(wl), "7"], check=True)
        assert ex.value("bpfscope_before_total") == 7.0
        old = prog_ids_held(ex.p.pid)
        write("after")
        ex.p.send_signal(signal.SIGHUP)
        assert ex.p.stderr is not None
        deadline = time.monotonic() + 30
        seen_during = 0
        while time.monotonic() < deadline:       # scrapes keep answering through the reload
            text = ex.metrics()
            seen_during += 1
            if "bpfscope_after_total" in text:
                break
        assert "bpfscope_after_total" in text and "bpfscope_before_total" not in text
        subprocess.run([str(wl), "3"], check=True)
        assert ex.value("bpfscope_after_total") == 3.0
        assert gone(old), "the replaced program is still loaded"
    finally:
        rc, err = ex.stop()
    assert rc == 0, err
    for args in (["-e", "tracepoint:syscalls:sys_enter_getppid { @x = nosuch(); }"],
                 ["--config", str(tmp_path / "missing.yaml")], ["--listen", "127.0.0.1:notaport", "-e", "BEGIN {}"],
                 []):
        r = subprocess.run([sys.executable, "-m", "bpfscope", "export", *args], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1, (args, r.stderr)
        assert "ERROR" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "bpfscope", "export", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: bpfscope export" in r.stdout


def test_tool_as_source(tmp_path: Path) -> None:
    """`--tool 'runqlat -m'`: the tool's histogram is exported, its state map is not."""
    ex = Exporter("--tool", "runqlat -m")
    try:
        for _ in range(20):     # wake-ups happen all the time; a few scrapes see buckets
            subprocess.run(["sleep", "0.01"], check=True)
        text = ex.metrics()
    finally:
        rc, err = ex.stop()
    assert rc == 0, err
    assert "# TYPE bpfscope_dist histogram" in text
    assert "bpfscope_start" not in text
    r = subprocess.run([sys.executable, "-m", "bpfscope", "export", "--tool", "nosuchtool"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "no bpfscope tool named 'nosuchtool'" in r.stderr
