"""scripts/mutation_check.py: every deliberate breakage of a copy of the tree is caught by the
copy's tests (the script exits 0 only then). Runs in the default lane (about a minute)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "mutation_check.py"

pytestmark = [needs_root, pytest.mark.mutation,
              pytest.mark.skipif(os.environ.get("BPFSCOPE_MUTATION_CHILD") == "1",
                                 reason="already inside a mutation run")]


def test_every_mutation_is_caught() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1].startswith("caught ") and "errors" not in lines[-1], r.stdout
    done, total = lines[-1].split()[1].split("/")
    assert done == total and int(total) >= 10, r.stdout
    assert not any(ln.startswith(("MISSED", "ERROR")) for ln in lines), r.stdout
