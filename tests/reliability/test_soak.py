"""Issue 17: a tracer left running (BPFSCOPE_SOAK_SECONDS, default 600) under a live workload
keeps its memory and fd count flat.

Workload: a process that lives one second and is restarted, again and again (new pid each
time), calling `work_fn` (uprobe, user stacks of ever new pids to symbolize) and getppid()
(tracepoint) about a thousand times a second. The program churns maps (many distinct keys,
inserts and deletes, an interval print + clear), streams a printf per event and keeps a
per-pid count. The tracer's RSS and open fds are sampled every few seconds; over the
second half of the run (warmed up: caches filled, every code path taken) RSS must stay flat
to well under what one traced process used to cost, fds within a few; the figures are
printed (-s).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = [needs_root, pytest.mark.long]

WL_C = r"""
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) int work_fn(int i) { return getppid() + i; }
int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  volatile long s = 0;
  for (int i = 0;; i++) {
    s += work_fn(i);
    if (i % 2) usleep(1000);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
  }
  return 0;
}
"""

PROG = """
tracepoint:syscalls:sys_enter_getppid /comm == "soakwl"/ {
  @c[tid % 1000, nsecs % 64] = count();
  @v[nsecs % 4000] = nsecs;
  delete(@v, (nsecs / 7) % 4000);
  @start[tid] = nsecs;
  printf("%d %s %d\\n", pid, comm, nsecs % 1000);
}
tracepoint:syscalls:sys_exit_getppid /@start[tid]/ { @lat = hist(nsecs - @start[tid]); delete(@start, tid); }
uprobe:BIN:work_fn { @u[pid] = count(); @s[ustack(3)] = count(); }
interval:s:1 { print(@c); clear(@c); print(@s); clear(@s); }
"""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Drain(threading.Thread):
    """Reads a stream to the end, counting lines (the tracer must never block on its output)."""

    def __init__(self, stream: object) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = 0
        self.tail: list[bytes] = []

    def run(self) -> None:
        for line in self.stream:  # type: ignore[attr-defined]
            self.lines += 1
            self.tail = (self.tail + [line])[-50:]


def test_soak_rss_and_fds_stay_flat(tmp_path: Path) -> None:
    duration = float(os.environ.get("BPFSCOPE_SOAK_SECONDS", "600"))
    warmup = max(30.0, duration * 0.15)
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    exe = tmp_path / "soakwl"
    (tmp_path / "wl.c").write_text(WL_C)
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", str(exe), str(tmp_path / "wl.c")], check=True)

    tracer = subprocess.Popen([sys.executable, "-m", "bpfscope", "-e", PROG.replace("BIN", str(exe))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert tracer.stderr is not None
    out = Drain(tracer.stdout)
    out.start()
    err_first = tracer.stderr.readline()
    assert b"Attached" in err_first, err_first + tracer.stderr.read()
    err = Drain(tracer.stderr)
    err.start()

    samples: list[tuple[float, int, int, int, int]] = []   # (t, rss KiB, fds, printed lines, starts)
    restarts = 0
    t0 = time.monotonic()
    wl: subprocess.Popen[bytes] | None = None
    next_sample = t0
    try:
        while time.monotonic() - t0 < duration:
            if wl is None or wl.poll() is not None:
                wl = subprocess.Popen([str(exe), "0.9"])
                restarts += 1
            now = time.monotonic()
            if now >= next_sample:
                assert tracer.poll() is None, b"".join(err.tail)
                samples.append((now - t0, _rss_kib(tracer.pid), _fds(tracer.pid), out.lines, restarts))
                next_sample += 5
            time.sleep(0.05)
    finally:
        if wl is not None:
            wl.wait()
        tracer.send_signal(signal.SIGINT)
        rc = tracer.wait(timeout=60)
        out.join(timeout=30)
        err.join(timeout=30)
    assert rc == 0, b"".join(err.tail)
    assert b"Traceback" not in b"".join(err.tail)

    post = [s for s in samples if s[0] >= warmup]
    assert len(post) >= 4, samples
    rss_warm = statistics.median(s[1] for s in post[:3])
    rss_end = statistics.median(s[1] for s in post[-3:])
    growth = rss_end - rss_warm
    slope = statistics.linear_regression([s[0] / 60 for s in post], [s[1] for s in post]).slope  # KiB/min
    fd_warm, fd_max = post[0][2], max(s[2] for s in post)
    half = [s for s in samples if s[0] >= duration / 2]
    assert len(half) >= 6, samples
    half_growth = statistics.median(s[1] for s in half[-3:]) - statistics.median(s[1] for s in half[:3])
    half_starts = half[-1][4] - half[0][4]
    lines_per_s = (samples[-1][3] - samples[0][3]) / max(samples[-1][0] - samples[0][0], 1)
    print(f"\nsoak {duration:.0f}s, warm-up {warmup:.0f}s, {restarts} workload starts, "
          f"{lines_per_s:.0f} lines/s printed\n"
          f"RSS {samples[0][1] / 1024:.1f} MiB at start, {rss_warm / 1024:.1f} MiB after warm-up, "
          f"{rss_end / 1024:.1f} MiB at end: growth {growth / 1024:+.2f} MiB ({slope / 1024:+.3f} MiB/min), "
          f"max {max(s[1] for s in samples) / 1024:.1f} MiB\n"
          f"fds {samples[0][2]} at start, {fd_warm} after warm-up, max {fd_max} after warm-up, "
          f"{samples[-1][2]} at end\n"
          f"second half: RSS {half_growth / 1024:+.2f} MiB over {half_starts} workload starts "
          f"({half_growth / max(half_starts, 1):+.2f} KiB per start)")
    # the workload was really traced throughout: events in every late sample window
    assert restarts >= duration * 0.5
    assert all(b[3] > a[3] for a, b in zip(post, post[1:], strict=False)), post
    # bounded growth: 16 MiB or 25% of the warm RSS, whichever is larger; fds flat within 4
    assert growth <= max(16 * 1024, rss_warm * 0.25), samples
    assert fd_max - fd_warm <= 4, samples
    # Flat in the second half. Each traced process costs a few KiB while its stacks may still
    # be printed (mappings, snapshot, cached frames), and the mapping records of every other
    # process on the machine a few more until it exits. Before issue 17's fix none of it was
    # released until 1024 processes had exited (and records of processes whose exit was read
    # before their fork/mmap from another CPU's ring, never): second halves grew 4.6 KiB per
    # workload start (+1.42 MiB over 318 starts; the whole run 34.1 -> 42.1 MiB on a busier
    # machine). Released state leaves allocator noise only (+0.00 MiB over 320 starts after
    # the fix): allow 512 KiB plus 0.5 KiB per start, under half the old cost per start.
    assert half_growth <= 512 + half_starts / 2, samples
