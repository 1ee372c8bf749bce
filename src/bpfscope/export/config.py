"""``bpfscope export --config FILE``: several programs, their metric names, help, labels, units.

The file is YAML (or JSON, which YAML reads too)::

    listen: 127.0.0.1:9436
    prefix: bpfscope_
    programs:
      - name: block
        program: |
          tracepoint:block:block_rq_complete { @bytes = hist(args->nr_sector * 512);
                                               @ios[args->rwbs] = count(); }
        labels: {role: db}            # static labels on every series of this program
        metrics:
          - {map: "@ios", name: block_ios, help: "Block I/O completions", labels: [rwbs]}
          - {map: "@bytes", name: block_io_size_bytes, max_series: 100}
      - name: opens
        file: /etc/bpfscope/opens.bt  # a script instead of inline text
      - tool: runqlat                 # a bpfscope tool's program, built for these options
        args: [-m]
    pyroscope: {url: "http://127.0.0.1:4040", app: host.cpu, interval: 10, format: pprof}
    parca: {url: "http://127.0.0.1:7070", app: host.cpu, interval: 10}
    otlp: {url: "http://127.0.0.1:4318", app: web1, interval: 15}   # metrics to an OTel Collector

A program without ``metrics`` exports every map with derived names. Every error is a
``ConfigError`` naming the file and the entry, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .promcollect import MetricConf


class ConfigError(Exception):
    pass


@dataclass
class ProgramConf:
    name: str
    source: str
    filename: str = "stdin"
    labels: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricConf] = field(default_factory=dict)


@dataclass
class ExportConf:
    listen: str = "127.0.0.1:9436"
    prefix: str = "bpfscope_"
    programs: list[ProgramConf] = field(default_factory=list)
    push: list[dict[str, Any]] = field(default_factory=list)   # push targets (pyroscope/parca/otlp)


_METRIC_KEYS = {"map", "name", "help", "labels", "multiplier", "stack_label", "max_series"}


def load(path: str) -> ExportConf:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        import yaml
    except ImportError:
        import json

        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{path}: not JSON, and PyYAML is not installed for YAML "
                              f"(pip install 'bpfscope[export]'): {e}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: {e}") from None
    return parse(data, path)


def parse(data: Any, path: str = "config") -> ExportConf:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'programs'")
    conf = ExportConf(listen=str(data.get("listen", ExportConf.listen)),
                      prefix=str(data.get("prefix", ExportConf.prefix)))
    progs = data.get("programs")
    if not isinstance(progs, list) or not progs:
        raise ConfigError(f"{path}: 'programs' must be a non-empty list")
    for i, p in enumerate(progs):
        conf.programs.append(_program(p, f"{path}: programs[{i}]"))
    for kind in ("pyroscope", "parca", "otlp"):
        target = data.get(kind)
        if target is None:
            continue
        if not isinstance(target, dict) or "url" not in target:
            raise ConfigError(f"{path}: '{kind}' needs a 'url'")
        conf.push.append({**target, "kind": kind})
    return conf


def _program(p: Any, where: str) -> ProgramConf:
    if not isinstance(p, dict):
        raise ConfigError(f"{where}: must be a mapping")
    name = str(p.get("name", ""))
    if "program" in p:
        source, filename = str(p["program"]), f"{name or 'config'}.bt"
    elif "tool" in p:
        source, filename = tool_program(str(p["tool"]), p.get("args") or [], where)
    elif "file" in p:
        try:
            with open(str(p["file"])) as f:
                source = f.read()
        except OSError as e:
            raise ConfigError(f"{where}: cannot read {p['file']}: {e.strerror}") from None
        filename = str(p["file"])
    else:
        raise ConfigError(f"{where}: needs 'program' (text), 'file' or 'tool' (a bpfscope tool name)")
    labels = p.get("labels") or {}
    if not isinstance(labels, dict):
        raise ConfigError(f"{where}: 'labels' must be a mapping of label name to value")
    pc = ProgramConf(name=name, source=source, filename=filename,
                     labels={str(k): str(v) for k, v in labels.items()})
    for j, m in enumerate(p.get("metrics") or []):
        mc = _metric(m, f"{where}.metrics[{j}]")
        pc.metrics[mc.map] = mc
    return pc


def tool_program(name: str, args: Any, where: str = "--tool") -> tuple[str, str]:
    """The bpftrace program a bpfscope tool runs for *args* (BCC's options), and its name."""
    import shlex

    from ..tools import registry
    from ..tools.base import ToolError, parser

    if not registry.is_tool(name):
        raise ConfigError(f"{where}: no bpfscope tool named {name!r} (see 'bpfscope tools')")
    argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    cls = registry.load(name).TOOL
    try:
        opts = parser(cls).parse_args(argv)
    except SystemExit:
        raise ConfigError(f"{where}: bad options for {name}: {' '.join(argv)}") from None
    tool = cls(opts)
    try:
        tool.check()
        return tool.program(), name
    except ToolError as e:
        raise ConfigError(f"{where}: {e}") from None


def _metric(m: Any, where: str) -> MetricConf:
    if not isinstance(m, dict) or "map" not in m:
        raise ConfigError(f"{where}: needs 'map' (e.g. map: \"@ios\")")
    unknown = set(m) - _METRIC_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_METRIC_KEYS)}")
    labels = m.get("labels") or []
    if not isinstance(labels, list):
        raise ConfigError(f"{where}: 'labels' must be a list of names, one per key part")
    try:
        return MetricConf(map=str(m["map"]), name=str(m.get("name", "")), help=str(m.get("help", "")),
                          labels=[str(x) for x in labels], multiplier=float(m.get("multiplier", 1.0)),
                          stack_label=bool(m.get("stack_label", False)),
                          max_series=int(m.get("max_series", 10_000)))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
