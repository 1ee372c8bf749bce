"""iter: probes (bpftrace 0.26's BPF iterators) run for real: a process the test holds is found
by the task, task_file and task_vma iterators with exactly the pid, comm, fds (and their inodes)
and mappings /proc shows for it; the final NULL object never reaches the body; begin runs before
the walk, end and the map dump after it, and the program ends by itself. Diagnostics are exact.

ctx->task->pid is the kernel's global pid: the tests run in the initial PID namespace, where it
is the pid subprocess returns.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

COMM = "itersleeper"


@pytest.fixture
def held(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping process called COMM (its exec done) holding extra fds: two files and a pipe."""
    exe = tmp_path / COMM
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    a = open(tmp_path / "a", "w")
    b = open(tmp_path / "b", "w")
    r, w = os.pipe()
    p = subprocess.Popen([str(exe), "600"], pass_fds=(a.fileno(), b.fileno(), w),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{p.pid}/comm").read_text().strip() != COMM:
            assert time.monotonic() < deadline, "the held process never exec'ed"
            time.sleep(0.01)
        yield p
    finally:
        p.kill()
        p.wait()
        for f in (a, b):
            f.close()
        os.close(r)
        os.close(w)


def run(prog: str) -> subprocess.CompletedProcess[str]:
    res = bpfscope("-e", prog, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_task_finds_the_held_process_once(held: subprocess.Popen[bytes]) -> None:
    res = run('iter:task { printf("%d %s\\n", ctx->task->pid, ctx->task->comm); }')
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines.count(f"{held.pid} {COMM}") == 1
    assert [ln for ln in lines if ln.startswith(f"{held.pid} ")] == [f"{held.pid} {COMM}"]
    assert f"{os.getpid()} " in res.stdout    # every task is walked: the test's own one too


def test_begin_walk_end_then_maps(held: subprocess.Popen[bytes]) -> None:
    res = run(f'begin {{ printf("begin\\n"); }} '
              f'iter:task /ctx.task.pid == {held.pid}/ {{ printf("%s\\n", ctx.task.comm); @n = count(); }} '
              f'end {{ printf("end\\n"); }}')
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"begin\n{COMM}\nend\n\n\n@n: 1\n"
    assert res.stderr == "Attached 3 probes\n"


def test_task_file_lists_exactly_the_open_fds(held: subprocess.Popen[bytes]) -> None:
    res = run(f'iter:task_file /ctx->task->pid == {held.pid}/ '
              '{ printf("%d %d\\n", ctx->fd, ctx->file->f_inode->i_ino); }')
    assert res.returncode == 0, res.stderr
    want = sorted((int(fd), os.stat(f"/proc/{held.pid}/fd/{fd}").st_ino)
                  for fd in os.listdir(f"/proc/{held.pid}/fd"))
    got = sorted(tuple(int(x) for x in ln.split()) for ln in res.stdout.splitlines() if ln)
    assert got == want
    assert len(want) == 6    # stdin/out/err, two files, the pipe's write end


def test_task_vma_matches_proc_maps(held: subprocess.Popen[bytes]) -> None:
    res = run(f'iter:task_vma /ctx->task->pid == {held.pid}/ '
              '{ printf("%lx-%lx\\n", ctx->vma->vm_start, ctx->vma->vm_end); }')
    assert res.returncode == 0, res.stderr
    maps = Path(f"/proc/{held.pid}/maps").read_text().splitlines()
    want = [ln.split()[0] for ln in maps if not ln.endswith("[vsyscall]")]   # the gate area is no vma
    assert res.stdout.split() == want
    exe = next(ln.split()[0].split("-")[0] for ln in maps if ln.endswith(f"/{COMM}"))
    assert f"{exe}-" in res.stdout


def test_null_object_skipped() -> None:
    """The kernel's last call of an iteration passes ctx->task == NULL: the body never sees it."""
    res = run('iter:task { if (ctx->task == 0) { printf("NULL\\n"); } @n = count(); } '
              'end { printf("%d\\n", @n > 0); clear(@n); }')
    assert res.returncode == 0, res.stderr
    assert res.stdout == "1\n\n\n"


def test_exit_takes_effect_after_the_walk() -> None:
    """0.26's runtime test iter:task (`printf(comm); exit()` prints bpftrace's own task too):
    the walk sees every task, then the program exits."""
    res = run('iter:task { printf("%d\\n", ctx.task.pid); exit(); }')
    assert res.returncode == 0, res.stderr
    pids = [int(x) for x in res.stdout.split()]
    assert len(pids) > 10 and pids == sorted(pids) and os.getpid() in pids, res.stdout


MIX = "iter:task { } interval:s:1 { exit(); }"


@pytest.mark.parametrize("prog, msg, start, length", [
    (MIX, "Iterator probe can't be mixed with any other probe, except begin and end (interval used here)",
     14, 12),
    ("begin { } iter:task { } iter:task_file { }",
     "Iterator probe can't be mixed with any other probe, not even another iterator", 24, 14),
    ("iter:task, iter:task_file { }", "iter probe only supports one attach point.", 11, 14),
    ("iter:task* { }", "iter probe type does not support wildcards", 0, 10),
    ("iter:nonsense { }", "iter nonsense not available for your kernel version.", 0, 13),
    ("iter:task:/sys/fs/bpf/x { }", "iter:task:/sys/fs/bpf/x: pinning an iterator is not supported yet by "
     "bpfscope (its printf output goes to bpfscope's ring buffer, not to the pinned file)", 0, 23),
    ("iter:bpf_map_elem { }", "iter:bpf_map_elem walks a map given when it is attached, which bpfscope "
     "cannot pass yet", 0, 17),
    ("iter:task { print(args.task); }", "The args builtin can only be used with tracepoint/fentry/uprobe "
     "probes (iter used here)", 18, 4),
])
def test_errors(prog: str, msg: str, start: int, length: int) -> None:
    res = run(prog)
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == (f"stdin:1:{start + 1}-{start + 1 + length}: ERROR: {msg}\n{prog}\n"
                          + " " * start + "~" * length + "\n")


def test_listing() -> None:
    res = bpfscope("-l", "iter:*")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert {"iter:task", "iter:task_file", "iter:task_vma"} <= set(lines)
    assert lines == sorted(set(lines)) and all(re.fullmatch(r"iter:\w+", ln) for ln in lines)
    assert bpfscope("-l", "it:task_*").stdout == "iter:task_file\niter:task_vma\n"   # the short name
    res = bpfscope("-lv", "iter:task_file")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("iter:task_file\n    struct task_struct * task\n    u32 fd\n"
                          "    struct file * file\n")
