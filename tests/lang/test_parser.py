"""Parser unit tests: AST shapes, spans, literals and bpftrace-style syntax errors."""

from __future__ import annotations

import pytest

from bpfscope.lang.bpftrace import ast
from bpfscope.lang.bpftrace.ast import Span
from bpfscope.lang.bpftrace.parser import parse
from bpfscope.lang.diagnostics import CompileError, Source


def body(src: str) -> list[ast.Stmt]:
    return parse(src).probes[0].body.stmts


def expr(src: str) -> ast.Expr:
    """The value of `$v = <src>` inside a BEGIN probe."""
    stmt = body("BEGIN { $v = " + src + "; }")[0]
    assert isinstance(stmt, ast.Assign)
    return stmt.value


def error(src: str) -> str:
    with pytest.raises(CompileError) as info:
        parse(src)
    return Source(src, "stdin").error(info.value)


def text_of(src: str, span: Span) -> str:
    return src[span.start:span.end]


# ------------------------------------------------------------------ probes
def test_tracepoint_printf_shape_and_spans() -> None:
    src = 'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }'
    prog = parse(src)
    (probe,) = prog.probes
    (ap,) = probe.attach_points
    assert (ap.provider, ap.parts, ap.raw) == ("tracepoint", ["syscalls", "sys_enter_openat"], ap.raw)
    assert text_of(src, ap.span) == "tracepoint:syscalls:sys_enter_openat"
    assert probe.predicate is None
    (stmt,) = probe.body.stmts
    assert isinstance(stmt, ast.ExprStmt)
    call = stmt.expr
    assert isinstance(call, ast.Call) and call.name == "printf"
    fmt, comm, strcall = call.args
    assert isinstance(fmt, ast.Str) and fmt.value == "%s %s\n"
    assert isinstance(comm, ast.Builtin) and comm.name == "comm"
    assert isinstance(strcall, ast.Call) and strcall.name == "str"
    field = strcall.args[0]
    assert isinstance(field, ast.Field) and field.arrow and field.name == "filename"
    assert isinstance(field.base, ast.Builtin) and field.base.name == "args"
    assert text_of(src, field.span) == "args->filename"
    assert text_of(src, call.span) == 'printf("%s %s\\n", comm, str(args->filename))'
    assert text_of(src, probe.body.span).startswith("{") and probe.body.span.end == len(src)


def test_count_map_with_key() -> None:
    (stmt,) = body("kprobe:vfs_read { @[comm] = count(); }")
    assert isinstance(stmt, ast.Assign) and stmt.op == ""
    assert isinstance(stmt.target, ast.Map) and stmt.target.name == "@"
    assert [type(k) for k in stmt.target.keys] == [ast.Builtin]
    assert isinstance(stmt.value, ast.Call) and stmt.value.name == "count" and stmt.value.args == []


def test_kretprobe_hist_retval() -> None:
    prog = parse("kretprobe:vfs_read { @bytes=hist(retval); }")
    assert prog.probes[0].attach_points[0].provider == "kretprobe"
    (stmt,) = prog.probes[0].body.stmts
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.target, ast.Map)
    assert stmt.target.name == "@bytes" and stmt.target.keys == []
    assert isinstance(stmt.value, ast.Call) and isinstance(stmt.value.args[0], ast.Builtin)


def test_kstack_call_vs_builtin() -> None:
    (stmt,) = body("t:block:block_rq_insert {@[kstack(3), comm] = count();}")
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.target, ast.Map)
    k0, k1 = stmt.target.keys
    assert isinstance(k0, ast.Call) and k0.name == "kstack" and isinstance(k0.args[0], ast.Int)
    assert isinstance(k1, ast.Builtin)
    (stmt,) = body("profile:hz:49 /pid/ { @samples[ustack, kstack, comm] = count(); }")
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.target, ast.Map)
    assert [k.name for k in stmt.target.keys if isinstance(k, ast.Builtin)] == ["ustack", "kstack", "comm"]
    prog = parse("profile:hz:49 /pid/ { @samples[ustack, kstack, comm] = count(); }")
    assert isinstance(prog.probes[0].predicate, ast.Builtin)
    assert prog.probes[0].attach_points[0].parts == ["hz", "49"]


def test_ustack_mode_identifier() -> None:
    (stmt,) = body('k:do_nanosleep{printf("%s", ustack(perf));}')
    assert isinstance(stmt, ast.ExprStmt) and isinstance(stmt.expr, ast.Call)
    inner = stmt.expr.args[1]
    assert isinstance(inner, ast.Call) and inner.name == "ustack"
    assert isinstance(inner.args[0], ast.Identifier) and inner.args[0].name == "perf"


def test_two_probes_and_deref() -> None:
    prog = parse("tracepoint:timer:hrtimer_start {@[ksym(args->function)]=count();} interval:s:5 {exit();}")
    assert [p.attach_points[0].provider for p in prog.probes] == ["tracepoint", "interval"]
    assert prog.probes[1].attach_points[0].parts == ["s", "5"]
    (stmt,) = body('uprobe:/bin/bash:readline { printf("PS1: %s\\n", str(*uaddr("ps1_prompt")));}')
    assert isinstance(stmt, ast.ExprStmt) and isinstance(stmt.expr, ast.Call)
    strcall = stmt.expr.args[1]
    assert isinstance(strcall, ast.Call)
    deref = strcall.args[0]
    assert isinstance(deref, ast.Unop) and deref.op == "*" and isinstance(deref.operand, ast.Call)


def test_delete_with_map_keys() -> None:
    stmts = body("BEGIN { @b[1] = 1; delete(@b[1], @b[2], @b[3]); }")
    assert isinstance(stmts[1], ast.ExprStmt) and isinstance(stmts[1].expr, ast.Call)
    args = stmts[1].expr.args
    assert all(isinstance(a, ast.Map) and a.name == "@b" for a in args)
    keys = [a.keys[0] for a in args if isinstance(a, ast.Map)]
    assert [k.value for k in keys if isinstance(k, ast.Int)] == [1, 2, 3]


def test_uretprobe_short_name() -> None:
    ap = parse('ur:/bin/bash:readline {printf("%s\\n", str(retval));}').probes[0].attach_points[0]
    assert (ap.provider, ap.parts) == ("uretprobe", ["/bin/bash", "readline"])


ATTACH_CASES = [
    ("BEGIN", "begin", []),
    ("begin", "begin", []),
    ("END", "end", []),
    ("tracepoint:sched:sched_switch", "tracepoint", ["sched", "sched_switch"]),
    ("t:syscalls:sys_enter_*", "tracepoint", ["syscalls", "sys_enter_*"]),
    ("rawtracepoint:sched_switch", "rawtracepoint", ["sched_switch"]),
    ("rt:vmlinux:kfree_skb", "rawtracepoint", ["vmlinux", "kfree_skb"]),
    ("kprobe:do_nanosleep", "kprobe", ["do_nanosleep"]),
    ("kprobe:tcp_reset+16", "kprobe", ["tcp_reset+16"]),
    ("kprobe:kvm:x86_emulate_insn", "kprobe", ["kvm", "x86_emulate_insn"]),
    ("k:vfs_*", "kprobe", ["vfs_*"]),
    ("kprobe:{vfs_read,vfs_write}", "kprobe", ["{vfs_read,vfs_write}"]),
    ("kr:vfs_read", "kretprobe", ["vfs_read"]),
    ("uprobe:/bin/bash:readline", "uprobe", ["/bin/bash", "readline"]),
    ("u:libc:malloc", "uprobe", ["libc", "malloc"]),
    ("uprobe:./testprogs/uprobe_test:uprobeFunction1", "uprobe",
     ["./testprogs/uprobe_test", "uprobeFunction1"]),
    ("uprobe:/bin/ls:func+0x10", "uprobe", ["/bin/ls", "func+0x10"]),
    ("uprobe:/bin/ls:0x1234", "uprobe", ["/bin/ls", "0x1234"]),
    ('uprobe:"/path with:colon":func', "uprobe", ["/path with:colon", "func"]),
    ('uprobe:./bin:"ns::fn"', "uprobe", ["./bin", "ns::fn"]),
    ("uprobe:./bin:cpp:ns::fn", "uprobe", ["./bin", "cpp", "ns::fn"]),
    ("uprobe:$1:main", "uprobe", ["$1", "main"]),
    ("uretprobe:/lib/libc.so.6:malloc", "uretprobe", ["/lib/libc.so.6", "malloc"]),
    ("usdt:/root/tick:loop", "usdt", ["/root/tick", "loop"]),
    ("U:/usr/lib/libc.so.6:libc:setjmp", "usdt", ["/usr/lib/libc.so.6", "libc", "setjmp"]),
    ("usdt:*:loop", "usdt", ["*", "loop"]),
    ("profile:hz:99", "profile", ["hz", "99"]),
    ("profile:99", "profile", ["99"]),
    ("p:ms:10", "profile", ["ms", "10"]),
    ("interval:s:1", "interval", ["s", "1"]),
    ("interval:1s", "interval", ["1s"]),
    ("i:ms:100", "interval", ["ms", "100"]),
    ("software:cpu-clock:1000", "software", ["cpu-clock", "1000"]),
    ("s:faults:100", "software", ["faults", "100"]),
    ("hardware:cycles:100000", "hardware", ["cycles", "100000"]),
    ("h:cache-misses:1e6", "hardware", ["cache-misses", "1e6"]),
    ("hardware:cycles:", "hardware", ["cycles", ""]),
    ("fentry:tcp_reset", "fentry", ["tcp_reset"]),
    ("f:mod:fn", "fentry", ["mod", "fn"]),
    ("kfunc:vfs_read", "fentry", ["vfs_read"]),
    ("fexit:fget", "fexit", ["fget"]),
    ("fr:fget", "fexit", ["fget"]),
    ("kretfunc:vfs_read", "fexit", ["vfs_read"]),
    ("fentry:bpf:123:*", "fentry", ["bpf", "123", "*"]),
    ("iter:task", "iter", ["task"]),
    ("iter:task_file:/sys/fs/bpf/files", "iter", ["task_file", "/sys/fs/bpf/files"]),
    ("watchpoint:0x10000000:8:rw", "watchpoint", ["0x10000000", "8", "rw"]),
    ("self:signal:SIGUSR1", "self", ["signal", "SIGUSR1"]),
    ("test:okay", "test", ["okay"]),
    ("bench:my_loop", "bench", ["my_loop"]),
]


@pytest.mark.parametrize(("raw", "provider", "parts"), ATTACH_CASES)
def test_attach_points(raw: str, provider: str, parts: list[str]) -> None:
    for src in (raw + " { exit(); }", raw + "{ exit(); }", raw + " /pid == 1/ { exit(); }"):
        probe = parse(src).probes[0]
        (ap,) = probe.attach_points
        assert (ap.provider, ap.parts, ap.raw) == (provider, parts, raw)
        assert ap.span == Span(0, len(raw))


def test_multiple_attach_points_across_lines() -> None:
    src = "tracepoint:syscalls:sys_enter_open,\ntracepoint:syscalls:sys_enter_openat {\n\tprintf(\"x\");\n}"
    probe = parse(src).probes[0]
    assert [ap.parts[1] for ap in probe.attach_points] == ["sys_enter_open", "sys_enter_openat"]
    assert probe.span == Span(0, len(src))
    probe = parse("kprobe:tcp_reset,kprobe:*socket* { }").probes[0]
    assert [ap.raw for ap in probe.attach_points] == ["kprobe:tcp_reset", "kprobe:*socket*"]


def test_predicate_with_division_and_comment() -> None:
    probe = parse("kretprobe:vfs_read /retval / 2 > 10/ // note\n{ @ = count() }").probes[0]
    pred = probe.predicate
    assert isinstance(pred, ast.Binop) and pred.op == ">"
    assert isinstance(pred.left, ast.Binop) and pred.left.op == "/"
    probe = parse('kprobe:vfs_read /comm == "bash"/ { }').probes[0]
    assert isinstance(probe.predicate, ast.Binop) and probe.predicate.op == "=="
    probe = parse("kretprobe:d_lookup\n/@fname[tid]/\n{ }").probes[0]
    assert isinstance(probe.predicate, ast.Map)


def test_invalid_probe_type() -> None:
    assert error("foo:bar { }") == "stdin:1:1-8: ERROR: Invalid probe type: foo\nfoo:bar { }\n~~~~~~~\n"
    assert "Invalid probe type: kprob" in error("BEGIN {}\nkprob:x,kprobe:y {}")


# ------------------------------------------------------------- statements
def test_statements() -> None:
    src = """BEGIN {
      let $a;
      let $b = 1;
      let $c: uint32 = 2;
      $a += 1; $a -= 1; $a *= 2; $a /= 2; $a %= 3; $a &= 1; $a |= 1; $a ^= 1; $a <<= 1; $a >>= 1;
      $a++; @x--; ++$a; --@y[1];
      if ($a) { 1; } else if ($b) { 2 } else { 3 }
      unroll(3) { @z = 1 }
      while ($a < 10) { $a++; if ($a == 5) { break; } continue }
      for ($kv : @map) { print($kv.0); }
      for ($i : 0..ncpus) { print($i) }
      { $scoped = 1; }
      return;
    }"""
    stmts = body(src)
    kinds = [type(s).__name__ for s in stmts]
    assert kinds == ["Let", "Let", "Let"] + ["Assign"] * 10 + ["ExprStmt"] * 4 + [
        "If", "Unroll", "While", "For", "For", "Block", "Jump"]
    let_a, let_b, let_c = stmts[:3]
    assert isinstance(let_a, ast.Let) and let_a.var.name == "$a" and let_a.value is None
    assert isinstance(let_b, ast.Let) and isinstance(let_b.value, ast.Int)
    assert isinstance(let_c, ast.Let) and let_c.decl_type is not None and let_c.decl_type.name == "uint32"
    ops = [s.op for s in stmts[3:13] if isinstance(s, ast.Assign)]
    assert ops == ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]
    incs = [s.expr for s in stmts[13:17] if isinstance(s, ast.ExprStmt)]
    assert [(i.op, i.prefix) for i in incs if isinstance(i, ast.IncDec)] == [
        ("++", False), ("--", False), ("++", True), ("--", True)]
    if_stmt = stmts[17]
    assert isinstance(if_stmt, ast.If) and if_stmt.other is not None
    (nested,) = if_stmt.other.stmts
    assert isinstance(nested, ast.If) and nested.other is not None
    assert isinstance(nested.other.stmts[0], ast.ExprStmt)
    for_map, for_range = stmts[20], stmts[21]
    assert isinstance(for_map, ast.For) and isinstance(for_map.iterable, ast.Map)
    assert isinstance(for_range, ast.For) and isinstance(for_range.iterable, ast.Range)
    assert isinstance(for_range.iterable.high, ast.Builtin)
    ret = stmts[-1]
    assert isinstance(ret, ast.Jump) and ret.kind == "return" and ret.value is None


def test_return_value_and_empty_statements() -> None:
    stmts = body("test:x { ;; return 1; }")
    assert len(stmts) == 1 and isinstance(stmts[0], ast.Jump) and isinstance(stmts[0].value, ast.Int)


# ------------------------------------------------------------- expressions
def test_precedence() -> None:
    e = expr("1 + 2 * 3 << 1 == 14 && !0 || 0")
    assert isinstance(e, ast.Binop) and e.op == "||"
    land = e.left
    assert isinstance(land, ast.Binop) and land.op == "&&"
    eq = land.left
    assert isinstance(eq, ast.Binop) and eq.op == "=="
    shl = eq.left
    assert isinstance(shl, ast.Binop) and shl.op == "<<"
    add = shl.left
    assert isinstance(add, ast.Binop) and add.op == "+" and isinstance(add.right, ast.Binop)
    assert add.right.op == "*"
    e = expr("1 | 2 ^ 3 & 4")
    assert isinstance(e, ast.Binop) and e.op == "|" and isinstance(e.right, ast.Binop) and e.right.op == "^"
    e = expr("10 - 3 - 2")
    assert isinstance(e, ast.Binop) and isinstance(e.left, ast.Binop)  # left associative
    e = expr("$a ? 1 : $b ? 2 : 3")
    assert isinstance(e, ast.Ternary) and isinstance(e.other, ast.Ternary)


def test_unary_and_casts() -> None:
    e = expr("(uint32)-1")
    assert isinstance(e, ast.Cast) and e.to.name == "uint32" and isinstance(e.operand, ast.Int)
    assert e.operand.value == -1
    e = expr("(struct task_struct *)curtask")
    assert isinstance(e, ast.Cast) and (e.to.name, e.to.pointer) == ("struct task_struct", 1)
    e = expr("(int8[4])12345")
    assert isinstance(e, ast.Cast) and (e.to.name, e.to.array) == ("int8", 4)
    e = expr('(int8[])"abc"')
    assert isinstance(e, ast.Cast) and e.to.array == 0
    e = expr("**(int64**)reg(\"sp\")")
    assert isinstance(e, ast.Unop) and isinstance(e.operand, ast.Unop)
    assert isinstance(e.operand.operand, ast.Cast) and e.operand.operand.to.pointer == 2
    e = expr("((struct path *)arg0)->dentry->d_name.name")
    assert isinstance(e, ast.Field) and e.name == "name" and not e.arrow
    e = expr("(uint64_t)1")
    assert isinstance(e, ast.Cast)
    e = expr("($x) - 1")
    assert isinstance(e, ast.Binop) and isinstance(e.left, ast.Var)
    e = expr("(pid) * 2")
    assert isinstance(e, ast.Binop)
    e = expr("~$x & -$y")
    assert isinstance(e, ast.Binop) and isinstance(e.left, ast.Unop) and e.left.op == "~"
    assert isinstance(e.right, ast.Unop) and e.right.op == "-"
    e = expr("&$x")
    assert isinstance(e, ast.Unop) and e.op == "&"


def test_postfix_tuples_records() -> None:
    e = expr("$kv.0.1")
    assert isinstance(e, ast.Field) and e.name == "1" and isinstance(e.base, ast.Field) and e.base.name == "0"
    e = expr("$s.y[0]")
    assert isinstance(e, ast.Index) and isinstance(e.base, ast.Field)
    e = expr('(1, "hello")')
    assert isinstance(e, ast.Tuple) and len(e.elems) == 2
    e = expr("(1,)")
    assert isinstance(e, ast.Tuple) and len(e.elems) == 1
    e = expr("()")
    assert isinstance(e, ast.Tuple) and e.elems == []
    e = expr("(1)")
    assert isinstance(e, ast.Int)
    e = expr('(a=1, b="x")')
    assert isinstance(e, ast.Record) and e.names == ["a", "b"]
    e = expr("{ let $b = 1; $b }")
    assert isinstance(e, ast.BlockExpr) and isinstance(e.value, ast.Var) and len(e.stmts) == 1
    e = expr("sizeof(struct task_struct)")
    assert isinstance(e, ast.Sizeof) and isinstance(e.target, ast.TypeName)
    e = expr("sizeof($x)")
    assert isinstance(e, ast.Sizeof) and isinstance(e.target, ast.Var)
    e = expr("offsetof(struct Foo, a.b.c)")
    assert isinstance(e, ast.Offsetof) and e.fields == ["a", "b", "c"]
    e = expr("offsetof($x, a)")
    assert isinstance(e, ast.Offsetof) and isinstance(e.target, ast.Var)


def test_variables_positionals_builtins() -> None:
    e = expr("$1 + $# + $name")
    assert isinstance(e, ast.Binop) and isinstance(e.right, ast.Var) and e.right.name == "$name"
    left = e.left
    assert isinstance(left, ast.Binop)
    assert isinstance(left.left, ast.Positional) and left.left.index == 1
    assert isinstance(left.right, ast.PositionalCount)
    for name in ["pid", "tid", "uid", "gid", "nsecs", "elapsed", "numaid", "cpu", "ncpus", "comm",
                 "kstack", "ustack", "arg0", "arg11", "args", "retval", "func", "probe", "curtask",
                 "rand", "cgroup", "cpid", "username", "jiffies", "usermode", "sarg0", "__builtin_pid"]:
        e = expr(name)
        assert isinstance(e, ast.Builtin) and e.name == name
    assert isinstance(expr("AF_INET"), ast.Identifier)
    assert isinstance(expr("true"), ast.Bool) and expr("false").value is False  # type: ignore[attr-defined]
    e = expr("@")
    assert isinstance(e, ast.Map) and e.name == "@"


@pytest.mark.parametrize(
    ("lit", "value"),
    [
        ("0", 0), ("123", 123), ("0x1F", 31), ("0X10", 16), ("0123", 83), ("1_000_000", 1000000),
        ("2e3", 2000), ("1e6", 1000000), ("123UL", 123), ("123U", 123), ("123LL", 123), ("7ull", 7),
        ("18446744073709551615", 2**64 - 1), ("0xffffffffffffffff", 2**64 - 1),
        ("100ns", 100), ("5us", 5000), ("10ms", 10_000_000), ("1s", 10**9), ("1m", 60 * 10**9),
        ("2h", 7200 * 10**9), ("1d", 86400 * 10**9),
    ],
)
def test_integer_literals(lit: str, value: int) -> None:
    e = expr(lit)
    assert isinstance(e, ast.Int) and e.value == value


def test_integer_too_large() -> None:
    assert "18446744073709551616" in error("BEGIN { $x = 18446744073709551616; }")


@pytest.mark.parametrize(
    ("lit", "value"),
    [
        (r'"a\nb"', "a\nb"), (r'"\t"', "\t"), (r'"\\"', "\\"), (r'"\""', '"'), (r'"\x41"', "A"),
        (r'"\101"', "A"), (r'"\0"', "\0"), (r'"\033[31m"', "\x1b[31m"),
    ],
)
def test_string_escapes(lit: str, value: str) -> None:
    e = expr(lit)
    assert isinstance(e, ast.Str) and e.value == value


def test_string_escape_bytes_roundtrip() -> None:
    e = expr(r'"\xff\xfe é"')
    assert isinstance(e, ast.Str)
    assert e.value.encode("utf-8", "surrogateescape") == b"\xff\xfe \xc3\xa9"


# ------------------------------------------------------------- top level
def test_preamble() -> None:
    src = """#!/usr/bin/env bpftrace
/* header comment */
#include <linux/sched.h>
#define RED "\\033[31m"
#define MAXLEN 0x10
struct S {
  int x;
  struct { int y; } inner;
}
union U { int a; long b; };
enum E { A = 1, B };
typedef unsigned int myint_t;

config = {
    stack_mode=perf;
    max_map_keys=2;
    license="GPL"
}

import "lib.bt";
let @a = lruhash(100);
let @b = percpulruhash(20);

macro one() {
  1
}

macro add_one_to_each($a, @b, c) {
  $a += 1;
  @b += c;
}

fn add($x: int64, $y: int64): int64 { return $x + $y; }

begin { print(one() + MAXLEN); }
"""
    prog = parse(src)
    assert prog.c_definitions == (
        "#include <linux/sched.h>\n"
        '#define RED "\\033[31m"\n'
        "#define MAXLEN 0x10\n"
        "struct S {\n  int x;\n  struct { int y; } inner;\n}\n"
        "union U { int a; long b; };\n"
        "enum E { A = 1, B };\n"
        "typedef unsigned int myint_t;\n"
    )
    assert prog.config == {"stack_mode": "perf", "max_map_keys": 2, "license": "GPL"}
    assert text_of(src, prog.config_spans["max_map_keys"]) == "max_map_keys=2"
    assert prog.imports == ["lib.bt"]
    assert [(d.name, d.kind, d.max_entries) for d in prog.map_decls] == [
        ("@a", "lruhash", 100), ("@b", "percpulruhash", 20)]
    one, add_each = prog.macros
    assert one.name == "one" and one.params == [] and isinstance(one.body, ast.BlockExpr)
    assert add_each.params == ["$a", "@b", "c"] and isinstance(add_each.body, ast.Block)
    (fn,) = prog.functions
    assert fn.name == "add" and [p[0] for p in fn.params] == ["$x", "$y"]
    assert fn.ret is not None and fn.ret.name == "int64"
    (stmt,) = prog.probes[0].body.stmts
    assert isinstance(stmt, ast.ExprStmt) and isinstance(stmt.expr, ast.Call)
    total = stmt.expr.args[0]
    assert isinstance(total, ast.Binop) and isinstance(total.right, ast.Int) and total.right.value == 16


def test_empty_and_comment_only() -> None:
    assert parse("").probes == []
    assert parse("// nothing\n/* here */").probes == []


# ------------------------------------------------------------- errors
def test_syntax_error_points_at_token() -> None:
    # bpftrace 0.17 underlines "+;" (its lexer location drifts); 0.26 lexes exact token spans.
    src = "BEGIN { \n  @x = 1 +; }"
    assert error(src) == "stdin:2:11-12: ERROR: syntax error, unexpected ;\n  @x = 1 +; }\n          ~\n"
    assert error("BEGIN { @x = ; }").startswith("stdin:1:14-15: ERROR: syntax error, unexpected ;\n")


@pytest.mark.parametrize(
    ("src", "first_line"),
    [
        ("BEGIN { @x = 1 @y = 2 }", "stdin:1:16-18: ERROR: syntax error, unexpected map, expecting ; or }"),
        ('BEGIN { printf("a" }', 'stdin:1:20-21: ERROR: syntax error, unexpected }, expecting ) or ","'),
        ("BEGIN { if 1 }", "stdin:1:14-15: ERROR: syntax error, unexpected }, expecting {"),
        ("BEGIN { if (1) { } else x }",
         "stdin:1:25-26: ERROR: syntax error, unexpected identifier, expecting { or if"),
        ("BEGIN { unroll(2 { } }", "stdin:1:18-19: ERROR: syntax error, unexpected {, expecting )"),
        ("BEGIN { @x[] = 1; }", "stdin:1:12-13: ERROR: syntax error, unexpected ]"),
        ("BEGIN { $x = `; }", "stdin:1:14-15: ERROR: invalid character '`'"),
        ('BEGIN { @x = "a\\q"; }', "stdin:1:14-18: ERROR: invalid escape character '\\q'"),
        ('BEGIN { $x = "abc }', "stdin:1:14-20: ERROR: unterminated string"),
        ("kprobe:f /pid/ }", "stdin:1:16-17: ERROR: syntax error, unexpected }"),
        ("kprobe:f /pid/ @x",
         "stdin:1:18-18: ERROR: syntax error, unexpected end of file, expecting end predicate"),
        ("kprobe:f @x = 1", "stdin:1:10-12: ERROR: syntax error, unexpected map, expecting {"),
        ("BEGIN { /* open", "stdin:1:9-16: ERROR: end of file during comment"),
    ],
)
def test_error_messages(src: str, first_line: str) -> None:
    assert error(src).splitlines()[0] == first_line


def test_error_at_eof() -> None:
    out = error("BEGIN { @x = 1")
    assert out.startswith("stdin:1:15-15: ERROR: syntax error, unexpected end of file, expecting ; or }")


def test_filename_in_message() -> None:
    with pytest.raises(CompileError) as info:
        parse("BEGIN { ) }", "/tmp/e.bt")
    assert Source("BEGIN { ) }", "/tmp/e.bt").error(info.value).startswith("/tmp/e.bt:1:9-10: ERROR:")


def test_deep_nesting_is_a_compile_error() -> None:
    with pytest.raises(CompileError):
        parse("BEGIN { $x = " + "(" * 5000 + "1" + ")" * 5000 + "; }")
