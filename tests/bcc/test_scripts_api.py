"""BCC API pieces that Debian's bpfcc-tools survey found missing, each checked through an
unchanged script: bcc.USDTException and USDT semaphores raised for a pid (ustat), the bash
language wrappers (pythonstat-bpfcc: `$lib/ustat -l python "$@"`), BPF.get_probe_limit and
the no-kprobe answer to a function pattern (funccount), bcc.tcp, and a second Ctrl-C while a
script is ending (no traceback)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bcc.test_scripts import WAITING, Run, _script
from tests.conftest import needs_root, read_until

PY311 = "/usr/bin/python3.11"      # Debian's CPython, built with USDT probes (semaphored)


class RunPath(Run):
    """Run for any script path or PATH name (Run takes a -bpfcc tool name)."""

    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        full = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.p = subprocess.Popen([sys.executable, "-m", "bpfscope", "bcc", script, *args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=full)
        self.out = b""
        self.waits = WAITING


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    out: list[Run] = []
    yield out
    for r in out:
        r.kill()


def _bcc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfscope", "bcc", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


# ---------------------------------------------------------------------- ustat / USDTException
GC_TARGET = """
import gc, sys
gc.disable()                                  # only the collections asked for
with open('/proc/self/comm', 'w') as f:
    f.write('python')                         # ustat -l python looks for comm "python"
print('ready', flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        gc.collect()
    print('done', flush=True)
"""


def _gc_semaphore(pid: int) -> int:
    """The gc__start semaphore's value in the process (non-zero while a tracer enabled it)."""
    from bpfscope.bcc.usdt import _runtime_address
    from bpfscope.kernel import usdt_notes
    from bpfscope.kernel.procmaps import ProcessMaps

    loc = next(p for p in usdt_notes.list_usdt(PY311) if p.name == "gc__start")
    assert loc.semaphore_offset
    addr = _runtime_address(ProcessMaps.capture(pid), PY311, loc.semaphore_offset)
    assert addr is not None
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        return int(struct.unpack("=H", os.pread(fd, 2, addr))[0])
    finally:
        os.close(fd)


@pytest.fixture
def gc_target() -> Iterator[subprocess.Popen[bytes]]:
    if not os.path.exists(PY311):
        pytest.skip(f"{PY311} (Debian's python3.11, with USDT probes) is not installed")
    from bpfscope.kernel import usdt_notes

    if not any(p.name == "gc__start" and p.semaphore for p in usdt_notes.list_usdt(PY311)):
        pytest.skip(f"{PY311} has no semaphored gc__start USDT probe")
    p = subprocess.Popen([PY311, "-c", GC_TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout is not None
    read_until(p.stdout.fileno(), b"ready", 30)
    yield p
    p.kill()
    p.wait()


@needs_root
@pytest.mark.parametrize("script", [["/usr/sbin/ustat", "-l", "python"], ["pythonstat-bpfcc"]],
                         ids=["ustat", "pythonstat-wrapper"])
def test_ustat_counts_python_gc_exact(runs: list[Run], gc_target: subprocess.Popen[bytes],
                                      script: list[str]) -> None:
    """200 gc.collect() calls over a 100 s interval cut short by Ctrl-C: GC/s 2 on the
    target's row; ustat enables gc__start for the pid (the semaphore is 1 while it traces, 0
    after), attaching the uprobe itself."""
    if not os.path.exists(script[0]) and shutil.which(script[0]) is None:
        pytest.skip(f"{script[0]} is not installed (Debian's bpfcc-tools)")
    assert _gc_semaphore(gc_target.pid) == 0
    r = RunPath(script[0], *script[1:], "-C", "100")
    runs.append(r)
    r.wait_for(b"Tracing... Output every 100 secs")
    r.in_sleep()                          # probes attached: ustat sleeps its interval
    assert _gc_semaphore(gc_target.pid) == 1
    assert gc_target.stdin is not None and gc_target.stdout is not None
    gc_target.stdin.write(b"200\n")
    gc_target.stdin.flush()
    read_until(gc_target.stdout.fileno(), b"done", 30)
    text = r.finish()
    m = re.search(rf"^{gc_target.pid}\s+{re.escape(PY311)}\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
    assert m is not None, text
    assert int(m.group(2)) == 2, text            # GC/s: 200 collections / 100 s
    assert "PID    CMDLINE" in text and text.rstrip().endswith("Detaching...")
    assert _gc_semaphore(gc_target.pid) == 0     # lowered when ustat dropped its USDT contexts


@needs_root
def test_usdt_exception_for_a_gone_process(tmp_path: Path) -> None:
    """ustat's `except USDTException` path: USDT(pid=) of a process that went away."""
    code = ("import subprocess\nfrom bcc import USDT, USDTException\n"
            "p = subprocess.Popen(['true']); p.wait()\n"
            "try:\n    USDT(pid=p.pid)\nexcept USDTException as e:\n    print('caught:', e)\n")
    script = tmp_path / "usdtexc.py"
    script.write_text(code)
    p = _bcc(str(script))
    assert p.returncode == 0, p
    assert p.stdout.startswith("caught: USDT failed to instrument PID"), p.stdout


# ---------------------------------------------------------------------- bash wrappers
def test_wrapper_forms(tmp_path: Path) -> None:
    """Pure logic: which shell scripts are read as wrappers, and what they wrap."""
    from bpfscope.bcc.wrapper import NotAWrapper, is_shell_script, unwrap

    tool = tmp_path / "ustat"
    tool.write_text("#!/usr/bin/python3\nprint('hi')\n")
    forms = {
        "w1": '#!/bin/bash\nlib=$(dirname $0)\n$lib/ustat -l java "$@"\n',
        "w2": '#!/bin/sh\n# comment\nd=`dirname "$0"`\n\nexec ${d}/ustat -C "$@"\n',
    }
    for name, text in forms.items():
        (tmp_path / name).write_text(text)
        assert is_shell_script(str(tmp_path / name))
    assert not is_shell_script(str(tool))
    assert unwrap(str(tmp_path / "w1")) == (str(tool), ["-l", "java"])
    assert unwrap(str(tmp_path / "w2")) == (str(tool), ["-C"])
    for bad in ['#!/bin/bash\necho hi\n', '#!/bin/bash\nlib=$(dirname $0)\n$lib/ustat -l $X "$@"\n',
                '#!/bin/bash\nset -e\n$lib/ustat "$@"\n', '#!/bin/bash\nlib=$(dirname $0)\n$lib/ustat\n']:
        (tmp_path / "bad").write_text(bad)
        with pytest.raises(NotAWrapper):
            unwrap(str(tmp_path / "bad"))


def test_shell_script_not_a_wrapper_is_a_plain_error() -> None:
    p = _bcc(_script("reset-trace"))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [
        f"bpfscope bcc: {_script('reset-trace')} is a shell script, not a BCC tool written in Python "
        '(nor a wrapper of the form `$lib/TOOL ARGS "$@"`): run it directly']


def test_wrapper_help_is_the_wrapped_tools() -> None:
    """javastat-bpfcc -h is ustat's help (bash would run `ustat -l java -h`); no privilege needed."""
    p = _bcc(_script("javastat"), "-h")
    assert p.returncode == 0 and p.stdout.startswith("usage: ustat "), p


# ---------------------------------------------------------------------- funccount
OPENER = """
import os, sys
print('ready', flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        os.close(os.open('/etc/hostname', os.O_RDONLY))
    print('done', flush=True)
"""


@needs_root
def test_funccount_tracepoint_counts_exact(runs: list[Run]) -> None:
    """-p PID t:syscalls:sys_enter_openat: 37 openat calls of one process, 37 counted."""
    _script("funccount")
    child = subprocess.Popen([sys.executable, "-c", OPENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdin is not None and child.stdout is not None
        read_until(child.stdout.fileno(), b"ready", 30)
        r = RunPath("funccount-bpfcc", "-p", str(child.pid), "t:syscalls:sys_enter_openat")
        runs.append(r)
        r.wait_for(b"Hit Ctrl-C to end.")
        r.in_sleep()
        child.stdin.write(b"37\n")
        child.stdin.flush()
        read_until(child.stdout.fileno(), b"done", 30)
        text = r.finish()
    finally:
        child.kill()
        child.wait()
    rows = [ln.split() for ln in text.splitlines() if ln.startswith("syscalls:")]
    assert rows == [["syscalls:sys_enter_openat", "37"]], text


@needs_root
def test_funccount_probe_limit_from_environment() -> None:
    """BPF.get_probe_limit(): BCC_PROBE_LIMIT=1 refuses a pattern matching more tracepoints."""
    _script("funccount")
    p = _bcc("funccount-bpfcc", "-d", "1", "t:syscalls:sys_enter_open*", env={"BCC_PROBE_LIMIT": "1"})
    assert "Traceback" not in p.stderr, p.stderr
    m = re.search(r"maximum of 1 probes allowed, attempted (\d+)", p.stdout)
    assert m is not None and int(m.group(1)) >= 2, p


@needs_root
@pytest.mark.parametrize("pattern", ["vfs_*", "vfs_read"])
def test_funccount_kernel_pattern_without_kprobes(pattern: str) -> None:
    """No kprobes: the plain no-kprobe message and status 1, not "No functions matched"."""
    from bpfscope.kernel import features

    if features.kprobes():
        pytest.skip("this kernel has kprobes (the VM lane covers them)")
    p = _bcc(_script("funccount"), pattern)
    regex = "^" + pattern.replace("*", ".*") + "$"
    assert p.returncode == 1, p
    assert p.stdout == "" and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"cannot attach kprobes to the kernel functions matching '{regex}': "
                               "kprobe: this kernel has no kprobe support"), lines[0]


def test_plain_name_lookup_stays_empty_without_kprobes() -> None:
    """Scripts ask `if BPF.get_kprobe_functions(b'blk_start_request'):` to pick a tracepoint
    path: a plain name still answers with an empty set where there are no kprobes."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import features

    if features.kprobes():
        pytest.skip("this kernel has kprobes")
    assert BPF.get_kprobe_functions(b"blk_start_request") == set()


# ---------------------------------------------------------------------- bcc.tcp
def test_bcc_tcp_module_through_the_shim(tmp_path: Path) -> None:
    script = tmp_path / "tcpnames.py"
    script.write_text("from bcc import tcp\n"
                      "print(tcp.flags2str(0x12), tcp.flags2str(0xff), repr(tcp.flags2str(0)))\n"
                      "print(tcp.tcpstate[1], tcp.tcpstate[10], tcp.tcpstate[12], tcp.TCPHDR_RST)\n")
    p = _bcc(str(script), "-h")          # -h: no privilege check; the script ignores it
    assert p.returncode == 0, p
    assert p.stdout.splitlines() == ["SYN|ACK FIN|SYN|RST|PSH|ACK|URG|ECE|CWR ''",
                                     "ESTABLISHED LISTEN NEW_SYN_RECV 4"]


@needs_root
def test_tcpdrop_imports_bcc_tcp() -> None:
    """tcpdrop's `from bcc import tcp` resolves (it may still stop later, in its program)."""
    p = _bcc(_script("tcpdrop"), "--ebpf")
    assert "cannot import" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 0 and "__trace_tcp_drop" in p.stdout, p


# ---------------------------------------------------------------------- Ctrl-C twice
@needs_root
def test_sigint_flood_while_ending_is_quiet(runs: list[Run]) -> None:
    """`timeout` sends SIGINT twice (the child, then its group): keep sending SIGINT from the
    script's poll until the process is gone, so some land in its KeyboardInterrupt handling
    and BPF.cleanup at exit. No traceback, no "Exception ignored", status 0 or 130."""
    r = RunPath(_script("exitsnoop"))
    runs.append(r)
    r.wait_for(b"EXIT_CODE")
    r.in_sleep()
    sent = 0
    deadline = time.monotonic() + 60
    while r.p.poll() is None and time.monotonic() < deadline:
        try:
            r.p.send_signal(signal.SIGINT)
            sent += 1
        except ProcessLookupError:
            break
        time.sleep(0.001)
    _, err = r.p.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert sent >= 2
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert r.p.returncode in (0, 130), (r.p.returncode, text)


@needs_root
def test_tplist_finds_tracing_under_debugfs() -> None:
    """tplist hardcodes /sys/kernel/debug/tracing: in a mount namespace without debugfs,
    `bpfscope bcc tplist-bpfcc -v` mounts it and prints sched_switch's fields as tracefs has them."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed")
    fmt = Path("/sys/kernel/tracing/events/sched/sched_switch/format")
    if not fmt.exists():
        fmt = Path("/sys/kernel/debug/tracing/events/sched/sched_switch/format")
    want = [ln.split("\t")[1].split(":", 1)[1].strip().rstrip(";") + ";"
            for ln in fmt.read_text().splitlines()
            if ln.startswith("\tfield:") and "common_" not in ln]
    cmd = (f"umount /sys/kernel/debug 2>/dev/null; test ! -e /sys/kernel/debug/tracing/events || exit 99; "
           f"exec {sys.executable} -m bpfscope bcc {_script('tplist')} -v sched:sched_switch")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", cmd],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "sched:sched_switch", r.stdout
    assert [ln.strip() for ln in lines[1:]] == want, (r.stdout, want)
