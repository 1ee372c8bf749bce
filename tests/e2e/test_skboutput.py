"""skboutput(path, skb, length, offset) on a rawtracepoint: UDP datagrams a child sends over
loopback land in a pcap file (RAW IP link type, one record per call), read back here with
struct; the file exists, header only, from the moment the probes are attached."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

COUNT = 3
IP_UDP = 28            # IPv4 header without options + UDP header

CLIENT = r"""
import socket, sys
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    tx.sendto(f"{sys.argv[1]}-{i}".encode(), rx.getsockname())
    rx.recv(100)
print("sent", flush=True)
sys.stdin.readline()
"""


def read_pcap(path: Path) -> tuple[tuple[int, ...], list[tuple[int, int, int, int, bytes]]]:
    data = path.read_bytes()
    header = struct.unpack_from("=IHHiIII", data, 0)
    recs, pos = [], 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack_from("=IIII", data, pos)
        recs.append((sec, usec, incl, orig, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    assert pos == len(data), "truncated record"
    return header, recs


def test_skboutput_writes_the_datagrams(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    whole, payload = tmp_path / "whole.pcap", tmp_path / "payload.pcap"
    w = subprocess.Popen([sys.executable, "-c", CLIENT, tag, str(COUNT)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-q", "-e",
                              f"rawtracepoint:net_dev_xmit /pid == {w.pid}/ {{ "
                              f'$a = skboutput("{whole}", args.skb, args.skb->len, 0); '
                              f'$b = skboutput("{payload}", args.skb, args.skb->len, {IP_UDP}); '
                              'printf("ret %d %d\\n", $a, $b); }'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
        assert p.stdout is not None and w.stdin is not None and w.stdout is not None
        assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
        assert whole.read_bytes() == struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
        before = time.time()
        w.stdin.write("go\n")
        w.stdin.flush()
        assert w.stdout.readline() == "sent\n"
        after = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        w.kill()
        w.wait()
    assert p.returncode == 0, err
    assert [ln for ln in out.splitlines() if ln] == ["ret 0 0"] * COUNT, out
    for path, skip in ((whole, 0), (payload, IP_UDP)):
        header, recs = read_pcap(path)
        assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
        assert [r[4][IP_UDP - skip:] for r in recs] == [f"{tag}-{i}".encode() for i in range(COUNT)]
        for sec, usec, incl, orig, pkt in recs:
            assert incl == orig == len(pkt) == IP_UDP - skip + len(f"{tag}-0")
            assert usec < 1_000_000 and int(before) - 1 <= sec <= after + 1
        if not skip:
            assert all(r[4][0] == 0x45 and r[4][9] == 17 for r in recs)     # IPv4, UDP


def test_skboutput_errors(tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    cases = [
        (f'profile:hz:99 {{ $r = skboutput("{out}", (struct sk_buff *)0, 64, 0); }}',
         "helper bpf_skb_output not allowed in probe"),
        (f'tracepoint:skb:consume_skb {{ $r = skboutput("{out}", args.skbaddr, 64, 0); }}',
         "helper bpf_skb_output not allowed in probe"),
        (f'rawtracepoint:net_dev_xmit {{ $r = skboutput("{out}", args.skb, 64); }}',
         "skboutput() requires 4 arguments (3 provided)"),
        ('rawtracepoint:net_dev_xmit { $r = skboutput(1, args.skb, 64, 0); }',
         "skboutput() expects a string literal (integer provided)"),
        (f'rawtracepoint:net_dev_xmit {{ $r = skboutput("{out}", 1, 64, 0); }}',
         "skboutput() only supports pointer arguments (integer provided)"),
        (f'rawtracepoint:net_dev_xmit {{ $r = skboutput("{out}", args.skb, "x", 0); }}',
         "skboutput() only supports integer arguments (string provided)"),
        (f'rawtracepoint:inet_sock_set_state {{ $r = skboutput("{out}", args.sk, 64, 0); }}',
         "skboutput() needs a 'struct sk_buff *' ('const struct sock *' provided)"),
        (f'rawtracepoint:net_dev_xmit {{ $r = skboutput("{out}", args.skb, 64, args.rc); }}',
         "skboutput() expects a non-negative integer literal as its offset"),
    ]
    for prog, msg in cases:
        r = bpfscope("-e", prog)
        assert r.returncode == 1, (prog, r.stderr)
        assert msg in r.stderr, (prog, r.stderr)
        assert "Traceback" not in r.stderr
    assert not out.exists()
    r = bpfscope("-e", f'rawtracepoint:net_dev_xmit {{ $r = skboutput("{tmp_path}/no/such/dir.pcap", '
                       "args.skb, 64, 0); exit(); }")
    assert r.returncode == 1
    assert "Failed to create pcap file(s)" in r.stderr and "Traceback" not in r.stderr
