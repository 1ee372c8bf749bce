"""Output to a pipe nobody is reading, then Ctrl-C: every line still arrives.

With PYTHONUNBUFFERED=1 (containers set it) Python's stdout drops the rest of a write that a
signal cuts short; a tracer blocked writing to a full pipe when Ctrl-C came lost the tail of its
output without a word. These stop the tracer while the workload makes more output than a pipe
holds (so it goes out in one write, which the full pipe cuts short), wait until the tracer is
blocked in write(2), interrupt it, and then read everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = needs_root

N = 3000   # lines of ~60 bytes: well over the 64 KiB a pipe holds


def _blocked_in_write(pid: int, timeout: float = 20) -> None:
    """Wait until `pid`'s main thread sits in write(2) (syscall 1) to a full pipe."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            nr = Path(f"/proc/{pid}/syscall").read_text().split(" ", 1)[0]
        except OSError:
            nr = ""
        if nr == "1":
            time.sleep(0.2)   # still there: not a passing write
            if Path(f"/proc/{pid}/syscall").read_text().split(" ", 1)[0] == "1":
                return
        time.sleep(0.05)
    pytest.fail("the tracer never blocked writing to its full pipe")


def _interrupt_and_read(p: subprocess.Popen[bytes]) -> tuple[str, str]:
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return out.decode(), err.decode()


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bpfscope", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})


def _read_line(p: subprocess.Popen[bytes]) -> str:
    """One line, byte by byte: nothing after it is taken out of the pipe."""
    assert p.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(p.stdout.fileno(), 1)
        assert c, "tracer exited early"
        line += c
    return line.decode()


def test_language_printf_tail_survives_ctrl_c(workload: Path, tmp_path: Path) -> None:
    name = f"pipe{os.getpid() % 100000}"
    exe = tmp_path / name
    shutil.copy(workload, exe)
    p = _start(["-e", f'tracepoint:syscalls:sys_enter_getppid /comm == "{name}"/ '
                      '{ printf("getppid number %06d from a workload we drive, padded\\n", @n++); }'])
    assert _read_line(p) == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
    p.send_signal(signal.SIGSTOP)
    subprocess.run([str(exe), str(N)], check=True)
    p.send_signal(signal.SIGCONT)
    _blocked_in_write(p.pid)
    out, err = _interrupt_and_read(p)
    assert p.returncode == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("getppid number")]
    assert lines == [f"getppid number {i:06d} from a workload we drive, padded" for i in range(N)]
    assert "Lost" not in err


def test_tool_tail_survives_ctrl_c(tmp_path: Path) -> None:
    target = tmp_path / "opened-by-the-workload"
    target.write_text("x")
    w = subprocess.Popen([sys.executable, "-c", "import sys\nsys.stdin.readline()\n"
                          f"for _ in range({N}): open({str(target)!r}).close()\nprint('done', flush=True)\n"
                          "sys.stdin.readline()\n"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        p = _start(["opensnoop", "-p", str(w.pid)])
        assert _read_line(p).split() == ["PID", "COMM", "FD", "ERR", "PATH"]
        assert w.stdin is not None and w.stdout is not None
        p.send_signal(signal.SIGSTOP)
        w.stdin.write("go\n")
        w.stdin.flush()
        assert w.stdout.readline() == "done\n"
        p.send_signal(signal.SIGCONT)
        _blocked_in_write(p.pid)
        out, err = _interrupt_and_read(p)
    finally:
        w.kill()
        w.wait()
    assert p.returncode == 0, err
    assert sum(ln.endswith(str(target)) for ln in out.splitlines()) == N
