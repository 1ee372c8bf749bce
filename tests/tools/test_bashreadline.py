"""bashreadline: an interactive bash on a pty reads N known command lines; the tool prints
exactly those, with BCC's columns."""

from __future__ import annotations

import os
import pty
import re
import select
import time

import pytest

from .conftest import ToolProc, bpfscope, unique

pytestmark = pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="no /bin/bash")


def _interactive_bash(lines: list[str]) -> int:
    """Run `bash -i` on a pty, type `lines` then exit; returns bash's pid."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-i"])
    try:
        for ln in [*lines, "exit"]:
            os.write(fd, (ln + "\n").encode())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1.0)
            if r:
                try:
                    if not os.read(fd, 4096):
                        break
                except OSError:   # EIO: the shell has exited
                    break
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return pid


def test_help_on_stdout() -> None:
    r = bpfscope("bashreadline", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: bashreadline [-h] [-s [SHARED]]")


def test_missing_library_is_one_line() -> None:
    r = bpfscope("bashreadline", "-s", "/nonexistent/libreadline.so")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not found" in r.stderr


def test_commands_printed(tool: object) -> None:
    p: ToolProc = tool("bashreadline")   # type: ignore[operator]
    assert p.ready() == "TIME      PID     COMMAND"
    tok = unique("brl")
    cmds = [f"echo {tok} {i}" for i in range(3)]
    pid = _interactive_bash(cmds)
    assert p.wait_for("exit")
    out = p.stop()
    mine = [ln for ln in out.splitlines()[1:] if re.match(rf"^\d\d:\d\d:\d\d  {pid} +", ln)]
    assert [ln.split(None, 2)[2] for ln in mine] == [*cmds, "exit"], out
    assert all(ln[8:10] == "  " and ln[10:17].rstrip() == str(pid) for ln in mine)   # "%-9s %-7d %s"
