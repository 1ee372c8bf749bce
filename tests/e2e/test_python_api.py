"""The daemon-grade Python API: typed map values read while attached, the event callback,
reload with fresh maps and nothing left behind, and the error classes from `bpfscope`."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from pathlib import Path

import pytest

import bpfscope
from tests.conftest import needs_root

pytestmark = needs_root


def _comm_copy(tmp: Path, exe: Path, prefix: str) -> Path:
    dst = tmp / f"{prefix}{random.randrange(10**5, 10**6)}"
    shutil.copy(exe, dst)
    return dst


def _prog_ids(p: bpfscope.Program) -> set[int]:
    import os

    ids = set()
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            text = open(f"/proc/self/fdinfo/{fd}").read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:") and int(fd) in p.prog_fds:
                ids.add(int(line.split()[1]))
    return ids


def test_typed_maps_while_attached_and_events(tmp_path: Path, workload: Path) -> None:
    wl = _comm_copy(tmp_path, workload, "api")
    dd = _comm_copy(tmp_path, Path(shutil.which("dd") or "/bin/dd"), "apd")
    src = (f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @n = count(); }}\n'
           f'tracepoint:syscalls:sys_enter_read /comm == "{dd.name}"/ {{ @sz = hist(args->count); '
           f'@lin = lhist(args->count, 0, 1000, 100); @avg = avg(args->count); @st = stats(args->count);\n'
           f'  printf("read %d by %s\\n", args->count, comm); }}')
    events: list[bpfscope.Event] = []
    with bpfscope.Program(src) as p:
        p.on_event(events.append)
        p.load()
        p.attach()
        subprocess.run([str(wl), "77"], check=True)
        assert p.maps()["@n"] == 77                 # read while attached
        subprocess.run([str(wl), "3"], check=True)
        subprocess.run([str(dd), "if=/dev/zero", "of=/dev/null", "bs=300", "count=40"], check=True,
                       capture_output=True)
        for _ in range(50):
            if p.poll(0.1) == 0 and len(events) >= 40:
                break
        m = p.maps()
    assert m["@n"] == 80
    h = m["@sz"]
    assert isinstance(h, bpfscope.Histogram) and h.kind == "hist"
    by_bounds = h.as_dict()
    assert by_bounds[(256, 511)] >= 40          # 300-byte reads: [256, 512)
    assert h.quantile(0.5) == 511
    lin = m["@lin"]
    assert lin.kind == "lhist" and lin.as_dict()[(300, 399)] >= 40
    assert isinstance(m["@st"], bpfscope.Stats) and m["@st"].count >= 40
    assert isinstance(m["@avg"], int)
    mine = [e for e in events if e.args[1] == dd.name and e.args[0] == 300]
    assert len(mine) == 40, events[:3]
    assert mine[0].format == "read %d by %s\n" and mine[0].text == f"read 300 by {dd.name}\n"


def test_reload_gives_fresh_maps_and_releases_old_programs(tmp_path: Path, workload: Path) -> None:
    import json

    wl = _comm_copy(tmp_path, workload, "apr")
    with bpfscope.Program(f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @n = count(); }}') as p:
        p.load()
        p.attach()
        subprocess.run([str(wl), "5"], check=True)
        assert p.maps()["@n"] == 5
        old = _prog_ids(p)
        assert len(old) == 1
        assert p.reload() == 1
        assert _prog_ids(p).isdisjoint(old)
        assert p.maps()["@n"] is None               # fresh maps
        subprocess.run([str(wl), "2"], check=True)
        assert p.maps()["@n"] == 2
    live = {int(x["id"]) for x in json.loads(subprocess.run(["bpftool", "-j", "prog", "show"],
                                                            capture_output=True, text=True).stdout)}
    assert not old & live


def test_error_classes() -> None:
    with pytest.raises(bpfscope.ProbeError) as e1:
        with bpfscope.Program('config = { missing_probes = "error" } tracepoint:nosuch:probe { @ = count(); }') as p:
            p.load()
    assert isinstance(e1.value, bpfscope.CompileError)
    assert "No matches for tracepoint nosuch:probe" in str(e1.value)
    with pytest.raises(bpfscope.CompileError, match="No probes to attach"):   # 0.26's default: warn, skip
        with bpfscope.Program("tracepoint:nosuch:probe { @ = count(); }") as p:
            p.load()
    with pytest.raises(bpfscope.CompileError, match="Unknown function"):
        bpfscope.Program("BEGIN { @x = nosuch(); }").compile()
    assert issubclass(bpfscope.VerifierError, bpfscope.CompileError)
    assert not issubclass(bpfscope.BpfscopeError, bpfscope.CompileError)
    assert math.isnan(bpfscope.Histogram("hist", ()).quantile(0.5))
