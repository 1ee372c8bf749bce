"""`--test` and `--bench`: run a script's test:/bench: probes in the kernel through
BPF_PROG_TEST_RUN and report, in bpftrace 0.26's text and JSON.

A test passes when its program returns 0 (`return N` sets it), raised no errorf() and did
not exit() with a non-zero code (a failed assert does). A passing test's output is
suppressed; a failing test's output is shown between its RUN and FAILED lines.

A bench: probe times its own body with ktime_get_ns (see codegen `special_epilogue`);
the probe runs repeatedly for a fixed time budget and the average is reported.
"""

from __future__ import annotations

import struct
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from ..kernel import syscall as sc

if TYPE_CHECKING:
    from .program import Program

GREEN, RED, RESET = "\033[32m", "\033[31m", "\033[0m"
BENCH_BUDGET_S = 0.2       # wall time spent running each bench: probe
BENCH_MAX_RUNS = 1_000_000


def duration_text(ns: int) -> str:
    """A duration in its largest whole unit (s, ms, μs, ns), as bpftrace prints one."""
    for scale, unit in ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "μs")):
        if ns >= scale:
            return f"{ns // scale} {unit}"
    return f"{ns} ns"


def _plural(n: int) -> str:
    return "test" if n == 1 else "tests"


def _json_str(s: str) -> str:
    from ..lang.ctype.types import string_type
    from .output import format_value

    return format_value(s, string_type(0), json=True)


class _Capture:
    """Collects a test's output (program writes and stderr messages) in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.parts)


def _probes(prog: Program, provider: str) -> list[tuple[str, int, int]]:
    """(short name, probe index, prog fd) of every test:/bench: probe, in script order."""
    cp = prog.compile()
    return [(ps.probe.name.split(":", 1)[1], ps.index, fd)
            for ps, fd in zip(cp.progs, prog.prog_fds, strict=True) if ps.probe.provider == provider]


def run_tests(prog: Program, out: IO[str]) -> int:
    """Run every test: probe once; returns the exit status (1 if any test failed)."""
    tests = _probes(prog, "test")
    if not tests:
        sys.stderr.write("ERROR: --test: the program has no test: probes\n")
        return 1
    passed: list[bool] = []
    names = [t[0] for t in tests]
    for i, (name, _idx, fd) in enumerate(tests):
        cap = _Capture()
        prog.on_output = cap.write
        prog.error_count = 0
        prog.exiting, prog.exit_code = False, 0
        prog._stopped = False
        saved_err = sys.stderr
        sys.stderr = cap  # type: ignore[assignment]  # errorf() text joins the captured output
        t0 = time.monotonic_ns()
        try:
            retval, _ = sc.prog_test_run(fd, ctx_in=bytes(8), repeat=0)
            prog.drain()
        finally:
            sys.stderr = saved_err
            prog.on_output = None
        took = time.monotonic_ns() - t0
        ok = retval == 0 and prog.error_count == 0 and not (prog.exiting and prog.exit_code != 0)
        passed.append(ok)
        out.write(_test_json(name, took, ok, cap.text()) if prog.json else
                  _test_text(names, i, took, passed, cap.text()))
    prog.exiting, prog.exit_code = False, 0
    return 0 if all(passed) else 1


def _test_text(names: list[str], i: int, took: int, passed: list[bool], output: str) -> str:
    lines = []
    if i == 0:
        lines.append(f"{GREEN}[==========]{RESET} Running {len(names)} tests.")   # (bpftrace: always plural)
    lines.append(f"{GREEN}[ RUN      ]{RESET} {names[i]}")
    if passed[i]:
        status = f"{GREEN}[       OK ]{RESET} {names[i]}"
    else:
        lines.extend(ln for ln in output.split("\n") if ln)
        status = f"{RED}[  FAILED  ]{RESET} {names[i]}"
    lines.append(f"{status} ({duration_text(took)})")
    if i == len(names) - 1:
        n, npass = len(names), sum(passed)
        lines.append(f"{GREEN}[==========]{RESET} {n} {_plural(n)} ran.")
        lines.append(f"{GREEN}[  PASSED  ]{RESET} {npass} {_plural(npass)}.")
        if npass < n:
            lines.append(f"{RED}[  FAILED  ]{RESET} {n - npass} {_plural(n - npass)}, listed below:")
            lines.extend(f"{RED}[  FAILED  ]{RESET} {nm}" for nm, ok in zip(names, passed, strict=True)
                         if not ok)
    return "".join(ln + "\n" for ln in lines)


def _test_json(name: str, took: int, ok: bool, output: str) -> str:
    return (f'{{"type": "test_result", "data": {{{_json_str(name)}: {{"duration": {took}, '
            f'"passed": {"true" if ok else "false"}, "output": {_json_str(output)}}}}}}}\n')


def run_benchmarks(prog: Program, out: IO[str]) -> int:
    """Run every bench: probe for BENCH_BUDGET_S and report its average time per run."""
    benches = _probes(prog, "bench")
    if not benches:
        sys.stderr.write("ERROR: --bench: the program has no bench: probes\n")
        return 1
    names = [b[0] for b in benches]
    width = max(40, len("Benchmark"), *(len(n) for n in names))
    counters: Any = prog._map("$bench")
    discard = _Capture()
    prog.on_output = discard.write      # a bench's own output is not part of the report
    averages: list[str] = []
    try:
        for i, (name, idx, fd) in enumerate(benches):
            runs = _bench_runs(prog, fd)
            raw = counters.lookup(struct.pack("<I", idx))
            total = sum(struct.unpack_from("<Q", c, 0)[0] for c in counters.values_percpu(raw)) if raw else 0
            avg = total // runs if runs else 0
            discard.parts.clear()
            if prog.json:   # one record for all, name -> average ns (tests/runtime/json-output "bench")
                averages.append(f"{_json_str(name)}: {avg}")
                continue
            head = ""
            if i == 0:
                head = f"{'Benchmark':<{width + 1}}{'Time(ns)':<15}Iterations\n" + "-" * (width + 1 + 15 + 10) + "\n"
            out.write(f"{head}{name:<{width + 1}}{avg:<15}{runs}\n")
        if prog.json:
            out.write('{"type": "benchmark_results", "data": {' + ", ".join(averages) + "}}\n")
    finally:
        prog.on_output = None
        prog.exiting, prog.exit_code = False, 0
    return 0


def _bench_runs(prog: Program, fd: int) -> int:
    deadline = time.monotonic() + BENCH_BUDGET_S
    runs = 0
    while runs < BENCH_MAX_RUNS:
        for _ in range(64):
            sc.prog_test_run(fd, ctx_in=bytes(8), repeat=0)
        runs += 64
        prog.drain()
        prog._stopped = False
        if time.monotonic() >= deadline:
            break
    return runs
