"""The compiled-program cache keeps only its newest entries (keys change with the kernel and
our code, so an unpruned cache only grows: 900+ entries after a day of development)."""

from __future__ import annotations

import os
from pathlib import Path

from bpfscope.tools import cache


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    n = cache.MAX_ENTRIES + 40
    for i in range(n):
        f = tmp_path / f"k{i:04d}"
        f.write_bytes(b"x")
        os.utime(f, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / ".k9999.123").write_bytes(b"in flight")     # a store in progress is left alone
    cache._prune(str(tmp_path))
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert left == [f"k{i:04d}" for i in range(40, n)]
    assert (tmp_path / ".k9999.123").exists()
