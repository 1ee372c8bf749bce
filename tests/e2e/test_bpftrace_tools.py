"""Scripts people already have: Debian's bpftrace 0.17 tools (/usr/sbin/*.bt) attach unchanged
as many probes as bpftrace 0.17 does, and most run for real against a workload the test drives,
reporting what that workload did."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root, python_comm

pytestmark = needs_root

# tools whose probes this kernel has (the kprobe-based ones are covered by the VM lane's
# kprobe tests and by the plain "no kprobe support" message on this host)
RUNNABLE = ["bashreadline", "bitesize", "cpuwalk", "execsnoop", "gethostlatency", "killsnoop", "naptime",
            "opensnoop", "pidpersec", "runqlat", "setuids", "statsnoop", "syncsnoop", "syscount", "tcpdrop",
            "writeback"]


def _tool(name: str) -> Path:
    p = Path(f"/usr/sbin/{name}.bt")
    if not p.exists():
        pytest.skip(f"{p} is not installed (Debian package bpftrace)")
    return p


# What bpftrace 0.17 itself prints for `<tool>.bt -c /bin/true` on this kernel ("Attaching N
# probes...", BEGIN/END included). runqlat and tcpdrop: 0.17 cannot build their #include
# <linux/sched.h> / <net/sock.h> here, so the count is read off the script: BEGIN, 2 sched_wakeup*
# and sched_switch, END (5); BEGIN, skb:kfree_skb, END (3).
PROBES_017 = {"bashreadline": 2, "bitesize": 3, "cpuwalk": 2, "execsnoop": 3, "gethostlatency": 7, "killsnoop": 3,
              "naptime": 2, "opensnoop": 6, "pidpersec": 4, "runqlat": 5, "setuids": 7, "statsnoop": 10,
              "syncsnoop": 7, "syscount": 3, "tcpdrop": 3, "writeback": 4}


@pytest.mark.parametrize("name", RUNNABLE)
def test_tool_attaches_what_bpftrace_attaches(name: str) -> None:
    """Each tool, unchanged, compiles, loads and attaches as many probes as bpftrace 0.17 does."""
    r = bpfscope(str(_tool(name)), "-c", "/bin/true", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    n = PROBES_017[name]
    assert f"Attached {n} probe{'s' if n != 1 else ''}\n" in r.stderr, r.stderr


def test_killsnoop_sees_signals_and_results() -> None:
    """kill(self, 0) succeeds; kill(an unused pid, 0) fails with ESRCH (-3)."""
    gone = _unused_pid()
    code = (f"import os\nprint('child', os.getpid(), flush=True)\nos.kill(os.getpid(), 0)\n"
            f"try:\n    os.kill({gone}, 0)\nexcept OSError:\n    pass\n")
    r = bpfscope(str(_tool("killsnoop")), "-c", f"{sys.executable} -c \"{code}\"", timeout=60)
    assert r.returncode == 0, r.stderr
    me = re.search(r"^child (\d+)$", r.stdout, re.M)
    assert me, r.stdout
    rows = re.findall(rf"^\d\d:\d\d:\d\d +{me.group(1)} +{re.escape(python_comm())} +(\d+) +(\d+) +(-?\d+)$",
                      r.stdout, re.M)  # kill() is traced system-wide: only the child's rows
    assert rows == [("0", me.group(1), "0"), ("0", str(gone), "-3")], r.stdout


def _unused_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


def test_statsnoop_and_syncsnoop_see_the_calls() -> None:
    r = bpfscope(str(_tool("statsnoop")), "-c", "stat /etc/hostname", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\d+ +stat +0 /etc/hostname$", r.stdout, re.M), r.stdout
    r = bpfscope(str(_tool("syncsnoop")), "-c", "sync", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.findall(r"^\d\d:\d\d:\d\d +\d+ +sync +(\S+)$", r.stdout, re.M) == \
        ["tracepoint:syscalls:sys_enter_sync"], r.stdout


def test_setuids_sees_setuid() -> None:
    code = "import os; print('child', os.getpid(), flush=True); os.setuid(0)"
    r = bpfscope(str(_tool("setuids")), "-c", f"{sys.executable} -c \"{code}\"", timeout=60)
    assert r.returncode == 0, r.stderr
    me = re.search(r"^child (\d+)$", r.stdout, re.M)
    assert me, r.stdout
    assert re.findall(rf"^\d\d:\d\d:\d\d +{me.group(1)} +{re.escape(python_comm())} +(.*)$", r.stdout, re.M) == \
        ["0      setuid    uid=0 (0)"], r.stdout


def test_naptime_sees_the_sleep(tmp_path: Path) -> None:
    """naptime: the sleeper's parent is the tracer (-c, called bpftrace as bpftrace is), and the
    requested 0.250 s."""
    src = tmp_path / "nap.c"
    src.write_text("#include <time.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"
                   "int main(void) { struct timespec t = {0, 250000000};\n"
                   "  syscall(SYS_nanosleep, &t, 0); return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "napper"), str(src)], check=True)
    r = bpfscope(str(_tool("naptime")), "-c", str(tmp_path / "napper"), timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.findall(r"^\d\d:\d\d:\d\d +\d+ +(\S+) +\d+ +napper +(\S+)$", r.stdout, re.M) == \
        [("bpftrace", "0.250")], r.stdout


def test_syscount_counts_the_workload(workload: Path, tmp_path: Path) -> None:
    """20,000 getppid() calls by a copy of the workload under a name of its own: its process row
    is those plus its few start-up syscalls; syscall 110 is counted system-wide (others add)."""
    name = f"sysc{os.getpid() % 100000}"
    exe = tmp_path / name
    shutil.copy(workload, exe)
    r = bpfscope(str(_tool("syscount")), "-c", f"{exe} 20000", timeout=60)
    assert r.returncode == 0, r.stderr
    m = re.search(rf"^@process\[{name}\]: (\d+)$", r.stdout, re.M)
    assert m and 20000 < int(m.group(1)) < 20100, r.stdout
    m = re.search(r"^@syscall\[110\]: (\d+)$", r.stdout, re.M)
    assert m and int(m.group(1)) >= 20000, r.stdout


def test_gethostlatency_sees_the_lookup() -> None:
    code = "import os, socket; print('child', os.getpid(), flush=True); socket.getaddrinfo('localhost', None)"
    r = bpfscope(str(_tool("gethostlatency")), "-c", f"{sys.executable} -c \"{code}\"", timeout=60)
    assert r.returncode == 0, r.stderr
    me = re.search(r"^child (\d+)$", r.stdout, re.M)
    assert me, r.stdout
    assert re.findall(rf"^\d\d:\d\d:\d\d +{me.group(1)} +{re.escape(python_comm())} +\d+ (\S+)$", r.stdout,
                      re.M) == ["localhost"], r.stdout


def test_execsnoop_sees_the_command() -> None:
    r = bpfscope(str(_tool("execsnoop")), "-c", "/bin/true from-execsnoop", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\d+\s+\d+\s+/bin/true from-execsnoop$", r.stdout, re.M), r.stdout


def test_opensnoop_sees_the_file() -> None:
    r = bpfscope(str(_tool("opensnoop")), "-c", "cat /etc/hostname", timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"\bcat\s+\d+\s+\d+ /etc/hostname$", r.stdout, re.M), r.stdout
