"""Issue 17: `kill -9` at any moment leaves nothing of ours in the kernel.

Each trial starts one front end (CLI one-liners with a tracepoint, a uprobe, profile+interval;
a script file; a BCC-style tool; the Python API in a child), SIGKILLs it either at a random
moment of start-up (between exec and "attached") or at a random moment while running, reaps
it, then checks (tests/reliability/bpfobjs.py) that the trial's nonce map is gone, that no
prog or link created during the trial is left without a holder, that no tracefs probe line
was left behind, and that no process of the trial's session survived.

The default run does 12 trials (each scenario in both phases); `-m long` runs 100
(BPFSCOPE_KILL9_TRIALS to change it) and prints the figure.
"""

from __future__ import annotations

import os
import random
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.reliability import bpfobjs

pytestmark = [needs_root, pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool is needed")]

API_CHILD = """
import sys, time, bpfscope
p = bpfscope.Program(sys.argv[1])
p.attach()
print("attached", flush=True)
while True:
    p.poll(0.1)
"""


@dataclass
class Scenario:
    name: str
    argv: Callable[[str, Path], list[str]]   # (nonce, tmp dir) -> command
    ready: str                                # "stderr:<text>" or "stdout:<text>"
    nonce: bool = True                        # programs use the @<nonce> map
    prog_prefix: str | None = None            # else: names of its programs (orphan check)


def _cli(prog: str) -> Callable[[str, Path], list[str]]:
    return lambda n, _d: [sys.executable, "-m", "bpfscope", "-e", prog.replace("@N", f"@{n}")]


def _script(n: str, d: Path) -> list[str]:
    f = d / f"{n}.bt"
    f.write_text(f"BEGIN {{ @{n} = count(); }}\ntracepoint:raw_syscalls:sys_enter {{ @{n} = count(); }}\n"
                 f"END {{ @{n} = count(); }}\n")
    return [sys.executable, "-m", "bpfscope", str(f)]


def _api(n: str, _d: Path) -> list[str]:
    prog = f"tracepoint:sched:sched_switch {{ @{n}[comm] = count(); }} uprobe:libc:getppid {{ @{n}[comm] = count(); }}"
    return [sys.executable, "-c", API_CHILD, prog]


SCENARIOS = [
    Scenario("cli-tracepoint", _cli("tracepoint:sched:sched_switch { @N = count(); } "
                                    "tracepoint:syscalls:sys_enter_getppid { @N = count(); printf(\"x\\n\"); }"),
             "stderr:Attached"),
    Scenario("cli-uprobe", _cli("uprobe:libc:getppid { @N = count(); } uretprobe:libc:getppid { @N = count(); }"),
             "stderr:Attached"),
    Scenario("cli-profile", _cli("profile:hz:99 { @N[kstack, ustack] = count(); } "
                                 "interval:ms:100 { @N[kstack, ustack] = count(); }"), "stderr:Attached"),
    Scenario("script-file", _script, "stderr:Attached"),
    Scenario("tool-opensnoop", lambda _n, _d: [sys.executable, "-m", "bpfscope", "opensnoop"], "stdout:PID",
             nonce=False, prog_prefix="tracepoint_sys"),
    Scenario("python-api", _api, "stdout:attached"),
]


def _wait_ready(p: subprocess.Popen[bytes], ready: str, timeout: float = 30) -> float:
    """Seconds until the readiness text shows on the chosen stream."""
    stream_name, text = ready.split(":", 1)
    stream = p.stderr if stream_name == "stderr" else p.stdout
    assert stream is not None
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    while text.encode() not in buf:
        left = timeout - (time.monotonic() - t0)
        assert left > 0 and p.poll() is None, f"not ready: {buf[-2000:]!r} rc={p.poll()}"
        if sel.select(min(left, 0.5)):
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"stream closed before ready: {buf[-2000:]!r}"
            buf += chunk
    return time.monotonic() - t0


def _session_pids(sid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":   # session id is field 6 of stat
                out.append(int(d.name))
    return out


@dataclass
class Trial:
    scenario: str
    phase: str
    delay: float
    leaks: bpfobjs.Leaks


def run_trial(sc: Scenario, phase: str, tmp: Path, rng: random.Random, startup: dict[str, float]) -> Trial:
    nonce = "k9" + secrets.token_hex(5)
    before = bpfobjs.Snapshot.take()
    p = subprocess.Popen(sc.argv(nonce, tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if phase == "startup":
            delay = rng.uniform(0, startup.get(sc.name, 1.0))
            time.sleep(delay)
        else:
            t = _wait_ready(p, sc.ready)
            startup[sc.name] = max(startup.get(sc.name, 0.0), t)
            # the detector sees this trial's objects while they are alive
            if sc.nonce:
                assert bpfobjs.check(before, nonce).nonce_maps
            else:
                assert any(p.get("name", "").startswith(sc.prog_prefix or "") for p in bpfobjs.new_progs(before))
            delay = rng.uniform(0, 0.5)
            time.sleep(delay)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
    survivors = _session_pids(p.pid)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    leaks = bpfobjs.settle(before, nonce if sc.nonce else None, sc.prog_prefix)
    leaks.survivors = survivors
    return Trial(sc.name, phase, delay, leaks)


def run_trials(n: int, tmp: Path, seed: int) -> list[Trial]:
    rng = random.Random(seed)
    startup: dict[str, float] = {}
    trials = []
    for i in range(n):
        sc = SCENARIOS[i % len(SCENARIOS)]
        # the first round runs each scenario to readiness: its time bounds the start-up kills
        phase = "running" if (i // len(SCENARIOS)) % 2 == 0 else "startup"
        trials.append(run_trial(sc, phase, tmp, rng, startup))
    return trials


def _report(trials: list[Trial], seed: int) -> str:
    bad = [t for t in trials if t.leaks.any()]
    lines = [f"kill -9: {len(bad)} leaks / {len(trials)} trials (seed {seed})"]
    lines += [f"  {t.scenario} {t.phase} after {t.delay:.3f}s: {t.leaks}" for t in bad]
    return "\n".join(lines)


def test_detector_sees_a_pinned_leak(tmp_path: Path) -> None:
    """Control: a map pinned by a process that is then killed outlives it and is reported."""
    nonce = "k9" + secrets.token_hex(5)
    pin = Path("/sys/fs/bpf") / nonce
    before = bpfobjs.Snapshot.take()
    code = ("import os, sys, bpfscope.kernel.maps as M, bpfscope.kernel.syscall as sc, bpfscope.kernel.uapi as u\n"
            f"m = M.Map.create(u.BPF_MAP_TYPE_ARRAY, 4, 8, 1, name='AT_{nonce}')\n"
            f"sc.obj_pin(m.fd, {str(pin)!r})\n"
            "print('pinned', flush=True)\n"
            "os.kill(os.getpid(), 9)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    try:
        assert "pinned" in r.stdout, r.stderr
        leaks = bpfobjs.check(before, nonce)
        assert leaks.nonce_maps and leaks.any(), leaks
    finally:
        pin.unlink(missing_ok=True)
    assert not bpfobjs.settle(before, nonce).nonce_maps


def test_kill9_quick(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    trials = run_trials(2 * len(SCENARIOS), tmp_path, seed)
    report = _report(trials, seed)
    print(report)
    assert not any(t.leaks.any() for t in trials), report


@pytest.mark.long
def test_kill9_hundred(tmp_path: Path) -> None:
    n = int(os.environ.get("BPFSCOPE_KILL9_TRIALS", "100"))
    seed = int(os.environ.get("BPFSCOPE_KILL9_SEED", str(random.randrange(1 << 30))))
    trials = run_trials(n, tmp_path, seed)
    report = _report(trials, seed)
    print(report)
    assert not any(t.leaks.any() for t in trials), report
