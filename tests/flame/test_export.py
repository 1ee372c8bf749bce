"""Export straight from the tracer: ``-f folded`` and ``-f pprof`` of real stack maps.

A workload of our own (named functions, frame pointers, a busy loop of syscalls) is
profiled with ``profile:hz`` and ``@[kstack, ustack] = count()``; the folded lines and the
pprof profile (parsed back field by field) must show its user frames above kernel frames
in root-first order, with consistent tables. Pure key-to-frames rules are checked alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bpfscope.export.stacks import EMPTY_FRAME, StackMap, key_frames, merged_stacks
from bpfscope.flame.pprof import decode, split_frame
from bpfscope.lang.ctype.types import Kind, Type, stack_type

from .svgframes import by_title

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to load BPF programs")

WORKLOAD_C = r"""
#include <time.h>
#include <unistd.h>
static volatile unsigned long sink;
__attribute__((noinline)) void fg_inner(void) {
    for (int i = 0; i < 200; i++) { sink += getppid(); for (int j = 0; j < 300; j++) sink += j; }
}
__attribute__((noinline)) void fg_outer(void) { fg_inner(); sink++; }
int main(int argc, char **argv) {
    struct timespec a, b;
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do { fg_outer(); clock_gettime(CLOCK_MONOTONIC, &b); }
    while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < secs);
    return 0;
}
"""


@pytest.fixture(scope="module")
def fgwork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    d = tmp_path_factory.mktemp("fgwork")
    (d / "fgwork.c").write_text("#include <stdlib.h>\n" + WORKLOAD_C)
    exe = d / "fgwork"
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-inline", "-o", str(exe),
                    str(d / "fgwork.c")], check=True)
    return exe


def _cli(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfscope", *args], capture_output=True, text=True,
                          input=input, timeout=timeout)


def _names(frames: tuple[str, ...] | list[str]) -> list[str]:
    return [split_frame(f)[0] for f in frames]


def _assert_workload_stack(names: list[str]) -> None:
    """Root first: main -> fg_outer (-> fg_inner). In getppid, a leaf without a frame of
    its own, frame-pointer unwinding skips fg_inner: the sample shows fg_outer -> getppid."""
    assert names.index("main") < names.index("fg_outer"), names
    if "fg_inner" in names:
        assert names.index("fg_outer") < names.index("fg_inner"), names


# ------------------------------------------------------------------ pure rules

def test_key_frames_follow_stackcollapse_bpftrace_order() -> None:
    kt = Type(Kind.TUPLE, elems=(stack_type(Kind.KSTACK), stack_type(Kind.USTACK), Type(Kind.STRING, size=16)))
    key = (["k_leaf+1", "k_root+2"], ["u_leaf+3", "main+4"], "comm;x")
    # key parts last to first, each stack root first; ';' cannot survive inside a frame
    assert key_frames(key, kt) == ["comm:x", "main+4", "u_leaf+3", "k_root+2", "k_leaf+1"]
    assert key_frames(([], [], ""), kt) == [EMPTY_FRAME]
    assert key_frames(["a", "b"], stack_type(Kind.KSTACK)) == ["b", "a"]
    assert key_frames(42, Type(Kind.INT, size=8)) == ["42"]


def test_merged_stacks_prefix_map_names_only_when_several() -> None:
    a = StackMap("@a", Kind.COUNT, [(["x", "y"], 3), (["x", "y"], 2)], has_stack=True)
    b = StackMap("@b", Kind.COUNT, [(["x"], 1)], has_stack=True)
    assert merged_stacks([a]) == {("x", "y"): 5}
    assert merged_stacks([a, b]) == {("@a", "x", "y"): 5, ("@b", "x"): 1}


def test_cli_rejects_bad_export_options(tmp_path: Path) -> None:
    r = _cli("-f", "pprof", "-e", "profile:hz:99 { @[kstack] = count(); }")
    assert r.returncode == 1 and "ERROR: -f pprof writes a binary profile: give it a file with -o FILE" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("-f", "pprof", "-o", str(tmp_path / "no" / "such" / "dir.pb.gz"), "-e", "BEGIN { exit(); }")
    assert r.returncode == 1 and "ERROR: failed to open output file" in r.stderr
    r = _cli("-f", "svg", "-e", "BEGIN { exit(); }")
    assert r.returncode == 1 and "Valid formats: 'text', 'json', 'folded', 'pprof'" in r.stderr


# ------------------------------------------------------------------ live runs

@needs_root
def test_folded_and_pprof_of_one_program_agree(fgwork: Path) -> None:
    """One loaded Program, both exports: same stacks (pprof by function), real workload frames."""
    from bpfscope.export.folded import folded_lines
    from bpfscope.export.pprof import build_profile
    from bpfscope.flame.pprof import encode
    from bpfscope.runtime.program import Program
    from bpfscope.runtime.runner import Child

    # as the CLI's -c does: the child is held before exec until the probes are attached
    child = Child(f"{fgwork} 0.8")
    try:
        src = "profile:hz:199 /pid == cpid/ { @[kstack, ustack] = count(); } interval:ms:50 { @ticks = count(); }"
        with Program(src) as prog:
            prog.load(cpid=child.pid)
            prog.attach()
            child.start()
            deadline = time.monotonic() + 20
            while not child.reap() and time.monotonic() < deadline:
                time.sleep(0.05)
            for h in prog.handles:
                h.close()
            prog.handles.clear()
            lines, skipped = folded_lines(prog)
            profile, skipped2 = build_profile(prog, time_nanos=1, duration_nanos=2)
    finally:
        child.kill()
    assert skipped == skipped2 == ["@ticks"]
    assert len(lines) >= 3
    folded: dict[tuple[str, ...], int] = {}
    for ln in lines:
        stack, _, count = ln.rpartition(" ")
        key = tuple(_names(stack.split(";")))
        folded[key] = folded.get(key, 0) + int(count)
    total = sum(folded.values())
    # how many samples 0.8 s give depends on the CPU time the workload got; that most of them
    # are in its loop (start-up and exit are a few ms of its on-CPU time) does not
    assert total > 0, lines
    ours = [k for k in folded if "fg_outer" in k]
    assert sum(folded[k] for k in ours) >= total * 0.5
    for k in ours:
        _assert_workload_stack(list(k))
    assert any("fg_inner" in k for k in ours), ours  # its own loop
    assert any("do_syscall_64" in k and k.index("do_syscall_64") > k.index("fg_outer") for k in ours), ours

    d = decode(encode(profile))
    assert d.sample_types == [("samples", "count"), ("cpu", "nanoseconds")]
    assert d.period_type == ("cpu", "nanoseconds") and d.period == 1_000_000_000 // 199
    assert (d.time_nanos, d.duration_nanos) == (1, 2)
    assert d.comments[0] == "generated by bpfscope" and "profile:hz:199" in d.comments[1]
    for locs, values in d.samples:
        assert locs and all(lid in d.locations for lid in locs)
        assert values[1] == values[0] * d.period
    for mapping, _addr, fids in d.locations.values():
        assert len(fids) == 1 and fids[0] in d.functions and mapping in d.mappings
    kernel_map = [mid for mid, name in d.mappings.items() if name == "[kernel.kallsyms]"]
    assert len(kernel_map) == 1
    kernel_funcs = {d.functions[f[0]][0] for m, _a, f in d.locations.values() if m == kernel_map[0]}
    assert "do_syscall_64" in kernel_funcs and not {"main", "fg_outer", "fg_inner"} & kernel_funcs
    names = [f[0] for f in d.functions.values()]
    assert len(names) == len(set(names))  # one Function per function, offsets dropped
    assert {"main", "fg_outer", "fg_inner", "do_syscall_64"} <= set(names)
    assert not any("+" in n for n in names if n not in ("[unknown]",))
    assert d.stacks() == folded


@needs_root
def test_cli_pprof_export_parsed_back(fgwork: Path, tmp_path: Path) -> None:
    out = tmp_path / "cpu.pb.gz"
    r = _cli("-f", "pprof", "-o", str(out), "-c", f"{fgwork} 0.8",
             "-e", "profile:hz:199 /pid == cpid/ { @[kstack, ustack] = count(); } "
                   "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @calls = count(); }")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "@calls" in r.stderr  # warned: not exported
    data = out.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    d = decode(data)
    stacks = d.stacks()
    total = sum(stacks.values())
    assert total > 0  # the count follows the CPU time the workload got; the shares below do not
    assert d.sample_types[1] == ("cpu", "nanoseconds")
    assert sum(v[1] for _, v in d.samples) == total * d.period
    mine = {k: v for k, v in stacks.items() if "fg_outer" in k}
    assert sum(mine.values()) >= total * 0.5
    for k in mine:
        _assert_workload_stack(list(k))
    if shutil.which("go"):
        top = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=cpu", str(out)],
                             capture_output=True, text=True, timeout=120,
                             env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                  "GOCACHE": str(tmp_path / "gocache")})
        assert top.returncode == 0, top.stderr
        assert "Type: cpu" in top.stdout and "fg_outer" in top.stdout


@needs_root
def test_cli_folded_pipes_into_flamegraph(fgwork: Path) -> None:
    r = _cli("-f", "folded", "-c", f"{fgwork} 0.8",
             "-e", "profile:hz:199 /pid == cpid/ { @[kstack, ustack, comm] = count(); }")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(ln.rpartition(" ")[2].isdigit() for ln in lines), r.stdout[:500]
    assert not any(ln.startswith("@") or ln.strip() == "" for ln in lines)
    assert lines == sorted(lines)
    work = [ln for ln in lines if ln.startswith("fgwork;")]
    assert work, lines[:5]
    for ln in work:
        if "fg_outer" in ln:
            _assert_workload_stack(_names(ln.rpartition(" ")[0].split(";")))
    svg = _cli("flamegraph", "--title", "fgwork", input=r.stdout)
    assert svg.returncode == 0, svg.stderr
    titles = by_title(svg.stdout)
    total = sum(int(ln.rpartition(" ")[2]) for ln in lines)
    assert f"all ({total} samples, 100%)" in titles
    assert any(t.startswith("fgwork (") for t in titles)
    assert any(t.startswith("fg_outer+") for t in titles)


def _run_flamegraph_cli(text: str) -> Any:
    return _cli("flamegraph", input=text)


def test_flamegraph_takes_folded_lines_with_map_roots() -> None:
    """Folded export of several maps starts lines with '@map;': not mistaken for a map dump."""
    svg = _run_flamegraph_cli("@a;[unknown];f 3\n@b;g 1\n")
    assert svg.returncode == 0, svg.stderr
    t = by_title(svg.stdout)
    assert "@a (3 samples, 75.00%)" in t and "[unknown] (3 samples, 75.00%)" in t


@needs_root
def test_one_pipe_stopped_with_ctrl_c(tmp_path: Path) -> None:
    """`bpfscope -f folded … | bpfscope flamegraph > cpu.svg`, ended by Ctrl-C (SIGINT to
    the whole process group, as a terminal sends it): the tracer flushes, the SVG is drawn."""
    import signal

    svg_path = tmp_path / "cpu.svg"
    busy = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1k", "count=100000000"])
    tracer = subprocess.Popen([sys.executable, "-m", "bpfscope", "-f", "folded", "-e",
                               "profile:hz:199 { @[kstack, ustack] = count(); }"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
    assert tracer.stdout is not None and tracer.stderr is not None
    with open(svg_path, "wb") as svg_out:
        render = subprocess.Popen([sys.executable, "-m", "bpfscope", "flamegraph"], stdin=tracer.stdout,
                                  stdout=svg_out, stderr=subprocess.PIPE, process_group=tracer.pid)
    tracer.stdout.close()
    try:
        deadline = time.monotonic() + 20
        banner = b""
        while b"Attached" not in banner and time.monotonic() < deadline:
            banner += tracer.stderr.read1(200)  # type: ignore[attr-defined]
        time.sleep(0.8)
        os.killpg(tracer.pid, signal.SIGINT)
        assert tracer.wait(timeout=30) == 0
        _out, err = render.communicate(timeout=60)
    finally:
        busy.kill()
        busy.wait()
        for p in (tracer, render):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert render.returncode == 0, err
    titles = by_title(svg_path.read_text())
    assert any(t.startswith("all (") for t in titles)
    assert any(t.startswith("do_syscall_64+") for t in titles), list(titles)[:20]
