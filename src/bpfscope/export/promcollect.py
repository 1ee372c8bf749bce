"""A Prometheus collector over a live Program's maps: read at each scrape, never copied.

Mapping (ebpf_exporter's ideas, bpftrace's aggregations):
``count``/``sum`` → counter; ``hist`` → histogram with exact integer ``le`` edges;
``lhist`` → histogram with its linear edges; ``avg``/``min``/``max``/plain integers →
gauge; ``stats`` → summary (count and sum). Map keys become labels; stack keys only
when the metric's config asks (``stack_label``), as one label of folded frames.
Per-CPU values are already summed by ``Program.map_entries``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import prombuckets as pb

_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(text: str, prefix: str = "bpfscope_") -> str:
    """A valid Prometheus metric name: map ``@ios`` → ``bpfscope_ios``, ``@`` → ``bpfscope_map``."""
    base = text.lstrip("@") or "map"
    name = _NAME_BAD.sub("_", prefix + base)
    return name if not name[0].isdigit() else "_" + name


def label_name(text: str) -> str:
    name = _LABEL_BAD.sub("_", text) or "key"
    if name[0].isdigit():
        name = "_" + name
    return "key" if name.startswith("__") else name


@dataclass
class MetricConf:
    """How one map is exported; every field has a default derived from the map itself."""
    map: str
    name: str = ""
    help: str = ""
    labels: list[str] = field(default_factory=list)
    multiplier: float = 1.0       # scales values and bucket bounds (e.g. ns → seconds)
    stack_label: bool = False     # export stack-keyed maps with a folded-stack label
    max_series: int = 10_000      # cardinality guard: series over this are dropped and counted
    static_labels: dict[str, str] = field(default_factory=dict)


class ProgramCollector:
    """``collect()`` reads the maps of every registered Program when Prometheus scrapes."""

    def __init__(self, prefix: str = "bpfscope_") -> None:
        self.prefix = prefix
        self.sources: list[tuple[Any, dict[str, MetricConf], dict[str, str]]] = []
        self.lock = threading.Lock()      # scrapes and program (re)loads do not interleave
        self.dropped: dict[str, int] = {}
        self.scrape_seconds = 0.0
        self.scrapes = 0

    def add(self, prog: Any, confs: dict[str, MetricConf] | None = None,
            labels: dict[str, str] | None = None) -> None:
        with self.lock:
            self.sources.append((prog, dict(confs or {}), dict(labels or {})))

    def replace(self, old: Any, new: Any) -> None:
        """Swap a reloaded Program in under the lock: a scrape sees the old or the new one."""
        with self.lock:
            self.sources = [(new if p is old else p, c, lab) for p, c, lab in self.sources]

    def remove(self, prog: Any) -> None:
        with self.lock:
            self.sources = [s for s in self.sources if s[0] is not prog]

    def collect(self) -> Iterator[Any]:
        import time

        t0 = time.perf_counter()
        with self.lock:
            fams: dict[str, Any] = {}
            for prog, confs, extra in self.sources:
                for fam in self._program_families(prog, confs, extra):
                    have = fams.get(fam.name)
                    if have is None:
                        fams[fam.name] = fam
                    else:                       # two programs exporting one metric name
                        have.samples.extend(fam.samples)
            yield from fams.values()
        self.scrapes += 1
        self.scrape_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ per map
    def _program_families(self, prog: Any, confs: dict[str, MetricConf],
                          extra: dict[str, str]) -> Iterator[Any]:
        for spec in prog.compile().maps:
            if spec.internal:
                continue
            conf = confs.get(spec.name)
            if conf is None:
                if confs and "*" not in confs:
                    continue                # a config lists what it exports
                wild = confs.get("*")
                conf = MetricConf(spec.name, max_series=wild.max_series if wild else 10_000)
            fam = self._family(prog, spec, conf, extra)
            if fam is not None:
                yield fam

    def _family(self, prog: Any, spec: Any, conf: MetricConf, extra: dict[str, str]) -> Any:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        from ..lang.ctype.types import Kind

        vt, kt = spec.value_type, spec.key_type
        key_parts = _key_parts(kt)
        if any(p in (Kind.KSTACK, Kind.USTACK) for p in key_parts) and not conf.stack_label:
            return None
        names = list(conf.labels) or _default_labels(len(key_parts))
        if len(names) != len(key_parts):
            names = _default_labels(len(key_parts))
        fixed = {**extra, **conf.static_labels}
        label_names = [label_name(n) for n in names] + list(fixed)
        name = conf.name or metric_name(spec.name, self.prefix)
        doc = conf.help or f"bpftrace map {spec.name} ({vt.kind.value})"
        mult = conf.multiplier
        k = vt.kind
        if k in (Kind.COUNT, Kind.SUM):
            fam: Any = CounterMetricFamily(name, doc, labels=label_names)
        elif k in (Kind.HIST, Kind.LHIST):
            fam = HistogramMetricFamily(name, doc, labels=label_names)
        elif k is Kind.STATS:
            fam = SummaryMetricFamily(name, doc, labels=label_names)
        elif k in (Kind.AVG, Kind.MIN, Kind.MAX, Kind.INT, Kind.BOOL, Kind.ENUM):
            fam = GaugeMetricFamily(name, doc, labels=label_names)
        else:
            return None                     # strings, tuples, tseries: not a number to scrape
        entries = prog.map_entries(spec.name)
        if len(entries) > conf.max_series:
            self.dropped[name] = self.dropped.get(name, 0) + len(entries) - conf.max_series
            entries = entries[:conf.max_series]
        for key, value in entries:
            lv = _label_values(key, len(key_parts)) + list(fixed.values())
            if k in (Kind.COUNT, Kind.SUM, Kind.INT, Kind.BOOL, Kind.ENUM, Kind.MIN, Kind.MAX):
                fam.add_metric(lv, float(int(value)) * mult)
            elif k is Kind.AVG:
                cnt, tot = value
                fam.add_metric(lv, (int(tot / cnt) if cnt else 0) * mult)
            elif k is Kind.STATS:
                cnt, tot = value
                fam.add_metric(lv, count_value=cnt, sum_value=tot * mult)
            elif k is Kind.HIST:
                bits = vt.params[0] if vt.params else 0
                edges = pb.hist_edges(value, bits)
                fam.add_metric(lv, pb.cumulative(value, edges, mult), None)
            else:
                lo, hi, step = vt.params
                fam.add_metric(lv, pb.cumulative(value, pb.lhist_edges(lo, hi, step), mult), None)
        return fam


def _key_parts(kt: Any) -> list[Any]:
    from ..lang.ctype.types import Kind

    if kt is None:
        return []
    if kt.kind is Kind.TUPLE:
        return [e.kind for e in kt.elems]
    return [kt.kind]


def _default_labels(n: int) -> list[str]:
    return ["key"] if n == 1 else [f"key{i}" for i in range(n)]


def _label_values(key: Any, n: int) -> list[str]:
    if n == 0:
        return []
    parts = list(key) if n > 1 else [key]
    return [_label_text(p) for p in parts]


def _label_text(v: Any) -> str:
    if isinstance(v, list):                 # a stack: folded, root first
        return ";".join(reversed([f.strip() for f in v if f.strip()]))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)
