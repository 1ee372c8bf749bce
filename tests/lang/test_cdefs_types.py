"""Preamble C definitions, type layout and the pre-typing rewrites (pure logic, no kernel needed
except where kernel BTF is read, which is skipped when /sys/kernel/btf/vmlinux is absent)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpfscope.lang.bpftrace import ast as A
from bpfscope.lang.bpftrace.desugar import desugar, display
from bpfscope.lang.bpftrace.parser import parse
from bpfscope.lang.ctype.cdefs import parse_cdefs
from bpfscope.lang.ctype.typedb import TypeDB, typedb_for
from bpfscope.lang.ctype.types import Kind
from bpfscope.lang.diagnostics import CompileError, Source

VMLINUX = "/sys/kernel/btf/vmlinux"


def db_of(src: str, btf: bool = False) -> TypeDB:
    prog = parse(src + "\nbegin { }")
    loader = None
    if btf:
        from bpfscope.kernel.btf import Btf

        loader = Btf.vmlinux
    return typedb_for(prog, {"btf": loader, "have_btf": btf})


def layout(db: TypeDB, name: str) -> list[tuple[str, int, int, int]]:
    t = db.named(name)
    assert t is not None
    return [(m.name, m.offset, m.shift, m.bits) for m in db.members(t)]


def test_struct_layout_matches_gcc(tmp_path: pytest.TempPathFactory) -> None:
    """Offsets and sizes agree with what the C compiler lays out for the same definitions."""
    defs = ("struct inner { short x; short y; };\n"
            "struct S { int a; unsigned char flags:3, mode:5; char name[8]; struct inner in;\n"
            "  union { int i; char c[4]; } u; long arr[2]; unsigned int w:20, v:20; char tail; };\n")
    db = db_of(defs)
    s = db.named("struct S")
    assert s is not None
    offsets = {m.name: m.offset for m in db.members(s)}
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to compare layouts")
    d = str(tmp_path)
    src = os.path.join(d, "l.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <stddef.h>\n" + defs +
                'int main(void) { printf("%zu %zu %zu %zu %zu %zu\\n", sizeof(struct S), offsetof(struct S, name), '
                "offsetof(struct S, in), offsetof(struct S, u), offsetof(struct S, arr), "
                "offsetof(struct S, tail)); }\n")
    subprocess.run(["gcc", "-o", os.path.join(d, "l"), src], check=True)
    out = subprocess.run([os.path.join(d, "l")], capture_output=True, text=True, check=True).stdout.split()
    assert [s.size, offsets["name"], offsets["in"], offsets["u"], offsets["arr"], offsets["tail"]] == \
        [int(x) for x in out]


def test_bitfields_and_packed() -> None:
    db = db_of("struct B { unsigned int a:3, b:5, c:30; } struct __attribute__((packed)) P { char c; int i; };")
    assert layout(db, "struct B") == [("a", 0, 0, 3), ("b", 0, 3, 5), ("c", 4, 0, 30)]
    p = db.named("struct P")
    assert p is not None and p.size == 5
    assert [m.offset for m in db.members(p)] == [0, 1]


def test_enums_typedefs_and_constant_expressions() -> None:
    db = db_of("#define BASE 4\nenum E { A = BASE << 1, B, C = A | 1 };\ntypedef unsigned short u16_t;\n"
               "typedef struct { u16_t v[BASE]; } wrap_t;")
    assert db.enum_constant("A") is not None and db.enum_constant("A")[0] == 8  # type: ignore[index]
    assert db.enum_constant("B")[0] == 9  # type: ignore[index]
    assert db.enum_constant("C")[0] == 9  # type: ignore[index]
    w = db.named("wrap_t")
    assert w is not None and w.kind is Kind.STRUCT and w.size == 8
    (m,) = db.members(w)
    assert m.type.kind is Kind.ARRAY and m.type.count == 4 and str(m.type.pointee) == "uint16"


def test_preprocessor_conditionals() -> None:
    cd = parse_cdefs("#define X 1\n#if defined(X) && X > 0\nstruct Yes { int a; };\n#else\nstruct No { int a; };\n"
                     "#endif\n#ifndef X\nstruct No2 { int b; };\n#endif\n")
    assert "struct Yes" in cd.records and "struct No" not in cd.records and "struct No2" not in cd.records


def test_c_definition_errors_are_located() -> None:
    """(A missing ';' before the closing brace is accepted: clang, which bpftrace uses, only warns.)"""
    src = "struct S {\n  int x y;\n};\nbegin { }"
    prog = parse(src)
    with pytest.raises(CompileError) as info:
        typedb_for(prog, {})
    assert Source(src).error(info.value) == (
        "stdin:2:9-10: ERROR: C definition: expected ';', got 'y'\n  int x y;\n        ~\n")


@pytest.mark.skipif(not os.access(VMLINUX, os.R_OK), reason="needs readable kernel BTF")
def test_btf_members_agree_with_kernel_btf() -> None:
    from bpfscope.kernel.btf import Btf

    db = db_of("", btf=True)
    btf = Btf.vmlinux()
    ts = db.named("struct task_struct")
    assert ts is not None and ts.size == btf.sizeof(btf.find("task_struct", "struct"))  # type: ignore[arg-type]
    pid = db.member(ts, "pid")
    assert pid is not None
    raw = btf.member(btf.find("task_struct", "struct"), "pid")  # type: ignore[arg-type]
    assert raw is not None and pid.offset == raw[0] // 8 and str(pid.type) == "int32"
    comm = db.member(ts, "comm")
    assert comm is not None and comm.type.kind is Kind.STRING and comm.type.size == 16
    parent = db.member(ts, "real_parent")
    assert parent is not None and str(parent.type) == "struct task_struct *"
    # a preamble struct may embed a kernel one
    db2 = db_of("struct W { int tag; struct list_head l; }", btf=True)
    w = db2.named("struct W")
    assert w is not None and w.size == 24


def scoped(src: str) -> A.Program:
    prog = parse(src)
    desugar(prog, {})
    return prog


def test_scopes_give_each_declaration_its_own_name() -> None:
    prog = scoped("begin { $x = 1; { $y = 2; } { $y = \"s\"; } if ($x) { let $z; $z = $x; } }")
    names = [n.name for n in _walk(prog) if isinstance(n, A.Var)]
    assert names[0] == "$x" and len({n for n in names if display(n) == "$y"}) == 2
    with pytest.raises(CompileError, match="Undefined or undeclared variable: \\$y"):
        scoped("begin { { $y = 2; } } end { print($y); }")
    # bpftrace 0.17 scripts assign in a block and use after it: kept probe-wide (with a warning)
    prog = scoped("begin { { $y = 2; } print($y); }")
    assert {n.name for n in _walk(prog) if isinstance(n, A.Var)} == {"$y"}


def test_macro_hygiene() -> None:
    prog = scoped("macro f($a, x) { $t = x; $a = $t; } begin { $t = 5; $v = 0; f($v, $t + 1); }")
    vars_ = {n.name for n in _walk(prog) if isinstance(n, A.Var)}
    assert "$t" in vars_ and any(display(v) == "$t" and v != "$t" for v in vars_)


def _walk(node: object) -> list[A.Node]:
    from bpfscope.lang.bpftrace.ast import walk

    return list(walk(node))
