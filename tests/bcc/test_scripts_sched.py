"""Issue 14: Debian's unchanged runqlat, runqslower, profile, wakeuptime and memleak scripts run
by `bpfscope bcc` (RAW_TRACEPOINT_PROBE, BPF_STACK_TRACE + walk/sym/ksym, perf buffers,
perf_event sampling, uprobes on libc's malloc/free, kmem/page tracepoints).

The workload (`schedwl`, built with frame pointers) waits on stdin: `sleep` mode makes N 1 ms
sleeps per line, `leak` mode N leaked 4 KiB mallocs and N freed 8 KiB ones, `spin` burns CPU in
main -> spinner -> burn.
Where the workload knows the number, the test checks it: a process's run-queue latency
samples are those its scheduler tracepoints delivered (tests/schedtrace.py), the leaked
bytes are exactly what it leaked, the shared-memory pages exactly what the test touched."""

from __future__ import annotations

import itertools
import mmap
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bcc.test_scripts import Run, _start
from tests.conftest import build_c, needs_root
from tests.schedtrace import SchedTrace

pytestmark = needs_root

SCHEDWL_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static volatile unsigned long sink;
static volatile int stop;
__attribute__((noinline)) void burn(void) { while (!stop) sink++; }
__attribute__((noinline)) void spinner(void) { puts("ready"); fflush(stdout); burn(); asm volatile(""); }
__attribute__((noinline)) void *leak_here(void) { void *p = malloc(4096); sink += (unsigned long)p; return p; }
__attribute__((noinline)) void churn(void) { void *p = malloc(8192); sink += (unsigned long)p; free(p); }
__attribute__((noinline)) void nap(long n) {
    struct timespec ts = {0, 1000000};
    for (long i = 0; i < n; i++) nanosleep(&ts, NULL);
}
int main(int argc, char **argv) {
    char line[32];
    int leak = argc > 1 && strcmp(argv[1], "leak") == 0;
    if (argc > 1 && strcmp(argv[1], "spin") == 0) { spinner(); return 0; }
    puts("ready"); fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        long n = atol(line);
        if (n <= 0) break;
        for (long i = 0; leak && i < n; i++) { leak_here(); churn(); }
        if (!leak) nap(n);
        puts("done"); fflush(stdout);
    }
    return 0;
}
'''


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for r in made:
        r.kill()


@pytest.fixture(scope="module")
def schedwl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_c(tmp_path_factory.mktemp("schedwl"), "schedwl", SCHEDWL_C, "-O0", "-fno-omit-frame-pointer")


class Workload:
    def __init__(self, exe: Path, mode: str, cpu: int | None = None) -> None:
        pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.p = subprocess.Popen([str(exe), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  preexec_fn=pre)
        self.pid = self.p.pid
        assert self.p.stdout is not None and self.p.stdout.readline() == b"ready\n"
        if mode != "spin":
            self.wait_blocked()

    def step(self, n: int) -> None:
        """n sleeps (or leaks); returns once the workload is blocked on stdin again."""
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(b"%d\n" % n)
        self.p.stdin.flush()
        assert self.p.stdout.readline() == b"done\n"
        self.wait_blocked()

    def wait_blocked(self, timeout: float = 30) -> None:
        """Until the workload sleeps in read(2) on stdin (its state S, its syscall read)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(f"/proc/{self.pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{self.pid}/syscall") as fh:
                nr = fh.read().split()[0]
            if state == "S" and nr == "0":
                return
            time.sleep(0.005)
        raise AssertionError("the workload never blocked on stdin")

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs() -> Iterator[list[Workload | subprocess.Popen[bytes]]]:
    made: list[Workload | subprocess.Popen[bytes]] = []
    yield made
    for p in made:
        if isinstance(p, Workload):
            p.kill()
        elif p.poll() is None:
            p.kill()
            p.wait()


def _hogs(procs: list[Workload | subprocess.Popen[bytes]], n: int, cpu: int | None = None) -> None:
    pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    for _ in range(n):
        procs.append(subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=pre))


def _hist(text: str) -> dict[str, int]:
    return {" ".join(m.group(1).split()): int(m.group(2))
            for m in re.finditer(r"^\s+(\d+ -> \d+)\s+: (\d+)\s+\|", text, re.M)}


# ---------------------------------------------------------------------- runqlat
def test_runqlat_pid_filter_counts_every_switch_in(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-p PID: one latency sample per time the workload is switched back in, which is its
    context-switch count across the window (it is blocked on stdin at both ends)."""
    _hogs(procs, 3)
    wl = Workload(schedwl, "sleep")
    procs.append(wl)
    r = _start(runs, "runqlat", "-p", str(wl.pid))
    r.wait_for(b"Tracing run queue latency... Hit Ctrl-C to end.")
    with SchedTrace(wl.pid) as st:
        wl.step(150)
        missed = r.recursion_misses()
        text = r.finish()
    assert re.search(r"^\s+usecs\s+: count\s+distribution$", text, re.M), text
    # what the scheduler tracepoints delivered in the window (tests/schedtrace.py): 150 sleeps,
    # each a wakeup then a switch in, plus the wakeup from stdin, and any preemptions; a
    # wakeup whose program the kernel skipped (counted as a recursion miss) has no sample
    want = st.runq_waits()
    assert want >= 151 * 0.95, st.events
    n = sum(_hist(text).values())
    assert want - missed <= n <= want, (text, want, missed)


def test_runqlat_per_process_sections_ms(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-P -m -p PID: the histogram in a section "pid = N", in ms (with -p: BPF_HISTOGRAM keeps
    64 (pid, slot) keys, as BCC's, so on a busy machine -P alone drops samples of its own)."""
    _hogs(procs, 3)
    wl = Workload(schedwl, "sleep")
    procs.append(wl)
    r = _start(runs, "runqlat", "-P", "-m", "-p", str(wl.pid))
    r.wait_for(b"Hit Ctrl-C to end.")
    with SchedTrace(wl.pid) as st:
        wl.step(120)
        missed = r.recursion_misses()
        text = r.finish()
    assert f"\npid = {wl.pid}\n" in text, text
    sec = text.split(f"\npid = {wl.pid}\n", 1)[1].split("\npid = ")[0]
    assert re.match(r"\s+msecs\s+: count\s+distribution", sec), sec
    want = st.runq_waits()
    assert want >= 121 * 0.95, st.events
    assert want - missed <= sum(_hist(sec).values()) <= want, (sec, want, missed)


def test_runqlat_intervals_end_by_themselves(runs: list[Run], procs: list) -> None:
    """-m 1 3: three one-second histograms in msecs, then the script exits by itself."""
    _hogs(procs, (os.cpu_count() or 1) + 1)
    r = _start(runs, "runqlat", "-m", "1", "3")
    r.wait_for(b"Hit Ctrl-C to end.")
    text = r.finish(sig=None)
    assert len(re.findall(r"^\s+msecs\s+: count\s+distribution$", text, re.M)) == 3, text
    assert all(sum(_hist(part).values()) > 0 for part in text.split("msecs")[1:]), text


# ---------------------------------------------------------------------- runqslower
def test_runqslower_threshold_and_pid(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-p PID 1000 with two CPU hogs on the workload's CPU: only the workload's wakeups that
    waited at least 1000 us are printed (perf buffer records), with its comm and tid."""
    _hogs(procs, 2, cpu=0)
    wl = Workload(schedwl, "sleep", cpu=0)
    procs.append(wl)
    r = _start(runs, "runqslower", "-p", str(wl.pid), "1000")
    r.wait_for(b"LAT(us)")
    r.in_sleep()               # the header comes before open_perf_buffer: ready once it polls
    wl.step(200)
    r.wait_for(b" schedwl ")
    text = r.finish()
    assert re.search(r"^TIME\s+COMM\s+TID\s+LAT\(us\)$", text, re.M), text
    rows = [ln.split() for ln in text.splitlines()[2:] if ln.strip()]
    assert rows, text
    for f in rows:
        assert re.fullmatch(r"\d\d:\d\d:\d\d", f[0]) and f[1:3] == ["schedwl", str(wl.pid)], f
        assert int(f[3]) >= 1000, f


# ---------------------------------------------------------------------- profile
def _spin(procs: list, schedwl: Path) -> Workload:
    wl = Workload(schedwl, "spin")
    procs.append(wl)
    return wl


def test_profile_folded_pid(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-af -p PID 1: folded user stacks of that process only, root first, symbolized with
    frame pointers: main;spinner;burn."""
    wl = _spin(procs, schedwl)
    r = _start(runs, "profile", "-af", "-p", str(wl.pid), "1")
    text = r.finish(sig=None)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines, text
    total = 0
    for ln in lines:
        stack, count = ln.rsplit(" ", 1)
        total += int(count)
        assert stack.startswith("schedwl;"), ln
        assert "main;spinner;burn" in stack, ln
    assert total > 0


def test_profile_multiline_frequency(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-F 99 -p PID 2: the header, then each stack innermost first with its process line."""
    wl = _spin(procs, schedwl)
    r = _start(runs, "profile", "-F", "99", "-p", str(wl.pid), "2")
    text = r.finish(sig=None)
    assert text.startswith(f"Sampling at 99 Hertz of PID [{wl.pid}] by user + kernel stack for 2 secs.\n")
    blocks = [b for b in text.split("\n\n")[1:] if b.strip()]
    assert blocks, text
    for b in blocks:
        ls = b.splitlines()
        assert ls[-2] == f"    -                schedwl ({wl.pid})", b
        assert int(ls[-1].strip()) > 0
        frames = [x.strip() for x in ls[:-2]]
        i = frames.index("burn")
        assert frames[i:i + 3] == ["burn", "spinner", "main"], b


# ---------------------------------------------------------------------- wakeuptime
def test_wakeuptime_pipe_waker(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-p PID: the workload blocked on a pipe is woken by this process's write(2): a stack
    with the waker's kernel path (vfs_write ... try_to_wake_up), target and waker names."""
    wl = Workload(schedwl, "sleep")
    procs.append(wl)
    r = _start(runs, "wakeuptime", "-p", str(wl.pid))
    r.wait_for(b"Hit Ctrl-C to end.")
    for _ in range(3):
        wl.step(1)
    text = r.finish()
    with open("/proc/self/comm") as fh:
        me = fh.read().strip()
    found = False
    for b in text.split("\n\n"):
        ls = [x.strip() for x in b.strip().splitlines()]
        if not ls or ls[0] != "target:          schedwl":
            continue
        assert ls[-2].startswith("waker:") and int(ls[-1]) > 0, b
        frames = [x.split(None, 1)[1] for x in ls[1:-2]]
        if ls[-2].split(None, 1)[1] == me and "vfs_write" in frames and "try_to_wake_up" in frames:
            found = True
            assert frames.index("vfs_write") < frames.index("try_to_wake_up")
    assert found, text
    assert text.rstrip().endswith("Detaching...")


# ---------------------------------------------------------------------- offwaketime
def _folded(text: str) -> list[tuple[str, list[str], list[str], str, int]]:
    """offwaketime -f lines: (target, its frames root first, the waker's frames leaf first,
    waker, total us). Names may hold spaces ("GC Thread#0"); frames never hold ';'."""
    out = []
    for ln in text.splitlines():
        if ";--;" not in ln:
            continue
        stack, total = ln.rsplit(" ", 1)
        tpart, wpart = stack.split(";--;", 1)
        t, w = tpart.split(";"), wpart.split(";")
        out.append((t[0], t[1:], w[:-1], w[-1], int(total)))
    return out


def test_offwaketime_pipe_waker_folded(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-p PID -f: the workload blocked reading its stdin pipe is woken by this process's
    write(2). Without kprobes the script's finish_task_switch and try_to_wake_up kprobes run
    from the sched_switch and sched_waking raw tracepoints, the target's stacks being the
    ones recorded when it was switched out. Its lines: target schedwl blocked in pipe_read ->
    schedule, waker this process in vfs_write -> try_to_wake_up; the blocked time is at least
    the pauses this test makes while the workload sits blocked (the first wakeup is not
    counted: it blocked before the script attached), at most the traced window."""
    wl = Workload(schedwl, "sleep")
    procs.append(wl)
    pause = 0.2
    t0 = time.monotonic()
    # a stack table bigger than the default 1024: every task's stacks are recorded when it is
    # switched out (which ones the script will want is known only later), and a bucket taken
    # by another stack gives -EEXIST
    r = _start(runs, "offwaketime", "-f", "--stack-storage-size", "16384", "-p", str(wl.pid))
    r.in_sleep()                 # attached: the folded mode prints no header
    for _ in range(4):
        wl.step(1)
        time.sleep(pause)        # blocked on stdin all along (wait_blocked saw it)
    text = r.finish()
    window_us = (time.monotonic() - t0) * 1e6
    with open("/proc/self/comm") as fh:
        me = fh.read().strip()
    rows = _folded(text)
    assert rows and all(t == "schedwl" for t, *_ in rows), text
    def at(frames: list[str], part: str) -> int:      # pipe_read is anon_pipe_read since 6.15
        return next(i for i, f in enumerate(frames) if part in f)

    piped = [(tf, wf, tot) for t, tf, wf, w, tot in rows if w == me and any("pipe_read" in f for f in tf)]
    assert piped, text
    for tf, wf, tot in piped:
        assert at(tf, "vfs_read") < at(tf, "pipe_read") < tf.index("schedule") < tf.index("__schedule"), tf
        assert wf.index("try_to_wake_up") < at(wf, "pipe_write") < wf.index("vfs_write"), wf
        assert tot > 0
    total = sum(tot for *_, tot in piped)
    assert 3 * pause * 1e6 <= total <= window_us, (total, window_us, text)


def test_offwaketime_nonconstant_stack_flags() -> None:
    """A get_stackid whose flags are known only at run time cannot be recorded at switch-out:
    a plain located error through the kprobe attach, no traceback."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import features

    if features.kprobes():
        pytest.skip("this kernel has kprobes: no stand-in is compiled")
    text = ("BPF_STACK_TRACE(st, 64);\nBPF_HASH(ids, u32, int);\n"
            "int oncpu(struct pt_regs *ctx, struct task_struct *prev) {\n"
            "    u32 pid = prev->pid; int f = pid & 1 ? BPF_F_USER_STACK : 0;\n"
            "    int id = st.get_stackid(ctx, f);\n    ids.update(&pid, &id);\n    return 0;\n}\n")
    with BPF(text=text) as b:
        with pytest.raises(Exception) as ei:
            b.attach_kprobe(event_re=r"^finish_task_switch$|^finish_task_switch\.isra\.\d$", fn_name="oncpu")
        lines = str(ei.value).splitlines()
    assert lines[0].startswith("Failed to attach BPF program oncpu to kprobe finish_task_switch: kprobe: "
                               "this kernel has no kprobe support"), lines
    assert lines[1] == ("<text>:5:34: error: get_stackid() in a finish_task_switch probe run from sched_switch "
                        "needs constant flags (the stacks are taken when the task is switched out)"), lines
    assert b.num_open_kprobes() == 0


# ---------------------------------------------------------------------- memleak
def test_memleak_pid_exact_leak(runs: list[Run], procs: list, schedwl: Path) -> None:
    """-p PID 1: uprobes on libc's malloc/free; 100 leaked 4 KiB blocks from leak_here()
    are outstanding, the freed 8 KiB ones are not."""
    wl = Workload(schedwl, "leak")
    procs.append(wl)
    r = _start(runs, "memleak", "-p", str(wl.pid), "1")
    r.wait_for(b"Ctrl+C to quit.")
    r.in_sleep()               # attached once it sleeps in its interval loop
    wl.step(100)
    r.wait_for(b"409600 bytes in 100 allocations from stack")
    text = r.finish()
    after = text.split("\t409600 bytes in 100 allocations from stack\n", 1)[1].splitlines()
    frames = [ln.strip().split("\t") for ln in itertools.takewhile(lambda x: x.startswith("\t\t"), after)]
    assert re.fullmatch(r"0x[0-9a-f]{16}", frames[0][0]), frames
    assert re.fullmatch(r"leak_here\+0x[0-9a-f]+ \[schedwl\]", frames[0][1]), frames
    assert re.fullmatch(r"main\+0x[0-9a-f]+ \[schedwl\]", frames[1][1]), frames
    assert "8192 bytes" not in text and " bytes in 100 allocations" in text


def test_memleak_kernel_pages_exact(runs: list[Run]) -> None:
    """Kernel mode (kmem/page tracepoints), `1 5`: the 4321 pages of a shared anonymous
    mapping this test touches after attach are outstanding allocations of the shmem fault
    stack (at least those: another process faulting shared memory meanwhile adds to it)."""
    n = 4321
    r = _start(runs, "memleak", "1", "5")
    r.wait_for(b"Attaching to kernel allocators, Ctrl+C to quit.")
    m = mmap.mmap(-1, n * mmap.PAGESIZE)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    for i in range(n):
        m[i * mmap.PAGESIZE] = 1
    text = r.finish(sig=None)
    m.close()
    reports = text.split("Top 10 stacks with outstanding allocations:")
    assert len(reports) == 6, text
    blocks = re.findall(r"\t(\d+) bytes in (\d+) allocations from stack\n((?:\t\t.*\n?)*)", reports[-1])
    shm = [(int(b), int(c)) for b, c, fr in blocks if "shmem_fault+0x" in fr and "[kernel]" in fr]
    assert any(c >= n and b == c * mmap.PAGESIZE for b, c in shm), reports[-1]
