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


def same(args: str) -> str:
    """Assert our output and exit code equal bpftool's for `args`; return the text."""
    a, b = ours(args), theirs(args)
    assert a == b, f"bpfscope {args} differs from bpftool:\n--- ours\n{a[0]}\n--- bpftool\n{b[0]}"
    return a[0]
