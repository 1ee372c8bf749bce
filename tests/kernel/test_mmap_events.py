"""The exec-mapping recorder (kernel.mmap_events): records of traced processes outlive them,
the others go once their exit is read, and no exited process comes back from a record read
late from another CPU's ring (issue 17: the tracer's memory under process churn)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bpfscope.kernel.mmap_events import MmapTracker
from bpfscope.runtime.probes.perf import online_cpus
from tests.conftest import needs_root

pytestmark = needs_root

TRUE = shutil.which("true") or "/bin/true"
# maps extension modules (exec mappings) from two threads, then exits
CHURN = "import threading; t = threading.Thread(target=lambda: __import__('json')); t.start(); t.join()"


def _drain_until(t: MmapTracker, pids: set[int]) -> None:
    """Read the records of processes already waited for: their exits are in the rings."""
    t.drain()
    assert t.lost == 0


def test_untraced_exits_go_traced_stay_until_forgotten() -> None:
    t = MmapTracker(online_cpus())
    try:
        kept = subprocess.Popen([TRUE])
        t.keep(kept.pid)
        others = [subprocess.Popen([TRUE]) for _ in range(50)]
        for p in [kept, *others]:
            p.wait()
        pids = {p.pid for p in others}
        _drain_until(t, pids | {kept.pid})
        t.drain()   # the drain after the last exit: records read late from another ring
        t.reap(t.gen)
        assert not pids & set(t.procs), "records of exited untraced processes left"
        # the traced one keeps its executable mappings, of `true` itself
        assert kept.pid in t.exited_kept(t.gen)
        snap = t.snapshot(kept.pid)
        assert snap is not None and any(e.path == os.path.realpath(TRUE) for e in snap.entries)
        assert t.exits == 1
        t.forget(kept.pid)
        assert t.snapshot(kept.pid) is None and kept.pid not in t.exited_kept(t.gen)
    finally:
        t.close()


def test_exit_before_reap_gen_only() -> None:
    """An exit read by a drain later than the caller's safe point is not acted upon yet."""
    t = MmapTracker(online_cpus())
    try:
        p = subprocess.Popen([TRUE])
        p.wait()
        safe = t.gen
        _drain_until(t, {p.pid})
        t.reap(safe)
        assert p.pid in t.procs, "reaped before the caller read its events past the exit"
        t.keep(p.pid)   # a first-sight event read late still keeps it
        t.reap(t.gen)
        assert p.pid in t.procs and p.pid in t.exited_kept(t.gen)
    finally:
        t.close()


def test_no_dead_process_left_behind_under_churn() -> None:
    """Every record left after the churn is of a live process or an exit not yet reaped.
    Before records carried their time, a fork or mmap read from one CPU's ring after the
    exit read from another's recreated the process for good (~80 a minute on a busy box)."""
    if len(online_cpus()) < 2:
        pytest.skip("needs 2 CPUs for records to cross rings")
    t = MmapTracker(online_cpus())
    try:
        procs = []
        for _ in range(10):   # processes that live long enough to move between CPUs
            batch = [subprocess.Popen([sys.executable, "-c", CHURN]) for _ in range(8)]
            for p in batch:
                p.wait()
            procs += batch
            t.drain()
        _drain_until(t, {p.pid for p in procs})
        t.drain()
        t.reap(t.gen)
        ours = {p.pid for p in procs}
        assert not ours & set(t.procs)
        # gone now, recorded as alive: its exit was written before this check, so the next
        # drain must read it (other processes on the machine come and go meanwhile)
        gone = [pid for pid, rec in t.procs.items() if not rec.exited and not os.path.exists(f"/proc/{pid}")]
        t.drain()
        left = [pid for pid in gone if pid in t.procs and not t.procs[pid].exited]
        assert not left, left
    finally:
        t.close()


@pytest.mark.skipif(len(online_cpus()) < 2, reason="needs two CPUs")
def test_exec_on_one_cpu_exit_on_another_keeps_its_mappings() -> None:
    """A process that execs (and maps its code) on CPU 1, then moves to CPU 0 and exits: the
    rings are read CPU 0 first, so its exit is read before its exec and mappings. They are its
    own (older than the exit), not an earlier process's: its record is complete and holds the
    interpreter, and it stays exited (the `-c` child whose stacks printed as [unknown])."""
    cpus = online_cpus()
    first, other = cpus[0], cpus[1]
    t = MmapTracker(cpus)
    try:
        code = f"import os, sys\nsys.stdin.readline()\nos.sched_setaffinity(0, {{{first}}})\n"
        p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             preexec_fn=lambda: os.sched_setaffinity(0, {other}))
        t.keep(p.pid)
        p.communicate(b"go\n", timeout=60)
        t.drain()
        assert t.lost == 0
        assert t.complete(p.pid)
        snap = t.snapshot(p.pid)
        assert snap is not None and any(os.path.realpath(sys.executable) == e.path for e in snap.entries)
        assert p.pid in t.exited_kept(t.gen)
    finally:
        t.close()
