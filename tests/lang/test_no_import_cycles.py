"""The bpfscope package has no import loops, and lang/ keeps its layering.

The graph is built statically (every module parsed with `ast`, relative imports resolved), so the
test sees imports that a run would only reach on some paths. An edge is ANY import statement:
module level, inside a function (lazy imports for start-up speed still tie two modules together)
and under `if TYPE_CHECKING:` (a type-only loop is still a design loop: `program` and
`stdlib_actions` once depended on each other that way). `from pkg import name` is an edge to
`pkg.name` when that is a module, else to `pkg`. A package's `__init__` is a module like others.

Layering inside lang/ (imports point one way):
front end lang/bpftrace → shared C types lang/ctype and back end lang/ebpf → kernel.insn/uapi.
The back end may use the C types (memory reads through BTF types need sizes and offsets);
the C types use neither front end nor back end. lang/compiler.py (driver) sits on top;
lang/spec.py, diagnostics.py and records.py are the base every part may use.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import bpfscope

PKG_DIR = Path(bpfscope.__file__).parent
BASE = {"bpfscope.lang", "bpfscope.lang.spec", "bpfscope.lang.diagnostics", "bpfscope.lang.records"}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in sorted(PKG_DIR.rglob("*.py")):
        parts = ("bpfscope",) + p.relative_to(PKG_DIR).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


@cache
def import_graph() -> dict[str, set[str]]:
    """module -> the bpfscope modules it imports (anywhere in the file)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (path, is_pkg) in mods.items():
        pkg = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    base = parts[:len(parts) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        graph[mod].add(sub)
                    elif target in mods:
                        graph[mod].add(target)
            elif isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in mods)
        graph[mod].discard(mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _a_loop(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One concrete loop inside a strongly connected component, for the failure message."""
    members = set(comp)
    start = comp[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(graph[path[-1]] & members)
        if start in nxt and len(path) > 1:
            return path + [start]
        step = next((n for n in nxt if n not in seen), None)
        if step is None:
            return comp
        path.append(step)
        seen.add(step)


def test_cycle_finder_finds_a_loop() -> None:
    """The checker itself: a loop is reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert _a_loop({"a": {"b"}, "b": {"a"}}, ["a", "b"]) == ["a", "b", "a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import loops:\n" + "\n".join(
        " -> ".join(m.removeprefix("bpfscope.") for m in _a_loop(graph, c)) for c in found)


def _violations(prefix: str, allowed: tuple[str, ...]) -> list[str]:
    graph = import_graph()
    bad = []
    for mod, deps in graph.items():
        if mod != prefix and not mod.startswith(prefix + "."):
            continue
        for d in sorted(deps):
            if not any(d == a or d.startswith(a + ".") for a in allowed):
                bad.append(f"{mod} imports {d}")
    return bad


@pytest.mark.parametrize("prefix,allowed", [
    # the back end knows no source language
    ("bpfscope.lang.ebpf", ("bpfscope.lang.ebpf", "bpfscope.lang.ctype", *BASE,
                           "bpfscope.kernel.insn", "bpfscope.kernel.uapi")),
    # the C types are shared by both front ends and used by the back end
    ("bpfscope.lang.ctype", ("bpfscope.lang.ctype", *BASE)),
    # the compiler's contract and diagnostics sit under everything in lang/
    ("bpfscope.lang.spec", ("bpfscope.lang.ctype.types", *BASE)),
    ("bpfscope.lang.diagnostics", BASE),
    ("bpfscope.lang.records", ()),
    # the bpftrace front end: no runtime, no other front end
    ("bpfscope.lang.bpftrace", ("bpfscope.lang.bpftrace", "bpfscope.lang.ctype", "bpfscope.lang.ebpf", *BASE,
                               "bpfscope.kernel.insn", "bpfscope.kernel.uapi")),
    # the BCC C front end: the shared C types and back end, never the bpftrace front end
    ("bpfscope.lang.bcc", ("bpfscope.lang.bcc", "bpfscope.lang.ctype", "bpfscope.lang.ebpf", *BASE,
                          "bpfscope.kernel.insn", "bpfscope.kernel.uapi")),
    # lang/ as a whole: nothing from runtime/ or anything above it
    ("bpfscope.lang", ("bpfscope.lang", "bpfscope.kernel.insn", "bpfscope.kernel.uapi")),
])
def test_lang_layering(prefix: str, allowed: tuple[str, ...]) -> None:
    assert not _violations(prefix, allowed)


def test_layering_check_catches_an_upward_import() -> None:
    """The checker itself: the front end does import the back end, which a back-end rule forbids."""
    assert _violations("bpfscope.lang.bpftrace", ("bpfscope.lang.bpftrace",))
