"""bpftrace 0.26's default max_strlen (1024): long strings whole, and for-loops and globmatch()
in probes whose string variables put their frame in the per-CPU scratch map (beyond the
512-byte BPF stack), as 0.26 runs them. A `cat` of a file with a 150-character path is the
workload: every probe checks what it printed against that path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root
OPEN = "tracepoint:syscalls:sys_enter_openat /pid == cpid && strcontains(str(args.filename), \"deep\")/"


@pytest.fixture
def long_path(tmp_path: Path) -> Path:
    d = tmp_path / ("deep" + "d" * 60) / ("e" * 60)
    d.mkdir(parents=True)
    f = d / "target.txt"
    f.write_text("x\n")
    assert len(str(f)) > 140
    return f


def run(prog: str, path: Path) -> str:
    r = bpfscope("-q", "-e", prog, "-c", f"cat {path}")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout.replace("x\n", "", 1)    # cat's own output


def test_default_max_strlen_is_1024_and_keeps_long_paths_whole(long_path: Path) -> None:
    out = run(f'BEGIN {{ printf("%d\\n", config().max_strlen); }} {OPEN} {{ printf("<%s>\\n", str(args.filename)); '
              "exit(); }", long_path)
    assert out.rstrip("\n") == f"1024\n<{long_path}>", out


def test_range_and_map_loops_share_the_probe_variables(long_path: Path) -> None:
    """A 1024-byte string variable puts the frame in the scratch map; the loop bodies read it,
    update a counter seen after the loop, read ctx (comm, args), break and return."""
    prog = (OPEN + " { $s = str(args.filename); @m[1] = 10; @m[2] = 20; @m[3] = 30; $n = 0;"
            " $c = 0; for ($kv : @m) { $n += $kv.1; } for ($kv : @m) { $c++; break; }"
            " for ($i : 0..3) { printf(\"%d %s %s\\n\", $i, comm, $s); }"
            " printf(\"n=%d c=%d same=%d\\n\", $n, $c, $s == str(args.filename));"
            " for ($j : 0..9) { if ($j == 1) { exit(); return; } }"
            " printf(\"not reached\\n\"); }")
    out = run(prog, long_path)
    lines = out.splitlines()
    assert lines[:3] == [f"{i} cat {long_path}" for i in range(3)], out
    assert lines[3] == "n=60 c=1 same=1", out     # every value summed; break after one entry
    assert "not reached" not in out


def test_globmatch_on_a_long_string_in_the_probe_and_in_a_loop(long_path: Path) -> None:
    prog = (OPEN + " { $s = str(args.filename); printf(\"%d %d\\n\", globmatch($s, \"/*/target.txt\"),"
            " globmatch($s, \"*.log\")); for ($i : 0..2) { printf(\"%d\\n\", globmatch($s, \"*deepd*\")); } exit(); }")
    assert run(prog, long_path).rstrip("\n") == "1 0\n1\n1"


def test_a_loop_inside_a_loop_with_a_scratch_frame_is_a_located_error(long_path: Path) -> None:
    r = bpfscope("-e", OPEN + " { $s = str(args.filename); for ($i : 0..2) { for ($j : 0..2) { "
                 "printf(\"%s\\n\", $s); } } }", "--dry-run")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "ERROR: BPF stack limit exceeded" in r.stderr and "a for-loop inside a for-loop" in r.stderr, r.stderr
    assert "try a smaller max_strlen" in r.stderr
    ok = bpfscope("-e", "config = { max_strlen = 64 } " + OPEN + " { $s = str(args.filename); for ($i : 0..2) "
                  "{ for ($j : 0..2) { printf(\"%s\\n\", $s); } } }", "--dry-run")
    assert ok.returncode == 0, ok.stderr


def test_a_program_past_the_jump_range_is_a_located_error() -> None:
    """An if around 100 unrolled two-string map keys: more than 32767 instructions between the
    jump and its target, which BPF cannot encode; said so at the probe, with what to change."""
    r = bpfscope("--dry-run", "-e", "uretprobe:/bin/bash:readline { if (pid == 1) { unroll(100) { "
                 "@x[str(retval), str(retval)] = count(); } } }")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("stdin:1:1-"), r.stderr
    assert "ERROR: this probe's program is too large for BPF" in r.stderr, r.stderr


def test_long_string_compares_and_strlen_are_loops(long_path: Path) -> None:
    """Two 1024-byte strings compare in a bounded loop, not 4 500 unrolled instructions: 15 of
    them in one probe used to pass BPF's jump range. The answers must still be exact: equal,
    different only past the 64th byte (a prefix check would miss it: str(p, 140) keeps 139
    characters), strncmp, strlen."""
    prog = (OPEN + " { $s = str(args.filename); $t = str(args.filename); $u = str(args.filename, 140);"
            " unroll(15) { @eq = count(); if ($s != $t) { @bad = count(); } }"
            " printf(\"%d %d %d %d %d\\n\", $s == $t, $s == $u, $s != $u, strncmp($s, $u, 139), strlen($s));"
            " exit(); }")
    out = run(prog, long_path)
    n = len(str(long_path))
    assert out.splitlines()[0] == f"1 0 1 0 {n}", out
    assert "@eq: 15" in out and "@bad" not in out, out
    insns = bpfscope("-d", "libbpf", "--dry-run", "-e", OPEN + " { $s = str(args.filename); $t = str(args.filename);"
                     " @x[$s == $t] = count(); }")
    count = sum(1 for ln in insns.stderr.splitlines() + insns.stdout.splitlines() if ln[:6].strip().endswith(":")
                and ln.strip()[:-1].split(":")[0].isdigit())
    assert 0 < count < 1500, count


def test_searches_in_a_long_string_step_by_position(long_path: Path) -> None:
    """strstr()/strcontains() on 1024-byte strings: a bpf_loop step per start position, with
    literal needles and needles in variables (found late, absent, empty, longer than what is
    left, the whole string), checked against Python's str.find on the same path."""
    p = str(long_path)
    needles = ["target", "d/e", "nope", "", p, p[-20:], p[-5:] + "x", p[60:130]]
    vars_ = " ".join(f'$n{k} = "{n}";' for k, n in enumerate(needles))
    calls = ", ".join(f"strstr($s, $n{k}), strcontains($s, $n{k})" for k in range(len(needles)))
    lits = ", ".join(f'strstr($s, "{n}")' for n in needles if n)
    prog = (OPEN + f" {{ $s = str(args.filename); {vars_} printf(\"%s\\n\", \"\"); "
            f"print(({calls})); print(({lits})); exit(); }}")
    out = run(prog, long_path).strip().splitlines()
    want_vars = ", ".join(f"{p.find(n)}, {'true' if n in p else 'false'}" for n in needles)
    want_lits = ", ".join(str(p.find(n)) for n in needles if n)
    assert out[-2:] == [f"({want_vars})", f"({want_lits})"], out
