"""Running `bpfscope triage` as a user does (sys.executable -m bpfscope), with a scenario
running during its window; the scenario is started before triage and stopped after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loads BPF programs)")


class Triage:
    """One triage run: `.window_started()` returns once the window has begun (its stderr line),
    `.report()` waits for the end and returns the JSON report and the text report."""

    def __init__(self, tmp: Path, *args: str, duration: int = 4) -> None:
        self.json_path = tmp / "report.json"
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen([sys.executable, "-m", "bpfscope", "triage", "-d", str(duration),
                                      "--json", str(self.json_path), "--color", "never", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.err: list[str] = []

    def window_started(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            if line.startswith("triage: window:"):
                return
        raise AssertionError("triage ended before its window: " + "".join(self.err))

    def report(self, timeout: float = 120) -> tuple[dict[str, Any], str]:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, "".join(self.err) + err
        return json.loads(self.json_path.read_text()), out


@pytest.fixture
def triage(tmp_path: Path):  # type: ignore[no-untyped-def]
    runs: list[Triage] = []

    def start(*args: str, duration: int = 4) -> Triage:
        t = Triage(tmp_path, *args, duration=duration)
        runs.append(t)
        return t

    yield start
    for t in runs:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def findings(rep: dict[str, Any], resource: str, what: str = "") -> list[dict[str, Any]]:
    return [f for f in rep["next"] if f["resource"] == resource and f["what"].startswith(what)]
