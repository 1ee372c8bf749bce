"""The vmlinux type index saved between runs (kernel/btf.py): reused when it fits the blob,
rescanned and rewritten when it does not, never read by non-root or with BPFSCOPE_NO_CACHE."""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfscope.kernel import btf as btfmod
from bpfscope.kernel.btf import VMLINUX_PATH, Btf

pytestmark = [
    pytest.mark.skipif(not os.path.exists(VMLINUX_PATH), reason="kernel has no /sys/kernel/btf/vmlinux"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the index is saved for root only"),
]


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "btf"
    monkeypatch.setattr(btfmod, "_INDEX_DIR", str(d))
    monkeypatch.delenv("BPFSCOPE_NO_CACHE", raising=False)
    monkeypatch.setattr(Btf, "_vmlinux", None)
    yield d


def _saved(d: Path) -> list[int]:
    (f,) = [p for p in d.iterdir() if p.name.startswith("vmlinux-")]
    a = array("I")
    a.frombytes(f.read_bytes())
    return a.tolist()


def test_index_saved_then_reused(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Btf.vmlinux()
    scanned = btfmod._scan_offsets(first._words)
    assert first._infos == scanned
    assert _saved(index_dir) == scanned
    assert index_dir.stat().st_mode & 0o777 == 0o700

    def no_scan(words: array[int]) -> list[int]:
        raise AssertionError("the saved index should have been used")

    monkeypatch.setattr(Btf, "_vmlinux", None)
    monkeypatch.setattr(btfmod, "_scan_offsets", no_scan)
    second = Btf.vmlinux()
    assert second._infos == scanned
    tid = second.find("task_struct")
    assert tid is not None and second.get(tid).kind == "struct"


def test_index_that_does_not_fit_is_rescanned(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = list(Btf.vmlinux()._infos)
    (f,) = list(index_dir.iterdir())
    f.write_bytes(array("I", good[:-1]).tobytes())       # one type short: its end is not the section's
    monkeypatch.setattr(Btf, "_vmlinux", None)
    assert Btf.vmlinux()._infos == good
    assert _saved(index_dir) == good                     # rewritten


def test_no_cache_env_neither_reads_nor_writes(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFSCOPE_NO_CACHE", "1")
    b = Btf.vmlinux()
    assert b.find("task_struct") is not None
    assert not index_dir.exists()
