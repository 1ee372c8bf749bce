"""Issue 17: generated bpftrace programs (tests/reliability/gen_programs.py) through the compiler:
no traceback ever, every failure a diagnostic with a location; a sample of those that compile is
loaded into the kernel, where every verifier rejection must point at a source span.

Default: 2000 programs (50 loaded), seed from BPFSCOPE_FUZZ_SEED or fixed. `-m long` (CI runs it):
20000 programs (500 loaded), about 15 minutes on two cores — BPFSCOPE_FUZZ_COUNT / BPFSCOPE_FUZZ_LOADS
change the sizes. The 100k run, as a script with figures:
python3 -m tests.reliability.gen_programs --count 100000 --load 500 --jobs 2
"""

from __future__ import annotations

import os
import random

import pytest

from tests.conftest import needs_root
from tests.reliability.gen_programs import fuzz_parallel, generate

pytestmark = [needs_root, pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                                             reason="generated programs use kernel BTF types")]


def _run(count: int, loads: int) -> None:
    seed = int(os.environ.get("BPFSCOPE_FUZZ_SEED", "17"))
    stats = fuzz_parallel(count, seed, loads, jobs=2)
    print("\n" + stats.summary())
    assert not stats.defects, stats.summary()
    compiled = stats.outcomes["ok"]
    # the generator keeps most programs well typed: code generation is exercised, not only errors
    assert compiled >= count * 0.5 and stats.outcomes["located"] >= count * 0.05, stats.summary()
    assert stats.outcomes["loaded"] + stats.outcomes["rejected-located"] >= min(loads, compiled) * 0.9


def test_generator_is_deterministic_and_varied() -> None:
    a = [generate(random.Random(5)) for _ in range(3)]
    assert a == [generate(random.Random(5)) for _ in range(3)]
    progs = [generate(random.Random(i)) for i in range(200)]
    assert len(set(progs)) == 200
    for head in ("tracepoint:", "uprobe:", "profile:", "interval:", "rawtracepoint:", "begin"):
        assert any(head in p.lower() for p in progs), head


def test_compiler_fuzz_default() -> None:
    _run(int(os.environ.get("BPFSCOPE_FUZZ_COUNT", "2000")), int(os.environ.get("BPFSCOPE_FUZZ_LOADS", "50")))


@pytest.mark.long
def test_compiler_fuzz_long() -> None:
    _run(int(os.environ.get("BPFSCOPE_FUZZ_COUNT", "20000")), int(os.environ.get("BPFSCOPE_FUZZ_LOADS", "500")))
