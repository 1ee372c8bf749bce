"""Keyless count/hist/lhist maps kept in per-CPU arrays (lang.aggmaps) print exactly what the
per-CPU hash layout prints: the same script is run both ways against the same workload."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

from bpfscope.kernel import uapi
from bpfscope.runtime.program import Program
from tests.conftest import needs_root

# a comm of its own: other tests (and other checkouts' runs) use the plain `wl` workload too
NAME = f"aggwl{os.getpid() % 100000}"
HIT = f'tracepoint:syscalls:sys_enter_getppid /comm == "{NAME}"/'
MISS = 'tracepoint:syscalls:sys_enter_getppid /comm == "no-such-comm"/'
SCRIPT = (f"{HIT} {{ @c = count(); @h = hist(123); @h = hist(-1); @h2 = hist(pid & 0, 2); "
          f"@l = lhist(7, 0, 10, 2); @big = lhist(1000, 0, 100, 10); }} "
          f"{MISS} {{ @never = count(); @nh = hist(5); }}")


def _run(workload: Path, script: str, arrays: bool, calls: int = 300) -> tuple[str, dict[str, int]]:
    exe = workload.parent / NAME
    if not exe.exists():
        shutil.copy(workload, exe)
    out = io.StringIO()
    opts = {} if arrays else {"agg_arrays": set()}
    with Program(script, out=out, opts=opts) as p:
        types = {s.name: s.map_type for s in p.compile().maps if not s.internal}
        p.attach()
        # the probes run in the workload's own syscalls: all done once it has exited
        assert subprocess.run([str(exe), str(calls)]).returncode == 0
        p.run_special("end")
        p.print_maps_at_exit()
    return out.getvalue(), types


@needs_root
def test_arrays_print_like_hashes(workload: Path) -> None:
    got, types = _run(workload, SCRIPT, arrays=True)
    want, hash_types = _run(workload, SCRIPT, arrays=False)
    assert types["@c"] == types["@h"] == types["@l"] == types["@never"] == uapi.BPF_MAP_TYPE_PERCPU_ARRAY
    assert set(hash_types.values()) == {uapi.BPF_MAP_TYPE_PERCPU_HASH}
    assert got == want
    assert "@c: 300\n" in got
    assert "@never" not in got and "@nh" not in got   # never hit: not printed, as with a hash
    assert "(..., 0)             300 |" in got and "[64, 128)            300 |" in got
    assert "[100, ...)           300 |" in got and "[6, 8)               300 |" in got


@needs_root
def test_cleared_and_zeroed_arrays_print_like_hashes(workload: Path) -> None:
    script = SCRIPT + " END { clear(@c); zero(@h); clear(@l); }"
    got, types = _run(workload, script, arrays=True)
    want, _ = _run(workload, script, arrays=False)
    assert types["@h"] == uapi.BPF_MAP_TYPE_PERCPU_ARRAY
    assert got == want
    # cleared maps print nothing; a zero()ed keyless hist still prints its name (0.26, as 0.17)
    assert "@c:" not in got and "\n@h:\n" in got and "@l:" not in got and "@h2:" in got
