"""Fixtures for tests that run inside the QEMU VM lane (tests/vm/run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

CHECKOUT = os.environ.get("BPFSCOPE_CHECKOUT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture(autouse=True)
def _inside_vm(request: pytest.FixtureRequest) -> None:
    """VM tests assume a disposable kernel: refuse to run them on the host by accident."""
    if request.node.get_closest_marker("vm") and not os.environ.get("BPFSCOPE_VM"):
        pytest.skip("runs only inside the VM lane (tests/vm/run)")


@pytest.fixture(scope="session")
def _kernel_baseline() -> dict[str, dict[int, str]]:
    """BPF objects present before the first test (the kernel's own, e.g. bpf_preload's)."""
    import cleanstate

    return cleanstate.snapshot()


@pytest.fixture(autouse=True)
def _kernel_left_clean(request: pytest.FixtureRequest, _inside_vm: None,
                       _kernel_baseline: dict[str, dict[int, str]]) -> Iterator[None]:
    """After each VM test: nothing of it is left in the kernel and kprobes still fire.

    Fails (as an error at teardown) naming the test; leftover tracefs probe events are
    swept so one leak is reported once, not by every later test.
    """
    yield
    if not request.node.get_closest_marker("vm") or not os.environ.get("BPFSCOPE_VM"):
        return
    import cleanstate

    deadline = time.monotonic() + 10   # the kernel frees a closed program's id after an RCU grace period
    while (left := cleanstate.leftovers(_kernel_baseline)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        cleanstate.sweep_events()
        pytest.fail(f"{request.node.nodeid} left this in the kernel:\n  " + "\n  ".join(left),
                    pytrace=False)
    silent = cleanstate.canary()
    if silent:
        pytest.fail(f"kprobes stopped firing after {request.node.nodeid}: {silent}", pytrace=False)


@pytest.fixture
def bpfscope() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the `bpfscope` CLI of this checkout: bpfscope("-e", "...", timeout=60)."""
    py = os.environ.get("BPFSCOPE_PYTHON", sys.executable)
    env = dict(os.environ, PYTHONPATH=os.path.join(CHECKOUT, "src"))

    def run(*args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([py, "-m", "bpfscope", *args], capture_output=True, text=True,
                              timeout=timeout, input=input, env=env, cwd=CHECKOUT)

    return run
