"""Language-level kprobe/fentry tests: the `bpfscope` CLI inside the VM lane.

Add a test here with the `bpfscope` fixture (tests/vm/conftest.py): it runs this
checkout's CLI as root on Debian's stock kernel and returns the CompletedProcess.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.vm
WORKLOAD = "cat /etc/services"
DD_777 = "dd if=/dev/zero of=/dev/null bs=1 count=777"


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_seed_kprobe_count(bpfscope):
    # the seed's one-liner as written: dd's 777 one-byte reads are all counted (plus the
    # loader's few reads of its libraries); the predicate form isolates them exactly
    out = _ok(bpfscope("-e", "kprobe:vfs_read { @[comm] = count(); }", "-c", DD_777))
    m = re.search(r"^@\[dd\]: (\d+)$", out, re.M)
    assert m and 777 <= int(m.group(1)) <= 777 + 20, out
    out = _ok(bpfscope("-e", "kprobe:vfs_read /pid == cpid && arg2 == 1/ { @[comm] = count(); }", "-c", DD_777))
    assert re.search(r"^@\[dd\]: 777$", out, re.M), out


def test_seed_kretprobe_hist(bpfscope):
    out = _ok(bpfscope("-e", "kretprobe:vfs_read { @bytes = hist(retval); }", "-c", WORKLOAD))
    assert "@bytes:" in out
    assert re.search(r"^\[\d+[KM]?, \d+[KM]?\)\s+\d+ \|@+", out, re.M), out


def test_kprobe_listing(bpfscope):
    out = _ok(bpfscope("-l", "kprobe:vfs_*"))
    lines = out.splitlines()
    assert "kprobe:vfs_read" in lines and all(x.startswith("kprobe:vfs_") for x in lines)


def test_fentry_args(bpfscope):
    out = _ok(bpfscope("-e", "fentry:vfs_read /comm == \"cat\"/ { @[args.count > 0] = count(); }",
                       "-c", WORKLOAD))
    assert re.search(r"^@\[true\]: \d+$", out, re.M), out   # 0.26: comparisons are bool


def test_fexit_retval(bpfscope):
    out = _ok(bpfscope("-e", "fexit:vfs_read /comm == \"cat\"/ { @ = max(retval); }", "-c", WORKLOAD))
    m = re.search(r"^@: (\d+)$", out, re.M)
    assert m and int(m.group(1)) > 0, out


def test_kfunc_alias_and_func(bpfscope):
    """0.17 spelling `kfunc:` and the `func` builtin (a trampoline's bpf_get_func_ip)."""
    out = _ok(bpfscope("-e", 'kfunc:vfs_read /comm == "cat"/ { @[func] = count(); }', "-c", WORKLOAD))
    assert re.search(r"^@\[vfs_read\]: \d+$", out, re.M), out


def test_kprobe_wildcard_multi_func(bpfscope):
    out = _ok(bpfscope("-e", 'kprobe:vfs_rea* /comm == "cat"/ { @[func] = count(); }', "-c", WORKLOAD))
    assert re.search(r"^@\[vfs_read\]: \d+$", out, re.M), out


def test_kprobe_wildcard_probe_builtin(bpfscope):
    """With `probe` in the body each match gets its own program, so `probe` names it."""
    out = _ok(bpfscope("-e", 'kprobe:vfs_rea* /comm == "cat"/ { @[probe] = count(); }', "-c", WORKLOAD))
    assert re.search(r"^@\[kprobe:vfs_read\]: \d+$", out, re.M), out


def test_kprobe_arg_str(bpfscope):
    out = _ok(bpfscope("-e", 'kprobe:do_sys_openat2 /comm == "cat"/ { printf("open %s\\n", str(arg1)); }',
                       "-c", "cat /etc/hostname"))
    assert "open /etc/hostname" in out.splitlines(), out


def test_kretprobe_retval_and_offset_errors(bpfscope):
    r = bpfscope("-e", "kretprobe:vfs_read+4 { @ = count(); }")
    assert r.returncode == 1 and "Offsets are only supported for kprobe" in r.stderr, r.stderr
    r = bpfscope("-e", "kprobe:bpfscope_no_such_function { @ = count(); }")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "bpfscope_no_such_function" in r.stderr


def test_fentry_listing_verbose(bpfscope):
    out = _ok(bpfscope("-lv", "fentry:vfs_read"))
    assert out.splitlines()[:3] == ["fentry:vmlinux:vfs_read", "    struct file * file", "    char * buf"], out


def _our_progs() -> list[int]:
    from progs import prog_ids_named

    return prog_ids_named("kprobe_vfs_read") + prog_ids_named("kretprobe_vfs_r")


def _kprobe_list() -> str:
    try:
        with open("/sys/kernel/debug/kprobes/list") as f:
            return f.read()
    except OSError:
        return ""


def test_cli_cleanup_after_kill9(bpfscope):
    """kill -9 the tracer: its kprobes and programs go with its fds, nothing stays in tracefs."""
    py = os.environ.get("BPFSCOPE_PYTHON", sys.executable)
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.path.join(checkout, "src"))
    assert _our_progs() == []
    p = subprocess.Popen([py, "-m", "bpfscope", "-e", "kprobe:vfs_read { @ = count(); } "
                          "kretprobe:vfs_read { @r = count(); }"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while len(_our_progs()) < 2 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.2)
        assert len(_our_progs()) == 2, p.stderr.read() if p.poll() is not None else "not attached"
        time.sleep(0.5)
        assert "vfs_read" in _kprobe_list() or not os.path.exists("/sys/kernel/debug/kprobes")
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 10
    while _our_progs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _our_progs() == []
    assert "vfs_read" not in _kprobe_list()
    with open("/sys/kernel/tracing/kprobe_events") as f:
        assert "bpfscope" not in f.read()


def test_seed_kprobe_ustack_perf(bpfscope):
    """The seed's `k:do_nanosleep{printf("%s", ustack(perf));}`: user frames of the sleeper."""
    out = _ok(bpfscope("-e", 'k:do_nanosleep /comm == "sleep"/ { printf("%s", ustack(perf)); exit(); }',
                       "-c", "sleep 0.3"))
    frames = [ln for ln in out.splitlines() if ln.startswith("\t")]
    assert frames and all(re.fullmatch(r"\t[0-9a-f]+ \S.* \(.+\)", f) for f in frames), out
    assert any("libc" in f for f in frames), out
