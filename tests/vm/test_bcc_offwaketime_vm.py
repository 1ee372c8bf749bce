"""Debian's unchanged offwaketime-bpfcc on the VM lane's stock kernel: it attaches kprobes only
(finish_task_switch by regex, try_to_wake_up), with BPF_STACK_TRACE stacks of the blocked task
and of its waker. A shell blocked reading a pipe is woken by this process's writes: the
script shows it as target, this process as waker, with their kernel paths."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.vm.test_bcc_vm import _RUNNING, Script, _loopback_and_cleanup  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.vm


def _blocked_in_read(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/syscall") as fh:
            nr = fh.read().split()[0]
        if state == "S" and nr == "0":
            return
        time.sleep(0.01)
    raise AssertionError("the shell never blocked reading its stdin")


def test_offwaketime_pipe_wakeups() -> None:
    sh = subprocess.Popen(["sh", "-c", "read a; read b; read c"], stdin=subprocess.PIPE)
    _RUNNING.append(sh)   # type: ignore[arg-type]   (killed by the module's cleanup if we fail)
    s = Script("offwaketime", "-p", str(sh.pid))
    assert s.first.startswith("Tracing blocked time (us) by user + kernel off-CPU and waker stack")
    s.in_poll()
    assert sh.stdin is not None
    for line in (b"1\n", b"2\n", b"3\n"):
        _blocked_in_read(sh.pid)     # off-CPU while traced, so the wakeup below pairs with it
        sh.stdin.write(line)
        sh.stdin.flush()
    sh.stdin.close()
    sh.wait(60)
    out = s.stop()
    with open("/proc/self/comm") as fh:
        me = fh.read().strip()
    found = False
    for block in out.split("\n\n"):
        ls = [x.strip() for x in block.strip().splitlines()]
        if len(ls) < 4 or not ls[-2].startswith("target:"):
            continue
        assert ls[-2].split()[1:] == ["sh", str(sh.pid)], block
        assert int(ls[-1]) > 0, block
        waker = ls[0].split()
        mid = next(i for i, x in enumerate(ls) if x.split() == ["--", "--"])
        if waker[1] == me and "vfs_write" in ls[1:mid] and "schedule" in ls[mid + 1:-2]:
            found = True
    assert found, out
