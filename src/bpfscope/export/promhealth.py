"""The exporter's own health as metrics: what an operator alerts on before trusting the data.

Load failures, events the ring buffer lost, series dropped by the cardinality guard,
profile pushes dropped by a full retry queue, the last scrape's duration, and the
exporter's CPU time and resident memory (from /proc, no psutil needed).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Health:
    load_failures: int = 0
    programs: list[Any] = field(default_factory=list)
    pushers: list[Any] = field(default_factory=list)
    collector: Any = None


class HealthCollector:
    def __init__(self, health: Health) -> None:
        self.h = health

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        h = self.h
        yield _counter(CounterMetricFamily, "bpfscope_export_program_load_failures",
                       "Programs that failed to compile, load or attach", h.load_failures)
        yield GaugeMetricFamily("bpfscope_export_programs", "Programs loaded and attached",
                                value=len(h.programs))
        lost = sum(int(getattr(p, "lost_reported", 0)) for p in h.programs)
        yield _counter(CounterMetricFamily, "bpfscope_export_lost_events",
                       "Events the kernel could not deliver (ring buffer full)", lost)
        dropped = CounterMetricFamily("bpfscope_export_dropped_series",
                                      "Series left out by the per-metric cardinality limit", labels=["metric"])
        if h.collector is not None:
            for name, n in sorted(h.collector.dropped.items()):
                dropped.add_metric([name], n)
            yield GaugeMetricFamily("bpfscope_export_scrape_duration_seconds",
                                    "Time the previous scrape spent reading maps", value=h.collector.scrape_seconds)
        yield dropped
        pushed = CounterMetricFamily("bpfscope_export_profile_pushes", "Profile uploads by outcome",
                                     labels=["target", "outcome"])
        for p in h.pushers:
            for outcome, n in sorted(p.stats.items()):
                pushed.add_metric([p.target, outcome], n)
        yield pushed
        ru = resource.getrusage(resource.RUSAGE_SELF)
        yield _counter(CounterMetricFamily, "bpfscope_export_cpu_seconds",
                       "CPU time the exporter used (user + system)", ru.ru_utime + ru.ru_stime)
        yield GaugeMetricFamily("bpfscope_export_resident_memory_bytes", "The exporter's resident set size",
                                value=_rss_bytes())


def _counter(cls: Any, name: str, doc: str, value: float) -> Any:
    fam = cls(name, doc)
    fam.add_metric([], value)
    return fam


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
