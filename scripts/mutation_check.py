#!/usr/bin/env python3
"""Mutation check: does the test suite notice deliberate breakages of the source?

Copies the tree (src/, tests/, pyproject.toml) under /tmp, then for each mutation edits ONE
snippet of the copy, runs a narrow selection of the copy's tests against the copy (PYTHONPATH
= copy/src, cwd = copy, so `sys.executable -m bpfscope` in the tests imports the copy),
restores the file and records whether the tests failed. The working tree is never touched.

Before the mutations, a baseline run of every selection on the unmutated copy must pass
(otherwise a "caught" would mean nothing), and a probe checks that both the pytest process
and the CLI children it starts import bpfscope from the copy.

    python3 scripts/mutation_check.py             # all mutations; exit 0 only if all caught
    python3 scripts/mutation_check.py --list      # names and selections
    python3 scripts/mutation_check.py --only hist-log2-edge --only ur-alias

Mutations are located by their snippet, searched in every .py file under src/bpfscope (files
move between modules); a snippet found zero times or more than once is reported as an error
(the mutation table needs updating), which also makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD_ENV = "BPFSCOPE_MUTATION_CHILD"   # set in the copy's test runs: test_mutation.py skips itself


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str                 # the bug it stands for
    old: str                 # exact snippet, unique across src/bpfscope/**/*.py
    new: str
    tests: tuple[str, ...]   # pytest node ids (relative to the tree root)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("ur-alias", "the `ur` short name resolves to uprobe instead of uretprobe",
             '"uretprobe": "uretprobe", "ur": "uretprobe"', '"uretprobe": "uretprobe", "ur": "uprobe"',
             ("tests/lang/test_parser.py::test_uretprobe_short_name",
              "tests/user/test_uprobes_usdt.py::test_bash_readline_uretprobe")),
    Mutation("hist-log2-edge", "hist(): floor(log2 v) off by one in the BPF bucket computation",
             "e.emit(I.mov64_imm(p, 0), I.mov64_reg(I.R5, v))", "e.emit(I.mov64_imm(p, -1), I.mov64_reg(I.R5, v))",
             ("tests/e2e/test_spine.py::test_hist_text_byte_for_byte",)),
    Mutation("printf-x-as-d", "printf %x formats in decimal",
             'base = {"o": "o", "x": "x", "X": "X"}.get(conv, "d")', 'base = {"o": "o", "X": "X"}.get(conv, "d")',
             ("tests/runtime/test_output.py::test_printf",
              "tests/e2e/test_language_table.py::test_language_table[array-cast]")),
    Mutation("stack-merge", "issue 19 fix reverted: kstack(N)/ustack(N) keys print once per stack id",
             "return merge_entries(ents, vt) if has_stack(kt) else ents", "return ents",
             ("tests/reliability/test_stack_merge.py::test_limited_stack_keys_merge[kstack(1)]",)),
    Mutation("pid-filter", "-p PID: uprobes attach to every process instead of the one given",
             'a["ret"], env.pid if env.pid > 0 else -1,', 'a["ret"], -1,',
             ("tests/user/test_uprobes_usdt.py::test_uprobe_pid_filter",)),
    Mutation("lhist-step", "lhist(): bucket width step+1 instead of step",
             "I.alu64_imm(I.DIV, I.R4, step)", "I.alu64_imm(I.DIV, I.R4, step + 1)",
             ("tests/e2e/test_agg_arrays.py::test_arrays_print_like_hashes",)),
    Mutation("count-increment", "count() in a per-CPU array slot adds 2 per event",
             "e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)\n"
             "        e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 1), I.stx(8, I.R0, I.R1, 0))",
             "e.jump(I.jmp_imm(I.JEQ, I.R0, 0), done)\n"
             "        e.emit(I.ldx(8, I.R1, I.R0, 0), I.alu64_imm(I.ADD, I.R1, 2), I.stx(8, I.R0, I.R1, 0))",
             ("tests/e2e/test_spine.py::test_count_exact_for_child_workload",)),
    Mutation("str-length", "str(ptr) reads 8 bytes instead of the string size",
             'if limit is None:\n                    e.emit(I.mov64_imm(I.R2, n))',
             'if limit is None:\n                    e.emit(I.mov64_imm(I.R2, min(n, 8)))',
             ("tests/e2e/test_spine.py::test_openat_printf_shows_cat_hostname",)),
    Mutation("comm-truncated", "comm copied with an 8-byte limit (7 characters)",
             'I.mov64_imm(I.R2, min(16, size)))\n            e.call("get_current_comm")',
             'I.mov64_imm(I.R2, min(8, size)))\n            e.call("get_current_comm")',
             ("tests/reliability/test_stack_merge.py::test_stack_in_multi_key_merges",)),
    Mutation("int32-unsigned", "signed 32-bit values decoded as unsigned",
             '(4, True): "<i"', '(4, True): "<I"',
             ("tests/e2e/test_language_table.py::test_language_table[struct-from-user-memory]",)),
)


def copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".mypy_cache")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, dst / name, ignore=ignore, symlinks=True)
    shutil.copy2(ROOT / "pyproject.toml", dst / "pyproject.toml")


def child_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"   # a restored file must never be shadowed by a mutant's .pyc
    env[CHILD_ENV] = "1"
    return env


def pytest(copy: Path, nodes: list[str], timeout: float = 600) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header", "-rfE",
           *nodes]
    try:
        r = subprocess.run(cmd, cwd=copy, env=child_env(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode(errors="replace")
        return -1, out + "\n(timed out)"
    return r.returncode, r.stdout + r.stderr


PROBE = '''"""Written by scripts/mutation_check.py: the tests of the copy run the copy."""
import os
import subprocess
import sys
from pathlib import Path

import bpfscope
import tests.conftest

COPY = Path(__file__).resolve().parent.parent.parent


def test_imports_copy() -> None:
    assert Path(bpfscope.__file__).resolve().is_relative_to(COPY), bpfscope.__file__
    assert Path(tests.conftest.__file__).resolve().is_relative_to(COPY), tests.conftest.__file__
    # how conftest.bpfscope() starts the CLI: sys.executable, this environment
    code = "import importlib.util; print(importlib.util.find_spec('bpfscope.__main__').origin)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert Path(r.stdout.strip()).resolve().is_relative_to(COPY), (r.stdout, r.stderr)
    r = tests.conftest.bpfscope("--help")
    assert r.returncode == 0, r.stderr
'''


def find_snippet(copy: Path, m: Mutation) -> tuple[Path | None, str]:
    hits: list[Path] = []
    total = 0
    for f in sorted((copy / "src" / "bpfscope").rglob("*.py")):
        n = f.read_text().count(m.old)
        if n:
            hits.append(f)
            total += n
    if total != 1:
        where = ", ".join(str(h.relative_to(copy)) for h in hits) or "nowhere"
        return None, f"snippet found {total} times ({where})"
    return hits[0], ""


def first_failure(out: str) -> str:
    """The first failing test and the first assertion line: what noticed the breakage."""
    lines = out.splitlines()
    test = next((ln.split(" - ")[0].split(" ", 1)[1] for ln in lines if ln.startswith(("FAILED ", "ERROR "))),
                lines[-1] if lines else "(no output)")
    why = next((ln[1:].strip() for ln in lines if ln.startswith("E ")), "")
    return f"{test}: {why[:100]}" if why else test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help="run only this mutation (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutations and their tests")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated baseline run")
    ap.add_argument("--keep", action="store_true", help="keep the copy under /tmp")
    ap.add_argument("-v", "--verbose", action="store_true", help="print pytest output of missed mutations")
    a = ap.parse_args(argv)
    muts = [m for m in MUTATIONS if not a.only or m.name in a.only]
    if a.only and len(muts) != len(set(a.only)):
        print(f"unknown mutation in {a.only}; known: {[m.name for m in MUTATIONS]}", file=sys.stderr)
        return 2
    if a.list:
        for m in muts:
            print(f"{m.name:18} {m.why}\n{'':18} tests: {' '.join(m.tests)}")
        return 0

    copy = Path(tempfile.mkdtemp(prefix="bpfscope-mutants-"))
    t0 = time.monotonic()
    try:
        copy_tree(copy)
        probe = copy / "tests" / "reliability" / "copy_probe.py"
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text(PROBE)
        print(f"copy: {copy}")
        nodes = sorted({t for m in muts for t in m.tests})
        rc, out = pytest(copy, [str(probe.relative_to(copy)), *([] if a.no_baseline else nodes)])
        if rc != 0:
            print("baseline FAILED (the unmutated copy must pass its selections):")
            print(out[-4000:])
            return 2
        print(f"baseline: copy imported, {0 if a.no_baseline else len(nodes)} selected tests pass "
              f"({time.monotonic() - t0:.0f}s)")

        caught = errors = 0
        for m in muts:
            t1 = time.monotonic()
            path, err = find_snippet(copy, m)
            if path is None:
                errors += 1
                print(f"ERROR   {m.name:18} {err}")
                continue
            orig = path.read_text()
            path.write_text(orig.replace(m.old, m.new, 1))
            try:
                rc, out = pytest(copy, list(m.tests))
            finally:
                path.write_text(orig)
            dt = time.monotonic() - t1
            rel = path.relative_to(copy)
            if rc in (1, -1):       # tests failed (or hung): the breakage was noticed
                caught += 1
                print(f"CAUGHT  {m.name:18} {rel} ({dt:.0f}s) by {first_failure(out)}")
            elif rc == 0:
                print(f"MISSED  {m.name:18} {rel} ({dt:.0f}s): {m.why}")
                if a.verbose:
                    print(out[-2000:])
            else:                   # usage error, nothing collected, internal error
                errors += 1
                print(f"ERROR   {m.name:18} pytest exit {rc}: {first_failure(out)}")
        print(f"caught {caught}/{len(muts)}" + (f" ({errors} errors)" if errors else "")
              + f" in {time.monotonic() - t0:.0f}s")
        return 0 if caught == len(muts) else 1
    finally:
        if a.keep:
            print(f"kept {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
