"""cachestat counts calls of page-cache functions that have no tracepoints: where kprobes are
missing it exits 1 with one plain line naming what is missing (the kprobe run is in the VM
lane: tests/vm/test_tools_vm.py)."""

from __future__ import annotations

import pytest

from .conftest import bpfscope


def test_help() -> None:
    r = bpfscope("cachestat", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: cachestat [-h] [-T] [--json] [interval] [count]")


def test_ebpf_shows_the_kprobes() -> None:
    r = bpfscope("cachestat", "--ebpf")
    assert r.returncode == 0
    assert r.stdout.count("kprobe:") == 4 and "@mpa = count();" in r.stdout


def test_missing_kprobes_is_one_plain_line() -> None:
    from bpfscope.tools.needs import have_feature

    if have_feature("kprobe"):
        pytest.skip("this kernel has kprobes (the VM lane runs cachestat)")
    r = bpfscope("cachestat", "1", "1")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("cachestat: ") and "kprobe" in r.stderr
    assert "mark_page_accessed" in r.stderr
