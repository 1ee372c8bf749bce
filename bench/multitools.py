"""Part "multitools": BCC's profiler and memleak (issue 13).

1. `bpfscope profile -F 99 -af 10` while bench/c/busy.c spins, against bpftrace's equivalent
   one-liner `profile:hz:99 { @[kstack, ustack, comm] = count(); }` stopped with SIGINT 10 s
   after it attached: the time from the end of the 10 s to exit (the map read and the
   symbolization of every stack; goal <= 0.5x), distinct stacks printed (same or more), peak RSS.
2. `bpfscope memleak -p PID` on a program making ~1M malloc+free pairs a second (paced): the
   workload's wall time traced / untraced, ours beside libbpf-tools' memleak when it is installed.

    python3 bench/run.py --only multitools [--quick]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import SRC, Config, Row, Stat, Tracer, alternate, compile_c  # noqa: E402

BT_PROFILE = "profile:hz:99 { @[kstack, ustack, comm] = count(); }"
SECS = 10

# N malloc(64)+free pairs at ~RATE a second (checked every 1024 pairs); prints ns=<elapsed>
ALLOC_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}
__attribute__((noinline)) void *get(size_t n) { return malloc(n); }
int main(int argc, char **argv) {
    long n = atol(argv[1]), rate = atol(argv[2]);
    char c;
    if (read(0, &c, 1) != 1) return 2;
    long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *volatile p = get(64);
        free(p);
        if ((i & 1023) == 1023)
            while (now_ns() - t0 < (i + 1) * (1000000000L / rate)) ;
    }
    printf("ns=%ld\n", now_ns() - t0);
    return 0;
}
"""


class ToolTracer(Tracer):
    """A BCC-style tool: attached once `ready` appears on its stdout or stderr."""

    def __init__(self, cfg: Config, argv: list[str], ready: str) -> None:
        super().__init__(cfg, "bpfscope", "")
        self.argv = [sys.executable, "-m", "bpfscope", *argv]
        self.ready = ready.encode()

    def _notified(self) -> bool:
        for p in (self.out_path, self.err_path):
            with open(p, "rb") as f:
                if self.ready in f.read():
                    return True
        return False

    def wait_exit_from(self, t0: float, timeout: float = 120.0) -> float:
        """Seconds from `t0` (perf_counter) to the tool's own exit."""
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
        return self.t_exit - t0


def _bt_stacks(out: str) -> int:
    """bpftrace's keys as BCC's folded stacks count them: frames without offsets, per comm."""
    import re

    seen = set()
    for ent in out.split("]: ")[:-1]:
        body = ent.rsplit("@[", 1)[-1]
        if body.rstrip().rsplit(",", 1)[-1].strip().startswith("swapper/"):
            continue   # BCC's profile leaves the idle threads out (its -I puts them back)
        frames = tuple("[unknown]" if ln.strip().startswith("0x") else re.sub(r"\+\d+$", "", ln.strip())
                       for ln in body.splitlines() if ln.strip())
        seen.add(frames)
    return len(seen)


def _profile(cfg: Config) -> list[Row]:
    busy = compile_c(cfg, "busy", "-pthread", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer",
                     "-fno-optimize-sibling-calls")
    secs = 3 if cfg.quick else SECS
    reps = cfg.reps(3, 1)
    exit_s = {t: Stat() for t in cfg.tools}
    keys = {t: Stat() for t in cfg.tools}
    rss = {t: Stat() for t in cfg.tools}

    def one(tool: str) -> None:
        proc = subprocess.Popen([busy, "3600"])
        try:
            if tool == "bpfscope":
                tr: Tracer = ToolTracer(cfg, ["profile", "-F", "99", "-af", str(secs)], "Sampling at")
            else:
                tr = Tracer(cfg, tool, BT_PROFILE, "-q")
            with tr:
                tr.start()
                tr.wait_attached()
                if isinstance(tr, ToolTracer):   # ends by itself `secs` after it attached
                    exit_s[tool].add(tr.wait_exit_from(tr.t_attached + secs) * 1000)
                    out = tr.stdout()
                    keys[tool].add(len({ln.rsplit(" ", 1)[0] for ln in out.splitlines() if ln.strip()}))
                else:
                    time.sleep(secs)   # the profiling period itself (what is measured is after it)
                    exit_s[tool].add(tr.stop(timeout=120) * 1000)
                    out = tr.stdout()
                    keys[tool].add(_bt_stacks(out))
                rss[tool].add(tr.maxrss_kib / 1024)
        finally:
            proc.kill()
            proc.wait()

    alternate(cfg.tools, reps, one)
    part = "13 profile -af"
    note = f"`profile -F 99 -af {secs}` vs bpftrace `{BT_PROFILE}` + SIGINT"
    return [
        Row(part, "end of profiling to exit", "ms", exit_s["bpfscope"], exit_s.get("bpftrace"), goal=("<=", 0.5),
            note=note),
        Row(part, "distinct stacks printed", "keys", keys["bpfscope"], keys.get("bpftrace"), goal=(">=", 1.0),
            note="bpftrace's keys counted as BCC folds them: names without offsets, 0x.. as [unknown], no idle"),
        Row(part, "peak RSS", "MiB", rss["bpfscope"], rss.get("bpftrace")),
    ]


def _alloc_binary(cfg: Config) -> str:
    src = os.path.join(cfg.workdir, "allocloop.c")
    exe = os.path.join(cfg.workdir, "allocloop")
    if not os.path.exists(exe):
        with open(src, "w") as f:
            f.write(ALLOC_C)
        subprocess.run(["gcc", "-O2", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    return exe


def _alloc_run(exe: str, n: int, rate: int, tracer: list[str] | None, ready: str) -> float:
    """The workload's seconds for one run, with the tracer (if any) attached to it."""
    w = subprocess.Popen([exe, str(n), str(rate)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    tr = None
    try:
        if tracer is not None:
            env = dict(os.environ)
            env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            argv = [a.replace("PID", str(w.pid)) for a in tracer]
            tr = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            assert tr.stdout is not None
            while True:   # its readiness line
                line = tr.stdout.readline()
                if not line:
                    raise RuntimeError(f"{argv[:4]} exited before attaching")
                if ready in line:
                    break
        assert w.stdin is not None
        w.stdin.write("g")
        w.stdin.close()
        w.stdin = None
        out, _ = w.communicate(timeout=600)
        if tr is not None:
            tr.send_signal(2)
            tr.communicate(timeout=60)
        return int(out.split("=")[1]) / 1e9
    finally:
        for p in (w, tr):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def _memleak(cfg: Config) -> list[Row]:
    exe = _alloc_binary(cfg)
    n = 200_000 if cfg.quick else 1_000_000
    rate = 1_000_000
    reps = cfg.reps(3, 1)
    peer = shutil.which("memleak")
    runs = {"none": Stat(), "bpfscope": Stat(), "libbpf-tools": Stat(), "bpftrace": Stat()}
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    bt = (f"uprobe:{libc}:malloc {{ @s[tid] = arg0; }} uretprobe:{libc}:malloc {{ @a[retval] = (@s[tid], nsecs, "
          f"ustack); delete(@s[tid]); }} uprobe:{libc}:free {{ delete(@a[arg0]); }}")
    for _ in range(reps):
        runs["none"].add(_alloc_run(exe, n, rate, None, ""))
        runs["bpfscope"].add(_alloc_run(exe, n, rate, [sys.executable, "-m", "bpfscope", "memleak", "-p", "PID"],
                                        "Attaching to pid"))
        if "bpftrace" in cfg.tools and os.path.exists(libc):   # the same probes and maps, as a one-liner
            runs["bpftrace"].add(_alloc_run(exe, n, rate, ["/usr/bin/bpftrace", "-p", "PID", "-e", bt], "Attaching"))
        if peer:
            runs["libbpf-tools"].add(_alloc_run(exe, n, rate, [peer, "-p", "PID"], "Tracing"))
    base = runs["none"].median
    ours = Stat([v / base for v in runs["bpfscope"].values])
    theirs = Stat([v / base for v in runs["libbpf-tools"].values]) if runs["libbpf-tools"].values else None
    part = "13 memleak -p"
    note = (f"{n} malloc+free at {rate // 1000}k/s: {base:.2f} s untraced; " +
            ("vs libbpf-tools' memleak" if peer else "libbpf-tools' memleak is not installed here "
             "(Debian's libbpf-tools has no memleak): ours only"))
    rows = [Row(part, "workload slowdown (traced/untraced)", "x", ours, theirs, note=note)]
    if runs["bpftrace"].values:
        rows.append(Row(part, "slowdown vs a bpftrace one-liner", "x", ours,
                        Stat([v / base for v in runs["bpftrace"].values]),
                        note="bpftrace: malloc entry/return + free uprobes keeping (size, time, ustack) by address"))
    return rows


def run(cfg: Config) -> list[Row]:
    return _profile(cfg) + _memleak(cfg)


if __name__ == "__main__":
    import tempfile

    from common import have_bpftrace, print_table

    quick = "--quick" in sys.argv
    tools = ("bpfscope", "bpftrace") if have_bpftrace() else ("bpfscope",)
    c = Config(quick=quick, tools=tools, workdir=tempfile.mkdtemp(prefix="bpfscope-bench-"), verbose=True)
    try:
        print_table(run(c))
    finally:
        shutil.rmtree(c.workdir, ignore_errors=True)
