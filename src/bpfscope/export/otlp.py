"""Push the exported metrics to an OpenTelemetry Collector over OTLP/HTTP (protobuf).

The same families the Prometheus collector builds are converted, so names, labels and
bucket edges agree between the two paths. OpenTelemetry's Python SDK has no asynchronous
histogram instrument, so the data points are built from the maps directly with the
official ``opentelemetry-proto`` message classes: counters become cumulative monotonic
sums, gauges gauges, ``hist``/``lhist`` explicit-bucket histograms (``explicit_bounds`` are
the inclusive ``le`` edges), ``stats`` summaries. Failed pushes are retried from a bounded
queue, like the profile pushers.
"""

from __future__ import annotations

import collections
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any


def build_request(families: Iterable[Any], *, service: str, start_ns: int, now_ns: int,
                  resource_attrs: dict[str, str] | None = None) -> Any:
    """An ``ExportMetricsServiceRequest`` of Prometheus metric families (prometheus_client.core)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as M

    def attrs(labels: dict[str, str]) -> list[Any]:
        return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in sorted(labels.items())]

    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(attrs({"service.name": service, **(resource_attrs or {})}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "bpfscope"
    for fam in families:
        metric = M.Metric(name=fam.name, description=fam.documentation)
        if fam.type == "counter":
            metric.sum.aggregation_temporality = M.AGGREGATION_TEMPORALITY_CUMULATIVE
            metric.sum.is_monotonic = True
            for s in fam.samples:
                if s.name.endswith("_created"):
                    continue
                metric.sum.data_points.add(attributes=attrs(s.labels), as_double=s.value,
                                           start_time_unix_nano=start_ns, time_unix_nano=now_ns)
        elif fam.type == "gauge":
            for s in fam.samples:
                metric.gauge.data_points.add(attributes=attrs(s.labels), as_double=s.value, time_unix_nano=now_ns)
        elif fam.type == "histogram":
            metric.histogram.aggregation_temporality = M.AGGREGATION_TEMPORALITY_CUMULATIVE
            for labels, les in _histograms(fam.samples).items():
                bounds = [le for le, _c in les if le != float("inf")]
                cumulative = [c for _le, c in les]
                counts = [int(c - p) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
                metric.histogram.data_points.add(attributes=attrs(dict(labels)), explicit_bounds=bounds,
                                                 bucket_counts=counts, count=int(cumulative[-1]),
                                                 start_time_unix_nano=start_ns, time_unix_nano=now_ns)
        elif fam.type == "summary":
            by: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
            for s in fam.samples:
                by.setdefault(tuple(sorted(s.labels.items())), {})[s.name.rsplit("_", 1)[1]] = s.value
            for labels, v in by.items():
                metric.summary.data_points.add(attributes=attrs(dict(labels)), count=int(v.get("count", 0)),
                                               sum=v.get("sum", 0.0), start_time_unix_nano=start_ns,
                                               time_unix_nano=now_ns)
        else:
            continue
        sm.metrics.append(metric)
    return req


def _histograms(samples: Iterable[Any]) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    """Bucket samples grouped by their labels (without ``le``), edges in order, +Inf last."""
    out: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for s in samples:
        if not s.name.endswith("_bucket"):
            continue
        labels = dict(s.labels)
        le = float(labels.pop("le"))
        out.setdefault(tuple(sorted(labels.items())), []).append((le, s.value))
    for les in out.values():
        les.sort()
    return out


class OtlpPusher:
    """Every interval: collect, encode, POST to ``{url}/v1/metrics``; bounded retry queue."""

    def __init__(self, url: str, collectors: list[Any], service: str, *, queue: int = 8,
                 timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/v1/metrics"):
            self.url += "/v1/metrics"
        self.target = self.url
        self.collectors = collectors
        self.service = service
        self.start_ns = time.time_ns()
        self.timeout = timeout
        self.queue: collections.deque[bytes] = collections.deque()
        self.max_queue = queue
        self.stats = {"sent": 0, "failed": 0, "dropped": 0}

    def snapshot(self, progs: list[Any]) -> None:
        families = [f for c in self.collectors for f in c.collect()]
        req = build_request(families, service=self.service, start_ns=self.start_ns, now_ns=time.time_ns())
        self.queue.append(req.SerializeToString())
        while len(self.queue) > self.max_queue:
            self.queue.popleft()
            self.stats["dropped"] += 1

    def flush(self) -> None:
        while self.queue:
            req = urllib.request.Request(self.url, data=self.queue[0], method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    ok = 200 <= r.status < 300
            except (urllib.error.URLError, OSError, ValueError):
                ok = False
            if not ok:
                self.stats["failed"] += 1
                return
            self.queue.popleft()
            self.stats["sent"] += 1
