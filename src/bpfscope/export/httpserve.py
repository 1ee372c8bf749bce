"""The ``/metrics`` endpoint: Prometheus' text format from the collector's fast formatter,
OpenMetrics (through prometheus_client) when the scraper asks for it, gzip when accepted.

prometheus_client's own server formats every sample through its generic exposition code,
which costs more than reading the maps once a metric has thousands of series; the text
format here is built straight from the rows (see ``promcollect.Rows.text``).
"""

from __future__ import annotations

import gzip
import http.server
import threading
from typing import Any

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def serve(host: str, port: int, collector: Any, extra: Any) -> http.server.ThreadingHTTPServer:
    """Start serving in a daemon thread; *extra* is a prometheus_client registry (health metrics)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self._reply(404, b"not found: try /metrics\n", "text/plain")
                return
            accept = self.headers.get("Accept", "")
            try:
                if "application/openmetrics-text" in accept:
                    from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest
                    from prometheus_client.registry import CollectorRegistry

                    reg = CollectorRegistry(auto_describe=False)
                    reg.register(collector)
                    reg.register(_Chain(extra))
                    body, ctype = generate_latest(reg), CONTENT_TYPE_LATEST
                else:
                    from prometheus_client import generate_latest as text_latest

                    body, ctype = (collector.text().encode() + text_latest(extra)), TEXT_TYPE
            except Exception as e:   # a scrape must answer, whatever a map read did
                self._reply(500, f"scrape failed: {e}\n".encode(), "text/plain")
                return
            self._reply(200, body, ctype)

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            gz = "gzip" in self.headers.get("Accept-Encoding", "")
            if gz:
                body = gzip.compress(body, compresslevel=1)
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name="bpfscope-metrics", daemon=True).start()
    return srv


class _Chain:
    """A registry's collectors as one collector (to add the health metrics to OpenMetrics)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Any:
        return self.registry.collect()
