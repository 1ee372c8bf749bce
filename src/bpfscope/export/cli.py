"""``bpfscope export``: serve bpftrace programs' maps as Prometheus metrics, push stacks to
Pyroscope.

    bpfscope export --listen 127.0.0.1:9436 -e 'tracepoint:block:block_rq_complete { @ios[args->rwbs] = count(); }'
    bpfscope export --config /etc/bpfscope/export.yaml
    bpfscope export --pyroscope http://127.0.0.1:4040 --app host.cpu \
        -e 'profile:hz:49 { @[kstack, ustack, comm] = count(); }'

Maps are read at each scrape (nothing is copied between scrapes). SIGHUP reloads the
config (new programs are attached before the old ones are closed, so a scrape during a
reload sees one or the other); SIGINT/SIGTERM detach everything and exit 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any, NoReturn

USAGE_EXAMPLES = """examples:
  bpfscope export -e 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'
  bpfscope export --listen 0.0.0.0:9436 --config /etc/bpfscope/export.yaml
  bpfscope export --pyroscope http://127.0.0.1:4040 --app host.cpu \\
      -e 'profile:hz:49 { @[kstack, ustack, comm] = count(); }'
  bpfscope export --listen none --otlp http://127.0.0.1:4318 --app web1 -e '...'
  curl -s 127.0.0.1:9436/metrics
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:      # argparse's status 2, our one-line form
        sys.stderr.write(f"ERROR: {message}\n")
        self.print_usage(sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpfscope export", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Export bpftrace programs' maps as Prometheus metrics and stack maps as "
                            "Pyroscope profiles.", epilog=USAGE_EXAMPLES)
    p.add_argument("script", nargs="?", help="a bpftrace script file")
    p.add_argument("-e", dest="program", metavar="PROGRAM", help="program text")
    p.add_argument("--tool", metavar="'TOOL [OPTIONS]'", help="export a bpfscope tool's maps, e.g. 'runqlat -m'")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON file with programs and metric names")
    p.add_argument("--listen", metavar="HOST:PORT", help="where /metrics is served (default 127.0.0.1:9436); "
                   "'none' serves nothing (push only)")
    p.add_argument("--prefix", default=None, help="metric name prefix (default bpfscope_)")
    p.add_argument("--label", action="append", default=[], metavar="NAME=VALUE",
                   help="static label on every series (repeatable)")
    p.add_argument("--max-series", type=int, default=10_000, metavar="N",
                   help="series per metric before the rest are dropped and counted")
    p.add_argument("--pyroscope", metavar="URL", help="push stack maps to this Pyroscope server (/ingest)")
    p.add_argument("--parca", metavar="URL", help="push stack maps to this Parca server (/profiles/writeraw)")
    p.add_argument("--otlp", metavar="URL", help="push the metrics to an OpenTelemetry Collector "
                   "(OTLP/HTTP protobuf, URL/v1/metrics)")
    p.add_argument("--push-format", choices=("folded", "pprof"), default="folded",
                   help="Pyroscope upload format (Parca always takes pprof)")
    p.add_argument("--app", default="bpfscope", help="Pyroscope application name")
    p.add_argument("--interval", type=float, default=10.0, metavar="SECONDS", help="push interval")
    p.add_argument("--push-queue", type=int, default=32, metavar="N",
                   help="profiles kept for retry while the server is down; older ones are dropped and counted")
    p.add_argument("-q", action="store_true", dest="quiet", help="no start-up message")
    return p


def main(argv: list[str]) -> int:
    if argv[:1] == ["help"]:
        argv = ["--help"]
    args = build_parser().parse_args(argv)
    from ..privilege import denied_message, privileged

    if not privileged():
        sys.stderr.write(f"ERROR: {denied_message()}\n")
        return 1
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        sys.stderr.write("ERROR: bpfscope export needs prometheus_client: pip install 'bpfscope[export]'\n")
        return 1
    from .config import ConfigError, ExportConf, ProgramConf, load
    from .promcollect import MetricConf

    try:
        conf = _conf(args, load, ExportConf, ProgramConf, MetricConf)
    except ConfigError as e:
        sys.stderr.write(f"ERROR: {e}\n")
        return 1
    if conf is None:
        sys.stderr.write("ERROR: give a program (-e 'PROGRAM' or a script file), --tool 'TOOL [OPTIONS]' "
                         "or --config FILE\n")
        return 1
    return Exporter(args, conf).run()


def _conf(args: argparse.Namespace, load: Any, ExportConf: Any, ProgramConf: Any, MetricConf: Any) -> Any:
    from .config import ConfigError

    labels: dict[str, str] = {}
    for item in args.label:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"--label takes NAME=VALUE, not {item!r}")
        labels[k] = v
    if args.config:
        conf = load(args.config)
    elif args.tool:
        from .config import tool_program

        name, _, rest = args.tool.strip().partition(" ")
        source, filename = tool_program(name, rest)
        conf = ExportConf(programs=[ProgramConf(name=name, source=source, filename=filename)])
    elif args.program is not None or args.script:
        if args.program is not None:
            source, filename = args.program, "stdin"
        else:
            try:
                with open(args.script) as f:
                    source = f.read()
            except OSError as e:
                raise ConfigError(f"failed to open file '{args.script}': {e.strerror}") from None
            filename = args.script
        conf = ExportConf(programs=[ProgramConf(name="", source=source, filename=filename)])
    else:
        return None
    for pc in conf.programs:
        pc.labels = {**labels, **pc.labels}
        if not pc.metrics:
            pc.metrics["*"] = MetricConf("*", max_series=args.max_series)
        for mc in pc.metrics.values():
            if args.max_series != 10_000:
                mc.max_series = args.max_series
    if args.listen:
        conf.listen = args.listen
    if args.prefix is not None:
        conf.prefix = args.prefix
    for kind in ("pyroscope", "parca", "otlp"):
        url = getattr(args, kind)
        if url:
            conf.push.append({"kind": kind, "url": url, "app": args.app, "interval": args.interval,
                              "queue": args.push_queue, "format": args.push_format, "labels": labels})
    return conf


class Exporter:
    def __init__(self, args: argparse.Namespace, conf: Any) -> None:
        from .promcollect import ProgramCollector
        from .promhealth import Health

        self.args = args
        self.conf = conf
        self.collector = ProgramCollector(conf.prefix)
        self.health = Health(collector=self.collector)
        self.stop = False
        self.reload = False
        self.pushers: list[Any] = []
        self.running: list[tuple[Any, Any]] = []

    # ------------------------------------------------------------------ programs
    def _start(self, pc: Any) -> Any:
        """Compile, load, attach one program; None (counted, said on stderr) when it fails."""
        from ..lang.diagnostics import CompileError
        from ..runtime.program import BpfscopeError, Program

        prog = Program(pc.source, filename=pc.filename, out=sys.stdout)
        try:
            prog.compile()
            prog.load()
            prog.attach()
            prog.run_special("begin")
        except CompileError as e:
            sys.stderr.write(prog.source.error(e))
        except (BpfscopeError, OSError) as e:
            sys.stderr.write(f"ERROR: {getattr(e, 'strerror', None) or e}\n")
        else:
            return prog
        self.health.load_failures += 1
        prog.close()
        return None

    def _start_all(self) -> list[tuple[Any, Any]]:
        started = []
        for pc in self.conf.programs:
            prog = self._start(pc)
            if prog is not None:
                started.append((pc, prog))
        return started

    def _reload(self) -> None:
        from .config import ConfigError, load

        self.reload = False
        if not self.args.config:
            return
        try:
            new_conf = load(self.args.config)
        except ConfigError as e:
            sys.stderr.write(f"ERROR: reload kept the running programs: {e}\n")
            return
        self.conf.programs = new_conf.programs
        fresh = self._start_all()
        if not fresh:
            sys.stderr.write("ERROR: reload kept the running programs: no new program started\n")
            return
        old = list(self.running)
        with self.collector.lock:
            self.collector.sources = [(p, pc.metrics, pc.labels) for pc, p in fresh]
        self.running = fresh
        self.health.programs = [p for _pc, p in fresh]
        for _pc, p in old:
            p.close()
        sys.stderr.write(f"bpfscope export: reloaded {len(fresh)} program(s)\n")

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        from prometheus_client import CollectorRegistry

        from .promhealth import HealthCollector

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        server = None
        try:
            self.running = self._start_all()
            if not self.running:
                return 1
            for pc, p in self.running:
                self.collector.add(p, pc.metrics, pc.labels)
            self.health.programs = [p for _pc, p in self.running]
            self.pushers = [_pusher(target, self.collector) for target in self.conf.push]
            self.health.pushers.extend(self.pushers)
            where = "no /metrics (push only)"
            if self.conf.listen != "none":
                from .httpserve import serve

                host, port = _host_port(self.conf.listen)
                health = CollectorRegistry(auto_describe=False)
                health.register(HealthCollector(self.health))
                try:
                    server = serve(host, port, self.collector, health)
                except OSError as e:
                    sys.stderr.write(f"ERROR: cannot listen on {self.conf.listen}: {e.strerror or e}\n")
                    return 1
                where = f"http://{self.conf.listen}/metrics"
            if not self.args.quiet:
                sys.stderr.write(f"bpfscope export: {len(self.running)} program(s) attached, serving {where}\n")
                sys.stderr.flush()
            self._loop()
            return 0
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            for _pc, p in self.running:
                p.close()

    def _loop(self) -> None:
        interval = min((float(t.get("interval", 10.0)) for t in self.conf.push), default=0.0)
        next_push = time.monotonic() + interval
        while not self.stop:
            if self.reload:
                self._reload()
            progs = [p for _pc, p in self.running]
            for p in progs:
                p.poll(0.25 / max(1, len(progs)))
                p.report_lost()
            if self.pushers and time.monotonic() >= next_push:
                self._push(progs)
                next_push = time.monotonic() + interval
        self._push([p for _pc, p in self.running])

    def _push(self, progs: list[Any]) -> None:
        for pusher in self.pushers:
            with self.collector.lock:
                pusher.snapshot(progs)
            pusher.flush()

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stop = True

    def _on_hup(self, signum: int, frame: Any) -> None:
        self.reload = True


def _pusher(target: dict[str, Any], collector: Any) -> Any:
    from .profilepush import ParcaPusher, PyroscopePusher

    labels = {str(k): str(v) for k, v in (target.get("labels") or {}).items()}
    common = {"queue": int(target.get("queue", 32))}
    if target.get("kind") == "otlp":
        from .otlp import OtlpPusher

        return OtlpPusher(str(target["url"]), [collector], str(target.get("app", "bpfscope")), **common)
    if target.get("kind", "pyroscope") == "parca":
        return ParcaPusher(str(target["url"]), str(target.get("app", "bpfscope")), labels, **common)
    return PyroscopePusher(str(target["url"]), str(target.get("app", "bpfscope")), labels,
                           fmt=str(target.get("format", "folded")), **common)


def _host_port(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", listen
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        sys.stderr.write(f"ERROR: --listen takes HOST:PORT, not {listen!r}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":   # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
