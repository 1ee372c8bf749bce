"""Run the CLI as an unprivileged user (issue 17): `nobody` through setpriv, as a user would.

`nobody` must be able to execute the interpreter and read the package. When sys.executable
lives somewhere `nobody` cannot enter (pyenv under a 0700 /root), the same Python version from
/usr/bin runs the checkout with a world-readable copy of the one dependency (pyelftools); when
neither works, uid 0 with every capability dropped stands in (bpf(2) refuses it the same way).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bpfscope

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NO_CAPS = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
SRC = str(Path(bpfscope.__file__).resolve().parent.parent)


def _works(cmd: list[str], env: dict[str, str]) -> bool:
    r = subprocess.run([*cmd, "-c", "import bpfscope.cli, elftools"], capture_output=True, env=env, timeout=60)
    return r.returncode == 0


def _readable_deps() -> str:
    """A world-readable directory holding a copy of pyelftools."""
    import elftools

    d = tempfile.mkdtemp(prefix="bpfscope-unpriv-")
    shutil.copytree(Path(elftools.__file__).parent, Path(d) / "elftools")
    for root, _dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return d


@functools.cache
def runner() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], str]:
    """(argv prefix before `-m bpfscope`, extra environment, how) for an unprivileged run."""
    if os.geteuid() != 0:
        return (sys.executable,), (), "this user"
    env = dict(os.environ)
    if shutil.which("setpriv"):
        if _works([*NOBODY, sys.executable], env):
            return (*NOBODY, sys.executable), (), "nobody"
        system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        if os.path.exists(system):
            extra = (("PYTHONPATH", f"{SRC}:{_readable_deps()}"),)
            if _works([*NOBODY, system], {**env, **dict(extra)}):
                return (*NOBODY, system), extra, "nobody"
        return (*NO_CAPS, sys.executable), (), "uid 0 without capabilities"
    raise RuntimeError("setpriv (util-linux) is needed to drop privileges")


def run_unprivileged(*args: str, timeout: float = 60, input: str | None = None,
                     cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """`bpfscope ARGS` without privileges; cwd defaults to a directory everyone may enter."""
    prefix, extra, _how = runner()
    env = {**os.environ, **dict(extra)}
    return subprocess.run([*prefix, "-m", "bpfscope", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, input=input, cwd=cwd or "/")
