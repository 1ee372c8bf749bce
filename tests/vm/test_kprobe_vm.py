"""Kernel-function probes on Debian's stock kernel (run by tests/vm/run, never on the host).

Every test drives a workload from this process and checks what the kernel counted, with
programs filtered to this pid so the numbers are exact.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from progs import Counter, count_and_sum, load_kprobe, prog_ids_named, read_user_str

from bpfscope.kernel import features, fentry, kprobes, uapi

pytestmark = pytest.mark.vm
PID = os.getpid()
N = 50


@pytest.fixture
def counter():
    c = Counter()
    yield c
    c.close()


def _data_file(tmp_path, size: int = 4096) -> str:
    p = tmp_path / "data"
    p.write_bytes(b"x" * size)
    return str(p)


def test_features_in_vm():
    assert features.kprobes() and features.kretprobes()
    assert features.function_probe_type() in ("fentry", "kprobe")
    lines = features.info_lines()
    assert lines[0] == "Kernel helpers" and "Probe types" in lines


def test_kprobe_count(counter):
    fd = load_kprobe(count_and_sum(counter.fd, PID, None))
    try:
        with kprobes.attach_kprobe(fd, "__x64_sys_getppid") as att:
            assert att.kind == "kprobe" and len(att.fds) == 1
            for _ in range(N):
                os.getppid()
        assert counter.read()[0] == N
        os.getppid()   # detached: no more counting
        assert counter.read()[0] == N
    finally:
        os.close(fd)


def test_kretprobe_retval(counter, tmp_path):
    path = _data_file(tmp_path)
    fd = load_kprobe(count_and_sum(counter.fd, PID, kprobes.retval_offset()))
    f = os.open(path, os.O_RDONLY)
    try:
        with kprobes.attach_kprobe(fd, "vfs_read", retprobe=True):
            for _ in range(N):
                assert len(os.pread(f, 100, 0)) == 100
        n, total = counter.read()
        assert n == N and total == 100 * N
    finally:
        os.close(f)
        os.close(fd)


def test_kprobe_arg_and_str(tmp_path):
    target = next(f for f in ("do_sys_openat2", "do_sys_open") if kprobes.list_kernel_functions(f))
    strmap = Counter(128)
    fd = load_kprobe(read_user_str(strmap.fd, PID, kprobes.arg_offset(1), 128))
    marker = f"/tmp/bpfscope-marker-{PID}"
    try:
        with kprobes.attach_kprobe(fd, target):
            try:
                os.open(marker, os.O_RDONLY)
            except FileNotFoundError:
                pass
        assert strmap.text() == marker
    finally:
        os.close(fd)
        strmap.close()


def test_kprobe_wildcard(counter):
    # argument-less syscalls are traced under their __do_sys_ name (__x64_sys_ is an alias)
    funcs = kprobes.list_kernel_functions("__do_sys_get*pid") or kprobes.list_kernel_functions("__x64_sys_get*pid")
    assert len(funcs) == 2 and all(f.endswith(("sys_getpid", "sys_getppid")) for f in funcs), funcs
    insns = count_and_sum(counter.fd, PID, None)
    if features.kprobe_multi():
        fd = load_kprobe(insns, expected_attach_type=uapi.BPF_TRACE_KPROBE_MULTI)
        att = kprobes.attach_kprobe_multi(fd, funcs)
        failed: list = []
    else:
        fd = load_kprobe(insns)
        with pytest.raises(kprobes.KprobeError):
            kprobes.attach_kprobe_multi(fd, funcs)
        att, failed = kprobes.attach_kprobes(fd, funcs)
        assert len(att.fds) == len(funcs) - len(failed)
    try:
        with att:
            assert not failed
            for _ in range(N):
                os.getpid()
                os.getppid()
        assert counter.read()[0] == 2 * N
    finally:
        os.close(fd)


def test_kprobe_module_function(counter):
    mod_funcs = kprobes.list_kernel_functions("9p:v9fs_vfs_getattr*")
    assert "9p:v9fs_vfs_getattr_dotl" in mod_funcs
    fd = load_kprobe(count_and_sum(counter.fd, PID, None))
    try:
        with kprobes.attach_kprobe(fd, "v9fs_vfs_getattr_dotl", module="9p"):
            for _ in range(10):
                os.stat("/usr/bin")   # the root file system is 9p in the VM
        assert counter.read()[0] >= 10
    finally:
        os.close(fd)


def test_kprobe_errors_are_plain():
    c = Counter()
    fd = load_kprobe(count_and_sum(c.fd, PID, None))
    try:
        with pytest.raises(kprobes.KprobeError, match="no such kernel function"):
            kprobes.attach_kprobe(fd, "bpfscope_no_such_function")
        with pytest.raises(kprobes.KprobeError, match="cannot attach kprobe:vfs_read"):
            kprobes.attach_kprobe(fd, "vfs_read", offset=1)   # not an instruction boundary
    finally:
        os.close(fd)
        c.close()


def test_tracefs_fallback_is_cleaned_up(counter):
    fd = load_kprobe(count_and_sum(counter.fd, PID, None))
    try:
        att = kprobes.attach_kprobe(fd, "__x64_sys_getppid", method="tracefs")
        assert att.events and kprobes.list_own_events(PID) == att.events
        for _ in range(N):
            os.getppid()
        att.close()
        att.close()   # idempotent
        assert counter.read()[0] == N
        assert kprobes.list_own_events(PID) == []
    finally:
        os.close(fd)


def test_listing():
    funcs = kprobes.list_kernel_functions("vfs_*")
    assert {"vfs_read", "vfs_write", "vfs_open"} <= set(funcs)
    assert all(f.startswith("vfs_") for f in funcs)
    assert len(kprobes.list_kernel_functions()) > 10000


def test_fentry_args(counter, tmp_path):
    if not features.fentry():
        pytest.skip("this kernel refuses fentry")
    args = fentry.fentry_args("vfs_read")
    assert [a for a, _ in args] == ["file", "buf", "count", "pos"]
    path = _data_file(tmp_path)
    count_idx = [a for a, _ in args].index("count")
    fd, att = fentry.attach_fentry(count_and_sum(counter.fd, PID, 8 * count_idx), "vfs_read")
    f = os.open(path, os.O_RDONLY)
    try:
        with att:
            for _ in range(N):
                os.pread(f, 123, 0)
        assert counter.read() == (N, 123 * N)
    finally:
        os.close(f)
        os.close(fd)


def test_fexit_retval(counter, tmp_path):
    if not features.fexit():
        pytest.skip("this kernel refuses fexit")
    path = _data_file(tmp_path, 1000)
    nargs = len(fentry.fentry_args("vfs_read"))
    fd, att = fentry.attach_fentry(count_and_sum(counter.fd, PID, 8 * nargs), "vfs_read", retprobe=True)
    f = os.open(path, os.O_RDONLY)
    try:
        with att:
            for _ in range(N):
                os.pread(f, 700, 500)   # only 500 bytes are left from offset 500
        assert counter.read() == (N, 500 * N)
    finally:
        os.close(f)
        os.close(fd)


CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {here!r})
    from progs import Counter, count_and_sum, load_kprobe
    from bpfscope.kernel import kprobes
    c = Counter()
    fd = load_kprobe(count_and_sum(c.fd, os.getpid(), None), name="vmtest_kill9")
    a = kprobes.attach_kprobe(fd, "__x64_sys_getppid")
    b = kprobes.attach_kprobe(fd, "__x64_sys_getpid", method="tracefs")
    print("ready", b.events[0], flush=True)
    time.sleep(600)
""")


def _kprobe_list() -> str:
    try:
        with open("/sys/kernel/debug/kprobes/list") as f:
            return f.read()
    except OSError:
        return ""


def test_cleanup_after_kill9():
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(here=here)], stdout=subprocess.PIPE,
                             text=True)
    try:
        line = child.stdout.readline().split()
        assert line and line[0] == "ready", line
        stale = line[1]
        assert prog_ids_named("vmtest_kill9")
        assert "sys_getppid+0x0" in _kprobe_list()
        assert stale in kprobes.list_own_events(child.pid)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 10
    while prog_ids_named("vmtest_kill9") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert prog_ids_named("vmtest_kill9") == []          # the PMU kprobe went with the fd
    assert "sys_getppid+0x0" not in _kprobe_list()
    assert kprobes.list_own_events(child.pid) == [stale]  # a tracefs entry outlives SIGKILL...
    assert stale in kprobes.remove_stale_events()         # ...until the next run sweeps it
    assert kprobes.list_own_events() == []
    assert "sys_getpid+0x0" not in _kprobe_list()
