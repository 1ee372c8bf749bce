"""Exited traced processes are forgotten once no map refers to them, and only then
(runtime.pidgc, issue 17): the tracer stays flat under process churn while stacks of exited
processes still in a map keep symbolizing."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpfscope.kernel import uapi
from bpfscope.kernel.maps import Map
from bpfscope.lang.ctype.types import INT64, Kind, Type
from bpfscope.lang.spec import MapSpec
from bpfscope.runtime.pidgc import pid_offsets, referenced_pids
from tests.conftest import needs_root

USTACK = Type(Kind.USTACK, size=16)
USYM = Type(Kind.USYM, size=16)


def _tuple(*elems: Type) -> Type:
    offs, off = [], 0
    for e in elems:
        offs.append(off)
        off += e.size
    return Type(Kind.TUPLE, size=off, elems=elems, offsets=tuple(offs))


def test_pid_offsets() -> None:
    assert pid_offsets(None) == []
    assert pid_offsets(INT64) == []
    assert pid_offsets(USTACK) == [8]
    assert pid_offsets(_tuple(INT64, USTACK, USYM)) == [16, 32]
    assert pid_offsets(Type(Kind.ARRAY, size=32, pointee=USYM, count=2)) == [8, 24]
    # a stack somewhere the layout does not say: cannot be read back, so nothing is freed
    assert pid_offsets(Type(Kind.TUPLE, size=16, elems=(USTACK,), offsets=())) is None


@needs_root
def test_referenced_pids_reads_keys_and_values() -> None:
    kt = _tuple(INT64, USTACK)
    keys = Map.create(uapi.BPF_MAP_TYPE_HASH, 24, 8, 16, name="t_pidgc_k")
    vals = Map.create(uapi.BPF_MAP_TYPE_HASH, 8, 16, 16, name="t_pidgc_v")
    try:
        for i, pid in enumerate((101, 102, 102)):
            keys.update(struct.pack("<qqQ", i, 7, pid), struct.pack("<q", 1))
        # a uretprobe-style packed pid: flag and return-address bits above the low 32
        vals.update(struct.pack("<q", 1), struct.pack("<qQ", 3, (1 << 63) | (5 << 32) | 103))
        specs = [(MapSpec("@k", uapi.BPF_MAP_TYPE_HASH, 24, 8, 16, kt, INT64), keys),
                 (MapSpec("@v", uapi.BPF_MAP_TYPE_HASH, 8, 16, 16, INT64, USTACK), vals)]
        pids, read = referenced_pids(specs)
        assert pids == {101, 102, 103} and read == 4
    finally:
        os.close(keys.fd)
        os.close(vals.fd)


SETARCH = shutil.which("setarch")
WL_C = r"""
#include <unistd.h>
__attribute__((noinline)) int work_fn(int i) { return getppid() + i; }
int main(void) { volatile int s = 0; for (int i = 0; i < 3; i++) s += work_fn(i); return 0; }
"""


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None or SETARCH is None:
        pytest.skip("gcc and setarch are needed to build and run the workload")
    d = tmp_path_factory.mktemp("pidgc")
    (d / "wl.c").write_text(WL_C)
    exe = d / "pidgcwl"
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", str(exe), str(d / "wl.c")], check=True)
    return exe


@needs_root
def test_exited_processes_forgotten_unless_still_in_a_map(workload: Path, tmp_path: Path) -> None:
    """80 processes exit; the 40 whose stacks were printed and cleared are forgotten, the 40
    whose stacks still sit in @keep are not, and print as work_fn after all have exited."""
    from bpfscope.runtime.program import Program

    other = tmp_path / "pidgcwl2"
    shutil.copy(workload, other)
    src = (f"uprobe:{workload}:work_fn {{ @tmp[ustack(2)] = count(); }}\n"
           f"uprobe:{other}:work_fn {{ @keep[ustack(2)] = count(); }}\n")
    out = io.StringIO()
    with Program(src, out=out) as p:
        p.attach()
        t = p._mmaps
        assert t is not None

        def run(exe: Path, n: int) -> set[int]:
            pids = set()
            for _ in range(n):
                # no ASLR: every process has the same two stacks, so none is lost to a hash
                # collision in the stack map (distinct stacks of 80 processes often are)
                w = subprocess.Popen([str(SETARCH), "-R", str(exe)])
                w.wait()
                pids.add(w.pid)
                p.drain()
            return pids

        first = run(workload, 40)
        p.print_map("@tmp")
        assert "work_fn+" in out.getvalue()
        p._map("@tmp").clear()
        second = run(other, 40)
        for _ in range(4):   # every exit read, our reading past it
            p.drain()
        assert p._pid_gc.forgotten >= 32   # one batch at least
        kept = set(t.procs) | set(p.symbolizer().pids())
        assert not second - kept, "forgot processes whose stacks are still in @keep"
        assert not first & kept, f"{len(first & kept)} of 40 exited, printed and cleared processes kept"
        out.seek(0)
        out.truncate(0)
        p.print_map("@keep")
    text = out.getvalue()
    # the 40 processes' identical stacks merge into one entry; an unsymbolized one would
    # print apart, in hex
    assert "work_fn+" in text and "main+" in text and "0x" not in text, text
    assert re.findall(r"\]: (\d+)", text) == ["120"], text
