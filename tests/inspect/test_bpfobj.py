"""clang-built objects loaded by `bpfscope prog load|loadall`: counted, pinned, seen by bpftool.

The object (conftest.COUNT_SRC) counts getppid() per tgid into a BTF-defined hash map,
bumps by a .data global, keeps a .bss total and a frozen .rodata filter, calls a
subprogram, and reads task->pid through a CO-RE relocation. The workload makes an exact
number of getppid() calls; every number checked below follows from that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope.kernel import objinfo
from tests.conftest import peer_failed
from tests.inspect.conftest import needs_root
from tests.inspect.helpers import BPFTOOL, ours

pytestmark = [pytest.mark.root, needs_root]

N = 1237


def bpftool_json(*args: str) -> object:
    if not shutil.which(BPFTOOL):
        pytest.skip("bpftool (reference peer) is not installed")
    p = subprocess.run([BPFTOOL, "-j", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def run_ok(args: str) -> str:
    out, rc = ours(args)
    assert rc == 0, f"bpfscope {args} failed"
    return out


def entries(path: str) -> dict[object, object]:
    """{key: value} of a pinned map through bpftool (the reference peer reads what we wrote);
    BTF-formatted where the map has BTF, else little-endian integers."""
    out: dict[object, object] = {}
    for e in bpftool_json("map", "dump", "pinned", path):  # type: ignore[union-attr]
        if "formatted" in e:
            k, v = e["formatted"].get("key"), e["formatted"]["value"]
        else:
            k, v = e.get("key"), e["value"]
        if isinstance(k, list):
            k = int.from_bytes(bytes(int(b, 16) for b in k), "little")
        if isinstance(v, list) and v and isinstance(v[0], str):
            v = int.from_bytes(bytes(int(b, 16) for b in v), "little")
        out[k] = v
    return out


def map_value(path: str, key: int) -> object:
    return entries(path).get(key)


def test_load_autoattach_counts_and_bpftool_sees_it(bpf_objects: dict[str, str], bpffs_dir: str,
                                                    workload: Path) -> None:
    link = os.path.join(bpffs_dir, "link")
    maps = os.path.join(bpffs_dir, "maps")
    run_ok(f"prog load {bpf_objects['count']} {link} autoattach pinmaps {maps}")
    assert sorted(os.listdir(maps)) == ["count_bss", "count_data", "count_rodata", "counts", "seen", "stats"]
    li = bpftool_json("link", "show", "pinned", link)
    assert li["type"] == "perf_event"  # type: ignore[index]
    prog = bpftool_json("prog", "show", "id", str(li["prog_id"]))  # type: ignore[index]
    assert prog["type"] == "tracepoint" and prog["name"] == "count_getppid"  # type: ignore[index]
    assert prog["gpl_compatible"] is True and prog["btf_id"] > 0  # type: ignore[index]
    assert len(prog["map_ids"]) == 6  # type: ignore[index]

    before = int(map_value(os.path.join(maps, "stats"), 0) or 0)  # type: ignore[call-overload]
    wl = subprocess.run([str(workload), str(N)], check=True)
    del wl
    counts = entries(os.path.join(maps, "counts"))
    # the exact number of calls of the workload, bumped by the .data global (1)
    wl_tgids = [k for k, v in counts.items() if v == N]
    assert wl_tgids, f"no tgid with exactly {N} getppid calls: {counts}"
    seen = entries(os.path.join(maps, "seen"))
    # CO-RE: task->pid read at the kernel's offset is the (single-threaded) workload's tgid;
    # field-exists is 1 for task->tgid, 0 for a field this kernel lacks; pid is 4 bytes
    assert any(seen.get(k) == {"pid": k, "has_tgid": 1, "has_missing": 0, "pid_size": 4} for k in wl_tgids), seen
    after = int(map_value(os.path.join(maps, "stats"), 0) or 0)  # type: ignore[call-overload]
    assert after - before >= N  # through the bpf-to-bpf subprogram
    bss = list(entries(os.path.join(maps, "count_bss")).values())
    assert bss[0][".bss"][0]["total"] >= N  # type: ignore[index]
    ro = bpftool_json("map", "show", "pinned", os.path.join(maps, "count_rodata"))
    assert ro["frozen"] == 1 and ro["flags"] == 0x480  # type: ignore[index]
    # our own listing of the same objects agrees with bpftool's
    from tests.inspect.helpers import same

    same(f"prog show id {li['prog_id']}")  # type: ignore[index]
    same(f"link show pinned {link}")
    same(f"map dump pinned {os.path.join(maps, 'count_bss')} -j")


def test_load_pins_program_for_bpftool(bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    path = os.path.join(bpffs_dir, "prog")
    run_ok(f"prog load {bpf_objects['count']} {path}")
    shown = bpftool_json("prog", "show", "pinned", path)
    assert shown["name"] == "count_getppid" and shown["type"] == "tracepoint"  # type: ignore[index]
    # not attached: no link uses it
    assert all(li.get("prog_id") != shown["id"] for li in bpftool_json("link", "list"))  # type: ignore[index,union-attr]


def test_same_program_as_libbpf(bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    """bpftool (libbpf) and we load the object: same tag, same xlated lines, same maps."""
    ref, mine = os.path.join(bpffs_dir, "ref"), os.path.join(bpffs_dir, "mine")
    p = subprocess.run([BPFTOOL, "prog", "load", bpf_objects["count"], ref], capture_output=True, text=True)
    if p.returncode != 0:
        peer_failed("bpftool prog load", p)
    run_ok(f"prog load {bpf_objects['count']} {mine}")
    a = bpftool_json("prog", "show", "pinned", ref)
    b = bpftool_json("prog", "show", "pinned", mine)
    assert a["tag"] == b["tag"]  # type: ignore[index]

    def norm(text: str) -> str:
        return re.sub(r"map\[id:\d+\]", "map[id:N]", text)

    xa = subprocess.run([BPFTOOL, "prog", "dump", "xlated", "pinned", ref], capture_output=True, text=True).stdout
    assert norm(xa) == norm(run_ok(f"prog dump xlated pinned {mine}"))

    def maps(info: object) -> list[tuple[object, ...]]:
        out = []
        for mid in info["map_ids"]:  # type: ignore[index]
            m = bpftool_json("map", "show", "id", str(mid))
            out.append((m["name"], m["type"], m["flags"], m["bytes_key"], m["bytes_value"],  # type: ignore[index]
                        m["max_entries"], m.get("frozen", 0)))  # type: ignore[union-attr]
        return sorted(out, key=str)

    assert maps(a) == maps(b)


def test_map_reuse_and_loadall(bpf_objects: dict[str, str], bpffs_dir: str, workload: Path) -> None:
    shared = os.path.join(bpffs_dir, "shared_counts")
    run_ok(f"map create {shared} type hash key 4 value 8 entries 4096 name counts")
    progs = os.path.join(bpffs_dir, "progs")
    run_ok(f"prog loadall {bpf_objects['count']} {progs} map name counts pinned {shared} autoattach")
    assert os.listdir(progs) == ["count_getppid"]
    wl = subprocess.run([str(workload), "321"], check=True)
    del wl
    assert 321 in entries(shared).values()


def test_prog_run_xdp_like_bpftool(bpf_objects: dict[str, str], bpffs_dir: str, tmp_path: Path) -> None:
    path = os.path.join(bpffs_dir, "xdp")
    run_ok(f"prog load {bpf_objects['xdp']} {path}")
    pkt = tmp_path / "pkt"
    pkt.write_bytes(bytes(range(60)))
    mine = run_ok(f"prog run pinned {path} data_in {pkt} data_out - repeat 3")
    ref = subprocess.run([BPFTOOL, "prog", "run", "pinned", path, "data_in", str(pkt), "data_out", "-",
                          "repeat", "3"], capture_output=True, text=True).stdout
    strip = re.compile(r"duration \(average\): \d+ns")
    assert strip.sub("", mine) == strip.sub("", ref)
    assert "Return value: 2, duration (average): " in mine
    js = json.loads(run_ok(f"prog run pinned {path} data_in {pkt} data_out - -j"))
    assert js["retval"] == 2 and js["data_out"] == list(range(60))


def test_bad_objects_give_clear_errors(tmp_path: Path, bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    target = os.path.join(bpffs_dir, "x")

    def load(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bpfscope", "prog", "load", *args], capture_output=True,
                              text=True, timeout=60)

    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an elf file at all, just text" * 4)
    r = load(str(junk), target)
    assert r.returncode == 255 and "Error: failed to open object file" in r.stderr and "Traceback" not in r.stderr
    r = load(bpf_objects["count"], target, "type", "nosuchtype")
    assert r.returncode == 255 and "nosuchtype" in r.stderr and "Traceback" not in r.stderr
    # the verifier's rejection comes with its log
    r = load(bpf_objects["bad"], target)
    assert r.returncode == 255 and "Error: failed to load object file" in r.stderr, r.stderr
    assert "invalid bpf_context access" in r.stderr and "Traceback" not in r.stderr
    r = load(bpf_objects["xdp"], target, "map", "name", "nosuchmap", "id", "1")
    assert r.returncode == 255 and "Traceback" not in r.stderr
    assert not os.path.exists(target)


def test_objects_are_released(bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    """Nothing but what is pinned survives a load: unpinning frees program and maps."""
    before = set(objinfo.iter_ids("prog"))
    path = os.path.join(bpffs_dir, "p")
    run_ok(f"prog load {bpf_objects['count']} {path}")
    new = set(objinfo.iter_ids("prog")) - before
    assert len(new) == 1
    os.unlink(path)
    import time

    for _ in range(50):  # freeing is RCU-deferred
        if not set(objinfo.iter_ids("prog")) & new:
            break
        time.sleep(0.05)
    assert not set(objinfo.iter_ids("prog")) & new
