"""offcputime (and wakeuptime, offwaketime) on sleeper.c: `nap` sleeps a known time a known
number of times, so its stack is known (nap <- main, in nanosleep) and so is its off-CPU
total (never less than the sleeps; a loaded machine may add a little). Against libbpf-tools'
offcputime on the same run when it is installed."""

# ruff: noqa: F811  (the fixtures bins/workloads are imported from test_multitools)
from __future__ import annotations

import re
import shutil
import signal
import subprocess

import pytest

from tests.schedtrace import SchedTrace

from .conftest import ROOT, bpfscope
from .test_multitools import Workload, bins, run_tool, stop, workloads  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")
SLEEP_MS, N = 200, 3


def naps_us(st: SchedTrace, min_us: int = 0) -> int:
    """The sleeper's blocked time as the sched tracepoints delivered it (tests/schedtrace.py):
    each switch out asleep to the next switch in. Not SLEEP_MS * N: a nap is off-CPU a little
    less than it sleeps when the timer is armed well before the switch, and a switch in the
    tracepoints never delivered makes the nap before it invisible to every tracer."""
    naps = [us for us in st.off_cpu_us() if us >= max(min_us, SLEEP_MS * 900)]
    assert N - 1 <= len(naps) <= N, st.off_cpu_us()
    return sum(naps)


def near(got: int, want: int) -> bool:
    """Two tracers' sums of the same intervals: each end is stamped by two programs on one
    tracepoint call, microseconds apart (more if the vCPU is preempted between them)."""
    return abs(got - want) <= max(2000, want // 200)


def nap_lines(out: str) -> list[tuple[list[str], int]]:
    rows = []
    for ln in out.splitlines():
        if ";nap;" in ln or ln.endswith(";nap") or ";nap " in ln:
            stack, n = ln.rsplit(" ", 1)
            rows.append((stack.split(";"), int(n)))
    return rows


def peer_attached(pid: int, timeout: float = 60) -> bool:
    """libbpf-tools' offcputime prints no header: it is ready once it holds a BPF link fd."""
    import os
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    if "link_type:" in f.read():
                        return True
        except OSError:
            return False
        time.sleep(0.05)   # polling the readiness condition, not waiting blindly
    return False


def test_folded_pid_nap_stack_and_time(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["sleeper"], str(SLEEP_MS), str(N))
    workloads.append(w)
    p = run_tool("offcputime", "-f", "-p", str(w.pid), stderr_ready=True)
    assert p.header.startswith(f"Tracing off-CPU time (us) of PID {w.pid} by user + kernel stack")  # type: ignore
    with SchedTrace(w.pid) as st:
        w.go()
        w.done()
        out = stop(p)
    rows = nap_lines(out)
    assert len(rows) == 1, out
    stack, us = rows[0]
    assert stack[0] == "sleeper" and stack[stack.index("nap") - 1] == "main", stack
    kern = stack[stack.index("nap") + 1:]
    assert "do_nanosleep" in kern and kern[-1] in ("__schedule", "schedule"), stack
    assert near(us, naps_us(st)), (us, st.off_cpu_us())
    assert all(ln.startswith("sleeper;") for ln in out.splitlines() if ln.strip()), out


def test_multiline_tid_min_block(bins: dict[str, str], workloads: list[Workload]) -> None:
    """-t TID, -m: only blocks of >= 150 ms are kept (each nap is 200 ms); BCC's layout."""
    w = Workload(bins["sleeper"], str(SLEEP_MS), str(N))
    workloads.append(w)
    p = run_tool("offcputime", "-t", str(w.pid), "-m", "150000", "-U")
    assert p.header == f"Tracing off-CPU time (us) of TID {w.pid} by user stack... Hit Ctrl-C to end.\n"  # type: ignore
    with SchedTrace(w.pid) as st:
        w.go()
        w.done()
        out = stop(p)
    blocks = [b for b in out.split("\n\n") if b.strip()]
    naps = [b for b in blocks if "    nap\n" in b]
    assert len(naps) == 1, out
    lines = naps[0].strip("\n").splitlines()
    assert lines[:2] == ["    nap", "    main"], out
    assert lines[-2] == f"    -                sleeper ({w.pid})", lines
    assert near(int(lines[-1]), naps_us(st, 150_000)), (lines[-1], st.off_cpu_us())
    for b in blocks:   # every kept entry sums blocks of at least 150 ms
        assert int(b.splitlines()[-1]) >= 150_000, b
    assert "do_nanosleep" not in out   # -U: no kernel frames


def test_user_note_folded_5s(bins: dict[str, str], workloads: list[Workload]) -> None:
    """`offcputime -f 5`, as written: system-wide, ends by itself, folded lines only."""
    p = run_tool("offcputime", "-f", "5", stderr_ready=True)
    assert p.header.endswith("by user + kernel stack for 5 secs.\n")  # type: ignore[attr-defined]
    # started after the tracer, as a user runs it: its exec is recorded, so its stacks symbolize
    # after it exits (a process older than the tracer that exits before its first sample is
    # handled cannot be symbolized: an open limit of system-wide runs)
    w = Workload(bins["sleeper"], "100", "2")
    workloads.append(w)
    w.go()      # no side tracer here: starting one takes a second of the 5-second window
    w.done()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "Traceback" not in err, err
    lines = [ln for ln in out.splitlines() if ln]
    assert all(re.fullmatch(r"\S.* \d+", ln) for ln in lines), out[:2000]
    rows = nap_lines(out)
    # two naps of 100 ms; one may be lost to a switch-in the tracepoints never delivered
    # (tests/schedtrace.py), and a nap is off-CPU a little less than it sleeps
    assert len(rows) == 1 and rows[0][0][0] == "sleeper" and 95_000 <= rows[0][1] <= 250_000, rows


@pytest.mark.skipif(shutil.which("offcputime") is None, reason="libbpf-tools' offcputime not installed")
def test_same_as_libbpf_tools(bins: dict[str, str], workloads: list[Workload]) -> None:
    """Same run, both tools: the nanosleep block's kernel frames and its total agree."""
    w = Workload(bins["sleeper"], str(SLEEP_MS), str(N))
    workloads.append(w)
    peer = subprocess.Popen(["stdbuf", "-oL", "offcputime", "-p", str(w.pid)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert peer_attached(peer.pid), "libbpf-tools' offcputime attached nothing"
    p = run_tool("offcputime", "-p", str(w.pid))
    with SchedTrace(w.pid) as st:
        w.go()
        w.done()
        ours = stop(p)
    peer.send_signal(signal.SIGINT)
    theirs, _ = peer.communicate(timeout=60)

    def sleep_block(text: str) -> tuple[list[str], int]:
        """The kernel frames (tracing frames dropped) and total of the sleeper's nanosleep block."""
        for blk in text.split("\n\n"):
            lines = [ln.strip() for ln in blk.strip().splitlines()]
            if "do_nanosleep" in lines and f"sleeper ({w.pid})" in lines[-2]:
                kern = lines[:lines.index("entry_SYSCALL_64_after_hwframe") + 1]
                return [f for f in kern if not f.startswith(("bpf_", "__traceiter_"))], int(lines[-1])
        raise AssertionError(text)

    (ok, on), (tk, tn) = sleep_block(ours), sleep_block(theirs)
    assert ok == tk and ok[:3] == ["__schedule", "schedule", "do_nanosleep"], (ok, tk)
    assert near(on, naps_us(st)) and near(tn, on), (on, tn, st.off_cpu_us())   # the same sleeps, three times
    assert "    nap\n    main\n" in ours   # libbpf-tools' user stack is missing here; ours is not


def test_wakeuptime_pid(bins: dict[str, str], workloads: list[Workload]) -> None:
    """The sleeper is woken by its timer: waker stack through hrtimer_wakeup, target sleeper."""
    w = Workload(bins["sleeper"], str(SLEEP_MS), str(N))
    workloads.append(w)
    p = run_tool("wakeuptime", "-f", "-p", str(w.pid), stderr_ready=True)
    with SchedTrace(w.pid) as st:
        w.go()
        w.done()
        out = stop(p)
    rows = [ln.rsplit(" ", 1) for ln in out.splitlines() if ln.split(" ")[0].endswith(";sleeper")]
    timer = [(s, int(n)) for s, n in rows if "hrtimer_wakeup" in s]
    slept = [us for us in st.blocked_until_wakeup_us() if us >= SLEEP_MS * 900]   # up to the wakeup
    assert N - 1 <= len(slept) <= N, st.blocked_until_wakeup_us()
    assert timer and near(sum(n for _s, n in timer), sum(slept)), (out, slept)
    assert all(s.split(";")[1] == "try_to_wake_up" for s, _n in timer), timer


def test_offwaketime_pid(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["sleeper"], str(SLEEP_MS), str(N))
    workloads.append(w)
    p = run_tool("offwaketime", "-f", "-p", str(w.pid), stderr_ready=True)
    with SchedTrace(w.pid) as st:
        w.go()
        w.done()
        out = stop(p)
    rows = [ln.rsplit(" ", 1) for ln in out.splitlines() if ln.startswith("sleeper;") and ";nap;" in ln]
    assert rows and near(sum(int(n) for _s, n in rows), naps_us(st)), (out, st.off_cpu_us())
    for stack, _n in rows:
        target, waker = stack.split(";--;")
        assert "do_nanosleep" in target and "main" in target.split(";")
        assert waker.startswith("try_to_wake_up;hrtimer_wakeup"), stack


def test_bad_options_plain() -> None:
    for argv in (["offcputime", "-k", "-U"], ["offcputime", "-p", "0"], ["wakeuptime", "-p", "1", "-u"]):
        r = bpfscope(*argv)
        assert r.returncode in (1, 2) and "Traceback" not in r.stderr and r.stderr.strip(), (argv, r.stderr)
