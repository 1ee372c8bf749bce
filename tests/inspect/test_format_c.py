"""`bpfscope btf dump file vmlinux format c` gives a header that gcc compiles."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import bpfscope


@pytest.mark.skipif(shutil.which("gcc") is None or not os.path.exists("/sys/kernel/btf/vmlinux"),
                    reason="needs gcc and kernel BTF")
def test_vmlinux_h_compiles_with_task_struct(tmp_path: Path) -> None:
    r = bpfscope("btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c", timeout=120)
    assert r.returncode == 0, r.stderr
    (tmp_path / "vmlinux.h").write_text(r.stdout)
    c = tmp_path / "t.c"
    c.write_text('#include "vmlinux.h"\nint f(struct task_struct *t) { return t->pid; }\n')
    cc = subprocess.run(["gcc", "-c", "-o", str(tmp_path / "t.o"), str(c)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr[-2000:]
