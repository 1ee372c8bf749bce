"""k(ret)probes on syscall functions (__x64_sys_NAME): on a kernel without kprobes they run
from the sys_enter/sys_exit raw tracepoints filtered to the syscall (lang/bcc/standins.py);
with kprobes, from real kprobes. Either way the same values: the syscall's arguments (a
syscall__ function reads them through the wrapper's pt_regs, the 4th from r10) and its return
value, for BCC's API and for Debian's unchanged execsnoop, killsnoop and opensnoop."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bcc.test_scripts import Run
from tests.conftest import needs_root

pytestmark = needs_root

PROG = r"""
BPF_HASH(args, u32, u64);
BPF_HASH(rets, u32, long);

int syscall__pread64(struct pt_regs *ctx, int fd, char *buf, size_t count, long pos)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != PID)
        return 0;
    u64 v = count * 1000000 + pos;
    args.update(&pid, &v);
    return 0;
}

int ret_pread(struct pt_regs *ctx)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != PID)
        return 0;
    long r = PT_REGS_RC(ctx);
    rets.update(&pid, &r);
    return 0;
}
"""

AUTO = r"""
BPF_HASH(sigs, u32, u64);
BPF_HASH(rets, u32, long);

int kprobe____x64_sys_kill(struct pt_regs *ctx, int tpid, int sig)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != PID)
        return 0;
    u64 v = ((u64)(u32)tpid << 8) | sig;
    sigs.update(&pid, &v);
    return 0;
}

int kretprobe__sys_kill(struct pt_regs *ctx)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != PID)
        return 0;
    long r = PT_REGS_RC(ctx);
    rets.update(&pid, &r);
    return 0;
}
"""


def _table(b: object, name: str) -> dict[int, int]:
    return {k.value: v.value for k, v in b[name].items()}  # type: ignore[index]


def _no_such_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as fh:
        return int(fh.read()) + 7      # past pid_max: no process ever has it


def test_syscall_kprobe_and_kretprobe_api(tmp_path: Path) -> None:
    """attach_kprobe/attach_kretprobe on get_syscall_fnname("pread64"): the 3rd and 4th
    arguments (count, pos) and the return value, for this process only; both count as open
    kprobes, and detaching each stops it."""
    from bpfscope.bcc import BPF

    data = tmp_path / "data"
    data.write_bytes(bytes(range(100)))
    pid = os.getpid()
    with BPF(text=PROG.replace("PID", str(pid))) as b:
        event = b.get_syscall_fnname("pread64")
        b.attach_kprobe(event=event, fn_name="syscall__pread64")
        b.attach_kretprobe(event=event, fn_name="ret_pread")
        assert b.num_open_kprobes() == 2
        fd = os.open(data, os.O_RDONLY)
        try:
            assert os.pread(fd, 7, 13) == bytes(range(13, 20))
            assert _table(b, "args") == {pid: 7 * 1000000 + 13}
            assert _table(b, "rets") == {pid: 7}
            assert os.pread(fd, 5, 1000) == b""
            assert _table(b, "args") == {pid: 5 * 1000000 + 1000}
            assert _table(b, "rets") == {pid: 0}
            b.detach_kretprobe(event=event)
            assert b.num_open_kprobes() == 1
            os.pread(fd, 3, 2)
            assert _table(b, "args") == {pid: 3 * 1000000 + 2}
            assert _table(b, "rets") == {pid: 0}
            b.detach_kprobe(event=event)
            assert b.num_open_kprobes() == 0
            os.pread(fd, 4, 4)
            assert _table(b, "args") == {pid: 3 * 1000000 + 2}
        finally:
            os.close(fd)


def test_syscall_auto_attach_by_name() -> None:
    """kprobe____x64_sys_kill (arguments read as the syscall's) and kretprobe__sys_kill (BCC
    turns sys_ into this kernel's prefix) attach by their names: kill(no such pid, 0) is
    seen with its target, signal and -ESRCH."""
    from bpfscope.bcc import BPF

    pid, target = os.getpid(), _no_such_pid()
    with BPF(text=AUTO.replace("PID", str(pid))) as b:
        assert b.num_open_kprobes() == 2
        with pytest.raises(ProcessLookupError):
            os.kill(target, 0)
        assert _table(b, "sigs") == {pid: target << 8}
        assert _table(b, "rets") == {pid: -3}


# ---------------------------------------------------------------------- Debian's scripts
@pytest.fixture
def runs() -> Iterator[list[Run]]:
    got: list[Run] = []
    yield got
    for r in got:
        r.kill()


def _line(text: str, *want: str) -> list[str]:
    return [ln for ln in text.splitlines() if all(w in ln for w in want)]


def test_execsnoop_shows_exec_and_failed_exec(runs: list[Run]) -> None:
    """execsnoop -x: the shell's own exec (RET 0, its argv) and its failing exec of a missing
    path (RET -2), each with its pid and this test as the parent."""
    marker = f"esn-{uuid.uuid4().hex[:10]}"
    r = Run("execsnoop", "-x")
    runs.append(r)
    r.wait_for(b"PCOMM")
    r.in_sleep()      # the event buffer opens after the header: polling now
    cmd = f"exec /nonexistent/{marker} arg1"
    shp = subprocess.Popen(["/bin/sh", "-c", cmd], stderr=subprocess.DEVNULL)
    assert shp.wait() == 127
    r.wait_for(f" -2 /nonexistent/{marker} arg1\n".encode())
    text = r.finish()
    me = os.getpid()
    ok = f"{'sh':<16} {shp.pid:<7} {me:<7} {0:>3} /bin/sh -c {cmd}"
    bad = f"{'sh':<16} {shp.pid:<7} {me:<7} {-2:>3} /nonexistent/{marker} arg1"
    assert ok in text.splitlines() and bad in text.splitlines(), text


def test_killsnoop_shows_signal_and_result(runs: list[Run]) -> None:
    """killsnoop: a shell's kill -USR1 of a sleeping child (result 0) and kill -0 of a pid
    that cannot exist (-3, ESRCH), with the sender's pid and comm."""
    r = Run("killsnoop")
    runs.append(r)
    r.wait_for(b"RESULT")
    r.in_sleep()      # the event buffer opens after the header: polling now
    victim = subprocess.Popen(["sleep", "60"])
    gone = _no_such_pid()
    sh = subprocess.run(["/bin/sh", "-c", f"kill -USR1 {victim.pid}; kill -0 {gone}; echo $$"],
                        capture_output=True, text=True)
    victim.wait()
    spid = sh.stdout.split()[0]
    r.wait_for(f" {gone} ".encode())
    text = r.finish()
    rows = [ln.split()[1:] for ln in text.splitlines()[1:] if ln.split()[1:2] == [spid]]
    assert rows == [[spid, "sh", "10", str(victim.pid), "0"], [spid, "sh", "0", str(gone), "-3"]], text


CHILD = r"""
import os, sys
sys.stdin.readline()
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.open(sys.argv[2], os.O_RDONLY)
except FileNotFoundError:
    pass
print(fd, flush=True)
"""


def test_opensnoop_shows_opens_of_one_process(runs: list[Run], tmp_path: Path) -> None:
    """opensnoop -p CHILD: the child's open of a unique file (its fd, ERR 0) and of a missing
    file (FD -1, ERR 2), exactly, with the child's pid and comm."""
    present = tmp_path / f"osn-{uuid.uuid4().hex[:10]}"
    present.write_text("x")
    missing = tmp_path / f"missing-{uuid.uuid4().hex[:10]}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(present), str(missing)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        r = Run("opensnoop", "-p", str(child.pid))
        runs.append(r)
        r.wait_for(b"PATH")
        r.in_sleep()      # the event buffer opens after the header: polling now
        with open(f"/proc/{child.pid}/comm") as fh:
            comm = fh.read().strip()
        out, _ = child.communicate("go\n", timeout=30)
        r.wait_for(str(missing).encode())
        text = r.finish()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    fd = int(out)
    lines = _line(text, str(tmp_path))
    assert lines == [f"{child.pid:<6} {comm:<16} {fd:>4} {0:>3} {present}",
                     f"{child.pid:<6} {comm:<16} {-1:>4} {2:>3} {missing}"], text


def test_mountsnoop_shows_mount_and_umount(runs: list[Run], tmp_path: Path) -> None:
    """mountsnoop: a tmpfs mount and its umount (umount2, whose kernel function is sys_umount),
    each with the caller's pid, exact arguments and result."""
    target = tmp_path / f"mnt-{uuid.uuid4().hex[:8]}"
    target.mkdir()
    r = Run("mountsnoop")
    runs.append(r)
    r.wait_for(b"CALL")
    r.in_sleep()
    m = subprocess.Popen(["mount", "-t", "tmpfs", "none", str(target)])
    assert m.wait() == 0
    u = subprocess.Popen(["umount", str(target)])
    assert u.wait() == 0
    r.wait_for(f'umount("{target}"'.encode())
    text = r.finish()
    rows = [ln.split(None, 4) for ln in text.splitlines() if str(target) in ln]
    assert [(x[0], x[1], x[4]) for x in rows] == [
        ("mount", str(m.pid), f'mount("none", "{target}", "tmpfs", 0x0, "") = 0'),
        ("umount", str(u.pid), f'umount("{target}", 0x0) = 0')], text


def test_statsnoop_shows_stats_of_one_process(runs: list[Run], tmp_path: Path) -> None:
    """statsnoop: its stat_entry/statx_entry are not syscall__ functions; standing in from
    sys_enter they get the syscall's arguments (the path), as the script means them."""
    present = tmp_path / f"st-{uuid.uuid4().hex[:10]}"
    present.write_text("x")
    missing = tmp_path / f"missing-{uuid.uuid4().hex[:10]}"
    child = subprocess.Popen(["/bin/sh", "-c", f"read x; stat {present} >/dev/null; stat {missing} 2>/dev/null; "
                              "echo done"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        r = Run("statsnoop")
        runs.append(r)
        r.wait_for(b"PATH")
        r.in_sleep()
        out, _ = child.communicate("go\n", timeout=30)
        assert out == "done\n"
        r.wait_for(str(missing).encode())
        text = r.finish()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    rows = [ln.split()[1:] for ln in _line(text, str(tmp_path))]
    assert rows == [["stat", "0", "0", str(present)], ["stat", "-1", "2", str(missing)]], text
