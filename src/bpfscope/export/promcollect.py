"""A Prometheus collector over a live Program's maps: read at each scrape, never copied.

Mapping (ebpf_exporter's ideas, bpftrace's aggregations):
``count``/``sum`` → counter; ``hist`` → histogram with exact integer ``le`` edges;
``lhist`` → histogram with its linear edges; ``avg``/``min``/``max``/plain integers →
gauge; ``stats`` → summary (count and sum). Map keys become labels; stack keys only
when the metric's config asks (``stack_label``), as one label of folded frames.
Per-CPU values are already summed by ``Program.map_entries``. Without a config entry, keyed
maps of plain values (``@start[tid] = nsecs``: a program's state, not a measurement) are
left out; a config that names such a map exports it as a gauge.
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
        self.lock = threading.RLock()     # scrapes, pushes and program (re)loads do not interleave
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

    def rows(self) -> list[Rows]:
        """Every exported metric as plain rows, read from the maps now (one pass, under the lock)."""
        import time

        t0 = time.perf_counter()
        out: dict[str, Rows] = {}
        with self.lock:
            for prog, confs, extra in self.sources:
                for r in self._program_rows(prog, confs, extra):
                    have = out.get(r.name)
                    if have is None:
                        out[r.name] = r
                    elif have.kind == r.kind and have.label_names == r.label_names:
                        have.entries.extend(r.entries)   # two programs exporting one metric
        self.scrapes += 1
        self.scrape_seconds = time.perf_counter() - t0
        return list(out.values())

    def collect(self) -> Iterator[Any]:
        """prometheus_client's collector protocol (OpenMetrics, the registry, OTLP)."""
        for r in self.rows():
            yield r.family()

    def text(self) -> str:
        """The Prometheus text format (0.0.4) of every row, formatted directly: a scrape of
        10,000 series spends its time reading maps, not building sample objects."""
        return "".join(r.text() for r in self.rows())

    # ------------------------------------------------------------------ per map
    def _program_rows(self, prog: Any, confs: dict[str, MetricConf], extra: dict[str, str]) -> Iterator[Rows]:
        for spec in prog.compile().maps:
            if spec.internal:
                continue
            conf = confs.get(spec.name)
            if conf is None:
                if confs and "*" not in confs:
                    continue                # a config lists what it exports
                if spec.key_type is not None and not spec.value_type.is_aggregate:
                    continue                # keyed plain values are usually state (start times)
                wild = confs.get("*")
                conf = MetricConf(spec.name, max_series=wild.max_series if wild else 10_000)
            r = self._rows(prog, spec, conf, extra)
            if r is not None:
                yield r

    def _rows(self, prog: Any, spec: Any, conf: MetricConf, extra: dict[str, str]) -> Rows | None:
        from ..lang.ctype.types import Kind

        vt, kt = spec.value_type, spec.key_type
        key_parts = _key_parts(kt)
        if any(p in (Kind.KSTACK, Kind.USTACK) for p in key_parts) and not conf.stack_label:
            return None
        names = list(conf.labels) or _default_labels(len(key_parts))
        if len(names) != len(key_parts):
            names = _default_labels(len(key_parts))
        fixed = {**extra, **conf.static_labels}
        k = vt.kind
        kind = _KINDS.get(k.value)
        if kind is None:
            return None                     # strings, tuples, tseries: not a number to scrape
        rows = Rows(name=conf.name or metric_name(spec.name, self.prefix),
                    doc=conf.help or f"bpftrace map {spec.name} ({k.value})", kind=kind,
                    label_names=[label_name(n) for n in names] + list(fixed))
        entries = prog.map_entries(spec.name)
        if len(entries) > conf.max_series:
            self.dropped[rows.name] = self.dropped.get(rows.name, 0) + len(entries) - conf.max_series
            entries = entries[:conf.max_series]
        mult = conf.multiplier
        rows.n_keys = len(key_parts)
        rows.fixed = list(fixed.values())
        if kind in ("counter", "gauge") and k is not Kind.AVG:
            rows.entries = [(key, float(v) * mult) for key, v in entries] if mult != 1.0 else \
                [(key, float(v)) for key, v in entries]
        elif k is Kind.AVG:
            rows.entries = [(key, (int(t / c) if c else 0) * mult) for key, (c, t) in entries]
        elif kind == "summary":
            rows.entries = [(key, (c, t * mult)) for key, (c, t) in entries]
        elif k is Kind.HIST:
            bits = vt.params[0] if vt.params else 0
            rows.entries = [(key, pb.cumulative(v, pb.hist_edges(v, bits), mult)) for key, v in entries]
        else:
            lo, hi, step = vt.params
            edges = pb.lhist_edges(lo, hi, step)
            rows.entries = [(key, pb.cumulative(v, edges, mult)) for key, v in entries]
        return rows


_KINDS = {"count": "counter", "sum": "counter", "hist": "histogram", "lhist": "histogram", "stats": "summary",
          "avg": "gauge", "min": "gauge", "max": "gauge", "int": "gauge", "bool": "gauge", "enum": "gauge"}


@dataclass
class Rows:
    """One metric's samples before any exposition format: the map key and a payload (a
    float; ``[(le, cumulative)]`` for histograms; ``(count, sum)`` for summaries). Keys
    become label values only when a format needs them (``label_values``/``blocks``)."""
    name: str
    doc: str
    kind: str
    label_names: list[str]
    entries: list[tuple[Any, Any]] = field(default_factory=list)
    n_keys: int = 0
    fixed: list[str] = field(default_factory=list)     # static label values (after the key's)

    def label_values(self, key: Any) -> list[str]:
        return _label_values(key, self.n_keys) + self.fixed

    def blocks(self) -> list[str]:
        """``name="value",...`` (no braces) per entry, in entry order: the text format's hot loop."""
        names = self.label_names
        fixed = "".join(f',{n}="{_escape(v)}"' for n, v in zip(names[self.n_keys:], self.fixed, strict=True))
        if self.n_keys == 1:
            pre = f'{names[0]}="'
            return [f'{pre}{k}"{fixed}' if type(k) is int else f'{pre}{_escape(_label_text(k))}"{fixed}'
                    for k, _v in self.entries]
        return [",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, self.label_values(k), strict=True))
                for k, _v in self.entries]

    def family(self) -> Any:
        from prometheus_client import core

        cls = {"counter": core.CounterMetricFamily, "gauge": core.GaugeMetricFamily,
               "histogram": core.HistogramMetricFamily, "summary": core.SummaryMetricFamily}[self.kind]
        fam = cls(self.name, self.doc, labels=self.label_names)
        for key, payload in self.entries:
            lv = self.label_values(key)
            if self.kind == "histogram":
                fam.add_metric(lv, payload, None)
            elif self.kind == "summary":
                fam.add_metric(lv, count_value=payload[0], sum_value=payload[1])
            else:
                fam.add_metric(lv, payload)
        return fam

    def text(self) -> str:
        name = self.name[:-6] if self.kind == "counter" and self.name.endswith("_total") else self.name
        doc = self.doc.replace("\\", "\\\\").replace("\n", "\\n")
        out = [f"# HELP {name}{'_total' if self.kind == 'counter' else ''} {doc}\n",
               f"# TYPE {name}{'_total' if self.kind == 'counter' else ''} {self.kind}\n"]
        blocks = self.blocks() if self.label_names else [""] * len(self.entries)
        if self.kind in ("counter", "gauge"):
            series = f"{name}_total" if self.kind == "counter" else name
            if self.label_names:
                out += [f"{series}{{{b}}} {v!r}\n" if v == v and abs(v) != _INF else f"{series}{{{b}}} {_num(v)}\n"
                        for b, (_k, v) in zip(blocks, self.entries, strict=True)]
            else:
                out += [f"{series} {_num(v)}\n" for _k, v in self.entries]
        elif self.kind == "summary":
            for b, (_k, (c, t)) in zip(blocks, self.entries, strict=True):
                lab = f"{{{b}}}" if b else ""
                out.append(f"{name}_count{lab} {_num(c)}\n{name}_sum{lab} {_num(t)}\n")
        else:
            for b, (_k, buckets) in zip(blocks, self.entries, strict=True):
                sep = "," if b else ""
                out += [f'{name}_bucket{{{b}{sep}le="{le}"}} {_num(cum)}\n' for le, cum in buckets]
                out.append(f"{name}_count{{{b}}} {_num(buckets[-1][1])}\n" if b else
                           f"{name}_count {_num(buckets[-1][1])}\n")
        return "".join(out)


_INF = float("inf")


def _escape(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return v


def _num(v: float) -> str:
    """Go's float formatting as Prometheus prints it (1234.0, 1.5e+21, +Inf, NaN)."""
    f = float(v)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


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
