"""difffolded, pprof export (parsed back, and by `go tool pprof` when Go is installed), CLI."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope.flame.diff import difffolded
from bpfscope.flame.pprof import encode_profile, folded_to_stacks, read_pprof, write_pprof

from .svgframes import by_title


def test_difffolded_union_normalize_strip() -> None:
    a = ["main;f 10", "main;g 30", "bad"]
    b = ["main;g 10", "main;h 20"]
    # the count-less line becomes an empty stack with 0, as difffolded.pl prints it
    assert difffolded(a, b) == [" 0 0", "main;f 10 0", "main;g 30 10", "main;h 0 20"]
    # -n scales the first profile to the second's total (40 -> 30), truncating
    assert difffolded(a, b, normalize=True) == [" 0 0", "main;f 7 0", "main;g 22 10", "main;h 0 20"]
    assert difffolded(["x;0xffff 1", "x;0xabc 2"], ["x;0x1 4"], strip_hex=True) == ["x;0x... 3 4"]


def test_pprof_roundtrip(tmp_path: Path) -> None:
    stacks = {("main", "a", "b"): 5, ("main", "c"): 7, ("main", "a"): 1, ("ünï", "x"): 2**40}
    path = tmp_path / "p.pb.gz"
    write_pprof(stacks, str(path), sample_type=("cpu", "nanoseconds"))
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    st, back = read_pprof(path.read_bytes())
    assert st == ("cpu", "nanoseconds") and back == stacks
    buf = io.BytesIO()
    write_pprof(folded_to_stacks(["m;a 3", "m;a 4", "m;b 1"]), buf)
    assert read_pprof(buf.getvalue())[1] == {("m", "a"): 7, ("m", "b"): 1}
    raw = encode_profile({("a",): 1}, time_nanos=0)
    assert raw.startswith(b"\x0a\x04\x08\x01\x10\x02")  # sample_type {type=1 unit=2}


@pytest.mark.skipif(shutil.which("go") is None, reason="go toolchain (Debian golang-go) not installed")
def test_go_tool_pprof_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "cpu.pb.gz"
    write_pprof({("main", "work", "leaf"): 70, ("main", "idle"): 30}, str(path))
    res = subprocess.run(["go", "tool", "pprof", "-top", str(path)], capture_output=True, text=True,
                         timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                           "GOCACHE": str(tmp_path / "gocache")})
    assert res.returncode == 0, res.stderr
    assert "leaf" in res.stdout and "70.00%" in res.stdout and "idle" in res.stdout


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bpfscope.flame.cli", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_cli_pipeline(tmp_path: Path) -> None:
    perf = (Path(__file__).parent / "data" / "perf_script_cpu_clock.txt").read_bytes()
    folded = _run("stackcollapse", "perf", stdin=perf)
    assert folded.returncode == 0, folded.stderr
    # every one of the input's 31 samples lands in exactly one folded line, weighted by its period
    periods = [int(p) for p in re.findall(rb"^\S.*?(\d+) cpu-clock:", perf, re.M)]
    assert len(periods) == 31
    lines = folded.stdout.decode().splitlines()
    assert all(re.fullmatch(r"\S.*;\S.* \d+", ln) for ln in lines), lines
    assert sum(int(ln.rsplit(" ", 1)[1]) for ln in lines) == sum(periods) == 31 * 1001001
    svg = _run("flamegraph", "--title", "CPU", "--hash", "--bgcolors=gray", stdin=folded.stdout)
    assert svg.returncode == 0
    text = svg.stdout.decode()
    assert ">CPU</text>" in text and 'stop-color="#f8f8f8"' in text
    assert any(t.startswith("python3 (") for t in by_title(text))
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.write_text("m;x 5\nm;y 5\n")
    b.write_text("m;x 9\n")
    d = _run("difffolded", str(a), str(b))
    assert d.stdout == b"m;x 5 9\nm;y 5 0\n"
    diff_svg = _run("flamegraph", stdin=d.stdout).stdout.decode()
    assert "x (9 samples, 100.00%; +44.44%)" in diff_svg
    empty = _run("flamegraph", stdin=b"garbage\n")
    assert empty.returncode == 2 and b"ERROR: No valid input" in empty.stdout
    bt = _run("stackcollapse", "bpftrace", stdin=b"@[\n  a+1\n  b+2\n]: 4\n")
    assert bt.stdout == b"b+2;a+1 4\n"


def test_tracer_to_flamegraph_one_pipe() -> None:
    """`bpfscope -e 'profile… @[kstack] = count()' | bpfscope flamegraph` draws real kernel frames."""
    import os
    import subprocess
    import sys

    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to run the tracer")
    busy = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1k", "count=100000000"])
    try:
        tracer = subprocess.run([sys.executable, "-m", "bpfscope", "-q", "-e",
                                 "profile:hz:499 { @[kstack] = count(); } interval:ms:800 { exit(); }"],
                                capture_output=True, text=True, timeout=60)
    finally:
        busy.kill()
        busy.wait()
    assert tracer.returncode == 0, tracer.stderr
    svg = subprocess.run([sys.executable, "-m", "bpfscope", "flamegraph"], input=tracer.stdout,
                         capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout
    assert "do_syscall_64" in svg.stdout  # dd's read/write syscalls, symbolized from kallsyms
