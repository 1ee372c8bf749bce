"""`prog dump xlated PROG visual`: the DOT control-flow graph, byte for byte bpftool's.

Real programs (hand-assembled, built by clang, compiled by our own front end, loaded by
bpftrace 0.17) are dumped by both tools; the pure splitting/escaping rules are checked on
instruction lists too, so a regression is located without a kernel.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from bpfscope.inspect import visual
from bpfscope.kernel import insn as I
from bpfscope.kernel import objinfo
from tests.inspect.conftest import ROOT, Loaded
from tests.inspect.helpers import BPFTOOL, ours, same, wait_perf_attached

root_only = pytest.mark.skipif(not ROOT, reason="needs root to load BPF programs")

# Two noinline subprograms (func_1, func_2), a bounded loop with a branch in its body
# (a back edge, an exit in mid-function), short-circuit conditions, jmp32 compares
# (-mcpu=v3), a .bss array (map value access) and `& | << >>` to escape.
VISUAL_SRC = r"""
#define SEC(name) __attribute__((section(name), used))
typedef unsigned int __u32;
typedef unsigned long long __u64;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
__u64 hits[8] = {};

static __attribute__((noinline)) __u32 mix(__u32 v)
{
	__u32 i, acc = v;
#pragma clang loop unroll(disable)
	for (i = 0; i < 16; i++) {
		if (acc & 1)
			acc = (acc >> 1) ^ 0xedb88320;
		else
			acc <<= 1;
	}
	return acc;
}

static __attribute__((noinline)) int classify(__u64 x)
{
	if (x < 100)
		return 0;
	if (x > 1000 && (x & 7) == 3)
		return 2;
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int visual_prog(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 k = mix(pid) & 7;

	hits[k] += classify(bpf_ktime_get_ns()) | 1;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

_EDGE = re.compile(r"\tfn_(\d+)_bb_(\d+):s -> fn_\1_bb_(\d+):n \[style=\"solid")


def edges(dot: str) -> list[tuple[int, int, int]]:
    return [(int(f), int(a), int(b)) for f, a, b in _EDGE.findall(dot)]


def has_back_edge(dot: str) -> bool:
    """A loop: an edge into an earlier real block (blocks count in address order from 2)."""
    return any(2 <= b < a for _, a, b in edges(dot))


def strip_annotations(dot: str) -> str:
    """Drop the rows `linum`/`opcodes` add: what is left is the plain graph."""
    dot = re.sub(r"; [^\n]*\\l\\\n", "", dot)
    return re.sub(r"\\ \\ \\ \\ [0-9a-f ]+\\l\\\n", "", dot)


# ------------------------------------------------------------------ real programs vs bpftool
@root_only
def test_hand_built_program_matches(loaded: Loaded) -> None:
    """Subprogram call (xlated off != imm), ld_imm64 rows, `>>=` escaped, call ending a block."""
    pid = objinfo.prog_info(loaded.prog_fd).id
    dot = same(f"prog dump xlated id {pid} visual")
    assert dot.startswith('digraph "DOT graph for eBPF program" {\nsubgraph "cluster_0" {\n')
    assert 'label="func_1 ()"' in dot and "\\>\\>= 3\\l\\\n" in dot
    assert "   3: (18) r1 = map[id:" in dot and "   4: " not in dot  # ld_imm64: one row
    assert "call pc+2\\l\\\n" in dot  # no jited symbol in the graph
    # the conditional at insn 6 jumps over one instruction: a diamond
    assert (0, 2, 3) in edges(dot) and (0, 2, 4) in edges(dot) and (0, 3, 4) in edges(dot)
    assert same(f"prog dump xlated id {pid} visual -j") == "null\n"


@pytest.fixture(scope="module")
def clang_prog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """VISUAL_SRC built by clang (-g: BTF func and line info) and loaded by `bpfscope prog load`."""
    if not ROOT:
        pytest.skip("needs root to load BPF programs")
    if not os.path.ismount("/sys/fs/bpf"):
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=False)
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs not mountable")
    d = str(tmp_path_factory.mktemp("visual"))
    if shutil.which("clang") is None:
        pytest.skip("clang (to build .bpf.o test objects) is not installed")
    src = os.path.join(d, "vis.bpf.c")
    with open(src, "w") as f:
        f.write(VISUAL_SRC)
    obj = os.path.join(d, "vis.bpf.o")
    r = subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", src, "-o", obj],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pin = f"/sys/fs/bpf/bpfscope_visual_{os.getpid()}"
    out, rc = ours(f"prog load {obj} {pin}")
    assert rc == 0, out
    try:
        yield pin
    finally:
        os.unlink(pin)


def test_clang_program_matches(clang_prog: str) -> None:
    dot = same(f"prog dump xlated pinned {clang_prog} visual")
    assert re.findall(r'label="(func_\d+) \(\)"', dot) == ["func_0", "func_1", "func_2"]
    assert has_back_edge(dot)  # mix()'s loop
    assert "(16) if w3 == 0x0 goto pc-8\\l\\\n" in dot  # jmp32
    assert "w0 \\&= 7" in dot and "w0 \\|= 1" in dot and "r0 \\<\\<= 3" in dot
    # an exit in mid-function still "falls through" to the next block, as bpftool draws it
    body = dot.split('label="func_1 ()"')[1].split("subgraph")[0]
    exit_block = re.search(r"fn_1_bb_(\d+) \[shape=record[^\]]*?\(95\) exit\\l\\\n}", body, re.S)
    assert exit_block is not None
    n = int(exit_block.group(1))
    assert (1, n, n + 1) in edges(dot)


def test_clang_program_line_info_variants_match(clang_prog: str) -> None:
    """Plain dumps of a program with BTF line info: `linum`, `opcodes`, JSON, as bpftool."""
    text = same(f"prog dump xlated pinned {clang_prog} linum")
    assert "int visual_prog(void * ctx):\n" in text
    assert re.search(r"; if \(acc & 1\) \[file:\S+vis\.bpf\.c line_num:14 line_col:\d+\]\n", text), text
    assert "__u32 mix(__u32 v):\n" in text
    same(f"prog dump xlated pinned {clang_prog} opcodes")
    same(f"prog dump xlated pinned {clang_prog}")
    same(f"prog dump xlated pinned {clang_prog} linum -j")


def test_annotated_graph(clang_prog: str) -> None:
    """`visual linum opcodes` (bpftool 7.1 refuses the mix): the plain graph plus rows."""
    plain, rc = ours(f"prog dump xlated pinned {clang_prog} visual")
    assert rc == 0
    for extra in ("linum", "opcodes", "linum opcodes"):
        dot, rc = ours(f"prog dump xlated pinned {clang_prog} visual {extra}")
        assert rc == 0 and dot != plain
        assert strip_annotations(dot) == plain
    dot, _ = ours(f"prog dump xlated pinned {clang_prog} visual linum opcodes")
    # source rows escaped for DOT; the prototype opens each function; bytes after insns
    assert "; if (acc & 1)\\l\\\n" in dot
    assert "; __u32 pid = bpf_get_current_pid_tgid() \\>\\> 32;\\l\\\n" in dot
    assert "; hits[k] += classify(bpf_ktime_get_ns()) \\| 1;\\l\\\n" in dot
    assert re.search(r"; \[\S*vis\.bpf\.c line:34 col:\d+\]\\l\\\n", dot)
    assert "; int classify(__u64 x):\\l\\\n" in dot
    assert "   1: (77) r0 \\>\\>= 32\\l\\\n\\ \\ \\ \\ 77 00 00 00 20 00 00 00\\l\\\n" in dot
    if shutil.which("dot") is None:
        pytest.skip("graphviz (to parse the annotated graph) is not installed")
    r = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert "int visual_prog(void * ctx):" in r.stdout


@root_only
def test_own_compiler_program_matches() -> None:
    """A bpfscope-compiled probe with a while loop and if/else: same graph as bpftool's."""
    import io

    import bpfscope

    before = set(objinfo.iter_ids("prog"))
    src = ("tracepoint:syscalls:sys_enter_getppid { $i = 0; $s = 0; while ($i < 10) { "
           "if (($i & 3) == 0) { $s += $i; } else { $s |= 4; } $i++; } @[comm] = sum($s); }")
    with bpfscope.Program(src, out=io.StringIO()) as p:
        p.attach()
        new = sorted(set(objinfo.iter_ids("prog")) - before)
        assert new
        for pid in new:
            dot = same(f"prog dump xlated id {pid} visual")
            assert has_back_edge(dot)
            assert "\\|= r" in dot


@root_only
def test_bpftrace_program_matches() -> None:
    """A bpftrace 0.17 program with a while loop and branches."""
    if not shutil.which("bpftrace"):
        pytest.skip("bpftrace (reference peer) is not installed")
    if not shutil.which(BPFTOOL):
        pytest.skip("bpftool (reference peer) is not installed")
    before = set(objinfo.iter_ids("prog"))
    script = (f"tracepoint:syscalls:sys_enter_getppid /pid == {os.getpid()}/ {{ $i = 0; $s = 0; "
              "while ($i < 8) { if ($i & 1) { $s += $i; } else { $s = $s << 1; } $i++; } "
              "if ($s > 5) { @h = hist($s); } else { @c = count(); } }")
    proc = subprocess.Popen(["bpftrace", "-e", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 30
        while "Attaching" not in seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
        assert "Attaching" in seen, seen
        new = wait_perf_attached(proc.pid)  # "Attaching" comes before the load
        assert set(new) <= set(objinfo.iter_ids("prog")) - before
        for pid in new:
            dot = same(f"prog dump xlated id {pid} visual")
            assert has_back_edge(dot) and "\\&" in dot
    finally:
        proc.send_signal(2)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@root_only
def test_jmp32_program_matches() -> None:
    """A hand-assembled jmp32 branch splits blocks like any jump, as in bpftool."""
    from bpfscope.kernel import syscall as sc
    from bpfscope.kernel import uapi

    prog = [I.mov64_imm(0, 0), I.Insn(I.JMP32 | I.JGT | I.K, 1, 0, 2, 5), I.mov64_imm(0, 1),
            I.Insn(I.JMP | I.JA, 0, 0, 1, 0), I.mov64_imm(0, 2), I.exit_()]
    fd, _ = sc.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, I.encode(prog), name="vis_j32",
                         log_level=1, log_size=1 << 16)
    try:
        dot = same(f"prog dump xlated id {objinfo.prog_info(fd).id} visual")
        assert "if w1 \\> 0x5 goto pc+2" in dot
        assert edges(dot) == [(0, 0, 2), (0, 2, 3), (0, 2, 4), (0, 3, 5), (0, 4, 5), (0, 5, 1)]
    finally:
        os.close(fd)


# ------------------------------------------------------------------ pure rules
def test_row_escaping_and_cut() -> None:
    assert visual.escape_row("(77) r0 >>= 3") == "(77) r0 \\>\\>= 3\\l\\\n"
    assert visual.escape_row("(5c) w1 &= w2 | <") == "(5c) w1 \\&= w2 \\| \\<\\l\\\n"
    long = "(85) call " + "x" * 80
    assert visual.escape_row(long) == long[:63]  # bpftool's 64-byte buffer loses the newline
    assert visual.escape_source('a{b}"c\\d<e>|f') == 'a\\{b\\}\\"c\\\\d\\<e\\>\\|f'


def test_path_shortening() -> None:
    assert visual.shorten_path("/tmp/x.c") == "/tmp/x.c"
    p = "/home/someone/work/project/src/bpf/progs/prog.bpf.c"
    assert visual.shorten_path(p) == ".../src/bpf/progs/prog.bpf.c"
    assert visual.shorten_path("/w/" + "a" * 30) == "/w/" + "a" * 30  # cutting "/w" is not worth it
    assert visual.shorten_path("/w/" + "a" * 40 + ".c") == ".../" + "a" * 40 + ".c"
    assert visual.shorten_path("/x/" + "b" * 40 + "/c.c") == ".../c.c"


def test_blocks_and_edges_rules() -> None:
    prog = [
        I.mov64_imm(0, 0),                      # 0  func 0, block 2
        I.jmp_imm(I.JEQ, 1, 0, 2),              # 1  -> 4 ; falls to 2
        I.Insn(I.JMP | I.CALL, 0, 1, 4, 1),     # 2  block 3: bpf-to-bpf call to 7 (off 4)
        I.Insn(I.JMP | I.JA, 0, 0, -4, 0),      # 3  goto 0: a back edge
        I.exit_(),                              # 4  block 4
        I.mov64_imm(0, 2),                      # 5  still block 4: an exit ends no block
        I.exit_(),                              # 6
        I.call(5),                              # 7  func 1: a helper call ending a block?
        I.exit_(),                              # 8
    ]
    funcs = visual.split_functions(prog)
    assert [(f.start, f.end, f.idx) for f in funcs] == [(0, 6, 0), (7, 8, 1)]
    f0 = funcs[0]
    f0.blocks = visual.split_blocks(prog, f0)
    assert [(b.head, b.tail, b.idx) for b in f0.blocks] == [(0, 1, 2), (2, 3, 3), (4, 6, 4)]
    assert visual.block_edges(prog, f0) == [(0, 2), (2, 3), (2, 4), (3, 2), (4, 1)]
    dot = visual.render(I.encode(prog))
    assert dot.count("subgraph") == 2 and dot.endswith("}\n}\n")
    assert "fn_1_bb_2 [shape=record,style=filled,label=\"{   0: (85) call " in dot


def test_call_ending_a_block_gets_two_edges() -> None:
    """bpftool 7.1 treats a call at a block's end as a conditional jump to insn+off+1."""
    prog = [I.jmp_imm(I.JEQ, 1, 0, 1), I.call(5), I.exit_()]
    f = visual.split_functions(prog)[0]
    f.blocks = visual.split_blocks(prog, f)
    assert [(b.head, b.tail) for b in f.blocks] == [(0, 0), (1, 1), (2, 2)]
    assert visual.block_edges(prog, f) == [(0, 2), (2, 3), (2, 4), (3, 4), (3, 4), (4, 1)]
