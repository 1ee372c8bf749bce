"""Shared fixtures: root gating, a compiled getppid workload, a CLI runner; the skip policy
(unexpected skips fail under CI=true, see tests/skip-allowlist.txt)."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")


@pytest.fixture(scope="session")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A C program that calls getppid() argv[1] times (and 1-byte reads of /dev/zero with 'r')."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    d = tmp_path_factory.mktemp("wl")
    src = d / "wl.c"
    src.write_text(
        "#include <unistd.h>\n#include <stdlib.h>\n#include <fcntl.h>\n#include <string.h>\n"
        "int main(int argc, char **argv) {\n"
        "  long n = argc > 1 ? atol(argv[1]) : 1;\n"
        "  if (argc > 2 && strcmp(argv[2], \"r\") == 0) {\n"
        "    char c; int fd = open(\"/dev/zero\", O_RDONLY);\n"
        "    for (long i = 0; i < n; i++) read(fd, &c, 1);\n"
        "    return 0; }\n"
        "  for (long i = 0; i < n; i++) getppid();\n  return 0; }\n")
    exe = d / "wl"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def bpfscope(*args: str, timeout: float = 30, env: dict[str, str] | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (a fresh interpreter)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "bpfscope", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, input=input)


# ---------------------------------------------------------------- skip policy (issue 19)
# A green run must mean something: under CI=true a skipped test fails unless the allow-list
# names it with the reason it may skip for. Every run lists unexpected skips in its summary.
ALLOWLIST = Path(__file__).resolve().parent / "skip-allowlist.txt"
STRICT = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load_allowlist(path: Path = ALLOWLIST) -> list[tuple[str, str]]:
    """(node-id glob, skip-reason substring) pairs: `pattern | reason` lines, `#` comments."""
    entries = []
    for raw in path.read_text().splitlines() if path.exists() else []:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, sep, reason = line.partition(" | ")
        if not sep or not reason.strip():
            raise pytest.UsageError(f"{path.name}: `pattern | reason` expected, got {raw!r}")
        entries.append((pattern.strip(), reason.strip()))
    return entries


def allowed_skip(nodeid: str, reason: str, entries: list[tuple[str, str]]) -> bool:
    """True when some entry's glob matches the test id and its reason occurs in the skip message."""
    return any(fnmatch.fnmatchcase(nodeid, pat) and why in reason for pat, why in entries)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


_UNEXPECTED: list[tuple[str, str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report).removeprefix("Skipped: ")
    if allowed_skip(report.nodeid, reason, item.config.stash[_ALLOW_KEY]):
        return
    _UNEXPECTED.append((report.nodeid, reason))
    if STRICT:
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true and not allowed by tests/{ALLOWLIST.name}: {reason}\n"
                           "(install the missing peer in .ci/run, or add `test-id-glob | reason` to the list)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    """A whole module skipped at import (pytest.importorskip) falls under the same rule."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if not report.skipped:
        return
    reason = _skip_reason(report).removeprefix("Skipped: ")
    if allowed_skip(report.nodeid, reason, collector.config.stash[_ALLOW_KEY]):
        return
    _UNEXPECTED.append((report.nodeid, reason))
    if STRICT:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true and not allowed by tests/{ALLOWLIST.name}: {reason}"


_ALLOW_KEY = pytest.StashKey[list[tuple[str, str]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ALLOW_KEY] = load_allowlist()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if not _UNEXPECTED:
        return
    verdict = "FAILED (CI=true)" if STRICT else "would fail under CI=true"
    terminalreporter.section(f"skips not in tests/{ALLOWLIST.name}: {len(_UNEXPECTED)} {verdict}")
    for nodeid, reason in _UNEXPECTED:
        terminalreporter.write_line(f"{nodeid}: {reason}")


def peer_failed(what: str, res: subprocess.CompletedProcess) -> NoReturn:  # type: ignore[type-arg]
    """A reference peer that is installed but fails is a failure, never a skip.

    bpftrace 0.17 prints "couldn't set RLIMIT_MEMLOCK" on every run here: it tries to raise the
    limit to infinity, and this sandbox has no CAP_SYS_RESOURCE (hard limit 8 MiB, so prlimit
    cannot raise it either). It runs on regardless: since 5.11 BPF memory is charged to the
    memory cgroup, not to RLIMIT_MEMLOCK. That line is noise, not a peer failure."""
    err = res.stderr if isinstance(res.stderr, str) else (res.stderr or b"").decode(errors="replace")
    pytest.fail(f"reference peer {what} failed (exit {res.returncode}): {err.strip()[-600:]}")


def python_comm() -> str:
    """The comm of a child started as [sys.executable, ...]: the executable's name, cut to 15 bytes."""
    return Path(sys.executable).name[:15]


def read_until(fd: int, marker: bytes | None, timeout: float = 20) -> bytes:
    """Read ``fd`` until ``marker`` was seen (None: until EOF); the bytes read. Raises on timeout."""
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker is not None and marker in got:
            return got
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the pty's other side has closed
            chunk = b""
        if not chunk:
            if marker is None:
                return got
            raise AssertionError(f"EOF before {marker!r}: {got[-500:]!r}")
        got += chunk
    raise AssertionError(f"timed out waiting for {marker!r}: {got[-500:]!r}")


def build_c(d: Path, name: str, source: str, *flags: str) -> Path:
    """Compile a workload's C `source` with gcc into d/name (the test is skipped without gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    src = d / f"{name}.c"
    src.write_text(source)
    exe = d / name
    subprocess.run(["gcc", *flags, "-o", str(exe), str(src)], check=True)
    return exe


@contextlib.contextmanager
def raw_loop_device(tmp: Path, size_mb: int = 16, scheduler: str | None = None) -> Iterator[str]:
    """A loop device over a sparse file, no file system: each direct write the test makes is one
    block request. `scheduler` (e.g. "mq-deadline": loop devices default to "none", whose direct
    issue skips block_rq_insert) is set or the test skipped. Detached on exit."""
    if shutil.which("losetup") is None:
        pytest.skip("losetup is needed")
    image = tmp / "raw.img"
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    r = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    dev = r.stdout.strip()
    try:
        if scheduler is not None:
            sched = Path("/sys/block") / os.path.basename(dev) / "queue" / "scheduler"
            if scheduler not in sched.read_text():
                pytest.skip(f"{scheduler} scheduler not available")
            sched.write_text(scheduler)
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)
