"""Property: no input, however mangled, makes the parser raise anything but CompileError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfscope.lang.bpftrace.parser import parse
from bpfscope.lang.diagnostics import CompileError, Source

SEED = """#include <linux/sched.h>
struct S { int a; };
config = { stack_mode = perf }
let @m = hash(10);
macro m($a, b) { $a + b }
fn f($x: int64): int64 { return $x; }
uprobe:/bin/bash:readline, k:vfs_* /pid != 0 && $1 > 2/ {
  $t = (1, "s\\n", (a=1)); @h[comm, tid] = hist((uint32)-1 + sizeof(struct S));
  for ($i : 0..10) { if ($i % 2) { continue } else if (!$i) { break; } }
  @x++; --$y; $z <<= 1ms; print(*(int8 *)arg0); $k = $t.0; { 1 }
}
"""
PIECES = ["{", "}", "(", ")", "[", "]", "/", "*", ";", ":", ",", ".", "..", "$", "@", "#", '"', "\\",
          "'", "+", "-", "=", "==", "<<=", "?", "0x", "1e", "ms", "struct ", "if", "else", "for", "let ",
          "->", "BEGIN", "kprobe:", "config", "macro ", "fn ", "sizeof", "offsetof", "/*", "*/", "//",
          "\n", " ", "$1", "$#", "unroll", "while", "return", "é", "\x00"]


def _check(text: str) -> None:
    try:
        parse(text)
    except CompileError as err:
        Source(text).error(err)  # rendering must not fail either


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=60))
def test_random_token_soup(pieces: list[str]) -> None:
    _check("".join(pieces))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SEED)), st.integers(0, 8),
                          st.sampled_from(PIECES) | st.text(max_size=2)), max_size=6))
def test_mutated_program(edits: list[tuple[int, int, str]]) -> None:
    text = SEED
    for pos, cut, insert in edits:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + cut:]
    _check(text)


def test_seed_is_valid() -> None:
    assert len(parse(SEED).probes) == 1
