"""BCC's network attach points: attach_raw_socket (a SOCKET_FILTER program on a packet socket,
BCC's test_stat1 and http-filter examples) and attach_xdp/remove_xdp, on loopback datagrams
and on a veth pair between two network namespaces the test creates."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import needs_root
from tests.netns import sh, veth_pair

pytestmark = needs_root

# BCC's test_stat1.c: IPv4 packets counted by (higher, lower) address, through proto.h's cursor
STAT_PROG = r"""
#include <bcc/proto.h>
struct IPKey { u32 dip; u32 sip; };
struct IPLeaf { u64 rx_pkts; u64 tx_pkts; };
BPF_HASH(stats, struct IPKey, struct IPLeaf, 256);
int on_packet(struct __sk_buff *skb) {
  u8 *cursor = 0;
  struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
  if (ethernet->type != ETH_P_IP)
    return 0;
  struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
  struct IPKey key = {};
  int rx = 0, tx = 0;
  if (ip->dst > ip->src) { key.dip = ip->dst; key.sip = ip->src; rx = 1; }
  else { key.dip = ip->src; key.sip = ip->dst; tx = 1; }
  struct IPLeaf zleaf = {0};
  struct IPLeaf *leaf = stats.lookup_or_init(&key, &zleaf);
  if (leaf) {
    lock_xadd(&leaf->rx_pkts, rx);
    lock_xadd(&leaf->tx_pkts, tx);
  }
  return 0;
}
"""
# keep (whole) only UDP datagrams to one port: what the socket then reads
KEEP_PROG = r"""
#include <bcc/proto.h>
int keep(struct __sk_buff *skb) {
  u8 *cursor = 0;
  struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
  if (ethernet->type != ETH_P_IP)
    return 0;
  struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
  if (ip->nextp != IPPROTO_UDP)
    return 0;
  struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
  return udp->dport == PORT ? -1 : 0;
}
"""


def _udp(src: str, dst: str, n: int, payload: bytes = b"bpfscope") -> int:
    """n datagrams src -> dst over loopback; returns the receiver's port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        r.bind((dst, 0))
        s.bind((src, 0))
        for _ in range(n):
            s.sendto(payload, r.getsockname())
        for _ in range(n):
            r.recv(64)    # delivered: both passes on lo are done
        return int(r.getsockname()[1])


def test_raw_socket_counts_loopback_datagrams_by_address_pair() -> None:
    """On lo a packet socket sees each datagram twice (sent, then received): 7 datagrams from
    127.0.0.2 to 127.0.0.3 are 14 under (dip 127.0.0.3, sip 127.0.0.2), in rx_pkts."""
    from bpfscope.bcc import BPF

    with BPF(text=STAT_PROG) as b:
        fn = b.load_func("on_packet", BPF.SOCKET_FILTER)
        BPF.attach_raw_socket(fn, "lo")
        assert fn.sock >= 0
        try:
            _udp("127.0.0.2", "127.0.0.3", 7)
            stats = b["stats"]
            leaf = stats[stats.Key(0x7F000003, 0x7F000002)]
            assert (leaf.rx_pkts, leaf.tx_pkts) == (14, 0)
        finally:
            os.close(fn.sock)


def test_raw_socket_reads_what_the_filter_keeps() -> None:
    """A filter that keeps UDP to one port: reading the socket gives those frames, whole
    (Ethernet + IP + UDP headers + payload), and nothing else."""
    from bpfscope.bcc import BPF

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.5", 0))
        port = probe.getsockname()[1]
        with BPF(text=KEEP_PROG.replace("PORT", str(port))) as b:
            fn = b.load_func("keep", BPF.SOCKET_FILTER)
            BPF.attach_raw_socket(fn, b"lo")
            raw = socket.fromfd(fn.sock, socket.AF_PACKET, socket.SOCK_RAW, 0)
            os.close(fn.sock)
            try:
                _udp("127.0.0.4", "127.0.0.6", 3)              # another port: dropped by the filter
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"kept-by-the-filter", ("127.0.0.5", port))
                    probe.recv(64)
                raw.setblocking(True)
                raw.settimeout(5)
                frames = [raw.recv(2048) for _ in range(2)]     # sent and received on lo
                raw.setblocking(False)
                with pytest.raises(BlockingIOError):
                    raw.recv(2048)
            finally:
                raw.close()
    for f in frames:
        assert f[12:14] == b"\x08\x00" and f[14 + 9] == 17, f.hex()            # IPv4, UDP
        assert int.from_bytes(f[14 + 20 + 2:14 + 20 + 4], "big") == port and f.endswith(b"kept-by-the-filter")


def test_raw_socket_errors_are_plain() -> None:
    from bpfscope.bcc import BPF

    with BPF(text=STAT_PROG) as b:
        fn = b.load_func("on_packet", BPF.SOCKET_FILTER)
        with pytest.raises(Exception, match="^Failed to open raw device nosuchdev0: No such device$"):
            BPF.attach_raw_socket(fn, "nosuchdev0")
        with pytest.raises(Exception, match="^arg 1 must be of type BPF.Function$"):
            BPF.attach_raw_socket(int(fn), "lo")
        with pytest.raises(Exception, match="^Failed to attach BPF to device nosuchdev0: No such device$"):
            BPF.attach_xdp("nosuchdev0", fn)


# ---------------------------------------------------------------- XDP on a veth pair
NS_A, NS_B = f"bpfscope_xa{os.getpid()}", f"bpfscope_xb{os.getpid()}"
DEV_A, DEV_B = "bsxdp0", "bsxdp1"
XDP_SCRIPT = r"""
import socket, sys
from bpfscope.bcc import BPF
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("10.252.0.1", 9))
sink.settimeout(10)
b = BPF(text='''
#include <bcc/proto.h>
BPF_ARRAY(udp9, u64, 1);
int count(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr { unsigned char d[6], s[6]; __be16 proto; } *eth = data;
    if ((void *)(eth + 1) + 28 > end)
        return XDP_PASS;
    unsigned char *ip = (unsigned char *)(eth + 1);
    if (eth->proto == htons(0x0800) && ip[9] == 17 && ip[22] == 0 && ip[23] == 9)
        udp9.increment(0);
    return XDP_PASS;
}
''')
fn = b.load_func("count", BPF.XDP)
BPF.attach_xdp("DEV", fn, 2)          # XDP_FLAGS_SKB_MODE: any device
print("ready", flush=True)
sys.stdin.readline()
for _ in range(9):
    sink.recv(64)                     # delivered, so past XDP
print(b["udp9"][0].value, flush=True)
BPF.remove_xdp("DEV", 2)
"""


@pytest.fixture
def veth() -> Iterator[None]:
    with veth_pair((NS_A, NS_B), (DEV_A, DEV_B), ("10.252.0.1/24", "10.252.0.2/24")):
        yield


def test_attach_xdp_counts_what_arrives_and_remove_xdp_detaches(veth: None) -> None:
    """A BCC program attached with attach_xdp() (generic mode) in one namespace counts exactly
    the UDP datagrams to port 9 the other namespace sends it; remove_xdp() leaves the device
    without a program."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.Popen(["ip", "netns", "exec", NS_A, sys.executable, "-c", XDP_SCRIPT.replace("DEV", DEV_A)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout is not None and p.stdin is not None
        line = p.stdout.readline()
        assert line == "ready\n", (line, p.stderr.read() if p.stderr else "")
        assert "prog/xdp" in sh("ip", "-n", NS_A, "link", "show", DEV_A).stdout
        code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "for _ in range(9):\n    s.sendto(b'bpfscope', ('10.252.0.1', 9))\n")
        sh("ip", "netns", "exec", NS_B, sys.executable, "-c", code)
        out, err = p.communicate("go\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and out.strip() == "9", (out, err)
    assert "prog/xdp" not in sh("ip", "-n", NS_A, "link", "show", DEV_A).stdout


def test_program_type_constants() -> None:
    from bpfscope.bcc import BPF

    assert (BPF.XDP, BPF.SOCKET_FILTER, BPF.Function.__name__) == (6, 1, "Function")
