"""Part "tools": BCC-style tools (`bpfscope opensnoop` ...) against Debian's bpftrace tools
(/usr/sbin/*.bt) and libbpf-tools (opensnoop, execsnoop, ... on PATH), alternating runs.

    python3 bench/tools.py [--quick] [--only-startup | --only-load]

1. start-to-attached: wall time from exec to the tool's header line (printed once its probes
   are attached), with our compiled-program cache warm (the normal case after a first run)
   and cold (BPFSCOPE_NO_CACHE=1); peak RSS of the idle tool. Goals (issue 12): <= 0.4x
   bpftrace's .bt tool, <= 5x libbpf-tools; peak RSS <= 2x libbpf-tools.
2. opensnoop under ~100k opens/s (bench/c/openloop.c, paced): CPU ns each open() costs the
   opening thread with the tool running minus without, ours vs libbpf-tools'; the tool's own CPU
   per event; and every event delivered or counted lost (lines naming the file + "Lost N").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BPFTRACE, SRC, Config, Row, Stat, Workload, alternate, compile_c  # noqa: E402

# tool: (our argv after "bpfscope", bpftrace script, libbpf-tools binary, readiness substrings
# for ours / bpftrace / libbpf-tools)
TOOLS = {
    "opensnoop": (["opensnoop"], "/usr/sbin/opensnoop.bt", "opensnoop", ("PID", "PID", "PID")),
    "execsnoop": (["execsnoop"], "/usr/sbin/execsnoop.bt", "execsnoop", ("PCOMM", "PID", "PCOMM")),
    "runqlat": (["runqlat"], "/usr/sbin/runqlat.bt", "runqlat", ("Tracing", "Tracing", "Tracing")),
    # biolatency.bt's kprobes do not attach on a kernel without kprobes (bpftrace skips them and
    # runs empty), so it is no reference there
    "biolatency": (["biolatency"], "" if not os.path.exists("/sys/bus/event_source/devices/kprobe")
                   else "/usr/sbin/biolatency.bt", "biolatency", ("Tracing", "Tracing", "Tracing")),
}
LOST_OURS = re.compile(r"Lost (\d+) events")
LOST_LIBBPF = re.compile(r"Lost (\d+) events on CPU")


def _our_env(cold: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if cold:
        env["BPFSCOPE_NO_CACHE"] = "1"
    return env


def _have_tool(name: str) -> bool:
    try:
        from bpfscope.tools.registry import is_tool
    except ImportError:
        sys.path.insert(0, SRC)
        from bpfscope.tools.registry import is_tool
    return is_tool(name)


class Proc:
    """A tool with stdout/stderr in files; waits for its header, stops with SIGINT, keeps rusage."""

    def __init__(self, argv: list[str], env: dict[str, str] | None, workdir: str) -> None:
        self.out = tempfile.NamedTemporaryFile(dir=workdir, delete=False)
        self.err = tempfile.NamedTemporaryFile(dir=workdir, delete=False)
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err, env=env)
        self.ru = None

    def wait_ready(self, needle: str, timeout: float = 60) -> float:
        deadline = self.t0 + timeout
        with open(self.out.name, "rb") as f:
            buf = b""
            while time.perf_counter() < deadline:
                buf += f.read()
                for ln in buf.split(b"\n")[:-1]:
                    if needle.encode() in ln:
                        return time.perf_counter() - self.t0
                if self.p.poll() is not None:
                    raise RuntimeError(f"{self.p.args} exited: {self.stderr()[-1500:]}")
                time.sleep(0.001)
        raise RuntimeError(f"{self.p.args}: no '{needle}' within {timeout} s: {self.stderr()[-1500:]}")

    def stop(self, timeout: float = 60) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        deadline = time.perf_counter() + timeout
        while True:
            pid, st, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                self.ru = ru
                self.p.returncode = os.waitstatus_to_exitcode(st)
                return
            if time.perf_counter() > deadline:
                self.p.kill()
            time.sleep(0.005)

    def stdout(self) -> str:
        with open(self.out.name, errors="replace") as f:
            return f.read()

    def stderr(self) -> str:
        with open(self.err.name, errors="replace") as f:
            return f.read()

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.out, self.err):
            f.close()
            os.unlink(f.name)


def _argv(kind: str, spec: tuple) -> list[str]:
    ours, bt, libbpf, _ready = spec
    if kind in ("ours", "ours cold"):
        return [sys.executable, "-m", "bpfscope", *ours]
    if kind == "bpftrace":
        return [BPFTRACE, bt]
    # libbpf-tools print with stdio: to a file their lines would wait in a 4 KiB buffer
    return ["stdbuf", "-oL", shutil.which(libbpf) or libbpf]


def startup(cfg: Config) -> list[Row]:
    rows: list[Row] = []
    n = cfg.reps(7, 3)
    for name, spec in TOOLS.items():
        if not _have_tool(name):
            sys.stderr.write(f"bench tools: bpfscope has no {name} yet, skipped\n")
            continue
        kinds = ["ours", "ours cold"]
        if os.access(BPFTRACE, os.X_OK) and spec[1] and os.path.exists(spec[1]):
            kinds.append("bpftrace")
        if shutil.which(spec[2]):
            kinds.append("libbpf")
        wall = {k: Stat() for k in kinds}
        rss = {k: Stat() for k in kinds}
        ready = dict(zip(("ours", "bpftrace", "libbpf"), spec[3], strict=True))

        def one(kind: str, wall: dict[str, Stat] = wall, rss: dict[str, Stat] = rss,
                spec: tuple = spec, ready: dict[str, str] = ready) -> None:
            env = _our_env(cold=kind == "ours cold") if kind.startswith("ours") else None
            p = Proc(_argv(kind, spec), env, cfg.workdir)
            try:
                wall[kind].add(p.wait_ready(ready["ours" if kind.startswith("ours") else kind]) * 1000)
                p.stop()
                rss[kind].add(p.ru.ru_maxrss / 1024 if p.ru else float("nan"))
            finally:
                p.close()

        for k in list(kinds):   # warm page cache and our compiled-program cache; drop peers that fail here
            try:
                one(k, wall={k: Stat() for k in kinds}, rss={k: Stat() for k in kinds})
            except RuntimeError as e:
                if k.startswith("ours"):
                    raise
                sys.stderr.write(f"bench tools: {name}: {k} does not run here, not compared "
                                 f"({str(e).splitlines()[-1][:160]})\n")
                kinds.remove(k)
        alternate(kinds, n, one)
        bt = wall.get("bpftrace") if "bpftrace" in kinds else None
        lb = wall.get("libbpf") if "libbpf" in kinds else None
        if bt is not None:
            rows.append(Row("tools", f"{name}: start-to-attached vs bpftrace {os.path.basename(spec[1])}", "ms",
                            wall["ours"], bt, goal=("<=", 0.4)))
        rows.append(Row("tools", f"{name}: start-to-attached vs libbpf-tools", "ms", wall["ours"], lb,
                        goal=("<=", 5.0)))
        rows.append(Row("tools", f"{name}: start-to-attached, cold cache, vs libbpf-tools", "ms",
                        wall["ours cold"], lb))
        rows.append(Row("tools", f"{name}: peak RSS vs libbpf-tools", "MiB", rss["ours"],
                        rss["libbpf"] if lb is not None else None, goal=("<=", 2.0)))
    return rows


def load(cfg: Config) -> list[Row]:
    """opensnoop while a paced workload opens one file ~100k times a second."""
    if not shutil.which("opensnoop"):
        return []
    wl_bin = compile_c(cfg, "openloop")
    rate = 100_000
    count = rate * (1 if cfg.quick else 3)
    reps = cfg.reps(3, 1)
    path = os.path.join(cfg.workdir, "bench-open-target")
    with open(path, "w"):
        pass
    kinds = ["none", "ours", "libbpf"]
    cpu = {k: Stat() for k in kinds}
    tracer_cpu = {k: Stat() for k in kinds}
    achieved = {k: Stat() for k in kinds}
    complete = True
    notes = []

    def one(kind: str) -> None:
        nonlocal complete
        wl = Workload([wl_bin, path, str(count), str(rate)])
        p = None
        try:
            if kind != "none":
                p = Proc(_argv(kind, TOOLS["opensnoop"]), _our_env() if kind == "ours" else None, cfg.workdir)
                p.wait_ready("PID")
            wl.go()
            r = wl.result()
            cpu[kind].add(r["cpu_ns"] / r["calls"])
            achieved[kind].add(r["calls"] / (r["wall_ns"] / 1e9))
            if p is not None:
                p.stop(timeout=120)
                out, err = p.stdout(), p.stderr()
                seen = sum(1 for ln in out.splitlines() if ln.endswith(" " + path))
                lost_re = LOST_OURS if kind == "ours" else LOST_LIBBPF
                lost = sum(int(x) for x in lost_re.findall(err))
                if p.ru is not None:
                    tracer_cpu[kind].add((p.ru.ru_utime + p.ru.ru_stime) * 1e9 / max(seen, 1))
                # other processes' opens may be lost too: ours must be fully accounted for
                ok = seen == r["calls"] or (lost > 0 and seen + lost >= r["calls"])
                if not ok:
                    complete = False
                notes.append(f"{kind}: {seen}/{r['calls']} delivered, {lost} lost")
        finally:
            if p is not None:
                p.close()
            wl.kill()

    one("none")
    alternate(kinds, reps, one)
    base = cpu["none"].median

    def added(k: str) -> Stat:
        return Stat([v - base for v in cpu[k].values])

    rows = [
        Row("tools", "opensnoop @100k opens/s: added CPU ns per open vs libbpf-tools", "ns", added("ours"),
            added("libbpf"), ok=complete, note="every open delivered or counted lost"),
        Row("tools", "opensnoop @100k opens/s: tool CPU per event vs libbpf-tools", "ns", tracer_cpu["ours"],
            tracer_cpu["libbpf"]),
        Row("tools", "opensnoop @100k opens/s: achieved opens/s (ours vs libbpf-tools)", "1/s",
            achieved["ours"], achieved["libbpf"]),
        Row("tools", "openloop without a tracer: CPU ns per open", "ns", cpu["none"]),
    ]
    if cfg.verbose:
        sys.stderr.write("\n".join(notes) + "\n")
    return rows


def run(cfg: Config) -> list[Row]:
    return startup(cfg) + load(cfg)


def main() -> int:
    import argparse

    from common import bytecompile, print_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only-startup", action="store_true")
    ap.add_argument("--only-load", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.stderr.write("bench: must run as root\n")
        return 2
    bytecompile()
    workdir = tempfile.mkdtemp(prefix="bpfscope-bench-tools-")
    cfg = Config(quick=a.quick, workdir=workdir, verbose=a.verbose)
    try:
        rows = ([] if a.only_load else startup(cfg)) + ([] if a.only_startup else load(cfg))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
