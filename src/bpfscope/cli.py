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
    bpfscope tools | bpfscope <tool> [BCC options]           (BCC's tools: opensnoop, runqlat, profile, ...)
    bpfscope triage [-d SECONDS] [--html F] [--json F]       (60-second analysis + BCC checklist + USE)
    bpfscope export [--listen HOST:PORT] -e 'program'        (Prometheus / OTLP metrics, Pyroscope / Parca)
    bpfscope bcc SCRIPT [ARGS]                                (an unchanged BCC Python tool script)

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
    --include FILE add an #include for all clang parsing
    -k             emit a warning when a bpf helper returns an error
    --test         run the test: probes and report which pass
    --bench        run the bench: probes and report their average time
    --test-mode MODE  the same as --test (MODE test) or --bench (MODE bench)
    --probe-filter REGEX  run only the probes whose names match (begin/end always run)
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
                   "kretfunc": "fexit", "it": "iter"}


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
        self.named: dict[str, str | None] = {}   # -- --name=value (getopt)
        self.mode = ""                    # "test" | "bench"
        self.probe_filter = ""            # --probe-filter REGEX: attach only matching probes (+ begin/end)
        self.includes: list[str] = []     # --include FILE: as if the program began with #include <FILE>
        self.exit_dump: Any = None  # set for -f folded/pprof: replaces the exit-time map dump


class UsageError(Exception):
    pass


class OptionError(UsageError):
    """A bad option value: bpftrace prints only the message, not the usage."""


PID_MAX_LIMIT = 4194304  # the kernel's upper bound for pid_max, the range bpftrace checks


def _parse_pid(text: str) -> int:
    """-p PID with bpftrace 0.26's checks and messages (leading digits, then nothing else)."""
    import re

    m = re.match(r"[0-9]+", text)
    if m is None:
        raise OptionError(f"Failed to parse pid: invalid integer: {text}")
    if m.end() != len(text):
        raise OptionError(f"Failed to parse pid: invalid trailing bytes: {text}")
    pid = int(text)
    if not 1 <= pid <= PID_MAX_LIMIT:
        raise OptionError(f"Pid out of range: {pid}")
    return pid


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
                    name, eq, val = x[2:].partition("=")
                    o.named[name] = val if eq else None   # `--flag` alone: a bool set true
                else:
                    rest.append(x)
            break
        if a == "-e":
            o.program = value()
            if "\n" not in o.program and os.path.isfile(o.program):   # `-e x.bt`: 0.26's hint
                sys.stderr.write(f"WARNING: It appears that '{o.program}' is a filename; did you intend to use "
                                 "the script file? Try removing the -e option.\n")
        elif a == "-l":
            o.listing = True
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                o.list = value()
        elif a == "-c":
            o.cmd = value()
        elif a == "-p":
            o.pid = _parse_pid(value())
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
        elif a == "--test-mode" or a.startswith("--test-mode="):   # bpftrace's spelling of the same
            mode = a.partition("=")[2] if "=" in a else value()
            if mode not in ("test", "bench"):
                raise UsageError(f"invalid test mode: {mode} (expected test or bench)")
            o.mode = mode
        elif a == "--include" or a.startswith("--include="):
            o.includes.append(a.partition("=")[2] if "=" in a else value())
        elif a == "--probe-filter" or a.startswith("--probe-filter="):
            o.probe_filter = a.partition("=")[2] if "=" in a else value()
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


def _is_tool(name: str) -> bool:
    """`bpfscope execsnoop ...`: a BCC-style tool (src/bpfscope/tools/), unless a file of that name is here."""
    from .tools.registry import is_tool

    return is_tool(name) and not os.path.isfile(name)


def _is_number(s: str) -> bool:
    try:
        int(s, 0)
        return True
    except ValueError:
        return False


_INSPECT_OBJECTS = {"prog", "map", "btf", "link", "net", "cgroup"}
_INSPECT_GLOBALS = {"-j", "--json", "-p", "--pretty", "-f", "--bpffs"}


def _inspect_argv(argv: list[str]) -> bool:
    """bpftool's global options may come before the object: `bpfscope -j prog show`."""
    for a in argv:
        if a in _INSPECT_OBJECTS:
            return True
        if a not in _INSPECT_GLOBALS and not (len(a) > 1 and a[0] == "-" and set(a[1:]) <= set("jpf")):
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in INSPECT or _inspect_argv(argv)):
        from .inspect.cli import main as inspect_main

        return int(inspect_main(argv))
    if argv and argv[0] == "export":        # Prometheus/Pyroscope/Parca exporter (export/cli.py)
        from .export.cli import main as export_main

        return int(export_main(argv[1:]))
    if argv and argv[0] == "bcc":           # unchanged BCC tool scripts (bcc/run.py)
        from .bcc.run import main as bcc_main

        return int(bcc_main(argv[1:]))
    if argv and argv[0] == "triage":        # 60-second analysis + BCC checklist + USE (triage/cli.py)
        from .triage.cli import main as triage_main

        return int(triage_main(argv[1:]))
    if argv and argv[0] in FLAME:
        from .flame import cli as flame_cli

        rest = ["--help"] if argv[1:2] == ["help"] else argv[1:]
        return int(getattr(flame_cli, FLAME[argv[0]])(rest))
    if argv and (argv[0] == "tools" or _is_tool(argv[0])):   # BCC-style tools (src/bpfscope/tools/)
        from .tools import dispatch

        return dispatch.main(argv)
    try:
        opts = parse_args(argv)
    except UsageError as e:
        if str(e):
            sys.stderr.write(f"ERROR: {e}\n")
            if not isinstance(e, OptionError):
                sys.stderr.write(USAGE)
            return 1
        sys.stdout.write(USAGE)
        return 0
    if opts.version:
        from . import __version__

        print(f"bpfscope v{__version__} (bpftrace v0.26 language)")
        return 0
    source = None
    if not (opts.info or opts.listing):
        source = _read_source(opts)
        if source is None:
            sys.stderr.write(USAGE)
            return 1
    from .privilege import denied_message, is_denied, privileged

    if not privileged():  # as bpftrace: refuse up front rather than fail half-way or list nothing
        sys.stderr.write(f"ERROR: {denied_message()}\n")
        return 1
    try:
        if opts.info:
            return _info()
        if opts.listing:
            return _list(opts)
        assert source is not None
        return _run(source, opts)
    except OSError as e:  # privilege, or I/O the layers below let through (e.g. -o to /proc): a message
        if is_denied(e):
            msg = denied_message(e)
        else:
            msg = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else (e.strerror or str(e))
        sys.stderr.write(f"ERROR: {msg}\n")
        return 1


def _run(source: str, opts: Options) -> int:
    if opts.cmd is not None:
        err = _check_command(opts.cmd)
        if err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 1
    if opts.fmt in ("folded", "pprof"):
        from .export.exit_dump import prepare

        err = prepare(opts)
        if err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 1
    from .runtime.runner import run

    return run(source, opts)


def _check_command(cmd: str) -> str | None:
    """`-c CMD` must name an executable before anything is attached (bpftrace's message)."""
    import shlex
    import shutil

    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        return f"Failed to fork child: cannot parse command '{cmd}': {e}"
    if not argv:
        return "-c requires a command"
    prog = argv[0]
    path = prog if "/" in prog else shutil.which(prog)
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        return f"Failed to fork child: path '{prog}' does not exist or is not executable"
    return None


_MAX_SCRIPT = 16 << 20


def _read_source(opts: Options) -> str | None:
    if opts.program is not None:
        return opts.program
    if opts.filename == "stdin" and not opts.args:
        return None
    if opts.filename == "-":
        opts.filename = "stdin"
        return sys.stdin.read()
    try:
        with open(opts.filename, "rb") as f:
            data = f.read(_MAX_SCRIPT + 1)
    except OSError as e:
        sys.stderr.write(f"ERROR: failed to open file '{opts.filename}': {e.strerror}\n")
        raise SystemExit(1) from None
    if len(data) > _MAX_SCRIPT:  # /dev/zero, a disk image: never a script
        sys.stderr.write(f"ERROR: failed to read file '{opts.filename}': larger than {_MAX_SCRIPT >> 20} MiB\n")
        raise SystemExit(1)
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        sys.stderr.write(f"ERROR: failed to read file '{opts.filename}': not UTF-8 text ({e.reason} "
                         f"at byte {e.start})\n")
        raise SystemExit(1) from None


def _info() -> int:
    from .kernel import features

    print("\n".join(features.info_lines() + features.unavailable_lines()))
    return 0


# probe types a wildcard or a bare word on the probe type searches (those with a kernel listing)
_KERNEL_LISTED = ("tracepoint", "rawtracepoint", "software", "hardware", "interval", "profile")
_PERF_LISTED = ("software", "hardware", "interval", "profile")   # listed without their count/rate


def _list(opts: Options) -> int:
    """-l: probes matching a search, the probes a script would attach (`-l -e PROG`, `-l FILE`),
    or kernel types (`-l 'struct task_struct'`, definitions with -v)."""
    from .runtime.probes.typelist import is_type_name

    if opts.program is not None or (opts.list and os.path.isfile(opts.list)):
        return _list_script(opts)
    pattern = (opts.list or "*").strip()
    if is_type_name(pattern):
        return _list_types([pattern, *[a for a in opts.args if is_type_name(a)]], opts.verbose)
    if "." in pattern and not any(c in pattern for c in ":*"):   # 0.26's main.cpp
        sys.stderr.write(f"WARNING: It appears that '{pattern}' is a filename but the file does not exist. "
                         f"Treating '{pattern}' as a search pattern.\n")
    out = _list_search(pattern, opts.verbose, opts.pid)
    if isinstance(out, int):
        return out
    sys.stdout.write("".join(f"{x}\n" for x in out))
    return 0


def _list_types(searches: list[str], verbose: bool) -> int:
    from .runtime.probes.typelist import listing

    for search in searches:
        sys.stdout.write("".join(f"{x}\n" for x in listing(search.strip(), verbose)))
    return 0


def _list_script(opts: Options) -> int:
    """Every attach point of the script, listed as its own search (bpftrace lists them in order)."""
    from .lang.bpftrace.parser import parse
    from .lang.diagnostics import CompileError, Source

    if opts.program is not None:
        text, name = opts.program, "stdin"
    else:
        assert opts.list is not None
        name = opts.list
        try:
            with open(name) as f:
                text = f.read()
        except OSError as e:
            sys.stderr.write(f"ERROR: failed to open file '{name}': {e.strerror}\n")
            return 1
    try:
        prog = parse(text, name)
    except CompileError as e:
        sys.stderr.write(Source(text, name).error(e))
        return 1
    out: list[str] = []
    for probe in prog.probes:
        for ap in probe.attach_points:
            if ap.provider in ("begin", "end", "self", "test", "bench"):
                continue
            parts = ap.parts[:1] + [""] if ap.provider in _PERF_LISTED else ap.parts   # `interval:s:`
            got = _list_search(":".join([ap.provider, *parts]), opts.verbose, opts.pid)
            if isinstance(got, int):
                return got
            out += got
    sys.stdout.write("".join(f"{x}\n" for x in out))
    return 0


def _list_search(pattern: str, verbose: bool, pid: int = -1) -> list[str] | int:
    """The probes one search matches (output lines), or an exit status after an error message."""
    from .kernel.tracefs import glob_match
    from .runtime.probes import provider

    head, _, tail = pattern.partition(":")

    if not tail:   # a bare word (or `*`): every provider with a kernel listing
        provs = list(_KERNEL_LISTED)
        search = pattern
    else:
        prov = SHORT_PROVIDERS.get(head, head)
        provs = [p for p in _KERNEL_LISTED if glob_match(p, prov)] if _is_glob(prov) else [prov]
        search = tail or "*"
    out: list[str] = []
    for p in provs:
        mod = provider(p)
        if mod is None or not hasattr(mod, "listing"):
            continue
        try:
            items = (mod.listing(search, p, verbose, pid=pid) if p in ("uprobe", "uretprobe")
                     else mod.listing(search, p, verbose))
        except OSError as e:
            sys.stderr.write(f"ERROR: cannot list {p} probes: {e.strerror or e}\n")
            return 1
        except Exception as e:  # provider-specific failures become messages
            from .kernel.elf import ElfError
            from .lang.diagnostics import CompileError

            if isinstance(e, CompileError):
                sys.stderr.write(f"ERROR: {e.message}\n")
                return 1
            if isinstance(e, ElfError):  # `-l uprobe:/etc/passwd:*`
                sys.stderr.write(f"ERROR: {e}\n")
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
    return out


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def entry(argv: list[str] | None = None) -> None:
    """Console entry point: run, flush, run atexit handlers, then leave without the
    interpreter's teardown (module GC costs milliseconds that startup benchmarks see).
    Every fd we hold is closed by then; the kernel releases anything left with the process."""
    import atexit
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the run loop took over: quiet, as a shell expects
        code = 130
    except BrokenPipeError:    # `bpfscope tools | head`: the reader left; stop quietly, as a pipe expects
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        code = 141
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    atexit._run_exitfuncs()
    os._exit(code if isinstance(code, int) else 1)
