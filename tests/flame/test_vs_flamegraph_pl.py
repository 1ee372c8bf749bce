"""Differential tests against FlameGraph's own Perl scripts (the test peer of fgpeer.py).

Same input and options to flamegraph.pl and to ``bpfscope flamegraph``: every frame (title,
rectangle, fill, label) and the SVG around the frames (size, background, title, subtitle,
details line, buttons) must be identical; only the comment line and our own JavaScript may
differ. Likewise stackcollapse-perf.pl, stackcollapse-bpftrace.pl and difffolded.pl against
our ``stackcollapse``/``difffolded``. Skips (with the reason) when the peer can't be fetched.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.flame import cli
from tests.conftest import peer_failed

from . import fgpeer
from .svgframes import SvgFrame, frames

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def peer() -> Path:
    try:
        return fgpeer.flamegraph_dir()
    except fgpeer.PeerUnavailable as exc:
        pytest.skip(f"flamegraph.pl test peer unavailable: {exc}")


def _synth(n: int, seed: int) -> list[str]:
    """``n`` unique CPU-profile-like stacks: shared trunks, fanning out, distinct leaves."""
    rng = random.Random(seed)
    mids = [f"mod{m}`fn_{m}" for m in range(120)]
    seen: set[str] = set()
    while len(seen) < n:
        frames_ = [f"proc{rng.randrange(5)}", "main"]
        frames_ += [mids[int(rng.random() ** 2 * (20 + 6 * d)) % len(mids)] for d in range(rng.randint(1, 18))]
        frames_.append(f"leaf_{rng.randrange(10**6)}")
        seen.add(";".join(frames_) + f" {rng.randint(1, 300)}")
    return sorted(seen, key=lambda _s: rng.random())


INPUTS: dict[str, str] = {
    "synth": "\n".join(_synth(400, 3)) + "\n",
    # names that exercise escaping, annotations, palettes' name rules, truncation, bad lines
    "names": "\n".join([
        'main;a<b>&c;"q" 5', "main;x'y;ünïcödé 3", "main;" + "very_long_function_name_" * 6 + " 40",
        "java;Lcom/foo/Bar;.run_[j];Interpreter 7", "java;java/util/Map:::get;JavaCalls::call_[i] 6",
        "k;do_syscall_64_[k];vfs_read_[k] 9", "k;-;--;do_x 1", "js;foo.js:10;bar.js_[j];Builtin:A 4",
        "perl;Foo::bar;main::baz;perl_run 3", "py;a.py:f;[unknown] 2", "chain;a_[w];b_[w] 4",
        "", "garbage", "main;a<b>&c 2.5", "x;y 0", "sp ace;with  spaces 2",
    ]) + "\n",
    "diff": "main;a;b 10 20\nmain;a;c 30 5\nmain;d 0 7\nmain;e 8 0\nother 5 5\nmain;a 1.5 2\n",
    "deep": "\n".join(";".join(f"f{i}" for i in range(d)) + f" {d * d}" for d in range(1, 70)) + "\n",
}

PALETTES = "hot mem io wakeup chain java js perl red green blue aqua yellow purple orange".split()
OPTIONS: list[list[str]] = [
    [], ["--hash"], ["--reverse"], ["--inverted"], ["--flamechart"], ["--inverted", "--reverse", "--hash"],
    ["--minwidth", "5"], ["--minwidth", "2%"], ["--minwidth", "0"],
    ["--width", "700", "--height", "24", "--fontsize", "9", "--fontwidth", "0.7"],
    ["--fonttype", "DejaVu Sans Mono", "--countname", "bytes", "--nametype", "Func:"],
    ["--title", "My profile", "--subtitle", "pid 42, 30 s"], ["--total", "100000"], ["--factor", "2.5"],
    ["--negate"], ["--notes", "recorded by a test"], ["--bgcolors", "blue"], ["--bgcolors", "#123456"],
    ["--bgcolors", "grey"], ["--encoding", "utf-8"], ["--colors", "java"], ["--colors", "mem", "--hash"],
]
# every palette's name rules, on the inputs whose names exercise them
PALETTE_CASES = [(name, ["--colors", c, *h]) for c in PALETTES
                 for name, h in (("names", []), ("names", ["--hash"]), ("synth", []))]


def _chrome(svg: str) -> list[str]:
    """The SVG without frames, comments and script: size, background, text and buttons."""
    svg = re.sub(r"<script.*?</script>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return [ln for ln in svg.splitlines()
            if not (ln.startswith(("<g >", "<title>", "<text", "<rect", "</g>")) and "id=" not in ln)]


def _ours(argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[str, str]:
    capsysbinary.readouterr()
    rc = cli.main_flamegraph(argv)
    cap = capsysbinary.readouterr()
    assert rc == 0, cap.err
    return cap.out.decode("utf-8", "surrogateescape"), cap.err.decode()


def _strip_fill(fs: list[SvgFrame]) -> list[SvgFrame]:
    return [f._replace(fill="") for f in fs]


CASES = [(name, opts) for opts in OPTIONS for name in INPUTS] + PALETTE_CASES


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[f"{n}:{' '.join(o) or 'default'}" for n, o in CASES])
def test_flamegraph_same_frames(peer: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                name: str, opts: list[str]) -> None:
    path = tmp_path / f"{name}.folded"
    path.write_text(INPUTS[name])
    want = fgpeer.run_perl("flamegraph.pl", [*opts, str(path)], b"").decode("utf-8", "surrogateescape")
    got, err = _ours([*opts, str(path)], capsysbinary)
    want_frames = frames(want)
    assert len(want_frames) > 1
    assert frames(got) == want_frames
    assert _chrome(got) == _chrome(want)
    if name == "names":
        assert "Ignored 2 lines with invalid format" in err


@pytest.mark.parametrize("opts", [["--cp"], ["--cp", "--colors", "mem"], ["--cp", "--hash", "--colors", "io"]])
def test_consistent_palette_file(peer: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                 monkeypatch: pytest.MonkeyPatch, opts: list[str]) -> None:
    """--cp reads and extends ./palette.map; both must draw the same and write the same file."""
    src = tmp_path / "in.folded"
    src.write_text(INPUTS["synth"] + INPUTS["names"])
    for side in ("perl", "ours"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "palette.map").write_text("main->rgb(1,2,3)\nproc0->rgb(9,9,9)\n")
    want = fgpeer.run_perl("flamegraph.pl", [*opts, str(src)], b"", cwd=str(tmp_path / "perl")).decode()
    monkeypatch.chdir(tmp_path / "ours")
    got, _ = _ours([*opts, str(src)], capsysbinary)
    assert frames(got) == frames(want)
    assert any(f.fill == "rgb(1,2,3)" for f in frames(got))
    assert (tmp_path / "ours" / "palette.map").read_text() == (tmp_path / "perl" / "palette.map").read_text()


def test_random_colors_same_geometry(peer: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "in.folded"
    path.write_text(INPUTS["synth"])
    want = fgpeer.run_perl("flamegraph.pl", ["--random", str(path)], b"").decode()
    got, _ = _ours(["--random", str(path)], capsysbinary)
    assert _strip_fill(frames(got)) == _strip_fill(frames(want))
    assert len({f.fill for f in frames(got)}) > 50  # really random, not one colour


def test_titles_are_escaped_where_perl_writes_broken_xml(peer: Path, tmp_path: Path,
                                                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Our one deliberate difference: --title/--subtitle text is XML-escaped."""
    import xml.dom.minidom

    path = tmp_path / "in.folded"
    path.write_text("a;b 1\n")
    args = ["--title", "T<&>", "--subtitle", "s&t", str(path)]
    want = fgpeer.run_perl("flamegraph.pl", args, b"").decode()
    got, _ = _ours(args, capsysbinary)
    assert ">T<&></text>" in want
    assert ">T&lt;&amp;&gt;</text>" in got and ">s&amp;t</text>" in got
    assert frames(got) == frames(want)
    xml.dom.minidom.parseString(got)  # well-formed


def test_large_input_same_frames(peer: Path, tmp_path: Path) -> None:
    """20,000 unique stacks: identical drawing (the CPU-time ratio to flamegraph.pl is a
    figure of bench/run.py --only checks)."""
    import sys

    path = tmp_path / "big.folded"
    path.write_text("\n".join(_synth(20000, 11)) + "\n")
    got = subprocess.run([sys.executable, "-m", "bpfscope.flame.cli", "flamegraph", str(path)],
                         capture_output=True, check=True, timeout=120).stdout
    want = subprocess.run(["perl", str(fgpeer.script("flamegraph.pl")), str(path)],
                          capture_output=True, check=True, timeout=120).stdout
    assert frames(got.decode()) == frames(want.decode())


# ---------------------------------------------------------------- stackcollapse, difffolded

def _collapse(argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> bytes:
    capsysbinary.readouterr()
    assert cli.main_stackcollapse(argv) == 0
    return capsysbinary.readouterr().out


def _perf_inputs() -> list[str]:
    names = ["perf-cycles-instructions-01.txt", "perf-dd-stacks-01.txt", "perf-funcab-cmd-01.txt",
             "perf-funcab-pid-01.txt", "perf-iperf-stacks-pidtid-01.txt", "perf-java-faults-01.txt",
             "perf-java-stacks-01.txt", "perf-java-stacks-02.txt", "perf-js-stacks-01.txt",
             "perf-mirageos-stacks-01.txt", "perf-numa-stacks-01.txt", "perf-rust-Yamakaky-dcpu.txt",
             "perf-vertx-stacks-01.txt"]
    return ["ours:perf_script_cpu_clock.txt", *names]


@pytest.mark.parametrize("source", _perf_inputs())
def test_stackcollapse_perf_same_lines(peer: Path, capsysbinary: pytest.CaptureFixture[bytes], source: str) -> None:
    """FlameGraph's recorded perf inputs (and our own recording), every annotation option."""
    path = DATA / source[5:] if source.startswith("ours:") else peer / "test" / source
    if not path.is_file():
        pytest.skip(f"{source} is not in the peer")
    data = path.read_bytes()
    for opts in ([], ["--pid"], ["--tid"], ["--kernel"], ["--jit"], ["--all"], ["--addrs"]):
        want = fgpeer.run_perl("stackcollapse-perf.pl", [*opts, str(path)], b"")
        got = _collapse(["perf", *opts, str(path)], capsysbinary)
        assert want, (source, opts)
        assert got == want, (source, opts)
    assert data  # the input was read


INLINE_C = r"""
#include <stdlib.h>
static volatile unsigned long sink;
static inline __attribute__((always_inline)) void inl_leaf(int j) { sink += j * 3; }
static inline __attribute__((always_inline)) void inl_mid(int n) { for (int j = 0; j < n; j++) inl_leaf(j); }
__attribute__((noinline)) void outer_fn(void) { inl_mid(2000); }
int main(int argc, char **argv) { long n = argc > 1 ? atol(argv[1]) : 1; for (long i = 0; i < n; i++) outer_fn(); }
"""


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for perf record")
@pytest.mark.skipif(shutil.which("perf") is None or shutil.which("gcc") is None or shutil.which("addr2line") is None,
                    reason="needs perf (Debian linux-perf), gcc and addr2line (binutils)")
def test_stackcollapse_perf_inline_live(peer: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """A fresh `perf record -g` of a binary with inlined functions: --inline/--context unfold
    them through addr2line the same way as the Perl script."""
    src = tmp_path / "inl.c"
    src.write_text(INLINE_C)
    exe = tmp_path / "inl"
    subprocess.run(["gcc", "-O2", "-g", "-fno-omit-frame-pointer", "-o", str(exe), str(src)], check=True)
    data = tmp_path / "perf.data"
    rec = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o", str(data),
                          "--", str(exe), "60000"], capture_output=True, text=True, timeout=60)
    if rec.returncode != 0:
        peer_failed("perf record", rec)
    script = tmp_path / "perf.txt"
    script.write_bytes(subprocess.run(["perf", "script", "-i", str(data)], capture_output=True,
                                      timeout=60, check=True).stdout)
    for opts in (["--inline"], ["--inline", "--context"], ["--all", "--inline"]):
        want = fgpeer.run_perl("stackcollapse-perf.pl", [*opts, str(script)], b"")
        assert _collapse(["perf", *opts, str(script)], capsysbinary) == want, opts
    assert b"outer_fn;inl_mid;inl_leaf" in want  # the inlined frames really were unfolded


def test_stackcollapse_bpftrace_same_lines(peer: Path, tmp_path: Path,
                                           capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    recorded = DATA / "bpftrace_kstack_ustack_comm.txt"
    made = tmp_path / "made.txt"
    made.write_text("Attaching 1 probe...\n\n@[\n    a+1\n    b+2\n]: 4\n@[\n    c+3\n, \n    d\n    e\n, x]: 9\n"
                    "@[, comm]: 3\n@[\n    f\n]: 12\n\n@other: 5\n")
    for path in (recorded, made):
        want = fgpeer.run_perl("stackcollapse-bpftrace.pl", [str(path)], b"")
        assert want
        assert _collapse(["bpftrace", str(path)], capsysbinary) == want


@pytest.mark.parametrize("opts", [[], ["-n"], ["-s"], ["-n", "-s"]])
def test_difffolded_same_lines(peer: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
                               opts: list[str]) -> None:
    a = _synth(300, 5) + ["x;0xdeadbeef;y 5", "z 0", "bad line", "f;g 2.5"]
    b = _synth(300, 5)[120:] + _synth(80, 6) + ["x;0xabc;y 7", "f;g 1"]
    pa, pb = tmp_path / "a", tmp_path / "b"
    pa.write_text("\n".join(a) + "\n")
    pb.write_text("\n".join(b) + "\n")
    want = fgpeer.run_perl("difffolded.pl", [*opts, str(pa), str(pb)], b"")
    capsysbinary.readouterr()
    assert cli.main_difffolded([*opts, str(pa), str(pb)]) == 0
    got = capsysbinary.readouterr().out
    # difffolded.pl prints in Perl hash order; ours sorted: compare as sorted lines
    assert sorted(got.splitlines()) == sorted(want.splitlines())
    assert len(want.splitlines()) > 350 and any(not ln.endswith(b" 0") for ln in want.splitlines())
