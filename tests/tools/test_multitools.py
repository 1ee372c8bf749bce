"""funccount, stackcount, trace, profile and the entry-uprobe stack fix, against fixtures the
tests drive: each workload waits for a line on stdin, so it runs only once the tool printed
its header (probes attached), and filtering by its pid makes counts exact."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, bpfscope

pytestmark = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")
FIX = Path(__file__).resolve().parent.parent / "fixtures"
FLAGS = {"leafchain": ["-O2", "-g", "-fno-omit-frame-pointer", "-momit-leaf-frame-pointer"],
         "mutexloop": ["-O0", "-pthread"], "sleeper": ["-O0", "-g", "-fno-omit-frame-pointer"],
         "leaker": ["-O0", "-g", "-fno-omit-frame-pointer"]}


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the fixtures")
    d = tmp_path_factory.mktemp("multi")
    out = {}
    for name, flags in FLAGS.items():
        exe = d / name
        subprocess.run(["gcc", *flags, "-o", str(exe), str(FIX / f"{name}.c")], check=True)
        out[name] = str(exe)
    return out


class Workload:
    """A fixture process blocked on stdin until go()."""

    def __init__(self, *argv: str) -> None:
        self.p = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout is not None
        assert self.p.stdout.readline().strip() == "ready"
        self.pid = self.p.pid

    def go(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def done(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.close()
        self.p.wait(timeout=60)


@pytest.fixture
def workloads() -> Iterator[list[Workload]]:
    ws: list[Workload] = []
    yield ws
    for w in ws:
        if w.p.poll() is None:
            w.p.kill()
            w.p.wait()


def run_tool(name: str, *args: str, stderr_ready: bool = False) -> subprocess.Popen[str]:
    """Start a tool and block until its header (stdout, or stderr for folded output)."""
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", name, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    stream = p.stderr if stderr_ready else p.stdout
    assert stream is not None
    r, _, _ = select.select([stream], [], [], 60)
    assert r, f"{name} printed no header"
    line = stream.readline()
    p.header = line  # type: ignore[attr-defined]
    assert "Tracing" in line or "Sampling" in line or "PID" in line, (line, p.stderr.read() if p.stderr else "")
    return p


def stop(p: subprocess.Popen[str]) -> str:
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "Traceback" not in err, (p.returncode, err)
    return out


def drive(ws: list[Workload], w: Workload) -> None:
    ws.append(w)


# ---------------------------------------------------------------- funccount

def test_funccount_tracepoint_exact(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["mutexloop"], "1234")
    workloads.append(w)
    p = run_tool("funccount", "-p", str(w.pid), "t:syscalls:sys_enter_getppid")
    w.go()
    w.done()
    out = stop(p)
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("syscalls:")]
    assert rows == [["syscalls:sys_enter_getppid", "1234"]], out
    assert "FUNC                                    COUNT" in out and out.rstrip().endswith("Detaching...")


def _mutex_count(bins: dict[str, str], workloads: list[Workload], n: int) -> int:
    w = Workload(bins["mutexloop"], str(n))
    workloads.append(w)
    p = run_tool("funccount", "-p", str(w.pid), "c:pthread_mutex_lock")
    w.go()
    w.done()
    out = stop(p)
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("pthread_mutex_lock")]
    assert len(rows) == 1, out
    return int(rows[0][1])


def test_funccount_library_uprobe_exact(bins: dict[str, str], workloads: list[Workload]) -> None:
    base = _mutex_count(bins, workloads, 0)      # libc's own locking at exit
    assert _mutex_count(bins, workloads, 1000) == base + 1000
    assert _mutex_count(bins, workloads, 2500) == base + 2500


def test_funccount_user_note_interval_libc(bins: dict[str, str], workloads: list[Workload]) -> None:
    """`funccount -i 1 c:pthread_mutex_lock`, as written (system-wide)."""
    w = Workload(bins["mutexloop"], "3000")
    workloads.append(w)
    p = run_tool("funccount", "-i", "1", "c:pthread_mutex_lock")
    w.go()
    w.done()
    assert p.stdout is not None
    tables = 0
    total = 0
    while tables < 3:   # the calls land in one of the first intervals after go()
        line = p.stdout.readline()
        assert line, "funccount exited early"
        tables += line.startswith("FUNC")
        if line.startswith("pthread_mutex_lock"):
            total += int(line.split()[1])
    stop(p)
    assert total >= 3000


def test_funccount_tracepoint_wildcard_user_note(workload: Path) -> None:
    """`funccount 't:syscalls:sys_enter_*'` (here bounded by -d 1)."""
    r = bpfscope("funccount", "-d", "1", "t:syscalls:sys_enter_*", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Tracing ") and "functions for \"t:syscalls:sys_enter_*\"" in r.stdout
    n = int(r.stdout.split()[1])
    assert n > 100
    assert any(ln.startswith("syscalls:sys_enter_") for ln in r.stdout.splitlines())


@pytest.mark.parametrize("argv", [
    ["funccount", "vfs_*"],
    ["stackcount", "-f", "-P", "-D", "10", "ktime_get"],
    ["trace", 'r::do_sys_open "ret: %d", retval'],
    ["trace", "-tKU", 'r::sock_alloc "open %llx", retval', '__sock_release "close %llx", arg1'],
])
def test_kernel_function_notes_plain_message(argv: list[str]) -> None:
    """The user's kprobe lines: on this kernel (no kprobes, no fentry) one plain line, exit 1."""
    from bpfscope.kernel import features

    if features.kprobes() or features.fentry():
        pytest.skip("this kernel has kprobes or fentry (the VM lane runs these)")
    r = bpfscope(*argv)
    assert r.returncode == 1 and r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"{argv[0]}: kprobe: this kernel has no kprobe support") or \
        r.stderr.startswith(f"{argv[0]}: kretprobe: this kernel has no kretprobe support"), r.stderr
    if "do_sys_open" in argv[-1]:
        assert "tracepoint:syscalls:sys_exit_openat" in r.stderr


def test_bad_specs_are_plain() -> None:
    for argv in (["funccount", "x:y:z"], ["funccount", "nosuchlibzz:f"], ["trace", 'do_x "%d %d", arg1'],
                 ["stackcount", "-K", "-U", "c:malloc"]):
        r = bpfscope(*argv)
        assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.strip(), (argv, r.stderr)


# ---------------------------------------------------------------- stack fix, stackcount

EXPECT = ["main", "outer", "middle", "leaf"]


def test_entry_uprobe_stack_has_every_frame(bins: dict[str, str]) -> None:
    """leaf sets up no frame (-O2): the unwind alone skips middle; the fix restores it."""
    r = bpfscope("-e", f"uprobe:{bins['leafchain']}:leaf {{ @[ustack] = count(); }}",
                 "-c", f"{bins['leafchain']} 100")
    assert r.returncode == 0, r.stderr
    frames = [ln.strip().split("+")[0] for ln in r.stdout.splitlines() if "+" in ln]
    assert frames[:4] == ["leaf", "middle", "outer", "main"], r.stdout
    assert r.stdout.rstrip().endswith("]: 100")
    # a function that does push %rbp: the kernel may add the caller itself; never twice
    r = bpfscope("-e", f"uprobe:{bins['leafchain']}:middle {{ @[ustack] = count(); }}",
                 "-c", f"{bins['leafchain']} 100")
    frames = [ln.strip().split("+")[0] for ln in r.stdout.splitlines() if "+" in ln]
    assert frames[:3] == ["middle", "outer", "main"], r.stdout


def test_stackcount_folded_known_stack(bins: dict[str, str], workloads: list[Workload], tmp_path: Path) -> None:
    w = Workload(bins["leafchain"], "70", "wait")
    workloads.append(w)
    p = run_tool("stackcount", "-f", "-P", "-p", str(w.pid), f"{bins['leafchain']}:leaf", stderr_ready=True)
    w.go()
    w.done()
    out = stop(p)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    stack, count = lines[0].rsplit(" ", 1)
    parts = stack.split(";")
    assert count == "70" and parts[0] == "leafchain" and parts[-4:] == EXPECT, out
    (tmp_path / "out.txt").write_text(out)
    r = subprocess.run([sys.executable, "-m", "bpfscope", "flamegraph", "--hash", "--bgcolors=gray"],
                       stdin=open(tmp_path / "out.txt"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "<svg" in r.stdout and ">middle<" not in r.stdout or "middle" in r.stdout


def test_stackcount_multiline(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["leafchain"], "30", "wait")
    workloads.append(w)
    p = run_tool("stackcount", "-U", "-p", str(w.pid), f"{bins['leafchain']}:leaf")
    w.go()
    w.done()
    out = stop(p)
    body = [ln.strip() for ln in out.splitlines() if ln.strip()]
    assert body[:4] == ["leaf", "middle", "outer", "main"] and "30" in body and body[-1] == "Detaching...", out


# ---------------------------------------------------------------- trace

def test_trace_uretprobe_known_values(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["leafchain"], "9", "wait")
    workloads.append(w)
    p = run_tool("trace", "-p", str(w.pid), f'r:{bins["leafchain"]}:leaf "ret: %d", retval')
    w.go()
    w.done()
    out = stop(p)
    rows = [ln.split() for ln in out.splitlines() if ln.strip()]
    assert p.header.split() == ["PID", "TID", "COMM", "FUNC", "-"]  # type: ignore[attr-defined]
    assert all(r[:4] == [str(w.pid), str(w.pid), "leafchain", "leaf"] for r in rows), out
    # leaf(2*(i%7)+1) returns twice that
    assert [int(r[-1]) for r in rows] == [2 * (2 * (i % 7) + 1) for i in range(9)], out


def test_trace_tKU_two_probes(bins: dict[str, str], workloads: list[Workload]) -> None:
    """The shape of the user's -tKU line on user functions: timestamps, both probes, stacks."""
    w = Workload(bins["leafchain"], "2", "wait")
    workloads.append(w)
    exe = bins["leafchain"]
    p = run_tool("trace", "-tKU", "-p", str(w.pid), f'r:{exe}:leaf "open %llx", retval',
                 f'{exe}:middle "close %llx", arg1')
    w.go()
    w.done()
    out = stop(p)
    assert p.header.split() == ["TIME", "PID", "TID", "COMM", "FUNC", "-"]  # type: ignore[attr-defined]
    heads = [ln.split() for ln in out.splitlines() if ln and not ln.startswith(" ") and "leafchain" in ln]
    # middle(2*(i%7)) calls leaf(middle's arg + 1), which returns twice its argument (%llx: hex)
    assert [(h[4], h[5], h[6]) for h in heads] == [("middle", "close", "0"), ("leaf", "open", "2"),
                                                    ("middle", "close", "2"), ("leaf", "open", "6")], out
    assert "        middle+0\n        outer+" in out and "        middle+13\n        outer+" in out, out
    assert float(heads[0][0]) >= 0


# ---------------------------------------------------------------- profile

def test_profile_folded_flamegraph(tmp_path: Path) -> None:
    """`profile -af 30 > out.stacks && bpfscope flamegraph --color=java` (2 s here)."""
    r = bpfscope("profile", "-af", "2", timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(ln.rsplit(" ", 1)[1].isdigit() for ln in lines)
    assert any("_[k]" in ln for ln in lines)
    (tmp_path / "out.stacks").write_text(r.stdout)
    f = subprocess.run([sys.executable, "-m", "bpfscope", "flamegraph", "--color=java"],
                       stdin=open(tmp_path / "out.stacks"), capture_output=True, text=True, timeout=60)
    assert f.returncode == 0 and "<svg" in f.stdout


def test_profile_pid_user_stack(bins: dict[str, str], workloads: list[Workload]) -> None:
    w = Workload(bins["leafchain"], "300000000", "wait")
    workloads.append(w)
    p = run_tool("profile", "-U", "-F", "499", "-f", "-p", str(w.pid), stderr_ready=True)
    w.go()
    import time

    deadline = time.monotonic() + 30
    out = ""
    while time.monotonic() < deadline and w.p.poll() is None:
        time.sleep(0.5)   # sampling needs the workload on CPU for a while (not a synchronization)
        if time.monotonic() > deadline - 28:
            break
    out = stop(p)
    w.p.kill()
    assert out, "no samples"
    lines = out.splitlines()
    # every sample is the workload's; a sample whose user stack could not be read (EFAULT, e.g.
    # in the middle of exec/exit) has no frames, as in BCC; equal stacks are one line
    assert all(ln.startswith("leafchain;") or ln.rsplit(" ", 1)[0] == "leafchain" for ln in lines), out
    stacks = [ln.rsplit(" ", 1)[0] for ln in lines]
    assert len(stacks) == len(set(stacks)), out
    # only the process's own code: the fixture's functions, or libc's (it reads "go" from stdin
    # and exits through libc, and a sample can land there); -O2: a frameless function's caller
    # can be skipped, so not every sample reaches main. And the full chain is seen.
    from bpfscope.kernel.elf import function_symbols

    libc = next(ln.split()[-1] for ln in open(f"/proc/{os.getpid()}/maps") if "/libc.so" in ln)
    ours = {"_start", "main", "outer", "middle", "leaf"} | {s.name for s in function_symbols(libc)}
    assert all(set(st.split(";")[1:]) <= ours for st in stacks), out
    assert any(st.endswith(";main;outer;middle") or st.endswith(";outer;leaf") for st in stacks), out
