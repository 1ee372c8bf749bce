"""Fixtures for tests that run inside the QEMU VM lane (tests/vm/run)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

CHECKOUT = os.environ.get("BPFSCOPE_CHECKOUT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture(autouse=True)
def _inside_vm(request: pytest.FixtureRequest) -> None:
    """VM tests assume a disposable kernel: refuse to run them on the host by accident."""
    if request.node.get_closest_marker("vm") and not os.environ.get("BPFSCOPE_VM"):
        pytest.skip("runs only inside the VM lane (tests/vm/run)")


@pytest.fixture
def bpfscope() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the `bpfscope` CLI of this checkout: bpfscope("-e", "...", timeout=60)."""
    py = os.environ.get("BPFSCOPE_PYTHON", sys.executable)
    env = dict(os.environ, PYTHONPATH=os.path.join(CHECKOUT, "src"))

    def run(*args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([py, "-m", "bpfscope", *args], capture_output=True, text=True,
                              timeout=timeout, input=input, env=env, cwd=CHECKOUT)

    return run
