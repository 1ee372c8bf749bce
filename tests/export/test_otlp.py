"""Metrics pushed over OTLP/HTTP: a loopback receiver decodes each request with the official
opentelemetry-proto classes and checks counters, histogram bounds, labels and timestamps
against a workload with known counts."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import needs_root
from tests.export.test_prometheus import Exporter, unique_copy
from tests.export.test_pyroscope import Receiver

pytestmark = needs_root


def test_otlp_counter_histogram_and_labels(tmp_path: Path, workload: Path) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    rx = Receiver()
    wl = unique_copy(tmp_path, workload, "ot")
    dd = unique_copy(tmp_path, Path(shutil.which("dd") or "/bin/dd"), "od")
    t0 = time.time_ns()
    ex = Exporter("--otlp", f"http://127.0.0.1:{rx.port}", "--app", "web1", "--interval", "0.5",
                  "--label", "dc=x",
                  "-e", f'tracepoint:syscalls:sys_enter_getppid /comm == "{wl.name}"/ {{ @calls[comm] = count(); }}\n'
                        f"tracepoint:syscalls:sys_enter_read /comm == \"{dd.name}\"/ "
                        "{ @read_size_bytes = hist(args->count); }")
    try:
        subprocess.run([str(wl), "642"], check=True)
        subprocess.run([str(dd), "if=/dev/zero", "of=/dev/null", "bs=3000", "count=30"], check=True,
                       capture_output=True)
    finally:
        rc, err = ex.stop()       # the last interval is pushed on the way out
        rx.close()
    assert rc == 0, err
    assert rx.requests
    q, body = rx.requests[-1]
    req = ExportMetricsServiceRequest.FromString(body)
    rm = req.resource_metrics[0]
    res = {a.key: a.value.string_value for a in rm.resource.attributes}
    assert res["service.name"] == "web1"
    metrics = {m.name: m for m in rm.scope_metrics[0].metrics}
    calls = metrics["bpfscope_calls"]
    assert calls.sum.is_monotonic
    (dp,) = [d for d in calls.sum.data_points
             if {a.key: a.value.string_value for a in d.attributes} == {"key": wl.name, "dc": "x"}]
    assert dp.as_double == 642
    assert t0 <= dp.start_time_unix_nano <= dp.time_unix_nano
    hist = metrics["bpfscope_read_size_bytes"].histogram.data_points[0]
    assert len(hist.bucket_counts) == len(hist.explicit_bounds) + 1
    bounds = list(hist.explicit_bounds)
    i = bounds.index(4095.0)               # 3000-byte reads: (2047, 4095]
    assert bounds[i - 1] == 2047.0 and hist.bucket_counts[i] >= 30
    assert hist.count == sum(hist.bucket_counts)
