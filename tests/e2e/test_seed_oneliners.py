"""The user's own one-liners (../shared/seed-notes.txt) that this kernel can run, each
against a workload the test drives. kprobe ones run in the VM lane (tests/vm)."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root, raw_loop_device, read_until

pytestmark = needs_root


def test_join_argv_of_execve() -> None:
    r = bpfscope("-e", "tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args->argv); }",
                 "-c", "/bin/echo seed joined words")
    assert r.returncode == 0, r.stderr
    assert "/bin/echo seed joined words" in r.stdout.splitlines(), r.stdout


@pytest.fixture
def loopdev(tmp_path: Path) -> Iterator[str]:
    """A loop device over a 16 MiB file, with a scheduler so requests are inserted
    (loop devices default to "none", whose direct issue skips block_rq_insert)."""
    with raw_loop_device(tmp_path, 16, "mq-deadline") as dev:
        yield dev


def test_block_rq_insert_kstack_and_comm(loopdev: str) -> None:
    """The seed one-liner over 40 O_DIRECT writes by dd: dd's entry has kernel frames and counts them."""
    rdev = os.stat(loopdev).st_rdev
    kdev = (os.major(rdev) << 20) | os.minor(rdev)   # the kernel's dev_t encoding in the tracepoint
    prog = ("t:block:block_rq_insert { @[kstack(3), comm] = count(); } "
            f"t:block:block_rq_insert /pid == cpid && args->dev == {kdev}/ {{ @mine = count(); }}")
    r = bpfscope("-e", prog, "-c", f"dd if=/dev/zero of={loopdev} bs=4k count=40 oflag=direct", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "@mine: 40" in r.stdout.splitlines(), r.stdout
    dd = re.findall(r"^@\[\n((?:        \S+\n){1,3}), dd\]: (\d+)$", r.stdout, re.M)
    assert dd, r.stdout
    assert len(dd) == len({k for k, _ in dd}), r.stdout     # one entry per (stack, comm)
    assert sum(int(c) for _, c in dd) >= 40, r.stdout
    assert any(int(c) >= 40 for _, c in dd), r.stdout       # the writes share a stack


def test_system_runs_ps_for_nanosleep(tmp_path: Path) -> None:
    """--unsafe system("ps -p %d\\n", pid) on the raw nanosleep syscall of a test program."""
    if shutil.which("gcc") is None or shutil.which("ps") is None:
        pytest.skip("gcc and ps are needed")
    src = tmp_path / "ns.c"
    src.write_text("#include <time.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"
                   "int main(void) { struct timespec t = {0, 200000000};\n"
                   "  syscall(SYS_nanosleep, &t, 0); return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "ns"), str(src)], check=True)
    prog = 'tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { system("ps -p %d\\n", pid); }'
    r = bpfscope("--unsafe", "-e", prog, "-c", str(tmp_path / "ns"))
    assert r.returncode == 0, r.stderr
    assert "PID" in r.stdout and " ns" in r.stdout, r.stdout
    r = bpfscope("-e", 'tracepoint:syscalls:sys_enter_nanosleep { system("ps -p %d\\n", pid); }')
    assert r.returncode == 1 and "unsafe" in r.stderr


def test_readline_ps1_through_uaddr() -> None:
    """uprobe:/bin/bash:readline { printf("PS1: %s\\n", str(*uaddr("ps1_prompt"))); } — bash is PIE."""
    bash = "/bin/bash"
    if not os.path.exists(bash):
        pytest.skip("no /bin/bash")
    prog = 'uprobe:/bin/bash:readline { printf("PS1: %s\\n", str(*uaddr("ps1_prompt"))); exit(); }'
    tracer = subprocess.Popen([sys.executable, "-m", "bpfscope", "-e", prog],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert tracer.stderr is not None
    line = tracer.stderr.readline()
    assert "Attached" in line, line + tracer.stderr.read()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(bash, [bash, "--norc", "--noprofile", "-i"], {"PS1": "seed-prompt> ", "TERM": "dumb"})
    try:
        read_until(fd, b"seed-prompt> ")  # bash has called readline (the probe fired)
        os.write(fd, b"exit\n")
        read_until(fd, None)
    finally:
        os.waitpid(pid, 0)
    out, err = tracer.communicate(timeout=30)
    assert "PS1: seed-prompt> " in out.splitlines(), (out, err)


def test_verbose_script_file(tmp_path: Path, workload: Path) -> None:
    script = tmp_path / "count.bt"
    script.write_text("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }\n")
    r = bpfscope("-v", str(script), "-c", f"{workload} 321")
    assert r.returncode == 0, r.stderr
    assert "@: 321" in r.stdout.splitlines()
    # what -v reports follows from the script: one probe, one keyless count() map, one program
    err = r.stderr.splitlines()
    assert err[:2] == ["Types", "  tracepoint:syscalls:sys_enter_getppid"], r.stderr
    assert err[2].startswith("  map @: key (none), value count_t"), r.stderr
    assert re.fullmatch(r"Program tracepoint:syscalls:sys_enter_getppid: \d+ instructions", err[3]), r.stderr
    assert err[4:] == ["Attached 1 probe"], r.stderr


def test_017_scoping_is_kept_with_a_warning() -> None:
    """A 0.17 script assigning in if/else and using after (tcpdrop.bt) runs, with a warning."""
    r = bpfscope("-e", 'begin { if (1) { $s = "a"; } else { $s = "b"; } printf("%s\\n", $s); exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a"
    assert "WARNING: $s is used outside the block" in r.stderr
