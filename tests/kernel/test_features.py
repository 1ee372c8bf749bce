"""Feature detection must tell the truth about the running kernel.

Each test compares a detector with an independent attempt made here (a raw syscall, a
sysfs file, the reference bpftrace), so a detector that guesses fails.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys

import pytest

from bpfscope.kernel import features, syscall, uapi
from bpfscope.kernel import insn as I

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to load BPF programs")

RET0 = I.encode([I.mov64_imm(I.R0, 0), I.exit_()])
KPROBE_PMU = "/sys/bus/event_source/devices/kprobe/type"


def _kprobe_events_exist() -> bool:
    return any(os.path.exists(f"{d}/kprobe_events") for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))


def _trampoline_errno(attach: bool = False) -> int:
    """errno of loading (and, with ``attach``, attaching) an fentry program on vfs_read; 0 if it worked."""
    from bpfscope.kernel.btf import Btf

    fid = Btf.vmlinux().find("vfs_read", "func")
    try:
        fd, _ = syscall.prog_load(uapi.BPF_PROG_TYPE_TRACING, RET0, expected_attach_type=uapi.BPF_TRACE_FENTRY,
                                  attach_btf_id=fid or 0)
    except syscall.BpfError as e:
        return e.errno or -1
    try:
        if attach:
            os.close(syscall.raw_tracepoint_open(None, fd))
    except syscall.BpfError as e:
        return e.errno or -1
    finally:
        os.close(fd)
    return 0


def test_kprobes_match_the_kernel():
    has = os.path.exists(KPROBE_PMU) or _kprobe_events_exist()
    assert features.kprobes() is has
    assert features.kretprobes() is has
    if not has:
        assert features.function_probe_type() in (None, "fentry")


def test_fentry_matches_a_real_load():
    err = _trampoline_errno()
    if err:   # a refused load means no trampolines at all
        assert features.fentry() is False and features.fexit() is False
        assert features.dpath() is False   # d_path needs a trampoline program
    else:     # the load passed: fentry() is what attaching that program does
        assert features.fentry() is (_trampoline_errno(attach=True) == 0)


def test_this_host_reports_no_kprobe_and_no_fentry():
    if os.path.exists(KPROBE_PMU) or _kprobe_events_exist() or _trampoline_errno() != errno.EPERM:
        pytest.skip("this kernel has kprobes or fentry")
    assert not features.kprobes() and not features.fentry()
    assert features.function_probe_type() is None and features.function_probe_type(True) is None


def test_positive_features_really_work():
    assert features.tracepoints() and features.raw_tracepoints()
    if features.ringbuf():
        os.close(syscall.map_create(uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, os.sysconf("SC_PAGE_SIZE")))
    assert features.btf() is os.path.exists("/sys/kernel/btf/vmlinux")
    if features.btf():
        from bpfscope.kernel.btf import Btf

        assert Btf.vmlinux().find("task_struct", "struct")
    with open("/proc/sys/net/core/bpf_jit_enable") as f:
        assert features.jit() is (int(f.read()) >= 1)
    major, minor = (int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if (major, minor) >= (5, 17):   # bpf_loop and get_func_ip exist from 5.17 on
        assert features.loop() and features.get_func_ip()


def test_kprobe_multi_matches_link_create():
    if features.kprobes():
        pytest.skip("only meaningful where kprobes are absent")
    assert features.kprobe_multi() is False and features.kprobe_session() is False


def test_instruction_limit_from_verifier():
    fd, log = syscall.prog_load(uapi.BPF_PROG_TYPE_TRACEPOINT, RET0, log_level=1, log_size=65536)
    os.close(fd)
    m = re.search(r"limit (\d+)", log)
    assert m and features.instruction_limit() == int(m.group(1))


@pytest.mark.skipif(shutil.which("bpftrace") is None, reason="reference bpftrace not installed")
def test_info_agrees_with_reference_bpftrace():
    ref = subprocess.run(["bpftrace", "--info"], capture_output=True, text=True, timeout=60).stdout + \
        subprocess.run(["bpftrace", "--info"], capture_output=True, text=True, timeout=60).stderr
    ours = "\n".join(features.info_lines())
    # the keys both print (0.17 has no uprobe_multi, ours no per-map-type list); every one must be there
    for key in ("Instruction limit", "kprobe_multi", "map batch", "dpath"):
        m = re.search(rf"{key}: (\S+)", ref)
        assert m, f"bpftrace --info has no {key!r}: {ref}"
        assert re.search(rf"{key}: {re.escape(m.group(1))}(\s|$)", ours), (key, m.group(1), ours)


def test_info_layout():
    lines = features.info_lines()
    assert lines[0] == "Kernel helpers"
    heads = [i for i, ln in enumerate(lines) if ln and not ln.startswith("  ")]
    assert [lines[i] for i in heads] == ["Kernel helpers", "Kernel features", "Probe types"]
    for ln in lines:
        if ln.startswith("  "):
            assert len(ln) in (35, 70) and re.match(r"  [\w ]+: \S+", ln), repr(ln)
    assert lines[-1] == ""
    kp = "yes" if features.kprobe_multi() else "no"
    assert any(ln.startswith(f"  kprobe_multi: {kp} ") for ln in lines)


def test_explain_missing_kprobe():
    if features.kprobes():
        pytest.skip("kprobes exist here")
    msg = features.explain_missing("kprobe", "vfs_read")
    assert msg.startswith("kprobe: this kernel has no kprobe support (")
    assert "CONFIG_KPROBES" in msg and "kprobe_events" in msg
    assert "tracepoint:syscalls:sys_enter_read" in msg
    assert "\n" not in msg


def test_explain_missing_fentry():
    if features.fentry():
        pytest.skip("fentry works here")
    msg = features.explain_missing("kfunc", "vfs_read")
    assert msg.startswith("kfunc: this kernel has no fentry support (")
    if _trampoline_errno() == errno.EPERM:
        assert "EPERM" in msg


def test_suggest_tracepoints_exist():
    from bpfscope.kernel.tracefs import list_events

    for func, want in (("vfs_read", "syscalls:sys_enter_read"), ("__x64_sys_getppid", "syscalls:sys_enter_getppid"),
                       ("do_nanosleep", "syscalls:sys_enter_nanosleep")):
        got = features.suggest_tracepoints(func)
        assert want in got, (func, got)
        for tp in got:
            cat, _, name = tp.partition(":")
            assert list_events(cat, name), tp
    assert features.suggest_tracepoints("bpfscope_nothing_like_this") == []


def test_cli_explains_and_exits_1():
    if features.kprobes() or features.fentry():
        pytest.skip("kernel-function probes work here")
    r = subprocess.run([sys.executable, "-m", "bpfscope", "-e", "kprobe:vfs_read { @[comm] = count(); }"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "kprobe: this kernel has no kprobe support" in r.stderr


def test_detection_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detection probes the kernel once per process (counted, not timed; the cost of a cold
    detection is a figure of bench/run.py --only checks)."""
    features.kprobes.cache_clear()
    calls = []
    real = features._kprobe_open
    monkeypatch.setattr(features, "_kprobe_open", lambda ret: calls.append(ret) or real(ret))
    first = features.kprobes()
    for _ in range(1000):
        assert features.kprobes() is first
    assert calls == [False]
    features.kprobes.cache_clear()
