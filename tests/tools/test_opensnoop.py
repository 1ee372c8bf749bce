"""opensnoop: a process with a unique comm opens a unique file N times and a missing one once;
the tool reports exactly those opens, with BCC's header and columns; libbpf-tools' opensnoop
sees the same events."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import ToolProc, bpfscope, unique

WL = os.path.join(os.path.dirname(__file__), "wl.py")
N = 7


def _open_workload(tmp_path: object, comm: str) -> tuple[str, int]:
    path = os.path.join(str(tmp_path), f"{comm}.txt")
    p = subprocess.run([sys.executable, WL, "open", comm, path, str(N)], check=True)
    del p
    return path, N


def test_help_on_stdout() -> None:
    r = bpfscope("opensnoop", "-h")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: opensnoop [-h] [-T] [-U] [-x] [-p PID] [-t TID]")
    assert "Trace open() syscalls" in r.stdout and "./opensnoop -x" in r.stdout


def test_bad_flag_is_one_line() -> None:
    r = bpfscope("opensnoop", "-f", "O_NOPE")
    assert r.returncode == 1 and r.stderr == "Bad flag: O_NOPE\n"


def test_ebpf_prints_program() -> None:
    r = bpfscope("opensnoop", "--ebpf", "-p", "123")
    assert r.returncode == 0
    assert "tracepoint:syscalls:sys_enter_openat /pid == 123/" in r.stdout


def test_counts_opens_and_failure(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("opensnoop")   # type: ignore[operator]
    assert p.ready() == "PID    COMM               FD ERR PATH"
    comm = unique("osn")
    path, n = _open_workload(tmp_path, comm)
    assert p.wait_for(path + ".missing")
    out = p.stop()
    ok = [ln for ln in out.splitlines() if ln.endswith(" " + path)]
    bad = [ln for ln in out.splitlines() if ln.endswith(" " + path + ".missing")]
    assert len(ok) == n + 1, out   # the create, then N read-only opens
    assert len(bad) == 1
    m = re.match(r"^(\d+)\s+(\S+)\s+(-?\d+)\s+(\d+) (.*)$", bad[0])
    assert m and m.group(2) == comm and m.group(3) == "-1" and m.group(4) == "2", bad[0]
    for ln in ok:
        f = ln.split()
        assert f[1] == comm and int(f[2]) >= 0 and f[3] == "0"
    # BCC's column widths: "%-6d %-16s %4d %3d "
    assert bad[0][6] == " " and bad[0][7:7 + 16].rstrip() == comm and bad[0][24:28] == "  -1"


def test_options_timestamp_uid_flags_failed(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("opensnoop", "-T", "-U", "-e", "-x", "-n", "osx")
    assert p.ready() == "TIME(s)       UID   PID    COMM               FD ERR FLAGS    PATH"
    comm = unique("osx")
    path, _n = _open_workload(tmp_path, comm)
    assert p.wait_for(path + ".missing")
    out = p.stop()
    mine = [ln for ln in out.splitlines()[1:] if path in ln]
    assert len(mine) == 1, out   # -x: only the failure
    f = mine[0].split()
    assert re.match(r"^\d+\.\d{9}$", f[0]) and f[1] == "0" and f[3] == comm
    assert f[4] == "-1" and f[5] == "2" and f[6] == "%08o" % (os.O_RDONLY | os.O_CLOEXEC)   # Python adds O_CLOEXEC
    assert all(comm[:3] in ln.split()[3] for ln in out.splitlines()[1:]), out   # -n


def test_pid_filter_and_json(tool: object, tmp_path: object) -> None:
    p: ToolProc = tool("opensnoop", "--json", "-f", "O_WRONLY")
    p.ready()
    comm = unique("osj")
    path, _n = _open_workload(tmp_path, comm)
    out = p.stop()
    recs = [r for r in p.records(out) if r["path"] == path]
    assert len(recs) == 1, recs    # -f O_WRONLY: only the create (O_WRONLY|O_CREAT|O_TRUNC)
    assert recs[0]["comm"] == comm and recs[0]["err"] == 0 and recs[0]["flags"] & os.O_WRONLY


@pytest.mark.skipif(shutil.which("opensnoop") is None, reason="libbpf-tools' opensnoop not installed")
def test_same_events_as_libbpf_tools(tool: object, tmp_path: object) -> None:
    ours: ToolProc = tool("opensnoop")   # type: ignore[operator]
    theirs = ToolProc(["stdbuf", "-oL", "opensnoop"])   # line-buffered: its stdout is a pipe
    try:
        ours.ready()
        theirs.ready()
        comm = unique("osd")
        path, _n = _open_workload(tmp_path, comm)
        assert ours.wait_for(path + ".missing") and theirs.wait_for(path + ".missing")
        a = ours.stop()
        b, _err = theirs.finish()
    finally:
        if theirs.p.poll() is None:
            theirs.p.kill()

    def rows(out: str) -> list[tuple[str, ...]]:
        res = []
        for ln in out.splitlines():
            if path in ln:
                pid, c, fd, err, pth = ln.split(None, 4)
                res.append((pid, c, "ok" if int(fd) >= 0 else "fail", err, pth))
        return res

    assert rows(a) == rows(b) and len(rows(a)) == _n + 2
