"""Bad input and missing privilege end in one plain message and the peer's exit code (issue 17).

Each test names the fault it covers; peers (bpftool, bpftrace) are run for the exact wording
and exit status where they have the same command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root
from tests.e2e.unpriv import run_unprivileged, runner

ROOT_MSG = "needs to run as root (or with CAP_BPF and CAP_PERFMON)"


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr


def peer(*argv: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which(argv[0]), f"{argv[0]} is installed by .ci/run"
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ missing privilege
UNPRIV_CMDS = [["prog", "list"], ["map", "list"], ["btf", "list"], ["link", "list"], ["net", "list"],
               ["cgroup", "tree"], ["prog", "show", "id", "1"], ["--info"], ["-l"], ["-l", "*openat*"],
               ["bpflist"], ["reset-trace"], ["-e", "BEGIN { exit(); }"], ["--dry-run", "-e", "BEGIN {}"],
               ["-e", "uprobe:/bin/true:main { }"], ["export", "-e", "BEGIN {}"], ["triage", "-d", "1"],
               ["bcc", "/usr/sbin/syscount-bpfcc"]]


@needs_root  # the test drops privileges itself
@pytest.mark.parametrize("args", UNPRIV_CMDS, ids=" ".join)
def test_unprivileged_says_root_is_needed(args: list[str]) -> None:
    r = run_unprivileged(*args)
    no_traceback(r)
    assert r.returncode == 1, (runner()[2], r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and ROOT_MSG in lines[0] and re.match(r"(ERROR|Error): ", lines[0]), r.stderr
    assert "tracefs" not in r.stderr and "no uprobe support" not in r.stderr
    assert r.stdout == "", r.stdout   # no empty bpflist table, no partial listing


@needs_root
def test_unprivileged_json_error_and_what_still_works() -> None:
    r = run_unprivileged("-j", "prog", "show")
    assert r.returncode == 1 and ROOT_MSG in json.loads(r.stdout)["error"], (r.stdout, r.stderr)
    # reading a BTF file needs no privilege, nor does help
    r = run_unprivileged("btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c")
    assert r.returncode == 0 and "struct task_struct {" in r.stdout, r.stderr[-500:]
    for args in (["prog", "help"], ["-h"], ["bpflist", "-h"], ["-V"]):
        r = run_unprivileged(*args)
        assert r.returncode == 0 and r.stdout and not r.stderr, (args, r.stderr)


# ------------------------------------------------------------------ malformed ids
ID_CMDS = [["prog", "dump", "xlated", "id", "abc"], ["map", "dump", "id", "abc"], ["btf", "dump", "id", "abc"],
           ["link", "show", "id", "abc"], ["prog", "show", "id", "12x"], ["btf", "show", "id", "zz"],
           ["map", "show", "id", "1.5"],
           ["net", "attach", "xdp", "id", "abc", "dev", "lo"]]


@needs_root
@pytest.mark.parametrize("args", ID_CMDS, ids=" ".join)
def test_non_numeric_id_as_bpftool(args: list[str]) -> None:
    ref = peer("bpftool", *args)
    r = bpfscope(*args)
    no_traceback(r)
    assert (r.returncode, r.stderr) == (ref.returncode, ref.stderr), (r.stderr, ref.stderr)
    assert r.stderr.startswith("Error: can't parse ")


# ------------------------------------------------------------------ pinned object of another type
@pytest.fixture
def pinned() -> Iterator[dict[str, str]]:
    """A prog, a map and a raw-tracepoint link pinned in a private bpffs mount."""
    from bpfscope.kernel import insn as I
    from bpfscope.kernel import syscall as sc
    from bpfscope.kernel import uapi

    if os.geteuid() != 0:
        pytest.skip("needs root to load BPF objects")
    d = tempfile.mkdtemp(prefix="bpfscope-pins-")
    subprocess.run(["mount", "-t", "bpf", "bpf", d], check=True)
    fds: list[int] = []
    try:
        fds.append(sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 1, name="cli_err_map"))
        prog, _ = sc.prog_load(uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, I.encode([I.mov64_imm(I.R0, 0), I.exit_()]),
                               name="cli_err_prog")
        fds.append(prog)
        fds.append(sc.raw_tracepoint_open("sys_enter", prog))
        paths = {}
        for fd, kind in zip(fds, ("map", "prog", "link"), strict=True):
            paths[kind] = os.path.join(d, kind)
            sc.obj_pin(fd, paths[kind])
        yield paths
    finally:
        for fd in fds:
            os.close(fd)
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


@pytest.mark.parametrize("obj", ["prog", "map", "link"])
def test_pinned_object_of_another_type(pinned: dict[str, str], obj: str) -> None:
    for kind, path in pinned.items():
        ref = peer("bpftool", obj, "show", "pinned", path)
        r = bpfscope(obj, "show", "pinned", path)
        no_traceback(r)
        assert r.returncode == ref.returncode, (obj, kind, r.stderr, ref.stderr)
        if kind == obj:
            assert r.returncode == 0 and r.stdout.split(":")[0] == ref.stdout.split(":")[0]
        else:
            assert r.stdout == "" and r.stderr == f"Error: incorrect object type: {kind}\n" == ref.stderr


# ------------------------------------------------------------------ -c CMD that cannot run
@needs_root
@pytest.mark.parametrize("cmd", ["./nosuchcmd", "nosuchcmd-bpfscope", "/etc/passwd", "/tmp", "", "'' x"])
def test_dash_c_checks_the_command_before_attaching(cmd: str) -> None:
    r = bpfscope("-e", "BEGIN { printf(\"begun\\n\"); }", "-c", cmd)
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert "Attached" not in r.stderr and "begun" not in r.stdout
    word = cmd.split()[0].strip("'") if cmd else ""
    want = (f"ERROR: Failed to fork child: path '{word}' does not exist or is not executable"
            if cmd else "ERROR: -c requires a command")
    assert r.stderr.strip() == want


# ------------------------------------------------------------------ Ctrl-C during start-up
_INTERRUPT_AT = """
import builtins, os, runpy, signal, sys
target = sys.argv[1]
real = builtins.__import__
def hook(name, globals=None, locals=None, fromlist=(), level=0):
    full = name if level == 0 else (globals or {{}}).get("__package__", "") + "." + name
    if full.endswith(target):
        builtins.__import__ = real
        os.kill(os.getpid(), signal.SIGINT)
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = hook
sys.argv = ["bpfscope", {args}]
runpy.run_module("bpfscope", run_name="__main__", alter_sys=True)
"""


@needs_root
@pytest.mark.parametrize("target", ["bpfscope.cli", "kernel", "runtime.runner"])
def test_sigint_during_startup_is_quiet(target: str) -> None:
    """SIGINT delivered while a given module is being imported: before `entry` (the __main__
    handler), inside main (KeyboardInterrupt caught by `entry`)."""
    args = '"--info"' if target == "kernel" else '"-e", "BEGIN { exit(); }"'
    code = _INTERRUPT_AT.format(args=args)
    r = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    assert r.returncode == 130, (r.returncode, r.stderr)


# ------------------------------------------------------------------ probe listing
@needs_root
def test_list_without_provider_includes_tracepoints() -> None:
    r = bpfscope("-l", "*openat*")
    no_traceback(r)
    ours = r.stdout.splitlines()
    ref = [ln for ln in peer("bpftrace", "-l", "*openat*").stdout.splitlines() if ln.startswith("tracepoint:")]
    assert ref and [ln for ln in ours if ln.startswith("tracepoint:")] == ref
    # syscall events are not raw tracepoints (raw_tracepoint_open refuses them): not listed as such
    assert "tracepoint:syscalls:sys_enter_openat" in ours and "rawtracepoint:sys_enter_openat" not in ours


@needs_root
@pytest.mark.parametrize("tp", ["syscalls:sys_enter_openat", "sched:sched_switch", "sched:sched_process_exec",
                                "syscalls:sys_*_getppid"])
def test_list_verbose_prints_tracepoint_fields_as_bpftrace(tp: str) -> None:
    ref = peer("bpftrace", "-lv", f"tracepoint:{tp}")
    r = bpfscope("-lv", f"tracepoint:{tp}")
    assert r.returncode == 0 and r.stdout == ref.stdout and "    " in r.stdout, (r.stdout, ref.stdout)


# ------------------------------------------------------------------ --info
@needs_root
def test_info_gives_kprobe_and_fentry_support_and_reason() -> None:
    from bpfscope.kernel import features

    r = bpfscope("--info")
    assert r.returncode == 0, r.stderr
    for name, ok in (("kprobe", features.kprobes()), ("fentry", features.fentry())):
        assert re.search(rf"\b{name}: {'yes' if ok else 'no'}( |$)", r.stdout, re.M), r.stdout
        reason = re.search(rf"^  {name}: (?!yes|no\b)(.+)$", r.stdout, re.M)
        if ok:
            assert reason is None
        else:
            assert reason and reason.group(1) == features._reason(name), r.stdout
    assert ("Unavailable probe types" in r.stdout) == (not (features.kprobes() and features.fentry()))


# ------------------------------------------------------------------ help everywhere
@pytest.mark.parametrize("obj", ["prog", "map", "btf", "link", "net", "cgroup"])
@pytest.mark.parametrize("word", ["-h", "--help", "help"])
def test_inspect_object_help(obj: str, word: str) -> None:
    r = bpfscope(obj, word)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith(f"Usage: bpfscope {obj} ")
    # bpftool's help names the same commands (those bpfscope implements)
    ref = (lambda p: p.stdout + p.stderr)(peer("bpftool", obj, "help"))
    for cmd in re.findall(rf"^Usage: bpfscope {obj} (\w+)|^       bpfscope {obj} (\w+)", r.stdout, re.M):
        c = cmd[0] or cmd[1]
        assert re.search(rf"bpftool {obj} .*\b{c}\b", ref), c


@pytest.mark.parametrize("cmd", ["bpflist", "reset-trace", "flamegraph", "stackcollapse", "difffolded"])
@pytest.mark.parametrize("word", ["-h", "--help", "help"])
def test_other_subcommand_help(cmd: str, word: str) -> None:
    r = bpfscope(cmd, word)
    assert r.returncode == 0 and "usage" in r.stdout.lower() and "Traceback" not in r.stderr, (r.stdout, r.stderr)


@pytest.mark.parametrize("word", ["-h", "--help"])
def test_top_level_help_on_stdout(word: str) -> None:
    r = bpfscope(word)
    assert r.returncode == 0 and r.stdout.startswith("USAGE:") and r.stderr == ""


@needs_root
@pytest.mark.parametrize("flags", [["-j"], ["--json"], ["-p"], ["-jp"], ["-j", "-p"]])
def test_bpftool_global_options_before_the_object(flags: list[str]) -> None:
    r = bpfscope(*flags, "prog", "show")
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)
    ref = peer("bpftool", *flags, "map", "show", "id", "4294967295")
    r = bpfscope(*flags, "map", "show", "id", "4294967295")
    assert r.returncode == ref.returncode == 255 and json.loads(r.stdout) == json.loads(ref.stdout)


def test_readme_examples_directory_builds(tmp_path: Path) -> None:
    """examples/ builds with the tools CI installs (the README's `make -C examples`)."""
    src = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(src, tmp_path / "ex", ignore=shutil.ignore_patterns("workload", "chain", "app", "*.o"))
    r = subprocess.run(["make", "-C", str(tmp_path / "ex")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for f in ("workload", "chain", "app", "hello.bpf.o", "xdp_pass.bpf.o"):
        assert (tmp_path / "ex" / f).stat().st_size > 0
    elf = (tmp_path / "ex" / "hello.bpf.o").read_bytes()
    assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 247   # EM_BPF
