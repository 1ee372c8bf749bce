"""The part of bpftrace 0.26's standard library that is written in bpftrace itself.

0.26 ships `stdlib/base.bt`, whose macros are expanded into the user's program like any
other; a failure inside one is reported at the stdlib's own location
(`stdlib/base.bt:6:5-37: ERROR: assert failed: …`). The text below is ours, laid out so the
lines a diagnostic can point at sit where 0.26's do. It is added to the program (and to the
`MultiSource` that renders diagnostics) only when the program calls one of its macros and
does not define a macro of the same name and arity itself.
"""

from __future__ import annotations

from . import ast as A
from .imports import MultiSource, shift

BASE_FILENAME = "stdlib/base.bt"
BASE_TEXT = """\
// Standard library macros (bpfscope's text, bpftrace 0.26's semantics).
// assert(cond, msg): report msg where the assertion fails, then exit with status 1.
// Defined here, not in the compiler, so its error points at this file.
macro assert(cond, msg) {
  if (!cond) {
    errorf("assert failed: %s", msg);
    exit(1);
  }
}
"""
# name -> arity of each macro in BASE_TEXT
BASE_MACROS = {"assert": 2}


def _needed(program: A.Program) -> bool:
    own = {(m.name, len(m.params)) for m in program.macros}
    return any(isinstance(n, A.Call) and BASE_MACROS.get(n.name) == len(n.args) and (n.name, len(n.args)) not in own
               for n in A.walk([program.probes, program.functions, program.macros]))


def with_stdlib(program: A.Program, source: MultiSource) -> bool:
    """Merge stdlib/base.bt's macros into `program` when it calls them; their spans live in
    `source` under the stdlib's file name. True when something was added."""
    if not _needed(program):
        return False
    from .parser import parse

    sub = parse(BASE_TEXT, BASE_FILENAME)
    base = source.add(BASE_TEXT, BASE_FILENAME)
    shift(sub.macros, base)
    own = {(m.name, len(m.params)) for m in program.macros}
    program.macros = [m for m in sub.macros if (m.name, len(m.params)) not in own] + program.macros
    return True
