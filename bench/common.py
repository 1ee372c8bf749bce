"""Shared pieces of the benchmark suite: the two tracers' command lines, compiled C workloads,
a tracer process driven to "attached" and stopped with SIGINT, statistics and result rows.

Every part module (startup, per_event, streaming, profile, scale) exposes
`run(cfg) -> list[Row]`; bench/run.py prints the rows as one table.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
SRC = os.path.join(REPO, "src")
BPFTRACE = "/usr/bin/bpftrace"
NOTIFY = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
LOST_RE = re.compile(r"Lost (\d+) events")
TOOLS = ("bpfscope", "bpftrace")


@dataclass
class Config:
    quick: bool = False
    tools: tuple[str, ...] = TOOLS
    workdir: str = ""
    verbose: bool = False

    def reps(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full


def have_bpftrace() -> bool:
    return os.access(BPFTRACE, os.X_OK)


def env_for(tool: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child environment: bpfscope from this checkout, the attach notification on."""
    env = dict(os.environ)
    env[NOTIFY] = "1"
    if tool == "bpfscope":
        env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def argv_for(tool: str, program: str, *opts: str) -> list[str]:
    if tool == "bpfscope":
        return [sys.executable, "-m", "bpfscope", *opts, "-e", program]
    return [BPFTRACE, *opts, "-e", program]


def bytecompile() -> None:
    """Byte-compile src as `pip install` does; PYTHONDONTWRITEBYTECODE would otherwise make
    every bpfscope start recompile its modules, which no installed copy does."""
    import compileall

    compileall.compile_dir(SRC, quiet=1)


def compile_c(cfg: Config, name: str, *flags: str) -> str:
    """gcc -O2 bench/c/NAME.c once per source version; returns the binary's path."""
    src = os.path.join(BENCH, "c", name + ".c")
    with open(src, "rb") as f:
        digest = hashlib.sha1(f.read() + " ".join(flags).encode()).hexdigest()[:10]
    out = os.path.join(cfg.workdir, f"{name}-{digest}")
    if not os.path.exists(out):
        if shutil.which("gcc") is None:
            raise SystemExit("bench: gcc is needed to build the workloads")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", out, src, *flags], check=True)
    return out


# ------------------------------------------------------------------ processes
class Workload:
    """A C workload started now but held until `go()` (it reads one byte from stdin), so a
    tracer can be attached with a `/pid == N/` filter before its first call."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.t_go = 0.0

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.t_go = time.perf_counter()
        self.proc.stdin.write("g")
        self.proc.stdin.close()
        self.proc.stdin = None

    def result(self, timeout: float = 120) -> dict[str, int]:
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"workload failed ({self.proc.returncode})")
        return {k: int(v) for k, v in (kv.split("=") for kv in out.split())}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Tracer:
    """One tracer process: stdout/stderr to files, started, waited on until it says its probes
    are attached, then stopped with SIGINT; wall times and the child's peak RSS recorded."""

    def __init__(self, cfg: Config, tool: str, program: str, *opts: str,
                 env: dict[str, str] | None = None) -> None:
        self.tool = tool
        fd, self.out_path = tempfile.mkstemp(prefix=f"{tool}-out-", dir=cfg.workdir)
        os.close(fd)
        fd, self.err_path = tempfile.mkstemp(prefix=f"{tool}-err-", dir=cfg.workdir)
        os.close(fd)
        self.argv = argv_for(tool, program, *opts)
        self.env = env_for(tool, env)
        self.pid = 0
        self.t_start = self.t_attached = self.t_sigint = self.t_exit = 0.0
        self.maxrss_kib = 0
        self.status = 0
        self.capped = False  # stop() gave up waiting and killed it
        self.verbose = cfg.verbose

    def start(self) -> None:
        self.t_start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child
            try:
                out = os.open(self.out_path, os.O_WRONLY | os.O_TRUNC)
                err = os.open(self.err_path, os.O_WRONLY | os.O_TRUNC)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(out, 1)
                os.dup2(err, 2)
                os.execve(self.argv[0], self.argv, self.env)
            finally:
                os._exit(127)
        self.pid = pid

    def wait_attached(self, timeout: float = 60.0) -> float:
        """Seconds from start to the attach notification on stdout."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self._notified():
                self.t_attached = time.perf_counter()
                return self.t_attached - self.t_start
            done, st, ru = os.wait4(self.pid, os.WNOHANG)
            if done:
                self.pid = 0
                self.status = st
                raise RuntimeError(f"{self.tool} exited before attaching: {self.stderr()[-2000:]}")
            time.sleep(0.003)
        self.stop()
        raise RuntimeError(f"{self.tool} did not attach within {timeout} s: {self.stderr()[-2000:]}")

    def _notified(self) -> bool:
        # bpfscope writes the notification to stdout, bpftrace 0.17 to stderr
        for p in (self.out_path, self.err_path):
            with open(p, "rb") as f:
                if NOTIFY.encode() in f.read():
                    return True
        return False

    def stop(self, timeout: float = 120.0) -> float:
        """SIGINT, wait for exit; returns seconds from the signal to the exit."""
        if not self.pid:
            return 0.0
        self.t_sigint = time.perf_counter()
        os.kill(self.pid, signal.SIGINT)
        deadline = self.t_sigint + timeout
        while True:
            done, st, ru = os.wait4(self.pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                done, st, ru = os.wait4(self.pid, 0)
                self.capped = True
                break
            time.sleep(0.002)
        self.t_exit = time.perf_counter()
        self.pid = 0
        self.status = st
        self.maxrss_kib = ru.ru_maxrss
        if self.capped:
            return timeout
        if self.verbose and os.waitstatus_to_exitcode(st) != 0:
            sys.stderr.write(f"[{self.tool} exit {os.waitstatus_to_exitcode(st)}] {self.stderr()[-500:]}\n")
        return self.t_exit - self.t_sigint

    def wait_exit(self, timeout: float = 120.0) -> float:
        """Wait for the tracer to exit by itself (exit() in the script); seconds from start."""
        deadline = time.perf_counter() + timeout
        while True:
            done, st, ru = os.wait4(self.pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                return self.stop()
            time.sleep(0.002)
        self.t_exit = time.perf_counter()
        self.pid = 0
        self.status = st
        self.maxrss_kib = ru.ru_maxrss
        return self.t_exit - self.t_start

    def rss_kib(self) -> int:
        """Current VmRSS of the running tracer."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stdout(self) -> str:
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self) -> str:
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0
        for p in (self.out_path, self.err_path):
            try:
                os.unlink(p)
            except OSError:
                pass

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prog_fds(pid: int) -> list[int]:
    """Ids of the BPF programs process `pid` holds fds to (from /proc/PID/fdinfo)."""
    ids: list[int] = []
    try:
        names = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for n in names:
        try:
            with open(f"/proc/{pid}/fdinfo/{n}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.append(int(line.split()[1]))
        except OSError:
            continue
    return sorted(set(ids))


def prog_stats(prog_ids: Sequence[int]) -> list[tuple[str, int, int, int]]:
    """(name, xlated instructions, run_time_ns, run_cnt) of each program id, via our objinfo."""
    if SRC not in sys.path:
        sys.path.insert(0, SRC)
    from bpfscope.kernel import objinfo

    out = []
    for pid in prog_ids:
        try:
            fd = objinfo.fd_by_id("prog", pid)
        except OSError:
            continue
        try:
            info = objinfo.prog_info(fd)
            out.append((info.name, info.xlated_prog_len // 8, info.run_time_ns, info.run_cnt))
        finally:
            os.close(fd)
    return out


def foreign_syscall_tracers() -> list[str]:
    """BPF programs of other processes on syscall tracepoints (from `bpftool perf`). Any one of
    them puts every task's syscalls on the tracing slow path, so a no-tracer baseline taken
    meanwhile already includes that cost (and theirs)."""
    import json

    if shutil.which("bpftool") is None:
        return []
    try:
        res = subprocess.run(["bpftool", "perf", "-j"], capture_output=True, text=True, timeout=10)
        entries = json.loads(res.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    out = []
    for e in entries:
        tp = str(e.get("tracepoint", ""))
        if tp.startswith(("sys_enter", "sys_exit")):
            out.append(f"pid {e.get('pid')} on {tp}")
    return sorted(set(out))


class BpfStats:
    """kernel.bpf_stats_enabled on for the with-block (run_time_ns/run_cnt), restored after."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self) -> BpfStats:
        with open(self.PATH) as f:
            self.old = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc: object) -> None:
        with open(self.PATH, "w") as f:
            f.write(self.old)


# ------------------------------------------------------------------ statistics and rows
@dataclass
class Stat:
    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self) -> tuple[float, float]:
        return (min(self.values), max(self.values)) if self.values else (float("nan"), float("nan"))


@dataclass
class Row:
    """One line of the result table. `goal` is (op, bound) applied to the ratio (or, with
    `absolute`, to the bpfscope value); `met` is None when there is no goal."""

    part: str
    metric: str
    unit: str
    ours: Stat
    theirs: Stat | None = None
    goal: tuple[str, float] | None = None
    absolute: bool = False
    note: str = ""
    ok: bool | None = None  # an extra condition (e.g. delivered + lost == known) that must hold

    @property
    def ratio(self) -> float | None:
        if self.theirs is None or not self.theirs.values or not self.ours.values:
            return None
        if self.theirs.median == 0:
            return None
        return self.ours.median / self.theirs.median

    @property
    def met(self) -> bool | None:
        if self.goal is None and self.ok is None:
            return None
        res = True
        if self.goal is not None and not self.absolute and self.theirs is None:
            return None  # nothing to compare with (bpftrace not installed)
        if self.goal is not None:
            op, bound = self.goal
            v = self.ours.median if self.absolute else self.ratio
            if v is None or v != v:
                return False
            res = v <= bound if op == "<=" else v >= bound
        if self.ok is not None:
            res = res and self.ok
        return res


def alternate(tools: Sequence[str], reps: int, fn: Callable[[str], None]) -> None:
    """Call fn(tool) reps times per tool, alternating tools (ABAB...) so drift hits both."""
    for i in range(reps):
        order = list(tools) if i % 2 == 0 else list(reversed(tools))
        for t in order:
            fn(t)


def fmt_num(v: float) -> str:
    if v != v:
        return "-"
    a = abs(v)
    if a < 1000 and float(v).is_integer():
        return f"{int(v)}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_stat(s: Stat | None) -> str:
    if s is None or not s.values:
        return "-"
    if len(s.values) == 1:
        return fmt_num(s.median)
    lo, hi = s.spread()
    return f"{fmt_num(s.median)} [{fmt_num(lo)}–{fmt_num(hi)}]"


def print_table(rows: Sequence[Row], out: TextIO | None = None) -> None:
    write = (out or sys.stdout).write
    head = ("part", "metric", "unit", "bpfscope median [min–max]", "bpftrace median [min–max]",
            "ratio", "goal", "met")
    lines = []
    for r in rows:
        ratio = r.ratio
        goal = ""
        if r.goal is not None:
            goal = f"{'value' if r.absolute else 'ratio'} {r.goal[0]} {r.goal[1]:g}"
        if r.ok is not None:
            goal = (goal + " & " if goal else "") + (r.note or "check")
        met = {None: "", True: "met", False: "NOT met"}[r.met]
        lines.append((r.part, r.metric, r.unit, fmt_stat(r.ours), fmt_stat(r.theirs),
                      "-" if ratio is None else f"{ratio:.2f}", goal, met))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    sep = "  "
    write(sep.join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip() + "\n")
    write(sep.join("-" * w for w in widths) + "\n")
    for ln in lines:
        write(sep.join(c.ljust(w) for c, w in zip(ln, widths, strict=True)).rstrip() + "\n")
    for r in rows:
        if r.note and r.ok is None:
            write(f"note: {r.part}/{r.metric}: {r.note}\n")
