"""Shared fixtures: root gating, a compiled getppid workload, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")


@pytest.fixture(scope="session")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A C program that calls getppid() argv[1] times (and 1-byte reads of /dev/zero with 'r')."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    d = tmp_path_factory.mktemp("wl")
    src = d / "wl.c"
    src.write_text(
        "#include <unistd.h>\n#include <stdlib.h>\n#include <fcntl.h>\n#include <string.h>\n"
        "int main(int argc, char **argv) {\n"
        "  long n = argc > 1 ? atol(argv[1]) : 1;\n"
        "  if (argc > 2 && strcmp(argv[2], \"r\") == 0) {\n"
        "    char c; int fd = open(\"/dev/zero\", O_RDONLY);\n"
        "    for (long i = 0; i < n; i++) read(fd, &c, 1);\n"
        "    return 0; }\n"
        "  for (long i = 0; i < n; i++) getppid();\n  return 0; }\n")
    exe = d / "wl"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def bpfscope(*args: str, timeout: float = 30, env: dict[str, str] | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (a fresh interpreter)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "bpfscope", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, input=input)
