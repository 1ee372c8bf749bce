"""kprobe/fentry on this host: where the kernel lacks them, one plain message and exit 1."""

from __future__ import annotations

import pytest

from bpfscope.kernel import features
from tests.conftest import bpfscope, needs_root

pytestmark = needs_root


@pytest.mark.parametrize("prog", ["kprobe:vfs_read { @ = count(); }", "kretprobe:vfs_read { @ = hist(retval); }",
                                  "fentry:vfs_read { @ = count(); }", "kfunc:vfs_read { @ = count(); }"])
def test_missing_kernel_function_probes_are_explained(prog: str) -> None:
    kind = prog.split(":")[0]
    have = {"kprobe": features.kprobes, "kretprobe": features.kretprobes, "fentry": features.fentry,
            "kfunc": features.fentry}[kind]()
    if have:
        pytest.skip(f"this kernel has {kind} support: the VM lane covers the missing case's opposite")
    r = bpfscope("-e", prog)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("stdin:1:") and "ERROR:" in first and "this kernel has no" in first, r.stderr
    assert "tracepoint:syscalls:sys_enter_read" in first   # what could serve instead
    assert "~~~" in r.stderr


def test_kprobe_listing_explained() -> None:
    if features.kprobes():
        pytest.skip("this kernel has kprobes")
    r = bpfscope("-l", "kprobe:vfs_*")
    assert r.returncode == 1 and "no kprobe support" in r.stderr and "Traceback" not in r.stderr
