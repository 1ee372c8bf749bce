"""Profiles pushed to Pyroscope's /ingest: a loopback receiver records each request and the
test decodes them against a workload with known counts; a receiver that is down makes the
bounded queue drop (and count) instead of growing."""

from __future__ import annotations

import http.server
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

from tests.conftest import needs_root
from tests.export.test_prometheus import Exporter, unique_copy

pytestmark = needs_root


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                n = int(self.headers.get("Content-Length", "0"))
                outer.requests.append((q, self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_pushes_interval_deltas_with_labels(tmp_path: Path, workload: Path) -> None:
    rx = Receiver()
    wl = unique_copy(tmp_path, workload, "py")
    ex = Exporter("--pyroscope", f"http://127.0.0.1:{rx.port}", "--app", "host.cpu", "--interval", "0.5",
                  "-e", f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @[comm] = count(); }}')
    try:
        subprocess.run([str(wl), "300"], check=True)
        deadline = time.monotonic() + 20
        while not rx.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run([str(wl), "200"], check=True)
    finally:
        rc, err = ex.stop()      # the last interval is pushed on the way out
        rx.close()
    assert rc == 0, err
    total = 0
    for q, body in rx.requests:
        assert q["name"] == "host.cpu" and q["format"] == "folded" and q["spyName"] == "bpfscope"
        assert int(q["from"]) < int(q["until"]) and abs(int(q["until"]) - time.time()) < 120
        for line in body.decode().splitlines():
            stack, n = line.rsplit(" ", 1)
            assert stack == wl.name
            total += int(n)
    assert len(rx.requests) >= 2
    assert total == 500          # deltas, not cumulative snapshots


def test_receiver_down_30s_queue_bounded_then_recovers(tmp_path: Path, workload: Path) -> None:
    """A receiver down for 30 s: the queue stays at its bound, the drops are counted, and
    once the receiver is back the queued intervals arrive (oldest dropped, newest kept)."""
    wl = unique_copy(tmp_path, workload, "pz")
    with socket.socket() as s:           # a port nobody listens on yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = f"http://127.0.0.1:{port}"
    ex = Exporter("--pyroscope", target, "--interval", "1", "--push-queue", "5",
                  "-e", f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @[comm] = count(); }}')
    rx: Receiver | None = None
    try:
        down_until = time.monotonic() + 30
        while time.monotonic() < down_until:
            subprocess.run([str(wl), "1"], check=True)    # every interval has something to send
            time.sleep(0.5)
        dropped = ex.value(f'bpfscope_export_profile_pushes_total{{outcome="dropped",target="{target}"}}') or 0
        failed = ex.value(f'bpfscope_export_profile_pushes_total{{outcome="failed",target="{target}"}}') or 0
        assert dropped >= 20 and failed >= 20, (dropped, failed)
        rx = Receiver(port)
        deadline = time.monotonic() + 20
        while len(rx.requests) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(rx.requests) >= 5          # the five queued intervals, oldest first
        froms = [int(q["from"]) for q, _b in rx.requests]
        assert froms == sorted(froms)
        sent = ex.value(f'bpfscope_export_profile_pushes_total{{outcome="sent",target="{target}"}}') or 0
        assert sent >= 5
    finally:
        ex.p.send_signal(signal.SIGTERM)
        ex.p.communicate(timeout=30)
        if rx is not None:
            rx.close()
    assert ex.p.returncode == 0


def _multipart_profile(body: bytes) -> bytes:
    head, _, rest = body.partition(b"\r\n\r\n")
    assert b'name="profile"' in head
    return rest[:rest.rindex(b"\r\n--")]


def test_pprof_to_pyroscope_and_parca(tmp_path: Path, workload: Path) -> None:
    import base64
    import json

    from bpfscope.flame.pprof import read_pprof

    pyro, parca = Receiver(), Receiver()
    wl = unique_copy(tmp_path, workload, "pp")
    ex = Exporter("--pyroscope", f"http://127.0.0.1:{pyro.port}", "--push-format", "pprof",
                  "--parca", f"http://127.0.0.1:{parca.port}", "--app", "svc", "--label", "zone=a",
                  "--interval", "0.5",
                  "-e", f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @[comm] = count(); }}')
    try:
        subprocess.run([str(wl), "250"], check=True)
    finally:
        rc, err = ex.stop()
        pyro.close()
        parca.close()
    assert rc == 0, err
    total = 0
    for q, body in pyro.requests:
        assert q["format"] == "pprof" and q["name"] == "svc{zone=a}"
        st, stacks = read_pprof(_multipart_profile(body))
        assert st == ("samples", "count")
        assert set(stacks) == {(wl.name,)}
        total += sum(stacks.values())
    assert total == 250
    total = 0
    for _q, body in parca.requests:
        msg = json.loads(body)
        series = msg["series"][0]
        labels = {x["name"]: x["value"] for x in series["labels"]["labels"]}
        assert labels == {"__name__": "bpfscope_samples", "app": "svc", "zone": "a"}
        _st, stacks = read_pprof(base64.b64decode(series["samples"][0]["rawProfile"]))
        total += stacks.get((wl.name,), 0)
    assert total == 250
