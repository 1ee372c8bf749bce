"""`bpfscope` command line: bpftrace's options for programs, plus subcommands for the
inspection (`prog`, `map`, `btf`, …) and flame-graph front ends.

Everything heavy is imported after the arguments are parsed, so `-V` and error paths
stay fast; every failure ends as a plain message and a bpftrace exit status.
"""

from __future__ import annotations

import os
import sys
from typing import Any

USAGE = """USAGE:
    bpfscope [options] filename
    bpfscope [options] - <stdin input>
    bpfscope [options] -e 'program'
    bpfscope prog|map|btf|link|net|bpflist|reset-trace ...   (bpftool-style inspection)
    bpfscope flamegraph|stackcollapse|difffolded ...         (flame graphs)

OPTIONS:
    -B MODE        output buffering mode ('full', 'none', 'line')
    -f FORMAT      output format ('text', 'json'; 'folded', 'pprof' export stack maps at exit)
    -o file        redirect bpfscope output to file
    -e 'program'   execute this program
    -h, --help     show this help message
    -l [search]    list kernel probes
    -p PID         enable USDT probes on PID / filter profile probes to PID
    -c 'CMD'       run CMD and enable USDT probes on resulting process
    -q             keep messages quiet
    --unsafe       allow unsafe/destructive functionality
    --dry-run      compile and load the program, then exit without attaching
    --info         print information about kernel BPF support
    --no-warnings  disable warnings
    -k             emit a warning when a bpf helper returns an error
    --test         run the test: probes and report which pass
    --bench        run the bench: probes and report their average time
    -- --name=VAL  named program parameters, read with getopt("name", default)
    -d             debug: print the AST and the generated instructions
    -v             verbose messages (verifier logs on failure)
    -V, --version  bpfscope version
"""

INSPECT = {"prog", "map", "btf", "link", "net", "bpflist", "reset-trace", "cgroup"}
FLAME = {"flamegraph": "main_flamegraph", "stackcollapse": "main_stackcollapse",
         "difffolded": "main_difffolded"}

SHORT_PROVIDERS = {"t": "tracepoint", "k": "kprobe", "kr": "kretprobe", "u": "uprobe", "ur": "uretprobe",
                   "U": "usdt", "p": "profile", "i": "interval", "s": "software", "h": "hardware",
                   "f": "fentry", "fr": "fexit", "rt": "rawtracepoint", "kfunc": "fentry",
                   "kretfunc": "fexit"}


class Options:
    def __init__(self) -> None:
        self.program: str | None = None
        self.filename = "stdin"
        self.args: list[str] = []
        self.list: str | None = None
        self.listing = False
        self.cmd: str | None = None
        self.pid = -1
        self.quiet = False
        self.out: str | None = None
        self.fmt = "text"
        self.buffering: str | None = None
        self.verbose = False
        self.debug = False
        self.unsafe = False
        self.dry_run = False
        self.info = False
        self.version = False
        self.no_warnings = False
        self.helper_errors = False
        self.named: dict[str, str] = {}   # -- --name=value (getopt)
        self.mode = ""                    # "test" | "bench"
        self.exit_dump: Any = None  # set for -f folded/pprof: replaces the exit-time map dump


class UsageError(Exception):
    pass


_VALUE_FLAGS = "ecpofB"
_BARE_FLAGS = "lqvdkhV"


def _unbundle(argv: list[str]) -> list[str]:
    """getopt-style short options: `-lv` is `-l -v`, `-p123` is `-p 123` (as bpftrace)."""
    out: list[str] = []
    for j, a in enumerate(argv):
        if a == "--":
            out.extend(argv[j:])
            break
        if len(a) > 2 and a[0] == "-" and a[1] != "-" and a != "-dd" and a[1] in _VALUE_FLAGS + _BARE_FLAGS:
            k = 1
            while k < len(a):
                c = a[k]
                if c in _VALUE_FLAGS:
                    out.append("-" + c)
                    if a[k + 1:]:
                        out.append(a[k + 1:])
                    break
                if c not in _BARE_FLAGS:
                    out.append(a[k:] if k > 1 else a)
                    break
                out.append("-" + c)
                k += 1
            continue
        out.append(a)
    return out


def parse_args(argv: list[str]) -> Options:
    o = Options()
    argv = _unbundle(argv)
    i = 0
    rest: list[str] = []

    def value() -> str:
        nonlocal i
        if i + 1 >= len(argv):
            raise UsageError(f"option '{argv[i]}' requires an argument")
        i += 1
        return argv[i]

    while i < len(argv):
        a = argv[i]
        if a == "--":
            for x in argv[i + 1:]:
                if x.startswith("--") and len(x) > 2:
                    name, _, val = x[2:].partition("=")
                    o.named[name] = val
                else:
                    rest.append(x)
            break
        if a == "-e":
            o.program = value()
        elif a == "-l":
            o.listing = True
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                o.list = value()
        elif a == "-c":
            o.cmd = value()
        elif a == "-p":
            try:
                o.pid = int(value())
            except ValueError:
                raise UsageError("pid must be an integer") from None
        elif a == "-q":
            o.quiet = True
        elif a == "-o":
            o.out = value()
        elif a == "-f":
            o.fmt = value()
            if o.fmt not in ("text", "json", "folded", "pprof"):
                raise UsageError(f"Invalid output format \"{o.fmt}\"\n"
                                 "Valid formats: 'text', 'json', 'folded', 'pprof'")
        elif a == "-B":
            o.buffering = value()
            if o.buffering not in ("line", "full", "none"):
                raise UsageError(f"Invalid buffering mode: {o.buffering}")
        elif a in ("-v", "--verbose"):
            o.verbose = True
        elif a in ("-d", "-dd", "--debug"):
            o.debug = True
        elif a == "--unsafe":
            o.unsafe = True
        elif a == "--dry-run":
            o.dry_run = True
        elif a == "--info":
            o.info = True
        elif a in ("-V", "--version"):
            o.version = True
        elif a == "--no-warnings":
            o.no_warnings = True
        elif a == "-k":
            o.helper_errors = True
        elif a in ("--test", "--bench"):
            o.mode = a[2:]
        elif a in ("-h", "--help"):
            raise UsageError("")
        elif a.startswith("-") and a != "-" and not _is_number(a):
            raise UsageError(f"unrecognized option '{a}'")
        else:
            rest.append(a)
        i += 1
    if o.listing and o.list is None and o.program is None and rest:
        o.list = rest.pop(0)
    if o.program is None and not o.listing and rest and not (o.info or o.version):
        o.filename = rest.pop(0)
    o.args = rest
    return o


def _is_number(s: str) -> bool:
    try:
        int(s, 0)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in INSPECT:
        from .inspect.cli import main as inspect_main

        return int(inspect_main(argv))
    if argv and argv[0] in FLAME:
        from .flame import cli as flame_cli

        return int(getattr(flame_cli, FLAME[argv[0]])(argv[1:]))
    try:
        opts = parse_args(argv)
    except UsageError as e:
        if str(e):
            sys.stderr.write(f"ERROR: {e}\n")
        sys.stderr.write(USAGE)
        return 1 if str(e) else 0
    if opts.version:
        from . import __version__

        print(f"bpfscope v{__version__} (bpftrace v0.26 language)")
        return 0
    if opts.info:
        return _info()
    if opts.listing:
        return _list(opts)
    source = _read_source(opts)
    if source is None:
        sys.stderr.write(USAGE)
        return 1
    if opts.fmt in ("folded", "pprof"):
        from .export.exit_dump import prepare

        err = prepare(opts)
        if err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 1
    from .runtime.runner import run

    return run(source, opts)


def _read_source(opts: Options) -> str | None:
    if opts.program is not None:
        return opts.program
    if opts.filename == "stdin" and not opts.args:
        return None
    if opts.filename == "-":
        opts.filename = "stdin"
        return sys.stdin.read()
    try:
        with open(opts.filename) as f:
            return f.read()
    except OSError as e:
        sys.stderr.write(f"ERROR: failed to open file '{opts.filename}': {e.strerror}\n")
        raise SystemExit(1) from None


def _info() -> int:
    from .kernel import features

    print("\n".join(features.info_lines()))
    return 0


def _list(opts: Options) -> int:
    from .runtime.probes import provider

    pattern = opts.list or opts.program or "*"
    pattern = pattern.strip()
    if "{" in pattern and pattern.endswith("}"):
        pattern = pattern[: pattern.index("{")].strip()
    head, _, tail = pattern.partition(":")
    if not tail and pattern != "*":
        provs = ["tracepoint", "rawtracepoint", "software", "hardware"]
        search = pattern
    else:
        prov = SHORT_PROVIDERS.get(head, head)
        provs = [prov] if prov != "*" else ["tracepoint", "rawtracepoint", "software", "hardware"]
        search = tail or "*"
    from .kernel.tracefs import glob_match

    out: list[str] = []
    for p in provs:
        mod = provider(p)
        if mod is None or not hasattr(mod, "listing"):
            continue
        try:
            items = mod.listing(search, p, opts.verbose)
        except OSError as e:
            sys.stderr.write(f"ERROR: cannot list {p} probes: {e.strerror or e}\n")
            return 1
        except Exception as e:  # provider-specific failures become messages
            from .lang.diagnostics import CompileError

            if isinstance(e, CompileError):
                sys.stderr.write(f"ERROR: {e.message}\n")
                return 1
            raise
        full = f"{p}:{search}"
        keep = False
        for x in items:
            if x.startswith(" "):  # -lv detail lines belong to the probe above them
                if keep:
                    out.append(x)
                continue
            keep = (p in ("uprobe", "uretprobe", "usdt") or glob_match(x, full) or glob_match(x, search) or
                    (":" not in pattern and glob_match(x.split(":", 1)[1], "*" + search + "*")))
            if p in ("fentry", "fexit") and not keep:
                keep = glob_match(x.replace(":vmlinux:", ":", 1), full)
            if keep:
                out.append(x)
    sys.stdout.write("".join(f"{x}\n" for x in out))
    return 0



def entry(argv: list[str] | None = None) -> None:
    """Console entry point: run, flush, run atexit handlers, then leave without the
    interpreter's teardown (module GC costs milliseconds that startup benchmarks see).
    Every fd we hold is closed by then; the kernel releases anything left with the process."""
    import atexit

    code = main(argv)
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    atexit._run_exitfuncs()
    os._exit(code if isinstance(code, int) else 1)
