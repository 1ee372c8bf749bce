"""CLI fuzz (issue 17): every subcommand and option with malformed values ends in exit 0, 1 or 2
(or bpftool's 255/234) with an `ERROR:`/`Error:` line, never a traceback.

Commands come from a grammar of what each subcommand accepts; hypothesis fills the slots
with malformed ids, paths, numbers, patterns and formats, and cuts commands short (missing
arguments). As root, each example runs in a fork of this process that has already imported
the CLI and calls `bpfscope.cli.main(argv)` with fresh stdio, as `python -m bpfscope` does:
a few hundred interpreter starts would take minutes on a shared two-core machine. A smaller
sample runs the real thing (`sys.executable -m bpfscope`), and one as an unprivileged user.
The `long` mark selects a bigger run (`pytest -m long tests/e2e/test_cli_fuzz.py`).
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import tempfile
import time
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import bpfscope, needs_root
from tests.e2e.unpriv import run_unprivileged

EXAMPLE_TIMEOUT = 60.0
ERROR_LINE = re.compile(r"(^|: )(ERROR|Error|error)\b|^WARNING\b|^[^:\n]+:\d+:\d+", re.M)
OK_CODES = {0, 1, 2, 234, 255}

# ------------------------------------------------------------------ malformed values
_ids = st.one_of(st.sampled_from(["abc", "12x", "-1", "0x", "", "1e3", "٣", "99999999999999999999", "0",
                                  "1 2", "0x1g", "+5", "4294967296", " 7", "0b101", "1_0", "--"]),
                 st.integers(-2**70, 2**70).map(str), st.text(max_size=8))
_paths = st.one_of(st.sampled_from(["/nonexistent/x", "/", "/etc/passwd", "/proc/self/status", "", "-",
                                    "/dev/null", "/sys/fs/bpf", "relative", "a" * 5000, "/sys/fs/bpf/nope",
                                    "/sys/kernel/btf/vmlinux", "/proc", "/dev/zero", "~", "*"]),
                   st.text(max_size=12))
_nums = st.one_of(st.sampled_from(["-5", "abc", "0x", "1e9", "99999999999999999999999", "", "0", "-0",
                                   "4294967295", "18446744073709551616", "0x10", "inf", "nan", "1.5"]),
                  st.integers(-2**70, 2**70).map(str))
_words = st.one_of(st.sampled_from(["", "x", "hash", "xdp", "c", "raw", "json", "text", "key", "value",
                                    "id", "name", "pinned", "tag", "help", "-h", "lo", "nosuchdev", "all",
                                    "perf", "bpftrace", "any", "effective", "multi", "cgroup_inet_ingress"]),
                   st.text(max_size=10))
_patterns = st.one_of(st.sampled_from(["*", "", ":", "::::", "tracepoint:", "kprobe:*", "{", "[", "}{",
                                       "uprobe:/nonexistent:*", "usdt:/bin/true:*", "t:syscalls:*open*",
                                       "rawtracepoint:*", "software:*", "hardware:*", "fentry:vfs_*",
                                       "tracepoint:sched:{a,b", "*:*:*:*", "u:/etc/passwd:main", "[!a]"]),
                      st.text(max_size=12))
_formats = st.one_of(st.sampled_from(["text", "json", "folded", "pprof", "", "xml", "JSON"]), st.text(max_size=6))
_bytes = st.lists(st.one_of(_nums, st.sampled_from(["hex", "ff", "0xff", "256", "zz"])), max_size=10)

SLOTS = {"ID": _ids, "PATH": _paths, "NUM": _nums, "WORD": _words, "PAT": _patterns, "FMT": _formats}

OK_PROG = "BEGIN { exit(); }"
# Each template: fixed words and slots; BYTES expands to a list of byte words.
TEMPLATES: list[list[str]] = [
    ["prog", "show", "WORD", "ID"], ["prog", "list", "id", "ID"], ["prog", "show", "pinned", "PATH"],
    ["prog", "show", "name", "WORD"], ["prog", "show", "tag", "WORD"],
    ["prog", "dump", "WORD", "id", "ID", "WORD"], ["prog", "dump", "xlated", "id", "ID", "file", "PATH"],
    ["prog", "dump", "jited", "pinned", "PATH", "opcodes"], ["prog", "dump", "xlated", "name", "WORD", "visual"],
    ["prog", "pin", "id", "ID", "PATH"], ["prog", "run", "id", "ID", "data_in", "PATH", "repeat", "NUM"],
    ["prog", "run", "name", "WORD", "WORD", "PATH", "WORD", "NUM"],
    ["prog", "load", "PATH", "PATH", "type", "WORD"], ["prog", "loadall", "PATH", "PATH", "pinmaps", "PATH"],
    ["prog", "load", "PATH", "PATH", "map", "WORD", "WORD", "id", "ID"], ["prog", "WORD", "WORD"],
    ["map", "show", "id", "ID"], ["map", "dump", "id", "ID"], ["map", "dump", "pinned", "PATH"],
    ["map", "dump", "name", "WORD"], ["map", "lookup", "id", "ID", "key", "BYTES"],
    ["map", "update", "id", "ID", "key", "BYTES", "value", "BYTES", "WORD"],
    ["map", "delete", "id", "ID", "key", "hex", "BYTES"], ["map", "getnext", "id", "ID", "key", "BYTES"],
    ["map", "pin", "id", "ID", "PATH"], ["map", "freeze", "id", "ID"],
    ["map", "create", "PATH", "type", "WORD", "key", "NUM", "value", "NUM", "entries", "NUM", "name", "WORD",
     "flags", "NUM"], ["map", "WORD", "WORD", "ID"],
    ["btf", "show", "id", "ID"], ["btf", "list", "WORD"], ["btf", "dump", "id", "ID", "format", "WORD"],
    ["btf", "dump", "file", "PATH", "format", "WORD"], ["btf", "dump", "map", "id", "ID", "WORD"],
    ["btf", "dump", "prog", "id", "ID"], ["btf", "dump", "WORD", "WORD"],
    ["link", "show", "id", "ID"], ["link", "show", "pinned", "PATH"], ["link", "pin", "id", "ID", "PATH"],
    ["link", "detach", "id", "ID"], ["link", "WORD", "WORD", "ID"],
    ["net", "show", "dev", "WORD"], ["net", "list", "WORD"], ["net", "attach", "WORD", "id", "ID", "dev", "WORD"],
    ["net", "attach", "xdpgeneric", "pinned", "PATH", "dev", "lo", "WORD"], ["net", "detach", "WORD", "dev", "WORD"],
    ["cgroup", "show", "PATH", "WORD"], ["cgroup", "tree", "PATH"], ["cgroup", "list", "PATH", "effective"],
    ["cgroup", "attach", "PATH", "WORD", "id", "ID", "WORD"], ["cgroup", "detach", "PATH", "WORD", "pinned", "PATH"],
    ["-j", "prog", "show", "id", "ID"], ["-p", "map", "dump", "id", "ID"], ["--json", "link", "show", "WORD"],
    ["-f", "prog", "show", "WORD", "ID"], ["-jp", "btf", "show", "id", "ID"],
    ["bpflist", "WORD"], ["reset-trace", "WORD"],
    ["flamegraph", "PATH"], ["flamegraph", "--width", "NUM", "PATH"], ["flamegraph", "--minwidth", "NUM", "PATH"],
    ["flamegraph", "WORD", "PATH"], ["stackcollapse", "WORD", "PATH"], ["difffolded", "PATH", "PATH"],
    ["difffolded", "WORD", "PATH", "PATH"],
    ["-l", "PAT"], ["-lv", "PAT"], ["-l", "PAT", "-p", "NUM"], ["-p", "NUM", "-e", OK_PROG],
    ["-f", "FMT", "-e", OK_PROG], ["-B", "WORD", "-e", OK_PROG], ["-o", "PATH", "-e", OK_PROG],
    ["-c", "PATH", "-e", OK_PROG], ["-c", "WORD", "-e", OK_PROG], ["PATH"], ["PATH", "WORD", "NUM"],
    ["-e", OK_PROG, "--", "--WORD=NUM"],
    ["-f", "FMT", "-o", "PATH", "-e", "profile:hz:99 { @[ustack] = count(); exit(); }"],
    ["--info", "WORD"], ["-e"], ["-k", "-e", OK_PROG, "WORD"], ["WORD", "-e", OK_PROG], ["-d", "-e", "WORD"],
    ["--dry-run", "-e", OK_PROG, "-c", "WORD"], ["-q", "-p", "NUM", "-l", "PAT"],
]


@st.composite
def commands(draw: st.DrawFn) -> list[str]:
    tpl = draw(st.sampled_from(TEMPLATES))
    argv: list[str] = []
    for word in tpl:
        if word == "BYTES":
            argv.extend(draw(_bytes))
        elif word in SLOTS:
            argv.append(draw(SLOTS[word]))
        else:
            argv.append(word)
    cut = draw(st.integers(1, len(argv)))        # missing arguments
    argv = argv[:cut] if draw(st.booleans()) else argv
    return [a.replace("\0", "") for a in argv]


def check(argv: list[str], rc: int, out: str, err: str) -> None:
    """The fuzz oracle: a known exit status, a message when it fails, never a traceback."""
    assert "Traceback" not in err, f"{argv!r}\n{err}"
    assert rc in OK_CODES, f"{argv!r}: exit {rc}\n{err}"
    if rc not in (0,):
        assert ERROR_LINE.search(err) or '"error"' in out or "usage" in (err + out).lower(), \
            f"{argv!r}: exit {rc} without an error line\nstdout={out[-400:]!r}\nstderr={err[-800:]!r}"


# ------------------------------------------------------------------ fork runner
def _preload() -> None:
    """Import what the CLI imports lazily, so each fork starts warm."""
    import bpfscope.cli  # noqa: F401
    import bpfscope.flame.cli  # noqa: F401
    import bpfscope.inspect.cli  # noqa: F401
    import bpfscope.runtime.runner  # noqa: F401


def run_forked(argv: list[str]) -> tuple[int, str, str]:
    """`bpfscope ARGV` in a fork of this process: stdio on fresh files, cwd a scratch directory."""
    from bpfscope.cli import main

    with tempfile.TemporaryDirectory(prefix="bpfscope-fuzz-") as d:
        out_p, err_p = os.path.join(d, "out"), os.path.join(d, "err")
        pid = os.fork()
        if pid == 0:  # child: never returns into pytest
            code = 70
            try:
                os.chdir(d)
                os.setsid()
                for fd, path, mode in ((0, "/dev/null", os.O_RDONLY), (1, out_p, os.O_WRONLY | os.O_CREAT),
                                       (2, err_p, os.O_WRONLY | os.O_CREAT)):
                    nfd = os.open(path, mode, 0o644)
                    os.dup2(nfd, fd)
                    os.close(nfd)
                sys.stdin = open(0, closefd=False)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                try:
                    code = main(list(argv))
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                for f in (sys.stdout, sys.stderr):
                    try:
                        f.flush()
                    except Exception:
                        pass
            finally:
                os._exit(code if isinstance(code, int) else 1)
        deadline = time.monotonic() + EXAMPLE_TIMEOUT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"{argv!r} did not end within {EXAMPLE_TIMEOUT}s")
            select.select([], [], [], 0.02)
        rc = os.waitstatus_to_exitcode(status)
        with open(out_p, errors="replace") as f_out, open(err_p, errors="replace") as f_err:
            return rc, f_out.read(), f_err.read()


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


FORK_EXAMPLES, REAL_EXAMPLES, UNPRIV_EXAMPLES = 300, 25, 40


@needs_root
@_settings(FORK_EXAMPLES)
@given(argv=commands())
def test_fuzz_cli_as_root(argv: list[str]) -> None:
    _preload()
    check(argv, *run_forked(argv))


@needs_root
@_settings(REAL_EXAMPLES)
@given(argv=commands())
def test_fuzz_cli_real_interpreter(argv: list[str]) -> None:
    r = bpfscope(*argv, timeout=EXAMPLE_TIMEOUT, input="")
    check(argv, r.returncode, r.stdout, r.stderr)


@needs_root  # drops privileges itself
@_settings(UNPRIV_EXAMPLES)
@given(argv=commands())
def test_fuzz_cli_unprivileged(argv: list[str]) -> None:
    r = run_unprivileged(*argv, timeout=EXAMPLE_TIMEOUT, input="")
    check(argv, r.returncode, r.stdout, r.stderr)


@pytest.mark.long
@needs_root
@settings(max_examples=5000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(argv=commands())
def test_fuzz_cli_as_root_long(argv: list[str]) -> None:
    _preload()
    check(argv, *run_forked(argv))


@pytest.mark.long
@needs_root
@settings(max_examples=500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(argv=commands())
def test_fuzz_cli_unprivileged_long(argv: list[str]) -> None:
    r = run_unprivileged(*argv, timeout=EXAMPLE_TIMEOUT, input="")
    check(argv, r.returncode, r.stdout, r.stderr)
