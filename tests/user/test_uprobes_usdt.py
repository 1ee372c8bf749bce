"""User space for real: uprobes, uretprobes, USDT and symbolized stacks of processes that
have exited by the time the maps are printed (issue 4's "done when" list)."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root, read_until

pytestmark = needs_root
FIX = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the fixtures")
    d = tmp_path_factory.mktemp("user")
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", str(d / "chain"),
                    str(FIX / "chain_loop.c")], check=True)
    if not Path("/usr/include/x86_64-linux-gnu/sys/sdt.h").exists() and not Path("/usr/include/sys/sdt.h").exists():
        pytest.skip("sys/sdt.h (Debian systemtap-sdt-dev) is needed for the USDT fixture")
    subprocess.run(["gcc", "-O2", "-g", "-o", str(d / "usdtloop"), str(FIX / "usdt_loop.c")], check=True)
    return d


def run(d: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI with cwd = the fixture directory (so ./chain resolves as a user types it)."""
    cwd = os.getcwd()
    os.chdir(d)
    try:
        r = bpfscope(*args, timeout=timeout)
    finally:
        os.chdir(cwd)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_ustack_of_exited_child_is_symbolized(bins: Path) -> None:
    """The child has exited before the print: frames are names, not hex."""
    r = run(bins, "-e", "uprobe:./chain:leaf { @[ustack] = count(); }", "-c", "./chain 1000")
    assert r.returncode == 0, r.stderr
    stacks = re.findall(r"^@\[\n(.*?)\n\]: (\d+)$", r.stdout, re.M | re.S)
    assert len(stacks) == 1, r.stdout
    frames = [f.strip() for f in stacks[0][0].splitlines()]
    # -g binary: 0.26 adds each frame's source line (`leaf+0@.../chain_loop.c:7`), the calls' lines
    parsed = [re.fullmatch(r"(\w+)\+\d+@(\S+):(\d+)", f) for f in frames[:4]]
    assert all(parsed), frames
    assert [(m.group(1), os.path.basename(m.group(2)), int(m.group(3))) for m in parsed if m] == \
        [("leaf", "chain_loop.c", 7), ("middle", "chain_loop.c", 9), ("outer", "chain_loop.c", 11),
         ("main", "chain_loop.c", 18)], frames
    assert stacks[0][1] == "1000"
    r = run(bins, "-e", "config = { show_debug_info = 0 } uprobe:./chain:leaf { @[ustack(2)] = count(); }",
            "-c", "./chain 3")
    assert re.search(r"^@\[\n\s+leaf\+0\n\s+middle\+\d+\n\]: 3$", r.stdout, re.M), r.stdout


def test_uretprobe_return_values(bins: Path) -> None:
    """leaf(x) returns 2*x with x = i % 7: 700 calls give 100 of each of 0, 2, ..., 12."""
    r = run(bins, "-e", "uretprobe:./chain:leaf { @[retval] = count(); }", "-c", "./chain 700")
    assert r.returncode == 0, r.stderr
    got = dict(re.findall(r"^@\[(\d+)\]: (\d+)$", r.stdout, re.M))
    assert got == {str(2 * x): "100" for x in range(7)}, r.stdout


def test_uprobe_func_probe_and_exit(bins: Path) -> None:
    """func names the function; events queued behind exit() are not printed (as bpftrace)."""
    r = run(bins, "-e", 'uprobe:./chain:leaf { printf("%s %s %d\\n", probe, func, arg0); exit(); }',
            "-c", "./chain 5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == ["uprobe:./chain:leaf leaf 0"], r.stdout


def test_uprobe_wildcard_and_probe_builtin(bins: Path) -> None:
    r = run(bins, "-e", "uprobe:./chain:*e* /pid == cpid/ { @[probe] = count(); }", "-c", "./chain 10")
    assert r.returncode == 0, r.stderr
    got = dict(re.findall(r"^@\[(\S+)\]: (\d+)$", r.stdout, re.M))
    assert got["uprobe:./chain:middle"] == "10" and got["uprobe:./chain:leaf"] == "10", r.stdout


def test_uprobe_library_by_name(workload: Path) -> None:
    """uprobe:libc:getppid resolves libc through ld.so.cache; exact count for the child."""
    r = bpfscope("-e", "uprobe:libc:getppid /pid == cpid/ { @ = count(); }", "-c", f"{workload} 1234")
    assert r.returncode == 0, r.stderr
    assert "@: 1234" in r.stdout.splitlines(), r.stdout


def test_usdt_arguments_and_semaphore(bins: Path) -> None:
    """arg1 = 3*i summed over 100 firings is 14850; the probe only fires while the semaphore is
    raised, which the kernel does for us (ref_ctr_offset) while we are attached."""
    assert subprocess.run([str(bins / "usdtloop"), "100"], capture_output=True, text=True).stdout == "fired 0\n"
    r = run(bins, "-e", "usdt:./usdtloop:bpfscope:tick { @s = sum(arg1); @n = count(); @c = max(arg2); "
            "@u = max(*uaddr(\"counter\")); }", "-c", "./usdtloop 100")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "fired 100" in out
    for line in ("@s: 14850", "@n: 100", "@c: 200", "@u: 200"):
        assert line in out.splitlines(), out


def test_usdt_listing_and_errors(bins: Path) -> None:
    r = run(bins, "-l", "usdt:./usdtloop:*")
    assert r.stdout.splitlines() == ["usdt:./usdtloop:bpfscope:tick"], r.stdout
    r = run(bins, "-e", "usdt:./usdtloop:bpfscope:nope { @ = count(); }")
    assert r.returncode == 1 and "No probes matched" in r.stderr
    r = run(bins, "-e", "uprobe:./nonexistent:f { @ = count(); }")
    assert r.returncode == 1 and "no such binary" in r.stderr
    r = run(bins, "-e", "uprobe:./chain:nosuchfunc { @ = count(); }")
    assert r.returncode == 1 and "No matches for uprobe" in r.stderr


def test_uprobe_pid_filter(bins: Path, workload: Path) -> None:
    """-p attaches the uprobe to one process only: another process running the same code is not seen."""
    other = subprocess.Popen([str(workload), "200000000"])
    target = subprocess.Popen([str(workload), "300000000"])
    try:
        r = bpfscope("-e", "uprobe:libc:getppid { @[pid] = count(); } interval:ms:300 { exit(); }",
                     "-p", str(target.pid))
    finally:
        other.kill()
        target.kill()
        other.wait()
        target.wait()
    assert r.returncode == 0, r.stderr
    pids = re.findall(r"^@\[(\d+)\]: \d+$", r.stdout, re.M)
    assert pids == [str(target.pid)], r.stdout


def test_profile_ustack_of_command(bins: Path) -> None:
    r = run(bins, "-e", 'profile:hz:499 /comm == "chain"/ { @[ustack] = count(); }', "-c", "./chain 20000000",
            timeout=120)
    assert r.returncode == 0, r.stderr
    frames = {re.sub(r"\+\d+(@\S+:\d+)?$", "", ln.strip()) for ln in r.stdout.splitlines() if ln.startswith(" ")}
    assert "main" in frames and frames & {"leaf", "middle", "outer"}, r.stdout
    assert not any(f.startswith("0x") for f in frames if f in ("leaf", "middle", "outer", "main"))


def test_kernel_symbols_from_tracepoint_and_profile(workload: Path) -> None:
    r = bpfscope("-e", "tracepoint:timer:hrtimer_start { @[ksym(args->function)] = count(); } "
                 "interval:ms:500 { exit(); }")
    assert r.returncode == 0, r.stderr
    keys = re.findall(r"^@\[(.*)\]: \d+$", r.stdout, re.M)
    assert keys and all(re.fullmatch(r"[A-Za-z_][\w.]*", k) for k in keys), r.stdout
    r = bpfscope("-e", "profile:hz:99 { @[kstack] = count(); } interval:ms:700 { exit(); }",
                 "-c", f"{workload} 3000000")
    assert r.returncode == 0, r.stderr
    frames = [ln.strip() for ln in r.stdout.splitlines() if ln.startswith("        ")]
    assert frames and sum(bool(re.fullmatch(r"[\w.]+\+\d+", f)) for f in frames) >= len(frames) * 0.9, r.stdout


def test_bash_readline_uretprobe() -> None:
    """The seed's `ur:/bin/bash:readline` while the test types into an interactive bash."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    tracer = subprocess.Popen(
        [sys.executable, "-m", "bpfscope", "-e",
         f'ur:{os.path.realpath(bash)}:readline {{ printf("%s\\n", str(retval)); }}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    try:
        _wait_attached(tracer)
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(bash, [bash, "--norc", "--noprofile", "-i"], {**os.environ, "PS1": "typed-ready> "})
        try:
            for line in (b"echo bpfscope-typed-this\n", b"exit\n"):
                read_until(fd, b"typed-ready> ")  # bash is in readline: type the next line
                os.write(fd, line)
            read_until(fd, None)  # until bash has exited (EOF/EIO on the pty)
        finally:
            os.waitpid(pid, 0)
        assert tracer.stdout is not None
        out = read_until(tracer.stdout.fileno(), b"echo bpfscope-typed-this\n").decode()
    finally:
        tracer.terminate()
        rest, err = tracer.communicate(timeout=30)
    assert "echo bpfscope-typed-this" in (out + rest).splitlines(), (out, rest, err)


def _wait_attached(p: subprocess.Popen[str]) -> None:
    """Block until the tracer reports its probes attached (stderr banner); raise if it exits first."""
    assert p.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if "Attached" in line:
            return
        if not line:
            p.wait(timeout=30)
            raise AssertionError(f"tracer exited ({p.returncode}) before attaching: {''.join(seen)}")
        seen.append(line)
    raise AssertionError(f"tracer did not attach: {''.join(seen)}")


def test_cxx_names_match_overloads_and_print_demangled(tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed for the C++ fixture")
    subprocess.run(["g++", "-O0", "-g", "-o", str(tmp_path / "cxx"), str(FIX / "cxx.cpp")], check=True)
    r = run(tmp_path, "-e", "uprobe:./cxx:fixns::compute { @[func] = count(); }", "-c", "./cxx")
    assert r.returncode == 0, r.stderr
    assert re.findall(r"^@\[(.*)\]: 1$", r.stdout, re.M) == ["fixns::compute(int)", "fixns::compute(long, long)"] \
        or sorted(re.findall(r"^@\[(.*)\]: 1$", r.stdout, re.M)) == ["fixns::compute(int)",
                                                                    "fixns::compute(long, long)"], r.stdout
    r = run(tmp_path, "-l", "uprobe:./cxx:*compute*")
    assert r.stdout.splitlines() == ["uprobe:./cxx:fixns::compute(int)", "uprobe:./cxx:fixns::compute(long, long)"]


def test_stack_modes_and_depth(bins: Path) -> None:
    """perf mode: `\\t<hex> frame (module)`; raw: bare hex; a depth limit cuts the stack."""
    r = run(bins, "-e", 'uprobe:./chain:leaf { printf("%s|%s|%s\\n", ustack(perf, 3), ustack(raw, 2), ustack(2)); '
            "exit(); }", "-c", "./chain 3")
    assert r.returncode == 0, r.stderr
    perf, raw, plain = r.stdout.split("|")[:3]
    lines = perf.strip("\n").split("\n")
    assert len(lines) == 3 and all(re.fullmatch(r"\t[0-9a-f]+ \w+\+\d+ \(.*/chain\)", ln) for ln in lines), perf
    assert [ln.split()[1].split("+")[0] for ln in lines] == ["leaf", "middle", "outer"]
    assert re.fullmatch(r"\n[0-9a-f]+\n[0-9a-f]+\n", raw), raw
    # bpftrace mode adds the source line of a -g binary's frames; perf mode does not (as 0.26)
    assert re.match(r"\n        leaf\+0@\S+/chain_loop\.c:7\n        middle\+\d+@\S+/chain_loop\.c:9\n", plain), plain


def test_source_lines_in_printed_stacks_not_in_exports(bins: Path) -> None:
    """One Program, as the CLI runs it: its printed ustack keys carry `@file:line`; the folded
    export of the same map, read afterwards, has bare functions (a cached frame list must not
    carry the lines over)."""
    import time

    from bpfscope.export.folded import folded_lines
    from bpfscope.runtime.program import Program
    from bpfscope.runtime.runner import Child

    child = Child(f"{bins / 'chain'} 50")
    try:
        with Program(f"uprobe:{bins / 'chain'}:leaf {{ @[ustack(2)] = count(); }}",
                     opts={"show_debug_info_default": True}) as prog:
            prog.load(cpid=child.pid)
            prog.attach()
            child.start()
            deadline = time.monotonic() + 20
            while not child.reap() and time.monotonic() < deadline:
                time.sleep(0.05)
            prog.poll(0.2)
            keys = [k for k, _v in prog.map_entries("@")]
            lines, _skipped = folded_lines(prog)
    finally:
        child.kill()
    assert keys and all(re.fullmatch(r"\w+\+\d+@\S+/chain_loop\.c:\d+", f) for k in keys for f in k), keys
    assert len(lines) == 1 and re.fullmatch(r"middle\+\d+;leaf\+0 50", lines[0]), lines
