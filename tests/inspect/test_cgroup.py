"""`bpfscope cgroup show|tree|attach|detach` on a cgroup v2 directory the test creates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bpfscope.inspect.cgroupcmd import find_cgroup_root
from tests.inspect.conftest import needs_root
from tests.inspect.helpers import BPFTOOL, ours, same

pytestmark = [pytest.mark.root, needs_root]

# Sends datagrams to a closed local port from inside the cgroup (it moves itself there first).
SENDER = """
import socket, sys
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write(str(__import__("os").getpid()))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"x", ("127.0.0.1", 9))
"""


@pytest.fixture
def cgroup() -> Iterator[str]:
    root = find_cgroup_root()
    if root is None:
        pytest.skip("cgroup v2 is not mounted")
    path = os.path.join(root, f"bpfscope_test_{os.getpid()}")
    os.mkdir(path)
    os.mkdir(os.path.join(path, "sub"))
    try:
        yield path
    finally:
        for d in (os.path.join(path, "sub"), path):
            try:
                os.rmdir(d)
            except OSError:
                pass


def egress(maps: str) -> int:
    out = subprocess.run([BPFTOOL, "-j", "map", "dump", "pinned", os.path.join(maps, "cg_bss")],
                         capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)[0]["formatted"]["value"][".bss"][0]["egress_packets"])


def test_cgroup_attach_tree_detach(cgroup: str, bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    prog, maps = os.path.join(bpffs_dir, "cg"), os.path.join(bpffs_dir, "maps")
    assert ours(f"prog load {bpf_objects['cgroup']} {prog} pinmaps {maps}")[1] == 0
    assert ours(f"cgroup attach {cgroup} egress pinned {prog} multi")[1] == 0
    sub = os.path.join(cgroup, "sub")
    assert ours(f"cgroup attach {sub} cgroup_inet_egress pinned {prog}")[1] == 0
    try:
        text = same(f"cgroup show {cgroup}")
        assert text.splitlines()[1].split()[1:4] == ["cgroup_inet_egress", "multi", "cg_egress"]
        same(f"cgroup show {sub} effective")
        same(f"cgroup list {cgroup} -j")
        tree = same(f"cgroup tree {cgroup}")
        assert tree.splitlines()[:3] == ["CgroupPath", "ID       AttachType      AttachFlags     Name           ",
                                         cgroup]
        assert f"\n{sub}\n    " in tree  # rows below the root are indented
        same(f"cgroup tree {cgroup} effective -p")
        # the program runs for sockets of the cgroup: one count per datagram sent from inside
        before = egress(maps)
        subprocess.run([sys.executable, "-c", SENDER, sub, "7"], check=True, timeout=30)
        assert egress(maps) - before >= 7
    finally:
        ours(f"cgroup detach {sub} egress pinned {prog}")
        ours(f"cgroup detach {cgroup} egress pinned {prog}")
    assert same(f"cgroup show {cgroup}") == ""
    out, rc = ours(f"cgroup attach {cgroup} nosuchtype pinned {prog}")
    assert rc == 255


@pytest.mark.parametrize("args", ["cgroup tree /", "-j cgroup tree /", "-p cgroup tree /", "cgroup show /",
                                  "-j cgroup show /tmp"])
def test_path_outside_cgroup2_fails_like_bpftool(args: str) -> None:
    """A directory that is not a cgroup: bpftool stops at it (EBADF), it does not walk the file system."""
    out = same(args)                       # the same stdout (JSON error objects included) and exit code
    assert ours(args)[1] == 255
    assert ("-j" not in args and "-p" not in args) or "can't query bpf programs attached to" in out
