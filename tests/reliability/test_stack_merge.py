"""Issue 19: stack keys with a depth limit (kstack(N), ustack(N)) must print once per distinct
frame list. Different full stacks get different stack ids but may share their first N frames;
those entries merge (counts add), as bpftrace prints them.

The workload sleeps through three paths (nanosleep, clock_nanosleep from two call sites, poll),
so the child's sched_switch events carry several stack ids whose top frames are equal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import bpfscope, build_c, needs_root

pytestmark = needs_root

ROUNDS = 60
COMM = "stack_sleeper"
_SRC = r"""
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static struct timespec t = {0, 200000};
__attribute__((noinline)) void via_nanosleep(void) { syscall(SYS_nanosleep, &t, 0); }
__attribute__((noinline)) void via_clock(void) { clock_nanosleep(CLOCK_MONOTONIC, 0, &t, 0); }
__attribute__((noinline)) void via_clock_again(void) { clock_nanosleep(CLOCK_MONOTONIC, 0, &t, 0); }
__attribute__((noinline)) void via_poll(void) { poll(0, 0, 1); }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10;
  for (int i = 0; i < n; i++) { via_nanosleep(); via_clock(); via_clock_again(); via_poll(); }
  return 0;
}
"""


@pytest.fixture(scope="module")
def sleeper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a name longer than 8 bytes: a truncated comm shows
    return build_c(tmp_path_factory.mktemp("sleeper"), COMM, _SRC, "-O1", "-fno-omit-frame-pointer")


_ENTRY = re.compile(r"^(@\w*)\[(.*?)\]: (\d+)$", re.M | re.S)


def text_entries(out: str, name: str) -> list[tuple[str, int]]:
    """(printed key, count) of each entry of map `name` in bpftrace's text output."""
    return [(k, int(v)) for m, k, v in _ENTRY.findall(out) if m == name]


def scalar(out: str, name: str) -> int:
    m = re.search(rf"^{re.escape(name)}: (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1))


def assert_merged(entries: list[tuple[str, int]], total: int, out: str) -> None:
    assert entries, out
    dup = [k for k, c in Counter(k for k, _ in entries).items() if c > 1]
    assert not dup, f"{len(entries)} entries, repeated keys: {dup[:3]}\n{out[:3000]}"
    assert sum(v for _, v in entries) == total, out


def run_child(prog: str, sleeper: Path, *extra: str) -> str:
    r = bpfscope(*extra, "-e", prog, "-c", f"{sleeper} {ROUNDS}", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return r.stdout


@pytest.mark.parametrize("stack", ["kstack(1)", "kstack(2)", "ustack(1)", "ustack(2)"])
def test_limited_stack_keys_merge(sleeper: Path, stack: str) -> None:
    out = run_child(f"tracepoint:sched:sched_switch /pid == cpid/ {{ @[{stack}] = count(); @total = count(); }}",
                    sleeper)
    total = scalar(out, "@total")
    assert total >= 4 * ROUNDS, out      # every sleep switches the child out
    entries = text_entries(out, "@")
    assert_merged(entries, total, out)
    assert any(k.strip() for k, _ in entries), out     # frames were printed, not only empty keys


def test_stack_in_multi_key_merges(sleeper: Path) -> None:
    out = run_child("tracepoint:sched:sched_switch /pid == cpid/ "
                    "{ @[kstack(3), comm] = count(); @u[ustack(1), pid] = count(); @total = count(); }", sleeper)
    total = scalar(out, "@total")
    for name in ("@", "@u"):
        entries = text_entries(out, name)
        assert_merged(entries, total, out)
    assert any(k.endswith(f", {COMM}") for k, _ in text_entries(out, "@")), out


def test_limited_stack_merges_in_json(sleeper: Path) -> None:
    out = run_child("tracepoint:sched:sched_switch /pid == cpid/ "
                    "{ @s[kstack(1), comm] = count(); @h[ustack(1)] = hist(2); @total = count(); }",
                    sleeper, "-f", "json")
    maps: dict[str, list[tuple[str, object]]] = {}
    for line in out.splitlines():
        doc = json.loads(line, object_pairs_hook=lambda pairs: pairs)
        kv = dict(doc)
        if kv.get("type") in ("map", "hist"):
            for name, body in kv["data"]:
                maps[name] = body
    total = dict(maps["@total"]) if isinstance(maps["@total"], list) else maps["@total"]
    assert isinstance(total, int), maps["@total"]
    s = [(k, int(v)) for k, v in maps["@s"]]   # type: ignore[call-overload]
    assert_merged(s, total, out)
    h = maps["@h"]
    keys = [k for k, _ in h]
    assert len(keys) == len(set(keys)), out
    counts = [sum(dict(b)["count"] for b in buckets) for _, buckets in h]  # type: ignore[arg-type]
    assert sum(counts) == total, out


def test_api_maps_merge_stack_keys(sleeper: Path) -> None:
    """Program.maps(): stack keys are tuples of frames (hashable), merged like the printout."""
    code = (
        "import subprocess, sys, bpfscope\n"
        f"p = bpfscope.Program('tracepoint:sched:sched_switch /comm == \"{COMM}\"/ "
        "{ @[kstack(1)] = count(); @total = count(); }')\n"
        "p.attach()\n"
        f"subprocess.run([{str(sleeper)!r}, '{ROUNDS}'], check=True)\n"
        "m = p.maps(); p.close()\n"
        "assert all(isinstance(k, tuple) and k for k in m['@']), m\n"
        "print(len(m['@']), sum(m['@'].values()), m['@total'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    n, s, total = map(int, r.stdout.split())
    assert s == total and total >= 4 * ROUNDS, r.stdout
