"""The command line: help, bad input as plain messages, the kernel log read from the window's
start, SIGINT ending the window early with the report still written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, needs_root

ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfscope", "triage", *args], capture_output=True, text=True,
                          env=ENV, timeout=120)


def test_help_and_bad_input() -> None:
    h = _run("-h")
    assert h.returncode == 0 and "--html" in h.stdout and "USE" in h.stdout and not h.stderr
    bad = _run("--bogus")
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr
    d = _run("-d", "0")
    assert d.returncode == 1 and d.stderr == "ERROR: --duration must be between 1 and 86400 seconds\n"
    p = _run("--pid", "999999999")
    assert p.returncode == 1 and p.stderr == "ERROR: no process with PID 999999999\n"


@pytest.mark.root
@needs_root
def test_kernel_log_window_and_sigint(tmp_path: Path) -> None:
    mark = f"bpfscope-triage-test {uuid.uuid4().hex}"
    out = tmp_path / "r.json"
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "triage", "-d", "60", "--json", str(out),
                          "--color", "never"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert p.stderr is not None
    for line in p.stderr:
        if line.startswith("triage: window:"):
            break
    with open("/dev/kmsg", "w") as k:
        k.write(f"<6>{mark}\n")
    p.send_signal(signal.SIGINT)
    text, _err = p.communicate(timeout=60)
    assert p.returncode == 0
    import json

    rep = json.loads(out.read_text())
    assert rep["meta"]["duration_s"] < 30
    assert any(r["text"] == mark for r in rep["glance"]["kmsg"]["tail"])
    assert "1. SYSTEM AT A GLANCE" in text and "3. USE METHOD" in text
    # tools this kernel cannot run are listed with the reason and the substitute used
    from bpfscope.kernel import features

    rows = {t["tool"]: t for t in rep["checklist"]["tools"]}
    assert set(rows) >= {"execsnoop", "opensnoop", "ext4slower", "biolatency", "biosnoop", "cachestat", "tcpconnect",
                         "tcpaccept", "tcpretrans", "runqlat", "profile"}
    if not features.CHECKS["kprobe"]():
        assert rows["cachestat"]["status"] == "unavailable" and "kprobe" in rows["cachestat"]["reason"]
        assert rows["cachestat"]["substitute"] == "cachestat*" and rows["cachestat*"]["status"] == "ok"
        assert rep["checklist"]["cachestat"]["substitute"] is True
        assert "substitute: cachestat*" in text
    assert all(t["status"] == "ok" for n, t in rows.items() if n != "cachestat"), rows
