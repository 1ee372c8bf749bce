"""Differential tests against Debian's bpftool on the same kernel objects (root only)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time

import pytest

from bpfscope.kernel import objinfo
from tests.inspect.conftest import Loaded, needs_root
from tests.inspect.helpers import ours, same, wait_perf_attached

pytestmark = [pytest.mark.root, needs_root]


def ids(loaded: Loaded) -> tuple[int, int, int, int]:
    return (objinfo.prog_info(loaded.prog_fd).id, objinfo.map_info(loaded.hash_fd).id,
            objinfo.map_info(loaded.arr_fd).id, objinfo.link_info(loaded.link_fd).id)


def test_prog_show_and_xlated_match(loaded: Loaded) -> None:
    pid, hid, aid, _ = ids(loaded)
    text = same(f"prog show id {pid}")
    assert text.startswith(f"{pid}: raw_tracepoint  name insp_prog  tag ")
    assert f"map_ids {hid},{aid}" in text
    same(f"prog show id {pid} -p")
    same("prog show name insp_prog -j")
    dump = same(f"prog dump xlated id {pid}")
    assert f"r1 = map[id:{hid}]" in dump and f"r3 = map[id:{aid}][0]+8" in dump
    assert "call pc+2#" in dump  # the bpf-to-bpf call, resolved through jited ksyms
    same(f"prog dump xlated id {pid} opcodes")
    same(f"prog dump xlated id {pid} -j")
    same(f"prog dump xlated id {pid} opcodes -p")


def test_prog_list_layout_matches() -> None:
    same("prog list")
    same("prog list -j")


def test_map_commands_match(loaded: Loaded) -> None:
    _, hid, aid, _ = ids(loaded)
    for args in (f"map show id {hid}", f"map show id {aid} -p", f"map dump id {hid}",
                 f"map dump id {hid} -j", f"map dump id {aid}", f"map dump id {aid} -p",
                 f"map lookup id {aid} key 0 0 0 0", f"map lookup id {hid} key 3 0 0 0 -j",
                 f"map lookup id {hid} key 9 0 0 0", f"map getnext id {hid}", "map list", "map list -j",
                 f"btf dump map id {aid}"):
        same(args)
    # update through us, observe through bpftool
    assert ours(f"map update id {aid} key 0 0 0 0 value 5 0 0 0 0 0 0 0 0x7a 0x73 0x68 0 0 0 0 0")[1] == 0
    text = same(f"map dump id {aid} -j")
    assert json.loads(text)[0]["formatted"]["value"] == {"cnt": 5, "comm": "zsh"}
    assert ours(f"map update id {hid} key 4 0 0 0 value 1 2 3 4 5 6 7 8")[1] == 0
    assert "key: 04 00 00 00  value: 01 02 03 04 05 06 07 08" in same(f"map dump id {hid}")
    assert ours(f"map delete id {hid} key 4 0 0 0")[1] == 0
    assert same(f"map dump id {hid}").endswith("Found 1 element\n")


def test_program_counts_syscalls(loaded: Loaded) -> None:
    """The loaded program really runs: its counter (hash key 7) grows as we make syscalls."""
    import struct

    from bpfscope.kernel import syscall as sc

    sc.map_update(loaded.hash_fd, struct.pack("<I", 7), struct.pack("<Q", 0))
    try:
        for _ in range(50):
            os.getppid()
        _, hid, _, _ = ids(loaded)
        entry = json.loads(ours(f"map lookup id {hid} key 7 0 0 0 -j")[0])
        count = int.from_bytes(bytes(int(b, 16) for b in entry["value"]), "little")
        assert count >= 50
    finally:
        sc.map_delete(loaded.hash_fd, struct.pack("<I", 7))


def test_link_and_btf_listing(loaded: Loaded) -> None:
    _, _, _, lid = ids(loaded)
    assert "tp 'sys_enter'" in same(f"link show id {lid}")
    same("link list")
    same("link list -p")
    same("btf list")
    same("btf list -j")
    bid = objinfo.map_info(loaded.arr_fd).btf_id
    same(f"btf dump id {bid}")
    same(f"btf dump id {bid} -j")


def test_btf_dump_vmlinux_raw_matches() -> None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("kernel has no BTF")
    same("btf dump file /sys/kernel/btf/vmlinux format raw")


def test_pin_and_bpffs(loaded: Loaded, tmp_path: object) -> None:
    if not os.path.ismount("/sys/fs/bpf"):
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=False)
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs not mountable")
    pid, hid, _, _ = ids(loaded)
    ppath, mpath = f"/sys/fs/bpf/insp_test_prog_{os.getpid()}", f"/sys/fs/bpf/insp_test_map_{os.getpid()}"
    try:
        assert ours(f"prog pin id {pid} {ppath}")[1] == 0
        assert ours(f"map pin id {hid} {mpath}")[1] == 0
        same(f"prog show pinned {ppath}")
        same(f"map show pinned {mpath} -f")
        assert f"pinned {ppath}" in same(f"prog show id {pid} -f")
    finally:
        for p in (ppath, mpath):
            if os.path.exists(p):
                os.unlink(p)


def test_bpftrace_program_dump_matches() -> None:
    """Programs loaded by bpftrace 0.17: same xlated lines, same prog/map listings as bpftool."""
    if not shutil.which("bpftrace"):
        pytest.skip("bpftrace (reference peer) is not installed")
    before = set(objinfo.iter_ids("prog"))
    # only this process counts, so the map holds still while both tools read it
    script = f"tracepoint:syscalls:sys_enter_getppid /pid == {os.getpid()}/ {{ @[comm] = count(); }}"
    proc = subprocess.Popen(["bpftrace", "-e", script],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        seen = ""
        assert proc.stdout is not None
        while "Attaching" not in seen and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 1)
            if r:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
        assert "Attaching" in seen, seen
        new = wait_perf_attached(proc.pid)  # only bpftrace's own: other programs come and go
        assert set(new) <= set(objinfo.iter_ids("prog")) - before
        for _ in range(5):
            os.getppid()
        for pid in new:
            text = same(f"prog dump xlated id {pid}")
            assert "call " in text
            same(f"prog dump xlated id {pid} opcodes -j")
            shown = same(f"prog show id {pid} -j")
            for mid in json.loads(shown).get("map_ids", []):
                same(f"map show id {mid}")
                dump = json.loads(same(f"map dump id {mid} -j"))
                if json.loads(shown).get("type") == "tracepoint" and dump and "values" in dump[0]:
                    total = sum(int(v["value"][0], 16) for e in dump for v in e["values"])
                    assert total == 5  # attached before the calls, and only this process counts
    finally:
        proc.terminate()
        proc.wait(timeout=10)
