"""funclatency on a fixture whose function sleeps a time the test chooses (sleeper.c's nap:
nanosleep inside), so the histogram bucket and the call count are known exactly; against
libbpf-tools' funclatency on the same run when it is installed."""

# ruff: noqa: F811  (the fixtures bins/workloads are imported from test_multitools)
from __future__ import annotations

import re
import select
import shutil
import signal
import subprocess
import sys

import pytest

from .conftest import ROOT, bpfscope
from .test_multitools import Workload, bins, run_tool, stop, workloads  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")
ROW = re.compile(r"^\s*(\d+) -> (\d+)\s*: (\d+)\s")


def buckets(text: str) -> dict[tuple[int, int], int]:
    return {(int(m[1]), int(m[2])): int(m[3]) for m in map(ROW.match, text.splitlines()) if m and int(m[3])}


def landed(text: str, bucket: tuple[int, int], n: int) -> bool:
    """n calls, none faster than `bucket` (a sleep never ends early), most of them in it (a busy
    machine may oversleep a few)."""
    b = buckets(text)
    return sum(b.values()) == n and min(b) == bucket and b[bucket] * 2 > n


def test_bucket_and_summary_ms(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["sleeper"], "20", "5")
    workloads.append(w)
    p = run_tool("funclatency", "-m", "-p", str(w.pid), f"{bins['sleeper']}:nap")
    assert p.header == f'Tracing 1 functions for "{bins["sleeper"]}:nap"... Hit Ctrl-C to end.\n'  # type: ignore[attr-defined]
    w.go()
    w.done()
    out = stop(p)
    assert landed(out, (16, 31), 5), out
    assert "     msecs               : count     distribution" in out
    m = re.search(r"\navg = (\d+) msecs, total: (\d+) msecs, count: 5\n", out)
    assert m and 20 <= int(m[1]) and 100 <= int(m[2]), out   # never less than the sleeps
    assert out.rstrip().endswith("Detaching...")


def test_usecs_per_function_sections(bins: dict[str, str], workloads: list[Workload]) -> None:
    """-u -F: one histogram per function; a library pattern without -p keys by pid as BCC."""
    w = Workload(bins["sleeper"], "3", "4")
    workloads.append(w)
    p = run_tool("funclatency", "-u", "-F", f"{bins['sleeper']}:na*")
    w.go()
    w.done()
    out = stop(p)
    assert f"\nFunction = nap [{w.pid}]\n" in out, out
    sect = out.split(f"Function = nap [{w.pid}]\n", 1)[1].split("\navg")[0].split("\nFunction")[0]
    assert landed(sect, (2048, 4095), 4), out   # 3 ms = 3000 us


def test_regex_and_interval(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["sleeper"], "10", "3")
    workloads.append(w)
    p = run_tool("funclatency", "-r", "-i", "1", "-p", str(w.pid), f"{bins['sleeper']}:^na.$")
    assert p.header.startswith("Tracing 1 functions")  # type: ignore[attr-defined]
    w.go()
    w.done()
    out = stop(p)
    total: dict[tuple[int, int], int] = {}
    for m in map(ROW.match, out.splitlines()):   # every interval's rows, summed
        if m and int(m[3]):
            total[(int(m[1]), int(m[2]))] = total.get((int(m[1]), int(m[2])), 0) + int(m[3])
    assert out.count("nsecs               : count") >= 1 and sum(total.values()) == 3, out
    assert min(total) == (8388608, 16777215), out   # 10 ms = 10,000,000 ns


@pytest.mark.skipif(shutil.which("funclatency") is None, reason="libbpf-tools' funclatency not installed")
def test_same_as_libbpf_tools(bins: dict[str, str], workloads: list[Workload]) -> None:
    """Both tools on the same run: the same bucket, the same count."""
    w = Workload(bins["sleeper"], "20", "6")
    workloads.append(w)
    peer = subprocess.Popen(["stdbuf", "-oL", "funclatency", "-m", "-p", str(w.pid), ":nap"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert peer.stdout is not None
    r, _, _ = select.select([peer.stdout], [], [], 60)
    assert r and "Tracing" in peer.stdout.readline()   # printed once its probes are attached
    p = run_tool("funclatency", "-m", "-p", str(w.pid), f"{bins['sleeper']}:nap")
    w.go()
    w.done()
    ours = stop(p)
    peer.send_signal(signal.SIGINT)
    theirs, _ = peer.communicate(timeout=30)
    assert buckets(ours) == buckets(theirs) and landed(ours, (16, 31), 6), (ours, theirs)


def test_kernel_function_plain_message() -> None:
    from bpfscope.kernel import features

    if features.kprobes() or features.fentry():
        pytest.skip("this kernel has kprobes or fentry (the VM lane runs these)")
    r = bpfscope("funclatency", "-m", "do_nanosleep")
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("funclatency: kprobe: this kernel has no kprobe support"), r.stderr


@pytest.mark.parametrize("argv", [["a:b:c"], ["-l", "3", "c:read"], ["-i", "0", "c:read"],
                                  ["nosuchlibzz:f"]])
def test_bad_input_plain(argv: list[str]) -> None:
    r = bpfscope("funclatency", *argv)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_help() -> None:
    r = subprocess.run([sys.executable, "-m", "bpfscope", "funclatency", "-h"], capture_output=True, text=True)
    assert r.returncode == 0 and "./funclatency -F 'vfs_r*'" in r.stdout
