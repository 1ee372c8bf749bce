"""What the kernel's scheduler tracepoints delivered for one task: the oracle of scheduler-tool
tests (runqlat, cpudist, offcputime, ...).

/proc's counters (voluntary switches, schedstat's run count) are not what a tracer sees. On
this kernel a wakeup and the switch in after it are, now and then (about one sleep in a few
hundred, more on a busy machine), never delivered to tracing programs: bpftrace 0.17 (perf
tracepoint programs), BPF raw tracepoints and ftrace instances all miss the same ones, with
no recursion miss counted, while /proc counts the switch. A tool can only report what its
probes saw; so a test compares the tool with a second tracer's record of the same events in
the same window, and checks that record against /proc to keep it honest.

The side tracer is a bpfscope program on the same tracepoints (raw, BTF-typed) that prints
each of the task's wakeups and switches with its time (bpf_ktime_get_ns, the tools' clock),
its CPU and, for a switch out, the task's own state and whether it was preempted.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from dataclasses import dataclass

PROGRAM = r"""
rawtracepoint:sched_wakeup, rawtracepoint:sched_wakeup_new { if (args.p->pid == PID) { printf("W %lu\n", nsecs); } }
rawtracepoint:sched_switch {
  if (args.prev->pid == PID) { printf("O %lu %d %d\n", nsecs, args.prev->__state, args.preempt); }
  if (args.next->pid == PID) { printf("I %lu\n", nsecs); }
}
"""


@dataclass(frozen=True)
class Event:
    ts: int             # ns, CLOCK_MONOTONIC
    kind: str           # "wakeup", "in", "out"
    state: int = 0      # a switch out: the task's __state (0: still runnable)
    preempt: bool = False


class SchedTrace:
    """`with SchedTrace(pid) as st:` records the task's wakeups and switches until the block
    ends; then `st.events` holds them in time order."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.events: list[Event] = []
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SchedTrace:
        self.proc = subprocess.Popen([sys.executable, "-m", "bpfscope", "-e", PROGRAM.replace("PID", str(self.pid))],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        r, _, _ = select.select([self.proc.stderr], [], [], 60)
        line = self.proc.stderr.readline() if r else ""   # "Attached N probes" once attached
        if not line.startswith("Attached"):
            self.proc.kill()
            raise AssertionError(f"the side tracer did not start: {line!r} {self.proc.communicate()[1]}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0 and "Lost" not in err, err
        self.events = sorted(self._parse(out), key=lambda e: e.ts)

    @staticmethod
    def _parse(text: str) -> list[Event]:
        out = []
        for line in text.splitlines():
            f = line.split()
            if not f:
                continue
            if f[0] == "W":
                out.append(Event(int(f[1]), "wakeup"))
            elif f[0] == "I":
                out.append(Event(int(f[1]), "in"))
            elif f[0] == "O":
                out.append(Event(int(f[1]), "out", int(f[2]), f[3] != "0"))
        return out

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)

    def runq_waits(self) -> int:
        """Switches in that runqlat times: after a wakeup, or after a switch out in which the
        task was still runnable (preempted, its state 0)."""
        n, armed = 0, False
        for e in self.events:
            if e.kind == "in":
                n += armed
                armed = False
            elif e.kind == "wakeup":
                armed = True
            else:
                armed = e.state == 0
        return n

    def off_cpu_us(self, blocked_only: bool = True) -> list[int]:
        """Microseconds (truncated, as the tools compute them) from each switch out to the next
        switch in; blocked_only: switches out in a sleeping state only."""
        out, start = [], None
        for e in self.events:
            if e.kind == "out":
                start = e.ts if (e.state != 0 or not blocked_only) else None
            elif e.kind == "in" and start is not None:
                out.append((e.ts - start) // 1000)
                start = None
        return out

    def on_cpu_us(self) -> list[int]:
        """Microseconds from the last switch in to each switch out (cpudist's: its start time
        stays until the next switch in replaces it, so a switch in the tracepoints missed
        makes one long span)."""
        out, start = [], None
        for e in self.events:
            if e.kind == "in":
                start = e.ts
            elif e.kind == "out" and start is not None:
                out.append((e.ts - start) // 1000)
        return out

    def blocked_until_wakeup_us(self) -> list[int]:
        """Microseconds from each switch out asleep to the wakeup that ends it (wakeuptime's)."""
        out, start = [], None
        for e in self.events:
            if e.kind == "out":
                start = e.ts if e.state != 0 else None
            elif e.kind == "wakeup" and start is not None:
                out.append((e.ts - start) // 1000)
                start = None
        return out


def measure_gaps(sleeps: int = 300) -> tuple[int, int]:
    """(switches in /proc counted, switches in the tracepoints delivered) for a child that
    sleeps 2 ms `sleeps` times: `python3 -m tests.schedtrace [SLEEPS [RUNS]]` prints them."""
    import time

    code = f"import sys, time\nsys.stdin.readline()\nfor _ in range({sleeps}): time.sleep(0.002)\nsys.stdin.readline()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    assert child.stdin is not None
    try:
        with SchedTrace(child.pid) as st:
            with open(f"/proc/{child.pid}/schedstat") as f:
                runs0 = int(f.read().split()[2])
            child.stdin.write(b"go\n")
            child.stdin.flush()
            time.sleep(sleeps * 0.004 + 1)   # a measurement tool: enough for the sleeps on a busy machine
            with open(f"/proc/{child.pid}/schedstat") as f:
                runs1 = int(f.read().split()[2])
        return runs1 - runs0, st.count("in")
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    n, runs = (int(a) for a in (sys.argv[1:] + ["300", "5"])[:2])
    for _ in range(runs):
        proc_in, traced_in = measure_gaps(n)
        print(f"/proc: {proc_in} switches in; tracepoints delivered: {traced_in}; missing: {proc_in - traced_in}")
