"""kprobe/fentry kernel layer on the development host (no kprobes, fentry refused here).

What can be checked here: clear errors instead of raw OSErrors, listing, the pt_regs table
against the kernel's own BTF, Attachment bookkeeping with real fds. The attach paths
themselves run in the VM lane (tests/vm).
"""

from __future__ import annotations

import os
import platform

import pytest

from bpfscope.kernel import features, fentry, kprobes, syscall, uapi
from bpfscope.kernel import insn as I

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to load BPF programs")
RET0 = I.encode([I.mov64_imm(I.R0, 0), I.exit_()])
no_kprobes = pytest.mark.skipif(features.kprobes(), reason="this kernel has kprobes (VM lane covers them)")


@pytest.fixture
def kprobe_prog():
    fd, _ = syscall.prog_load(uapi.BPF_PROG_TYPE_KPROBE, RET0)
    yield fd
    os.close(fd)


@no_kprobes
def test_attach_kprobe_raises_clear_error(kprobe_prog):
    with pytest.raises(kprobes.KprobeUnavailable) as ei:
        kprobes.attach_kprobe(kprobe_prog, "vfs_read")
    assert not isinstance(ei.value, OSError)
    assert "kprobe:vfs_read" in str(ei.value) and "no kprobe support" in str(ei.value)
    with pytest.raises(kprobes.KprobeUnavailable, match="no 'kprobe' PMU"):
        kprobes.attach_kprobe(kprobe_prog, "vfs_read", retprobe=True, method="pmu")


@no_kprobes
def test_attach_kprobes_wildcard_propagates_unavailable(kprobe_prog):
    with pytest.raises(kprobes.KprobeUnavailable):
        kprobes.attach_kprobes(kprobe_prog, ["vfs_read", "vfs_write"])


def test_kprobe_multi_unavailable_is_clear():
    if features.kprobe_multi():
        pytest.skip("kprobe_multi works here")
    fd, _ = syscall.prog_load(uapi.BPF_PROG_TYPE_KPROBE, RET0, expected_attach_type=uapi.BPF_TRACE_KPROBE_MULTI)
    try:
        with pytest.raises(kprobes.KprobeError, match="kprobe_multi") as ei:
            kprobes.attach_kprobe_multi(fd, ["vfs_read"])
        assert not isinstance(ei.value, OSError)
    finally:
        os.close(fd)
    with pytest.raises(ValueError):
        kprobes.attach_kprobe_multi(0)


def test_list_kernel_functions():
    funcs = kprobes.list_kernel_functions("vfs_rea*")
    assert "vfs_read" in funcs
    assert funcs == sorted(set(funcs)) and all(f.startswith("vfs_rea") for f in funcs)
    assert kprobes.list_kernel_functions("{vfs_read,vfs_write}") == ["vfs_read", "vfs_write"]
    assert all(":" in f for f in kprobes.list_kernel_functions("*:*"))
    assert kprobes.list_kernel_functions("bpfscope_no_such_fn_*") == []


def test_no_stale_events_without_tracefs_kprobes():
    if kprobes.kprobe_events_path() is not None:
        pytest.skip("kprobe_events exists here")
    assert kprobes.list_own_events() == [] and kprobes.remove_stale_events() == []


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 register table")
def test_pt_regs_offsets_match_kernel_btf():
    from bpfscope.kernel.btf import Btf

    btf = Btf.vmlinux()
    sid = btf.find("pt_regs", "struct")
    for reg in ("di", "si", "dx", "cx", "r8", "r9", "ax", "ip", "sp", "bp"):
        found = btf.member(sid, reg)
        assert found is not None, reg
        assert kprobes.pt_regs_offset(reg) == found[0] // 8, reg
    assert [kprobes.arg_offset(i) for i in range(6)] == [
        btf.member(sid, r)[0] // 8 for r in ("di", "si", "dx", "cx", "r8", "r9")]  # type: ignore[index]
    assert kprobes.arg_offset(6) is None
    assert kprobes.retval_offset() == btf.member(sid, "ax")[0] // 8  # type: ignore[index]
    assert kprobes.ip_offset() == btf.member(sid, "ip")[0] // 8  # type: ignore[index]


def test_attachment_closes_real_fds_once():
    def sw_event() -> int:
        return syscall.perf_event_open(syscall.PERF_TYPE_SOFTWARE, 9, pid=0, cpu=-1,
                                       flags=syscall.ATTR_FLAG_DISABLED)  # 9 = dummy

    a = kprobes.Attachment("kprobe", ["a"], [sw_event()])
    b = kprobes.Attachment("kprobe", ["b"], [sw_event()])
    a.extend(b)
    assert a.targets == ["a", "b"] and len(a.fds) == 2 and b.closed
    fds = list(a.fds)
    with a:
        for fd in fds:
            os.fstat(fd)
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    a.close()   # idempotent
    assert a.closed and "closed" in repr(a)


def test_fentry_args_from_btf():
    args = fentry.fentry_args("vfs_read")
    assert [n for n, _ in args] == ["file", "buf", "count", "pos"]
    from bpfscope.kernel.btf import Btf

    btf = Btf.vmlinux()
    assert btf.type_name(args[0][1]) == "struct file *"
    assert fentry.fexit_retval_type("vfs_read") and btf.type_name(fentry.fexit_retval_type("vfs_read")) == "ssize_t"
    with pytest.raises(fentry.FentryError, match="not found"):
        fentry.fentry_args("bpfscope_no_such_function")
    with pytest.raises(fentry.FentryError, match="not found"):
        fentry.func_btf_id("bpfscope_no_such_function")


def test_fentry_load_refused_is_clear():
    if features.fentry():
        pytest.skip("fentry works here")
    with pytest.raises(fentry.FentryError, match="cannot load fentry:vfs_read") as ei:
        fentry.attach_fentry(RET0, "vfs_read")
    assert not isinstance(ei.value, OSError)
    if ei.value.errno == 1:
        assert "refuses BPF trampolines" in str(ei.value)


def test_module_btf_fd_unknown_module():
    with pytest.raises(fentry.FentryError, match="no loaded BTF object"):
        fentry.module_btf_fd("bpfscope_no_such_module")
