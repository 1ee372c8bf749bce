"""`bpfscope net list|attach|detach` on a veth pair in network namespaces the test creates.

Two namespaces, one veth end in each: datagrams sent from the peer namespace arrive on
the device that carries our XDP program, whose .bss counter must grow by what was sent.
Listings are compared with Debian's bpftool run in the same namespace; a tc classifier
added by iproute2 shows up in both. Everything is torn down at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import peer_failed
from tests.inspect.conftest import needs_root
from tests.inspect.helpers import BPFTOOL
from tests.netns import sh, veth_pair

pytestmark = [pytest.mark.root, needs_root]

NS_A, NS_B = f"bpfscope_ta{os.getpid()}", f"bpfscope_tb{os.getpid()}"
DEV_A, DEV_B = "bsveth0", "bsveth1"


@pytest.fixture(scope="module")
def netns() -> Iterator[None]:
    with veth_pair((NS_A, NS_B), (DEV_A, DEV_B), ("10.251.0.1/24", "10.251.0.2/24")):
        yield


def ours_in(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, sys.executable, "-m", "bpfscope", *args, check=False)


def theirs_in(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which(BPFTOOL):
        pytest.skip("bpftool (reference peer) is not installed")
    return sh("ip", "netns", "exec", ns, BPFTOOL, *args, check=False)


def same_in(ns: str, *args: str) -> str:
    a, b = ours_in(ns, *args), theirs_in(ns, *args)
    assert (a.stdout, a.returncode) == (b.stdout, b.returncode), f"{args}:\n--- ours\n{a.stdout}{a.stderr}\n" \
                                                                  f"--- bpftool\n{b.stdout}{b.stderr}"
    return a.stdout


def send_udp(count: int) -> None:
    """Datagrams from the peer namespace to the XDP device's address (no ping needed)."""
    code = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"for _ in range({count}):\n    s.sendto(b'bpfscope', ('10.251.0.1', 9)); time.sleep(0.01)\n")
    sh("ip", "netns", "exec", NS_B, sys.executable, "-c", code)


def rx_packets(maps_dir: str) -> int:
    out = json.loads(sh(BPFTOOL, "-j", "map", "dump", "pinned", os.path.join(maps_dir, "xdp_bss")).stdout)
    return int(out[0]["formatted"]["value"][".bss"][0]["rx_packets"])


def test_xdp_attach_list_detach(netns: None, bpf_objects: dict[str, str], bpffs_dir: str) -> None:
    prog, maps = os.path.join(bpffs_dir, "xdp"), os.path.join(bpffs_dir, "maps")
    r = sh(sys.executable, "-m", "bpfscope", "prog", "load", bpf_objects["xdp"], prog, "pinmaps", maps, check=False)
    assert r.returncode == 0, r.stderr
    prog_id = json.loads(sh(BPFTOOL, "-j", "prog", "show", "pinned", prog).stdout)["id"]
    assert "xdp:\n\ntc:\n\nflow_dissector:\n\n" == same_in(NS_A, "net", "list")

    r = ours_in(NS_A, "net", "attach", "xdp", "id", str(prog_id), "dev", DEV_A)
    assert r.returncode == 0, r.stderr
    text = same_in(NS_A, "net", "list")
    ifindex = int(sh("ip", "netns", "exec", NS_A, "cat", f"/sys/class/net/{DEV_A}/ifindex").stdout)
    assert f"xdp:\n{DEV_A}({ifindex}) driver id {prog_id}\n" in text
    js = json.loads(same_in(NS_A, "net", "list", "-j"))
    assert js[0]["xdp"] == [{"devname": DEV_A, "ifindex": ifindex, "mode": "driver", "id": prog_id}]
    same_in(NS_A, "net", "list", "dev", DEV_A)
    same_in(NS_A, "net", "list", "dev", DEV_A, "-p")
    # (ids, not pins: `ip netns exec` mounts a fresh /sys without our bpffs)
    # the program really runs on what arrives: ping from the other namespace
    before = rx_packets(maps)
    send_udp(5)
    assert rx_packets(maps) - before >= 5
    # without `overwrite` a second attach is refused, as bpftool refuses it
    r = ours_in(NS_A, "net", "attach", "xdp", "id", str(prog_id), "dev", DEV_A)
    assert r.returncode == 234 and "Error: interface xdp attach failed: Device or resource busy" in r.stderr
    assert ours_in(NS_A, "net", "attach", "xdp", "id", str(prog_id), "dev", DEV_A, "overwrite").returncode == 0

    r = ours_in(NS_A, "net", "detach", "xdp", "dev", DEV_A)
    assert r.returncode == 0, r.stderr
    assert same_in(NS_A, "net", "list").startswith("xdp:\n\ntc:")
    after = rx_packets(maps)
    send_udp(3)
    assert rx_packets(maps) == after  # detached: nothing counted any more

    # generic mode through the other attach type
    assert ours_in(NS_A, "net", "attach", "xdpgeneric", "id", str(prog_id), "dev", DEV_A).returncode == 0
    assert f"{DEV_A}({ifindex}) generic id {prog_id}" in same_in(NS_A, "net", "list")
    assert ours_in(NS_A, "net", "detach", "xdpgeneric", "dev", DEV_A).returncode == 0
    assert "generic" not in same_in(NS_A, "net", "list")


def test_tc_filters_listed_like_bpftool(netns: None, bpf_objects: dict[str, str]) -> None:
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is not installed")
    sh("ip", "netns", "exec", NS_B, "tc", "qdisc", "add", "dev", DEV_B, "clsact")
    try:
        r = sh("ip", "netns", "exec", NS_B, "tc", "filter", "add", "dev", DEV_B, "ingress", "bpf", "da",
               "obj", bpf_objects["xdp"], "sec", "xdp", check=False)
        if r.returncode != 0:
            peer_failed("tc filter add ... bpf", r)
        text = same_in(NS_B, "net", "list")
        assert f"{DEV_B}(" in text and "clsact/ingress xdp.bpf.o:[xdp] id " in text
        same_in(NS_B, "net", "list", "-j")
    finally:
        sh("ip", "netns", "exec", NS_B, "tc", "qdisc", "del", "dev", DEV_B, "clsact", check=False)


def test_bad_net_arguments(netns: None) -> None:
    for args, msg in ((("net", "attach", "xdq", "id", "1", "dev", DEV_A), "invalid net attach/detach type"),
                      (("net", "detach", "xdp", "dev", "nosuchdev0"), "invalid devname nosuchdev0"),
                      (("net", "detach", "xdp", "eth0", "x"), "expected 'dev'"),
                      (("net", "detach", "xdp"), "too few parameters")):
        r = ours_in(NS_A, *args)
        assert r.returncode == 234 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
