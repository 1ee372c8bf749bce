"""memleak on leaker.c: `leak_some` keeps N blocks of a size the test chooses while `churn`
mallocs and frees 1000 others, so the outstanding allocations are known exactly: N of that
size from the stack leak_some <- main, nothing from churn."""

# ruff: noqa: F811  (the fixtures bins/workloads are imported from test_multitools)
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, bpfscope
from .test_multitools import Workload, bins, workloads  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")
REPORT = re.compile(r"^\[\d\d:\d\d:\d\d\] Top (\d+) stacks with outstanding allocations:$")


class Leak:
    """A running memleak: stdout read line by line, reports split at their title lines."""

    def __init__(self, *args: str, stdin: int | None = None) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "bpfscope", "memleak", *args], stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []

    def line(self, timeout: float = 60) -> str:
        assert self.p.stdout is not None
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, f"memleak printed nothing for {timeout} s: {self.lines}"
        ln = self.p.stdout.readline()
        assert ln, (self.lines, self.p.stderr.read() if self.p.stderr else "")
        self.lines.append(ln.rstrip("\n"))
        return self.lines[-1]

    def until(self, pred: object, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            ln = self.line(max(0.1, deadline - time.monotonic()))
            if pred(ln):  # type: ignore[operator]
                return ln

    def report_after_now(self) -> list[str]:
        """The whole report that starts after the current point (its end: the next title)."""
        self.until(lambda ln: REPORT.match(ln) is not None)   # may have begun before now
        self.until(lambda ln: REPORT.match(ln) is not None)
        start = len(self.lines) - 1
        self.until(lambda ln: REPORT.match(ln) is not None)
        return self.lines[start:-1]

    def stop(self) -> str:
        self.p.send_signal(signal.SIGINT)
        return self.rest()

    def rest(self) -> str:
        """Everything still to come until exit (also what readline() buffered: communicate()
        would lose that); the exit must be clean."""
        assert self.p.stdout is not None and self.p.stderr is not None
        out = self.p.stdout.read()
        err = self.p.stderr.read()
        self.p.wait(timeout=60)
        assert self.p.returncode == 0 and "Traceback" not in err, err
        return out


def groups(report: list[str]) -> list[tuple[int, int, list[str]]]:
    """(bytes, allocations, frames) per stack of one report."""
    out = []
    text = "\n".join(report)
    for m in re.finditer(r"^\t(\d+) bytes in (\d+) allocations from stack\n((?:\t\t.*\n?)*)", text, re.M):
        frames = [ln.strip().split("\t")[-1] for ln in m[3].splitlines() if ln.strip()]
        out.append((int(m[1]), int(m[2]), frames))
    return out


def names(frames: list[str]) -> list[str]:
    return [f.split("+")[0] for f in frames]


def leaked(report: list[str], size: int) -> list[tuple[int, int, list[str]]]:
    return [g for g in groups(report) if "leak_some" in names(g[2])]


def test_pid_exact_outstanding(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["leaker"], "7", "3000")
    workloads.append(w)
    m = Leak("-o", "0", "-p", str(w.pid), "1")
    assert m.line() == f"Attaching to pid {w.pid}, Ctrl+C to quit."
    w.go()
    assert w.p.stdout is not None and w.p.stdout.readline().strip() == "done"
    rep = m.report_after_now()
    m.stop()
    got = leaked(rep, 3000)
    assert len(got) == 1, rep
    size, n, frames = got[0]
    assert (size, n) == (21000, 7), rep
    assert names(frames)[:2] == ["leak_some", "main"], frames
    assert re.fullmatch(r"\t\t0x[0-9a-f]{16}\tleak_some\+0x[0-9a-f]+ \[leaker\]", rep[2]), rep   # BCC's frame
    assert not [g for g in groups(rep) if "churn" in names(g[2])], rep   # every churn block was freed


def test_user_note_default_interval(bins: dict[str, str], workloads: list[Workload]) -> None:
    """`memleak -p PID` as written: 5 s reports, allocations younger than 500 ms left out."""
    w = Workload(bins["leaker"], "3", "5000")
    workloads.append(w)
    m = Leak("-p", str(w.pid))
    assert m.line().startswith("Attaching to pid")
    w.go()
    assert w.p.stdout is not None and w.p.stdout.readline().strip() == "done"
    m.until(lambda ln: REPORT.match(ln) is not None, timeout=30)
    m.until(lambda ln: "bytes in" in ln, timeout=30)
    rep = m.lines[-1:] + [m.line() for _ in range(3)]
    m.stop()
    assert rep[0] == "\t15000 bytes in 3 allocations from stack", rep
    assert rep[1].strip().split("\t")[1].startswith("leak_some+0x"), rep


def test_command_combined_show_allocs(bins: dict[str, str]) -> None:
    """-c CMD: the command starts once the probes are attached (so its first allocations are
    seen); --combined-only keeps per-stack totals in the kernel; -a lists addresses."""
    rfd, wfd = os.pipe()
    m = Leak("-o", "0", "--combined-only", "-c", f"{bins['leaker']} 4 2500", "1", stdin=rfd)
    os.close(rfd)
    assert m.line() == f"Executing '{bins['leaker']} 4 2500' and tracing the resulting process."
    assert m.line().startswith("Attaching to pid")
    m.until(lambda ln: ln == "ready")   # the command's own line, on the same stdout
    os.write(wfd, b"go\n")
    m.until(lambda ln: ln == "done")
    rep = m.report_after_now()
    os.close(wfd)   # the leaker exits at EOF
    m.stop()
    got = leaked(rep, 2500)
    assert [(s, n) for s, n, _f in got] == [(10000, 4)], rep
    assert not [g for g in groups(rep) if "churn" in names(g[2])], rep


def test_show_allocs_and_size_filter(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["leaker"], "5", "1234")
    workloads.append(w)
    m = Leak("-a", "-o", "0", "-z", "1000", "-Z", "2000", "-p", str(w.pid), "1")
    m.line()
    w.go()
    assert w.p.stdout is not None and w.p.stdout.readline().strip() == "done"
    rep = m.report_after_now()
    m.stop()
    addrs = [ln for ln in rep if ln.startswith("\taddr = ")]
    assert len(addrs) == 5 and all(ln.endswith(" size = 1234") for ln in addrs), rep
    assert [(s, n) for s, n, _f in groups(rep)] == [(6170, 5)], rep   # -z/-Z: nothing else recorded


def test_trace_each_call(bins: dict[str, str], workloads: list[Workload]) -> None:
    import threading

    w = Workload(bins["leaker"], "2", "777")
    workloads.append(w)
    m = Leak("-t", "-p", str(w.pid))
    m.line()
    # the 2000 churn lines overfill a pipe nobody reads: read all along, as a terminal would.
    # (OPEN BUG, session 5: when Ctrl-C comes while memleak is blocked writing to a full pipe,
    # the tail of its output can be lost without a word: 661 of 1000 allocs in 1 of 4 runs.)
    assert m.p.stdout is not None and m.p.stderr is not None
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(m.p.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    w.go()
    assert w.p.stdout is not None and w.p.stdout.readline().strip() == "done"
    m.p.send_signal(signal.SIGINT)    # Ctrl-C while the target lives, as a user does
    reader.join(60)
    err = m.p.stderr.read()
    m.p.wait(timeout=60)
    assert m.p.returncode == 0 and "Traceback" not in err, err
    w.done()
    lines = m.lines + (got[0].splitlines() if got else [])
    assert sum(ln.startswith("alloc exited, size = 777, result = ") for ln in lines) == 2, lines[:20]
    assert sum(ln.startswith("alloc exited, size = 100, result = ") for ln in lines) >= 1000
    assert sum(ln.startswith("free entered, address = ") and ln.endswith("size = 100") for ln in lines) >= 1000


def test_kernel_mode_reports(bins: dict[str, str]) -> None:
    m = Leak("-o", "0", "-T", "3", "1", "2")
    assert m.line() == "Attaching to kernel allocators, Ctrl+C to quit."
    for _ in range(20):   # kernel allocations: open and close files meanwhile
        with open("/proc/self/status") as f:
            f.read()
    out = m.rest()
    rep = out.splitlines()
    assert sum(bool(REPORT.match(ln)) for ln in rep) == 2, out[:3000]
    g = groups(rep)
    assert g and all(s > 0 and n > 0 for s, n, _f in g) and len(g) <= 6, out[:3000]
    assert all(f.endswith("[kernel]") for _s, _n, fr in g for f in fr), out[:3000]
    assert not any(f.startswith(("bpf_", "__traceiter_", "trace_")) for _s, _n, fr in g for f in names(fr))


def test_bad_options_plain() -> None:
    for argv in (["-z", "10", "-Z", "5"], ["-p", "999999999"], ["-c", ""], ["-O", "nosuchlibzz", "-p", "1"]):
        r = bpfscope("memleak", *argv)
        assert r.returncode == 1 and "Traceback" not in r.stderr and r.stdout.strip() + r.stderr.strip(), \
            (argv, r.stdout, r.stderr)
