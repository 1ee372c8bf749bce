"""biolatency: O_DIRECT writes + fsync to an ext4 file system on a loop device; the loop
disk's histogram holds at least those requests; per-disk and per-flag sections as BCC's;
libbpf-tools' biolatency sees the same number of requests on the same workload."""

from __future__ import annotations

import os
import shutil

import pytest

from .conftest import bpfscope
from .sysenv import direct_writes, ext4_loop, parse_hists, total

N = 20
HEADER = "     usecs               : count     distribution"


def test_help_and_bad_options() -> None:
    r = bpfscope("biolatency", "-h")
    assert r.returncode == 0 and r.stdout.startswith("usage: biolatency [-h] [-T] [-Q] [-m] [-D] [-F] [-e]")
    r = bpfscope("biolatency", "-D", "-F")
    assert r.returncode == 1 and r.stderr == "ERROR: can only use -D or -F. Exiting.\n"
    r = bpfscope("biolatency", "-d", "nosuchdisk0")
    assert r.returncode == 1 and r.stderr == "no such disk 'nosuchdisk0'\n"
    r = bpfscope("biolatency", "1", "x")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_per_disk_histogram_counts_the_writes(tool, tmp_path) -> None:
    with ext4_loop(str(tmp_path)) as fs:
        p = tool("biolatency", "-D", "-e", "-d", fs.disk)
        assert p.ready() == "Tracing block device I/O... Hit Ctrl-C to end."
        direct_writes(os.path.join(fs.mnt, "f"), N)
        out = p.stop()
    hists = parse_hists(out)
    assert list(hists) == [fs.disk], out            # -d: the loop disk only
    assert total(hists[fs.disk]) >= N, out          # N data writes (+ journal, flushes)
    assert HEADER in out.splitlines()
    avg = [ln for ln in out.splitlines() if ln.startswith("avg = ")]
    assert avg and f"count: {total(hists[fs.disk])}" in avg[0], out


def test_flags_sections_name_the_writes(tool, tmp_path) -> None:
    with ext4_loop(str(tmp_path)) as fs:
        p = tool("biolatency", "-F", "-d", fs.disk)
        p.ready()
        direct_writes(os.path.join(fs.mnt, "f"), N)
        out = p.stop()
    hists = parse_hists(out)
    writes = {k: total(v) for k, v in hists.items() if k.endswith("-Write") or k == "Write"}
    assert sum(writes.values()) >= N, out
    assert all("Sync" in k for k in writes if writes[k] >= N), writes   # O_DIRECT writes are REQ_SYNC
    assert any(k.endswith("Flush") for k in hists), out                  # fsync's cache flush


def test_interval_count_and_json(tmp_path) -> None:
    r = bpfscope("biolatency", "-mT", "1", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Tracing block device I/O... Hit Ctrl-C to end."
    stamps = [ln for ln in lines if len(ln) == 8 and ln.count(":") == 2]
    assert len(stamps) == 2, r.stdout        # two summaries, each after its HH:MM:SS
    r = bpfscope("biolatency", "-j", "1", "1")
    assert r.returncode == 0
    import json

    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert recs[0]["type"] == "attached_probes"
    for rec in recs[1:]:
        assert rec["val_type"] == "usecs" and set(rec) == {"ts", "val_type", "data"}
        assert [(d["interval-start"], d["interval-end"]) for d in rec["data"]][:3] == [(0, 1), (2, 3), (4, 7)][
            :len(rec["data"])]


@pytest.mark.skipif(shutil.which("biolatency") is None, reason="libbpf-tools not installed")
def test_same_requests_as_libbpf_tools(tool, peer, tmp_path) -> None:
    with ext4_loop(str(tmp_path)) as fs:
        theirs_p = peer("biolatency", "-d", fs.disk, ready="Tracing")
        p = tool("biolatency", "-d", fs.disk)
        p.ready()
        direct_writes(os.path.join(fs.mnt, "f"), N)
        os.sync()
        out = p.stop()
        theirs = theirs_p.stop()
    ours_h, theirs_h = parse_hists(out).get("", {}), parse_hists(theirs).get("", {})
    assert total(ours_h) >= N and total(theirs_h) >= N, (out, theirs)
    # the loop disk sees only this workload; both ran across all of it
    assert abs(total(ours_h) - total(theirs_h)) <= max(2, total(theirs_h) // 10), (out, theirs)
    assert set(ours_h) <= {(1 << i >> 1 if i > 1 else 0, (1 << i) - 1) for i in range(1, 64)}
