"""Every line of the README's ```sh blocks runs as a newcomer would type it (issue 17).

The lines run in order in a scratch directory holding a copy of examples/ (the README says
`make -C examples` first), with `bpfscope` on PATH as `sys.executable -m bpfscope`. A line
marked "Ctrl-C" gets SIGINT once its probes are attached; every other line must end on its
own. A line passes when it exits 0 with no ERROR and no traceback; kernel-function probe
lines on a kernel without kprobes/fentry must instead end in the plain one-line explanation.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT = 120.0


def readme_lines(text: str) -> list[str]:
    """The command lines of the ```sh fenced blocks."""
    out: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        out.extend(ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
    return out


def test_readme_has_runnable_blocks() -> None:
    lines = readme_lines((REPO / "README.md").read_text())
    assert lines[0].startswith("bpfscope -e ") and "make -C examples" in lines
    # nothing a newcomer lacks: every ./path or examples/ path names something the Makefile builds
    built = {"workload", "chain", "app", "hello.bpf.o", "xdp_pass.bpf.o"} | {
        f.name for f in (REPO / "examples").iterdir()}
    for ln in lines:
        for name in re.findall(r"examples/([\w.]+)", ln):
            assert name in built, (name, ln)
        assert not re.search(r"(?<![\w/])\./(?!examples/)\w", ln), f"a program the reader does not have: {ln}"


def _kernel_function_line(line: str) -> str | None:
    m = re.search(r"\b(kprobe|kretprobe|fentry|fexit):[\w*]", line)
    return m.group(1) if m else None


def _run(line: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run one line in bash; SIGINT after "Attached" for Ctrl-C lines. (status, stderr)."""
    out = open(cwd / "last-stdout.txt", "wb")
    p = subprocess.Popen(["bash", "-c", line], cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE,
                         start_new_session=True)
    assert p.stderr is not None
    err = b""
    interrupted = "Ctrl-C" not in line
    deadline = time.monotonic() + LINE_TIMEOUT
    try:
        while True:
            r, _, _ = select.select([p.stderr], [], [], 0.5)
            if r:
                chunk = os.read(p.stderr.fileno(), 65536)
                if not chunk:
                    break
                err += chunk
            if not interrupted and b"Attached" in err:
                os.killpg(p.pid, signal.SIGINT)
                interrupted = True
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
                pytest.fail(f"timed out after {LINE_TIMEOUT}s: {line}\n{err.decode(errors='replace')}")
        rc = p.wait(timeout=LINE_TIMEOUT)
    finally:
        out.close()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return rc, err.decode(errors="replace")


@needs_root
def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(), flags=re.S | re.M)
    assert blocks
    for i, code in enumerate(blocks):
        script = tmp_path / f"block{i}.py"
        script.write_text(code)
        r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (code, r.stderr)


@needs_root
def test_every_readme_line_runs(tmp_path: Path) -> None:
    for tool in ("make", "gcc", "clang", "perf"):
        assert shutil.which(tool), f"{tool} is installed by .ci/run; the README's examples need it"
    from bpfscope.kernel import features

    have = {"kprobe": features.kprobes(), "kretprobe": features.kretprobes(),
            "fentry": features.fentry(), "fexit": features.fexit()}
    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("workload", "chain", "app", "*.bpf.o"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "bpfscope"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bpfscope "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    failures: list[str] = []
    lines = readme_lines((REPO / "README.md").read_text())
    try:
        for line in lines:
            rc, err = _run(line, tmp_path, env)
            if "Traceback" in err:
                failures.append(f"traceback: {line}\n{err[-1500:]}")
                continue
            kind = _kernel_function_line(line)
            if kind and not have[kind]:
                plain = re.search(rf"ERROR: {kind}: this kernel has no {kind} support \(", err)
                listing = line.split()[1].startswith("-l") and rc == 0
                if not (listing or (rc == 1 and plain)):
                    failures.append(f"expected the plain 'no {kind} support' message (exit 1): {line}\n{err}")
                continue
            if rc != 0 or "ERROR" in err:
                failures.append(f"exit {rc}: {line}\n{err[-1500:]}")
    finally:  # the README's own clean-up lines may not have run
        subprocess.run(["bash", "-c", "rm -rf /sys/fs/bpf/hello /sys/fs/bpf/hello_maps /sys/fs/bpf/xdp_pass; "
                        "ip link set dev lo xdpgeneric off"], capture_output=True)
    assert not failures, "\n\n".join(failures)
    # the outputs the lines promise exist and are what they say
    assert (tmp_path / "out.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "diff.svg").stat().st_size > 0 and (tmp_path / "perf.svg").stat().st_size > 0
    assert (tmp_path / "cpu.pb.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert "struct task_struct {" in (tmp_path / "vmlinux.h").read_text()
