"""Property: any program the grammar generates either compiles and loads into this kernel, or
fails with a located diagnostic. Never a Python traceback, never a verifier rejection.

Programs are generated with a small environment (which variables and maps exist with which
types) so that most are well typed and reach the verifier; a share of them is deliberately
wrong (unknown fields, string arithmetic, out-of-scope variables, bad tuple indexes) to drive
the diagnostics. Without root only compilation is checked.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = os.geteuid() == 0

INT_ATOMS = ["pid", "tid", "cpu", "nsecs", "curtask->pid", "curtask->real_parent->tgid", "curtask.mm.map_count",
             "sizeof(struct task_struct)", "offsetof(struct task_struct, pid)", "(uint8)pid", "(int16)-3",
             "1_000", "10ms", "true", "0x10", "args", "@missing", "$undefined"]
STR_ATOMS = ['"abc"', "comm", "curtask->comm", "curtask->real_parent->comm", '"x"']
BAD = ["curtask->nosuchfield", '"a" + 1', "(struct task_struct)1", "$t.9", "sizeof(struct nosuch)",
       "curtask->comm->x", "*curtask", "comm[0]", "(int8[3])1"]


class Env:
    def __init__(self) -> None:
        self.ints: list[str] = []
        self.strs: list[str] = []
        self.maps: list[str] = []
        self.n = 0
        self.preamble = ""

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


@st.composite
def int_expr(draw: st.DrawFn, env: Env, depth: int = 0) -> str:
    choices = ["atom", "lit"] + (["var"] if env.ints else []) + (["map"] if env.maps else [])
    if depth < 3:
        choices += ["bin", "bin", "un", "tern", "cmp", "strcmp", "block"]
    kind = draw(st.sampled_from(choices))
    if kind == "lit":
        return str(draw(st.integers(-1000, 100000)))
    if kind == "atom":
        return draw(st.sampled_from(INT_ATOMS[:15]) if draw(st.integers(0, 9)) else st.sampled_from(INT_ATOMS))
    if kind == "var":
        return draw(st.sampled_from(env.ints))
    if kind == "map":
        return f"{draw(st.sampled_from(env.maps))}[{draw(int_expr(env, 3))}]"
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "&&", "||"]))
        return f"({draw(int_expr(env, depth + 1))} {op} {draw(int_expr(env, depth + 1))})"
    if kind == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"({draw(int_expr(env, depth + 1))} {op} {draw(int_expr(env, depth + 1))})"
    if kind == "strcmp":
        return f"({draw(str_expr(env))} {draw(st.sampled_from(['==', '!=']))} {draw(str_expr(env))})"
    if kind == "un":
        return f"{draw(st.sampled_from(['-', '!', '~']))}{draw(int_expr(env, depth + 1))}"
    if kind == "block":
        return f"{{ let $b{depth} = {draw(int_expr(env, depth + 1))}; $b{depth} + 1 }}"
    return f"({draw(int_expr(env, depth + 1))} ? {draw(int_expr(env, depth + 1))} : {draw(int_expr(env, depth + 1))})"


@st.composite
def str_expr(draw: st.DrawFn, env: Env) -> str:
    if env.strs and draw(st.booleans()):
        return draw(st.sampled_from(env.strs))
    return draw(st.sampled_from(STR_ATOMS))


@st.composite
def stmt(draw: st.DrawFn, env: Env, depth: int = 0) -> str:
    kinds = ["setint", "setint", "setstr", "setmap", "count", "printf", "print", "tuple", "record", "let",
             "struct"]
    if depth < 2:
        kinds += ["if", "range", "formap", "while"]
    if draw(st.integers(0, 14)) == 0:
        kinds = ["bad"]
    kind = draw(st.sampled_from(kinds))
    if kind == "bad":
        return f"print({draw(st.sampled_from(BAD))});"
    if kind == "setint":
        v = draw(st.sampled_from(env.ints)) if env.ints and draw(st.booleans()) else env.fresh("$i")
        text = f"{v} = {draw(int_expr(env))};"
        if v not in env.ints:
            env.ints.append(v)
        return text
    if kind == "let":
        v = env.fresh("$l")
        t = draw(st.sampled_from(["uint8", "int16", "uint32", "int64"]))
        text = f"let {v}: {t} = {draw(int_expr(env))};"
        env.ints.append(v)
        return text
    if kind == "setstr":
        v = env.fresh("$s")
        text = f"{v} = {draw(str_expr(env))};"
        env.strs.append(v)
        return text
    if kind == "setmap":
        m = draw(st.sampled_from(env.maps)) if env.maps and draw(st.booleans()) else env.fresh("@m")
        text = f"{m}[{draw(int_expr(env, 2))}] = {draw(int_expr(env, 1))};"
        if m not in env.maps:
            env.maps.append(m)
        return text
    if kind == "count":
        if "@c" not in env.maps and draw(st.booleans()):
            env.maps.append("@c")
        return f"@c[{draw(int_expr(env, 2))}] = count();"
    if kind == "struct":
        if "struct P" in env.preamble:
            return "$p = (struct P *)curtask; print($p->x + 1); print($p.s); print(*$p);"
        if "twice" in env.preamble:
            return f"print(twice({draw(int_expr(env, 2))}));"
        return f"@rec[{draw(int_expr(env, 2))}] = (a=1, b={draw(str_expr(env))});"
    if kind == "printf":
        return f'printf("%d %s\\n", {draw(int_expr(env))}, {draw(str_expr(env))});'
    if kind == "print":
        return f"print({draw(int_expr(env)) if draw(st.booleans()) else draw(str_expr(env))});"
    if kind == "tuple":
        v = env.fresh("$t")
        idx = draw(st.sampled_from([0, 1, 0, 1, 2]))
        return f"{v} = ({draw(int_expr(env, 2))}, {draw(str_expr(env))}); print({v}.{idx});"
    if kind == "record":
        v = env.fresh("$r")
        return f"{v} = (a={draw(int_expr(env, 2))}, b={draw(str_expr(env))}); print({v}.b); print({v});"
    # compound statements: their new variables are block scoped
    saved = (list(env.ints), list(env.strs))
    if kind == "if":
        a = draw(block(env, depth + 1))
        env.ints, env.strs = list(saved[0]), list(saved[1])
        b = draw(block(env, depth + 1))
        text = f"if ({draw(int_expr(env, 2))}) {a} else {b}"
    elif kind == "range":
        v = env.fresh("$k")
        env.ints.append(v)
        text = f"for ({v} : {draw(st.integers(-2, 3))}..{draw(st.integers(0, 5))}) {draw(block(env, depth + 1))}"
    elif kind == "while":
        v = env.fresh("$w")
        text = f"{v} = 0; while ({v} < {draw(st.integers(0, 4))}) {{ {v}++; {draw(stmt(env, depth + 1))} }}"
        saved = (saved[0] + [v], saved[1])
    else:
        if not env.maps:
            return "@m0[1] = 1;"
        v = env.fresh("$kv")
        body = draw(block(env, depth + 1))
        text = f"for ({v} : {draw(st.sampled_from(env.maps))}) {{ print({v}.1); {body} }}"
    env.ints, env.strs = saved
    return text


@st.composite
def block(draw: st.DrawFn, env: Env, depth: int) -> str:
    body = " ".join(draw(st.lists(stmt(env, depth), min_size=1, max_size=3)))
    return "{ " + body + " }"


@st.composite
def program(draw: st.DrawFn) -> str:
    env = Env()
    env.preamble = draw(st.sampled_from(["", "struct P { int x; char s[4]; }\n", "#define K 3\n",
                                         "macro twice(x) { x * 2 }\n", "config = { max_map_keys = 64 }\n"]))
    stmts = draw(st.lists(stmt(env), min_size=1, max_size=6))
    return env.preamble + "begin { " + " ".join(stmts) + " }"


def check(src: str) -> None:
    import bpfscope
    from bpfscope.lang.diagnostics import CompileError
    from bpfscope.runtime.program import VerifierError

    p = bpfscope.Program(src)
    try:
        try:
            p.compile()
        except CompileError as e:
            assert e.span is not None, f"unlocated diagnostic {e.message!r} for {src!r}"
            assert not isinstance(e, VerifierError)
            return
        if not ROOT:
            return
        try:
            p.load()
        except VerifierError as e:
            pytest.fail(f"verifier rejected {src!r}: {e.message}\n{e.hint}")
    finally:
        p.close()


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="programs use kernel BTF types")
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program())
def test_generated_programs_compile_and_load_or_fail_located(src: str) -> None:
    check(src)


@pytest.mark.parametrize("src", [
    "begin { @m1[1] = 2; for ($kv : @m1) { for ($j : 0..2) { if ($j) { print($kv.1); } } } }",
    'begin { $t = (1, "a"); $r = (a=$t, b=comm); print($r.a.1); @x[$r.b] = $r.a.0; }',
    "begin { let $a: uint8 = curtask->pid; $p = curtask; $q = $p->real_parent; print($q->pid + $a); }",
])
def test_known_shapes(src: str) -> None:
    check(src)
