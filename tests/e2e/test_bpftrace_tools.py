"""Scripts people already have: Debian's bpftrace 0.17 tools (/usr/sbin/*.bt) compile and
load unchanged (--dry-run), and a few run for real against a workload the test drives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

# tools whose probes this kernel has (the kprobe-based ones are covered by the VM lane's
# kprobe tests and by the plain "no kprobe support" message on this host)
RUNNABLE = ["bashreadline", "bitesize", "cpuwalk", "execsnoop", "gethostlatency", "killsnoop", "naptime",
            "opensnoop", "pidpersec", "runqlat", "setuids", "statsnoop", "syncsnoop", "syscount", "tcpdrop",
            "writeback"]


def _tool(name: str) -> Path:
    p = Path(f"/usr/sbin/{name}.bt")
    if not p.exists():
        pytest.skip(f"{p} is not installed (Debian package bpftrace)")
    return p


@pytest.mark.parametrize("name", RUNNABLE)
def test_tool_loads_unchanged(name: str) -> None:
    r = bpfscope("--dry-run", str(_tool(name)), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_execsnoop_sees_the_command() -> None:
    r = bpfscope(str(_tool("execsnoop")), "-c", "/bin/true from-execsnoop", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\d+\s+\d+\s+/bin/true from-execsnoop$", r.stdout, re.M), r.stdout


def test_opensnoop_sees_the_file() -> None:
    r = bpfscope(str(_tool("opensnoop")), "-c", "cat /etc/hostname", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"\bcat\s+\d+\s+\d+ /etc/hostname$", r.stdout, re.M), r.stdout
