"""Run our inspection CLI in-process and bpftool as a subprocess, for differential tests."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess

import pytest

from bpfscope.inspect.cli import main

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def ours(args: str) -> tuple[str, int]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        rc = main(args.split())
    return buf.getvalue(), rc & 0xFF


def theirs(args: str) -> tuple[str, int]:
    if not shutil.which(BPFTOOL):
        pytest.skip("bpftool (reference peer) is not installed")
    p = subprocess.run([BPFTOOL, *args.split()], capture_output=True, text=True, timeout=60)
    return p.stdout, p.returncode


def same(args: str, tries: int = 4) -> str:
    """Assert our output and exit code equal bpftool's for `args`; return the text.

    System-wide listings change under concurrent BPF users between the two runs, so a
    difference is retried a few times; a real formatting difference never goes away.
    """
    import time

    for _ in range(tries - 1):
        a, b = ours(args), theirs(args)
        if a == b:
            return a[0]
        time.sleep(0.2)
    a, b = ours(args), theirs(args)
    assert a == b, f"bpfscope {args} differs from bpftool:\n--- ours\n{a[0]}\n--- bpftool\n{b[0]}"
    return a[0]


def wait_perf_attached(pid: int, n: int = 1, timeout: float = 30) -> list[int]:
    """Ids of the programs that process ``pid`` has attached through perf events (tracepoints,
    kprobes, uprobes), once there are ``n``: bpftrace 0.17 prints "Attaching" before it loads,
    and has no attached-notification, so bpftool's view of the kernel is the readiness signal."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while True:
        res = subprocess.run([BPFTOOL, "perf", "-j"], capture_output=True, text=True, timeout=60)
        ids = [e["prog_id"] for e in json.loads(res.stdout or "[]") if e.get("pid") == pid]
        if len(ids) >= n:
            return ids
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} attached {len(ids)} of {n} programs: {res.stderr}")
        time.sleep(0.05)
