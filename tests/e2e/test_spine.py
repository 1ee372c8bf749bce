"""The spine, end to end: real programs in this kernel, workloads driven by the tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root


def test_count_exact_for_child_workload(workload: Path) -> None:
    r = bpfscope("-e", "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }",
                 "-c", f"{workload} 100000")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "\n\n@: 100000\n"
    assert r.stderr == "Attached 1 probe\n"


def test_hist_text_byte_for_byte() -> None:
    r = bpfscope("-q", "-e", "begin { @ = hist(-1); @ = hist(2); @ = hist(3); @ = hist(7); @ = hist(20); exit(); }")
    assert r.returncode == 0, r.stderr
    # 2 is the max count: it gets the full bar, the 1s get half
    lines = r.stdout.split("\n")
    assert lines[:3] == ["", "", "@:"]
    rows = [ln for ln in lines[3:] if ln]
    labels = [ln.split()[0] for ln in rows]
    assert labels == ["(...,", "[0]", "[1]", "[2,", "[4,", "[8,", "[16,"]
    counts = [int(re.search(r"\s(\d+) \|", ln).group(1)) for ln in rows]  # type: ignore[union-attr]
    assert counts == [1, 0, 0, 2, 1, 0, 1]
    assert rows[3].endswith("|" + "@" * 52 + "|")
    assert rows[0].endswith("|" + "@" * 26 + " " * 26 + "|")
    assert r.stdout.endswith("|\n\n")


def test_delete_arity_diagnostic() -> None:
    r = bpfscope("-e", "BEGIN { @b[1] = 1; delete(@b[1], @b[2], @b[3]); }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:20-47: ERROR: delete() requires one argument (3 provided)\n"
                        "BEGIN { @b[1] = 1; delete(@b[1], @b[2], @b[3]); }\n"
                        "                   ~~~~~~~~~~~~~~~~~~~~~~~~~~~\n")
    assert "Traceback" not in r.stderr


def test_json_map_output() -> None:
    r = bpfscope("-f", "json", "-q", "-e", 'BEGIN { @m["a"] = 2; @m["b"] = 3; exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout == '{"type": "map", "data": {"@m": {"a": 2, "b": 3}}}\n'
    json.loads(r.stdout)


def test_openat_printf_shows_cat_hostname() -> None:
    r = bpfscope("-e", 'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }',
                 "-c", "cat /etc/hostname")
    assert r.returncode == 0, r.stderr
    assert "cat /etc/hostname\n" in r.stdout


def test_aggregations_against_known_workload(workload: Path) -> None:
    prog = ("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c = count(); @s = sum(3); @mn = min(7); "
            "@mx = max(9); @a = avg(4); @st = stats(5); @k[comm] = count(); @l = lhist(5, 0, 10, 5); }")
    r = bpfscope("-f", "json", "-q", "-e", prog, "-c", f"{workload} 1000")
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    by = {}
    for o in out:
        for k, v in o["data"].items():
            by[k] = (o["type"], v)
    assert by["@c"][1] == 1000
    assert by["@s"][1] == 3000
    assert by["@mn"][1] == 7 and by["@mx"][1] == 9
    assert by["@a"][1] == 4
    assert by["@st"][1] == {"count": 1000, "average": 5, "total": 5000}
    assert by["@k"][1] == {"wl": 1000}
    assert by["@l"][0] == "hist"


def test_printf_count_from_ringbuf_and_lost_accounting(workload: Path) -> None:
    r = bpfscope("-q", "-e", 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%d\\n", pid); }',
                 "-c", f"{workload} 20000")
    assert r.returncode == 0, r.stderr
    got = [ln for ln in r.stdout.splitlines() if ln.strip()]
    lost = sum(int(m.group(1)) for m in re.finditer(r"Lost (\d+) events", r.stderr))
    assert len(got) + lost == 20000
    assert len(set(got)) == 1


def test_positional_params_and_exit_code() -> None:
    r = bpfscope("-e", 'BEGIN { printf("%d %s %d\\n", $1, str($2), $#); exit(3); }', "42", "hello")
    assert r.stdout == "42 hello 2\n\n\n"
    assert r.returncode == 3


def test_sigint_prints_maps_and_exits_zero(workload: Path, tmp_path: Path) -> None:
    # a copy under a name no concurrent test uses, so its 100 getppid() calls are all the map holds
    name = f"sigint{os.getpid() % 100000}"
    exe = tmp_path / name
    shutil.copy(workload, exe)
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-e",
                          f'tracepoint:syscalls:sys_enter_getppid /comm == "{name}"/ {{ @[comm] = count(); }}'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
    assert p.stdout is not None
    assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
    subprocess.run([str(exe), "100"], check=True)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out == f"\n\n@[{name}]: 100\n", out


def _held_prog_ids(pid: int) -> set[int]:
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if "bpf-prog" not in os.readlink(f"/proc/{pid}/fd/{fd}"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def _live_prog_ids() -> set[int]:
    from bpfscope.kernel import objinfo

    return set(objinfo.iter_ids("prog"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signals_release_programs(sig: signal.Signals) -> None:
    p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-q", "-e",
                          "tracepoint:syscalls:sys_enter_getppid { @ = count(); } profile:hz:9 { @p = count(); }"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
    assert p.stdout is not None
    assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
    held = _held_prog_ids(p.pid)
    assert len(held) == 2, "the tracer should hold its two programs while running"
    assert held <= _live_prog_ids()
    p.send_signal(sig)
    p.communicate(timeout=20)
    assert p.returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    deadline = time.time() + 5
    while held & _live_prog_ids() and time.time() < deadline:
        time.sleep(0.05)
    assert not held & _live_prog_ids(), "programs outlived the tracer"


def _online_cpus() -> set[int]:
    cpus: set[int] = set()
    for part in Path("/sys/devices/system/cpu/online").read_text().strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def test_interval_and_profile_fire() -> None:
    """interval fires once before exit; profile fires on every CPU kept busy (an idle, tickless
    CPU takes no samples) and never faster than 99 Hz: hz becomes a fixed period of 1e9/99 ns,
    so n samples on one CPU span at least n-2 periods (only the first can be late, by less than one)."""
    spin = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", spin, str(c)]) for c in sorted(_online_cpus())]
    try:
        r = bpfscope("-q", "-f", "json", "-e", "profile:hz:99 { @p[cpu] = count(); @t0[cpu] = min(nsecs); "
                     "@t1[cpu] = max(nsecs); } interval:ms:300 { @i = count(); exit(); }")
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert r.returncode == 0, r.stderr
    maps = {k: v for ln in r.stdout.splitlines() if ln for k, v in json.loads(ln)["data"].items()}
    assert maps["@i"] == 1
    assert {int(c) for c in maps["@p"]} == _online_cpus(), maps
    period = 10**9 // 99
    for c, n in maps["@p"].items():
        assert n >= 1 and (n - 2) * period <= maps["@t1"][c] - maps["@t0"][c], (c, maps)


def test_rawtracepoint_btf_args(workload: Path) -> None:
    r = bpfscope("-q", "-e", "rawtracepoint:sys_enter /pid == cpid/ { @[args.id] = count(); }",
                 "-c", f"{workload} 500")
    assert r.returncode == 0, r.stderr
    # getppid is syscall 110 on x86-64
    m = re.search(r"^@\[110\]: (\d+)$", r.stdout, re.M)
    assert m and int(m.group(1)) == 500, r.stdout


def test_listing_tracepoints() -> None:
    r = bpfscope("-l", "tracepoint:syscalls:*open*")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "tracepoint:syscalls:sys_enter_openat" in lines
    assert all(re.match(r"tracepoint:syscalls:\w*open\w*$", ln) for ln in lines)


def test_script_file_and_stdin(tmp_path: Path) -> None:
    f = tmp_path / "s.bt"
    f.write_text('BEGIN { printf("file\\n"); exit(); }\n')
    assert bpfscope(str(f)).stdout == "file\n\n\n"
    assert bpfscope("-", input='BEGIN { printf("stdin\\n"); exit(); }').stdout == "stdin\n\n\n"


@pytest.mark.parametrize("prog,msg", [
    ("BEGIN { foo(1); }", "stdin:1:9-12: ERROR: Unknown function: foo"),
    ('BEGIN { printf("%d\\n"); }',
     "ERROR: printf: Not enough arguments for format string (0 supplied, 1 expected)"),
    ("BEGIN { @x = $y; }", "stdin:1:14-16: ERROR: Undefined or undeclared variable: $y"),
    ("tracepoint:foo:bar {}", "stdin:1:1-19: WARNING: No matches for tracepoint foo:bar. Skipping."),
    ("kprobe:vfs_read { @ = count(); }", "kprobe"),
    ('BEGIN { system("ls"); }', "unsafe"),
    ("BEGIN { @x = 1 +; }", "syntax error"),
])
def test_errors_are_diagnostics_not_tracebacks(prog: str, msg: str) -> None:
    r = bpfscope("-e", prog)
    assert r.returncode == 1
    assert msg in r.stderr
    assert "Traceback" not in r.stderr


def test_python_api_context_manager(workload: Path, tmp_path: Path) -> None:
    import bpfscope as bs

    name = f"apiwl{os.getpid() % 100000}"  # a comm no concurrent test uses
    exe = tmp_path / name
    shutil.copy(workload, exe)
    with bs.Program(f'tracepoint:syscalls:sys_enter_getppid /comm == "{name}"/ {{ @n[pid] = count(); }}') as p:
        p.attach()
        proc = subprocess.Popen([str(exe), "777"])
        assert proc.wait() == 0  # the probe runs inside its syscalls: all counted once it exits
        maps = p.maps()
    assert maps["@n"] == {proc.pid: 777}


def test_verifier_rejection_is_explained() -> None:
    # reading args->filename as an integer pointer deref through the kernel helper is fine;
    # a 40 KiB record exceeds even the per-CPU scratch frame that replaces the 512-byte BPF
    # stack for big values (32 KiB): a located error, not a traceback
    prog = 'config = { max_strlen = 4096 } tracepoint:syscalls:sys_enter_openat { ' \
        'printf("%s %s %s %s %s %s %s %s %s %s", ' + ", ".join(["str(args->filename)"] * 10) + "); }"
    r = bpfscope("-e", prog)
    assert r.returncode == 1
    assert "ERROR" in r.stderr and "stack" in r.stderr
    assert "Traceback" not in r.stderr
