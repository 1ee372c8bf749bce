"""BCC's Python API: bpf_trace_printk output read back through trace_fields()/trace_print()
(tracefs trace_pipe), regex attachment (attach_tracepoint(tp_re=), attach_uprobe(sym_re=),
attach_kprobe(event_re=)), get_tracepoints/get_kprobe_functions and the open-probe counts.

trace_pipe is one stream for the whole system: the tests pick their own lines out by a
marker unique to the run and the pid of the child that made them."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import needs_root, read_until

pytestmark = needs_root

GETPPID_C = r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++) getppid();
    return 0;
}
"""

LEAVES_C = r"""
#include <stdlib.h>
__attribute__((noinline)) int h14_leaf_a(int x) { return x + 1; }
__attribute__((noinline)) int h14_leaf_b(int x) { return x + 2; }
__attribute__((noinline)) int h14_leaf_c(int x) { return x + 3; }
int main(int argc, char **argv) {
    volatile int s = 0;
    for (int i = 0; i < 3; i++) s += h14_leaf_a(i);
    for (int i = 0; i < 4; i++) s += h14_leaf_b(i);
    for (int i = 0; i < 5; i++) s += h14_leaf_c(i);
    return s == 0;
}
"""


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workloads")
    d = tmp_path_factory.mktemp("h14")
    for name, src in (("getppid", GETPPID_C), ("leaves", LEAVES_C)):
        (d / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-O1", "-o", str(d / name), str(d / f"{name}.c")], check=True)
    return d


def _printk_prog(marker: str) -> str:
    return textwrap.dedent(f"""
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {{
        u32 pid = bpf_get_current_pid_tgid() >> 32;
        bpf_trace_printk("{marker} %d %u %d\\n", pid, 42, -7);
        return 0;
    }}
    """)


def test_trace_fields_gives_printk_lines(bins: Path) -> None:
    from bpfscope.bcc import BPF

    marker = f"h14{uuid.uuid4().hex[:8]}"
    with BPF(text=_printk_prog(marker)) as b:
        child = subprocess.Popen([str(bins / "getppid"), "3"])     # others may call getppid too
        assert child.wait() == 0
        pid = child.pid
        mine = []
        deadline = time.monotonic() + 60     # a guard against a hang, not a timing check
        while len(mine) < 3 and time.monotonic() < deadline:
            task, p, cpu, flags, ts, msg = b.trace_fields(nonblocking=True)
            if msg is None:      # nothing buffered: wait for the pipe instead of spinning
                select.select([b.trace_open().fd], [], [], 1.0)
                continue
            if msg.startswith(f"{marker} {pid} ".encode()):
                mine.append((task, p, cpu, flags, ts, msg))
        assert len(mine) == 3, mine
        for task, p, cpu, flags, ts, msg in mine:
            assert msg == f"{marker} {pid} 42 -7".encode()
            assert p == pid and isinstance(task, bytes) and isinstance(flags, bytes)
            assert 0 <= cpu < os.cpu_count() and ts > 0      # type: ignore[operator]
        # a drained pipe gives BCC's six Nones without blocking
        while b.trace_fields(nonblocking=True)[5] is not None:
            pass
        assert b.trace_fields(nonblocking=True) == (None,) * 6


def test_trace_print_fmt_in_a_script(bins: Path, tmp_path: Path) -> None:
    marker = f"h14{uuid.uuid4().hex[:8]}"
    script = tmp_path / "printer.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from bpfscope.bcc import BPF
        b = BPF(text={_printk_prog(marker)!r})
        print("ready", flush=True)
        b.trace_print(fmt="pid={{1}} msg={{5}}")
    """))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout is not None
        read_until(p.stdout.fileno(), b"ready\n", 60)
        child = subprocess.Popen([str(bins / "getppid"), "2"])
        assert child.wait() == 0
        want = f"pid={child.pid} msg={marker} {child.pid} 42 -7"
        got = b""
        while got.decode().count(want) < 2:
            got += read_until(p.stdout.fileno(), b"\n", 60)
    finally:
        p.kill()
        p.communicate()
    lines = [ln for ln in got.decode().splitlines() if f"{marker} {child.pid} " in ln]
    assert lines == [want] * 2, got


def test_printk_format_must_be_a_literal() -> None:
    from bpfscope.bcc import BPF, BPFCompileError

    with pytest.raises(BPFCompileError, match=r"<text>:2:\d+: error: bpf_trace_printk\(\) takes at most 3"):
        BPF(text='TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {\n'
                 '  bpf_trace_printk("%d %d %d %d", 1, 2, 3, 4); return 0; }')


def test_tracepoint_regex_attach_counts(bins: Path) -> None:
    from bpfscope.bcc import BPF

    assert BPF.get_tracepoints("syscalls:sys_(enter|exit)_getppid$") == [
        b"syscalls:sys_enter_getppid", b"syscalls:sys_exit_getppid"]
    with BPF(text="""
    BPF_HASH(n, u32, u64);
    int on_tp(void *ctx) { u32 k = bpf_get_current_pid_tgid() >> 32; n.increment(k); return 0; }
    """) as b:
        b.attach_tracepoint(tp_re="syscalls:sys_(enter|exit)_getppid$", fn_name="on_tp")
        assert b.num_open_tracepoints() == 2
        child = subprocess.Popen([str(bins / "getppid"), "5"])
        child.wait()
        got = {k.value: v.value for k, v in b["n"].items()}
        with pytest.raises(Exception, match="no tracepoint matches"):
            b.attach_tracepoint(tp_re="nosuchcat:.*", fn_name="on_tp")
    assert got[child.pid] == 10, got


def test_uprobe_regex_attach_counts(bins: Path) -> None:
    from bpfscope.bcc import BPF

    exe = str(bins / "leaves")
    found = sorted(n for n, _ in BPF.get_user_functions_and_addresses(exe, "h14_leaf_[ab]$"))
    assert found == [b"h14_leaf_a", b"h14_leaf_b"]
    with BPF(text="""
    BPF_HASH(n, u32, u64);
    int on_leaf(struct pt_regs *ctx) { u32 k = bpf_get_current_pid_tgid() >> 32; n.increment(k); return 0; }
    """) as b:
        b.attach_uprobe(name=exe, sym_re="h14_leaf_[ab]$", fn_name="on_leaf")
        assert b.num_open_uprobes() == 2
        child = subprocess.Popen([exe])
        child.wait()
        got = {k.value: v.value for k, v in b["n"].items()}
        with pytest.raises(Exception, match="no symbol in .* matches"):
            b.attach_uprobe(name=exe, sym_re="nomatch_", fn_name="on_leaf")
    assert got[child.pid] == 7, got      # 3 calls of a + 4 of b; c not attached


def test_kprobe_regex_without_kprobes_is_plain() -> None:
    from bpfscope.bcc import BPF
    from bpfscope.kernel import features

    if features.kprobes():
        pytest.skip("this kernel has kprobes (the VM lane covers event_re attachment)")
    assert BPF.get_kprobe_functions(b"vfs_read") == set()
    with BPF(text="int on_k(struct pt_regs *ctx) { return 0; }") as b:
        with pytest.raises(Exception) as ei:
            b.attach_kprobe(event_re=r"^vfs_re.*", fn_name="on_k")
        assert "kprobes matching '^vfs_re.*'" in str(ei.value) and "no kprobe support" in str(ei.value)
        assert b.num_open_kprobes() == 0
