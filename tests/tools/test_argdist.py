"""argdist with distributions the test chooses: read() sizes of a driver process (a tracepoint
frequency count, exact) and a fixture function's argument (a uprobe histogram, exact)."""

# ruff: noqa: F811  (the fixtures bins/workloads are imported from test_multitools)
from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, bpfscope
from .test_multitools import Workload, bins, workloads  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")
STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]$")
READER = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print("ready", flush=True)
os.read(0, 16)                       # "go\\n": 3 bytes
for n in [1] * 5 + [7] * 3 + [100] * 2:
    os.read(fd, n)
print("done", flush=True)
os.read(0, 16)
"""


class Argdist:
    """argdist's readiness line is on stderr (stdout stays BCC's); intervals start with [time]."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "bpfscope", "argdist", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert self.p.stderr is not None
        r, _, _ = select.select([self.p.stderr], [], [], 60)
        self.header = self.p.stderr.readline() if r else ""
        assert self.header.startswith("Tracing "), self.header
        self.lines: list[str] = []

    def line(self, timeout: float = 30) -> str:
        assert self.p.stdout is not None
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, self.lines
        ln = self.p.stdout.readline()
        assert ln, self.lines
        self.lines.append(ln.rstrip("\n"))
        return self.lines[-1]

    def last_interval_after_now(self) -> list[str]:
        """With -c (cumulative), the second interval that starts after now holds everything
        done before now (the first may already have been written)."""
        for _ in range(3):
            while not STAMP.match(self.line()):
                pass
        start = len(self.lines) - 1
        self.stop()
        body = self.lines[start:]
        end = next((i for i, ln in enumerate(body[1:], 1) if STAMP.match(ln)), len(body))
        return body[:end]

    def stop(self) -> None:
        self.p.send_signal(signal.SIGINT)
        assert self.p.stdout is not None and self.p.stderr is not None
        out = self.p.stdout.read()   # also what readline() already buffered (communicate() would lose it)
        err = self.p.stderr.read()
        self.p.wait(timeout=60)
        assert self.p.returncode == 0 and "Traceback" not in err, err
        self.lines += out.splitlines()


def test_tracepoint_count_exact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * 4096)
    w = subprocess.Popen([sys.executable, "-c", READER, str(data)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert w.stdout is not None and w.stdin is not None and w.stdout.readline().strip() == "ready"
        spec = "t:syscalls:sys_exit_read():ssize_t:args->ret"
        a = Argdist("-c", "-p", str(w.pid), "-C", spec)
        assert a.header == "Tracing 1 probe... Hit Ctrl-C to end.\n"
        w.stdin.write("go\n")
        w.stdin.flush()
        assert w.stdout.readline().strip() == "done"
        body = a.last_interval_after_now()
    finally:
        w.kill()
        w.wait()
    assert body[1:3] == [spec, "\tCOUNT      EVENT"], body
    rows = [ln.split(None, 1) for ln in body[3:]]
    assert rows == [["1", "args->ret = 3"], ["2", "args->ret = 100"], ["3", "args->ret = 7"],
                    ["5", "args->ret = 1"]], body


def test_uprobe_histogram_with_label_and_filter(bins: dict[str, str], workloads: list[Workload]) -> None:
    """nap(20) five times: ms = 20 lands in 16 -> 31; a filter that drops them all in a second probe."""
    w = Workload(bins["sleeper"], "20", "5")
    workloads.append(w)
    exe = bins["sleeper"]
    a = Argdist("-c", "-p", str(w.pid), "-H", f"p:{exe}:nap(long ms):long:ms#nap ms",
                "-C", f"p:{exe}:nap(long ms):long:ms:ms>100", "-C", f"p:{exe}:nap()")
    w.go()
    assert w.p.stdout is not None and w.p.stdout.readline().strip() == "done"
    body = a.last_interval_after_now()
    text = "\n".join(body)
    assert f"p:{exe}:nap(long ms):long:ms:ms>100\n\tCOUNT      EVENT\np:{exe}:nap()\n" in text, text
    assert f"p:{exe}:nap()\n\tCOUNT      EVENT\n\t5          total calls\n" in text, text
    assert "     nap ms              : count     distribution\n" in text, text
    rows = [ln for ln in body if re.match(r"^\s+\d+ -> \d+\s+:", ln)]
    assert rows[-1].split(":")[0].split() == ["16", "->", "31"] and rows[-1].split()[4] == "5", rows
    assert all(r.split()[4] == "0" for r in rows[:-1]), rows


def test_retval_default_expr(bins: dict[str, str], workloads: list[Workload]) -> None:
    """`r:lib:func()` counts return values (BCC's default: retval as int)."""
    w = Workload(bins["leafchain"], "9", "wait")
    workloads.append(w)
    a = Argdist("-c", "-p", str(w.pid), "-C", f"r:{bins['leafchain']}:leaf()", "-T", "2")
    w.go()
    w.done()
    body = a.last_interval_after_now()
    rows = [ln.split(None, 1) for ln in body[3:]]
    # leaf(2*(i%7)+1) returns twice that: i = 0..8 -> 2, 6, 10, ..., 26, 2, 6: the top 2 are 6 and 2 (twice)
    assert sorted(rows) == [["2", "retval = 2"], ["2", "retval = 6"]], body


def test_user_note_kprobe_line_plain() -> None:
    """`argdist -H 'r::__tcp_select_window():int:$retval'`: no kprobes here -> one line, exit 1."""
    from bpfscope.kernel import features

    if features.kprobes() or features.fentry():
        pytest.skip("this kernel has kprobes or fentry (the VM lane runs this line)")
    r = bpfscope("argdist", "-H", "r::__tcp_select_window():int:$retval")
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("argdist: kretprobe: this kernel has no kretprobe support"), r.stderr


@pytest.mark.parametrize("spec,msg", [
    ("x::f()", "probe type must be"),
    ("p::f", "has an invalid format"),
    ("p:c:malloc()", "histograms must have expr"),
    ("p:c:malloc(size_t s):u64,u64:s,s", "histograms can only have 1 expr"),
    ("t:sched:sched_switch(int x):int:x", "can't have a function signature"),
])
def test_bad_specifiers(spec: str, msg: str) -> None:
    r = bpfscope("argdist", "-H", spec)
    assert r.returncode == 1 and "Traceback" not in r.stderr and msg in r.stderr, r.stderr
    assert r.stderr.startswith(f"error parsing probe '{spec}'"), r.stderr


def test_no_specifier() -> None:
    r = bpfscope("argdist")
    assert r.returncode == 1 and r.stderr == "at least one specifier is required\n"
