"""Fixtures for the BCC-style tools: run a tool as a user would, wait for its header line
(the readiness signal: probes are attached when it is printed), drive a workload, stop it
with SIGINT and collect its output."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")


class ToolProc:
    """One running `python -m bpfscope <tool> ...` (stdout and stderr read separately)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        e = dict(os.environ)
        e.update(env or {})
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self.lines: list[str] = []
        self._partial = b""
        self.header = ""

    def _read(self, deadline: float, until: Any) -> bool:
        """Read stdout lines until `until(line)` is true (True) or EOF/deadline (False)."""
        assert self.p.stdout is not None
        fd = self.p.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    return False
                data = self._partial + chunk
                *full, self._partial = data.split(b"\n")
                hit = False
                for raw in full:   # keep every line of the chunk, also those after a hit
                    line = raw.decode("utf-8", "surrogateescape")
                    self.lines.append(line)
                    hit = hit or until(line)
                if hit:
                    return True
            return False
        finally:
            sel.close()

    def ready(self, timeout: float = 60.0) -> str:
        """Block until the first stdout line (the header or, with --json, the attached record)."""
        if not self.lines and not self._read(time.monotonic() + timeout, lambda line: True):
            out, err = self.finish(signal.SIGKILL)
            raise AssertionError(f"{self.argv} printed no header; rc={self.p.returncode}\n{out}\n{err}")
        self.header = self.lines[0]
        return self.header

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        """Read until a line containing `text` (already read lines count)."""
        if any(text in ln for ln in self.lines):
            return True
        return self._read(time.monotonic() + timeout, lambda line: text in line)

    def finish(self, sig: int | None = signal.SIGINT, timeout: float = 30.0) -> tuple[str, str]:
        """Signal (or just wait, with sig=None), then return (all stdout, stderr)."""
        if sig is not None and self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
        text = "\n".join(self.lines)
        rest = (self._partial + out).decode("utf-8", "surrogateescape")
        if rest:
            text = text + "\n" + rest if text else rest
        return text, err.decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGINT) -> str:
        """SIGINT, wait, check the clean exit (status 0, no traceback); stdout."""
        out, err = self.finish(sig)
        assert "Traceback" not in err, err
        assert self.p.returncode == 0, (self.p.returncode, err)
        return out

    def records(self, out: str) -> list[dict[str, Any]]:
        """--json output as records (the attached_probes line dropped); every line must parse."""
        recs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        return [r for r in recs if r.get("type") != "attached_probes"]


@pytest.fixture
def tool() -> Iterator[Any]:
    procs: list[ToolProc] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> ToolProc:
        tp = ToolProc([sys.executable, "-m", "bpfscope", name, *args], env)
        procs.append(tp)
        return tp

    yield start
    _kill_leftovers([tp.p for tp in procs])


class Peer:
    """A peer tool (libbpf-tools' build of a BCC tool) run beside ours as the reference, its
    stdout line-buffered through a pipe."""

    def __init__(self, argv: list[str]) -> None:
        self.p = subprocess.Popen(["stdbuf", "-oL", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)

    def first_line(self, timeout: float) -> str:
        assert self.p.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        try:
            return self.p.stdout.readline() if sel.select(timeout) else ""
        finally:
            sel.close()

    def stop(self) -> str:
        """SIGINT (its summary is printed then), its whole stdout."""
        self.p.send_signal(signal.SIGINT)
        out, _ = self.p.communicate(timeout=30)
        return out


@pytest.fixture
def peer() -> Iterator[Any]:
    """peer(*argv, ready=text): start the peer tool and return once its first line (which holds
    `ready`: its header, printed after its probes are attached) arrived; where it does not run
    on this kernel the test is skipped with its error. Killed at the end of the test."""
    peers: list[Peer] = []

    def start(*argv: str, ready: str, timeout: float = 60.0) -> Peer:
        pr = Peer(list(argv))
        peers.append(pr)
        if ready not in pr.first_line(timeout):
            pr.p.kill()
            err = pr.p.communicate()[1]
            pytest.skip(f"libbpf-tools {argv[0]} does not run here: {err[:200]}")
        return pr

    yield start
    _kill_leftovers([pr.p for pr in peers])


def _kill_leftovers(procs: list[subprocess.Popen[Any]]) -> None:
    """What a failed test left running: killed, reaped, pipes closed (not drained: a
    grandchild may still hold them)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (p.stdout, p.stderr):
            if f is not None:
                f.close()


def bpfscope(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfscope", *args], capture_output=True, text=True,
                          timeout=timeout)


def unique(prefix: str) -> str:
    """A name no other process on the machine uses (comm is cut at 15 characters)."""
    return f"{prefix}{os.getpid() % 100000:05d}{int(time.monotonic() * 1000) % 1000:03d}"[:15]
