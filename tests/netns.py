"""A veth pair between two network namespaces the test creates (and always removes)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=check)


@contextmanager
def veth_pair(ns: tuple[str, str], dev: tuple[str, str], addr: tuple[str, str]) -> Iterator[None]:
    """Namespaces ns[0], ns[1]; dev[k] with address addr[k] (CIDR) in ns[k]; both up, lo too.
    Skips when iproute2 is missing or namespaces cannot be made here."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    if sh("ip", "netns", "add", ns[0], check=False).returncode != 0:
        pytest.skip("cannot create network namespaces here")
    try:
        sh("ip", "netns", "add", ns[1])
        sh("ip", "-n", ns[0], "link", "add", dev[0], "type", "veth", "peer", "name", dev[1], "netns", ns[1])
        for k in (0, 1):
            sh("ip", "-n", ns[k], "addr", "add", addr[k], "dev", dev[k])
            sh("ip", "-n", ns[k], "link", "set", dev[k], "up")
            sh("ip", "-n", ns[k], "link", "set", "lo", "up")
        yield
    finally:
        sh("ip", "netns", "del", ns[0], check=False)
        sh("ip", "netns", "del", ns[1], check=False)
