"""BCC probe specifiers: pure parsing (no kernel), plus library resolution on this machine."""

from __future__ import annotations

import os

import pytest

from bpfscope.tools import bccspec as B


@pytest.mark.parametrize("text,want", [
    ("vfs_*", ("p", "", "vfs_*")),
    ("p::do_sys_open", ("p", "", "do_sys_open")),
    ("r::do_sys_open", ("r", "", "do_sys_open")),
    ("c:pthread_mutex_lock", ("p", "c", "pthread_mutex_lock")),
    ("p:c:malloc", ("p", "c", "malloc")),
    ("r:c:malloc", ("r", "c", "malloc")),
    ("t:syscalls:sys_enter_*", ("t", "syscalls", "sys_enter_*")),
    ("u:pthread:mutex_*", ("u", "pthread", "mutex_*")),
    ("u:/usr/bin/node:gc*", ("u", "/usr/bin/node", "gc*")),
    ("::ktime_get", ("p", "", "ktime_get")),
])
def test_split_spec(text: str, want: tuple[str, str, str]) -> None:
    ps = B.split_spec(text)
    assert (ps.type, ps.library, ps.name) == want


@pytest.mark.parametrize("text,msg", [
    ("x:lib:f", "probe type must be"),
    ("t::sched_switch", "tracepoint must be"),
    ("", "empty"),
    ("u::probe", "USDT probe needs"),
    ("p:c:", "no function"),
])
def test_split_spec_errors(text: str, msg: str) -> None:
    with pytest.raises(B.SpecError, match=msg):
        B.split_spec(text)


def test_pattern_rejects_return_probe() -> None:
    with pytest.raises(B.SpecError, match="Type must be"):
        B.parse_pattern("r::vfs_read")


def test_kernel_property() -> None:
    assert B.split_spec("vfs_read").kernel
    assert B.split_spec("t:sched:sched_switch").kernel
    assert not B.split_spec("c:malloc").kernel


def test_attach_points_kernel_and_tracepoint() -> None:
    assert B.attach_points(B.split_spec("vfs_*")) == ["kprobe:vfs_*"]
    assert B.attach_points(B.split_spec("r::do_sys_open")) == ["kretprobe:do_sys_open"]
    assert B.attach_points(B.split_spec("t:syscalls:sys_enter_*")) == ["tracepoint:syscalls:sys_enter_*"]


def test_library_c_is_libc() -> None:
    path = B.resolve_library("c")
    assert path is not None and os.path.basename(path).startswith("libc.so")
    aps = B.attach_points(B.split_spec("c:pthread_mutex_lock"))
    assert aps == [f"uprobe:{path}:pthread_mutex_lock"]
    assert B.attach_points(B.split_spec("r:c:malloc")) == [f"uretprobe:{path}:malloc"]


def test_library_path_and_exe() -> None:
    assert B.resolve_library("/nonexistent/x") is None
    sh = B.resolve_library("sh")
    assert sh is not None and os.path.basename(sh) == "sh"
    with pytest.raises(B.SpecError, match="can't find library nosuchlibzz"):
        B.attach_points(B.split_spec("nosuchlibzz:f"))


def test_regex_tracepoints() -> None:
    aps = B.attach_points(B.split_spec("t:syscalls:sys_enter_getppid$"), regex=True)
    assert aps == ["tracepoint:syscalls:sys_enter_getppid"]
    aps = B.attach_points(B.split_spec("t:syscalls:^sys_enter_getp.*"), regex=True)
    assert "tracepoint:syscalls:sys_enter_getppid" in aps and "tracepoint:syscalls:sys_enter_getpid" in aps
    assert all(a.startswith("tracepoint:syscalls:sys_enter_getp") for a in aps)


def test_regex_user_functions() -> None:
    aps = B.attach_points(B.split_spec("c:^pthread_mutex_(un)?lock$"), regex=True)
    names = sorted(a.rsplit(":", 1)[1] for a in aps)
    assert names == ["pthread_mutex_lock", "pthread_mutex_unlock"]
    with pytest.raises(B.SpecError, match="No functions"):
        B.attach_points(B.split_spec("c:^zz_no_such_fn$"), regex=True)
    with pytest.raises(B.SpecError, match="invalid regular expression"):
        B.attach_points(B.split_spec("c:(("), regex=True)


def test_glob_to_regex() -> None:
    assert B.glob_to_regex("vfs_*") == "^vfs_.*$"
    assert B.glob_to_regex("a.b") == "^a\\.b$"


def test_c_expr() -> None:
    assert B.c_expr("arg1 + arg2") == "arg0 + arg1"
    assert B.c_expr("$retval > 0") == "retval > 0"
    assert B.c_expr("args->count") == "args->count"
    assert B.c_expr('"arg1"') == '"arg1"'
    sig = B.parse_signature("struct sock *sk, int len")
    assert B.c_expr("sk->sk_state == len", sig) == "((struct sock *)arg0)->sk_state == ((int)arg1)"
    with pytest.raises(B.SpecError, match="only available in return probes"):
        B.c_expr("retval", None, retval_ok=False)


def test_parse_trace_user_notes() -> None:
    p = B.parse_trace('r::do_sys_open "ret: %d", retval')
    assert (p.spec.type, p.spec.name, p.fmt, p.args, p.predicate) == ("r", "do_sys_open", "ret: %d", ["retval"], "")
    p = B.parse_trace('r::sock_alloc "open %llx", retval')
    assert p.fmt == "open %llx" and p.args == ["retval"]
    p = B.parse_trace('__sock_release "close %llx", arg1')
    assert (p.spec.type, p.spec.library, p.spec.name, p.args) == ("p", "", "__sock_release", ["arg0"])


def test_parse_trace_signature_predicate() -> None:
    p = B.parse_trace('p:c:write(int fd, char *buf, int n) (fd == 1 && n > 2) "%d %s", n, buf')
    assert p.spec == B.ProbeSpec("p", "c", "write")
    assert p.predicate == "((int)arg0) == 1 && ((int)arg2) > 2"
    assert p.args == ["((int)arg2)", "((char *)arg1)"]
    p = B.parse_trace("t:syscalls:sys_enter_read (args->count > (1 + 2))")
    assert p.predicate == "args->count > (1 + 2)" and p.fmt == ""


@pytest.mark.parametrize("text,msg", [
    ('t:syscalls:sys_enter_read(int x) "%d", x', "can't have a function signature"),
    ('vfs_read (arg1 > 0 "x"', "unmatched end of predicate"),
    ('vfs_read "%d %d", arg1', "expected 2 arguments"),
    ("vfs_read oops", "expected format string"),
    ('vfs_read "unterminated', "unterminated"),
    ('vfs_read "%d", retval', "only available in return probes"),
])
def test_parse_trace_errors(text: str, msg: str) -> None:
    with pytest.raises(B.SpecError, match=msg):
        B.parse_trace(text)


def test_conversions() -> None:
    assert B.conversions("a %d %% %-5s %llx %08.3f") == ["d", "s", "x", "f"]


def test_parse_argdist() -> None:
    a = B.parse_argdist("r::__tcp_select_window():int:$retval")
    assert (a.spec, a.types, a.exprs, a.filter, a.label) == (
        B.ProbeSpec("r", "", "__tcp_select_window"), ["int"], ["retval"], "", "")
    a = B.parse_argdist("t:syscalls:sys_exit_read():long:args->ret:args->ret > 0#read sizes")
    assert (a.spec.type, a.spec.library, a.spec.name) == ("t", "syscalls", "sys_exit_read")
    assert (a.types, a.exprs, a.filter, a.label) == (["long"], ["args->ret"], "args->ret > 0", "read sizes")
    a = B.parse_argdist("p:c:malloc(size_t size):size_t,u32:size,size/16:size>16")
    assert a.exprs == ["((size_t)arg0)", "((size_t)arg0)/16"] and a.filter == "((size_t)arg0)>16"
    a = B.parse_argdist("p::vfs_read")
    assert a.exprs == ["1"]


@pytest.mark.parametrize("text,msg", [
    ("x::f", "probe type must be"),
    ("p::f", None),
    ("p::f:int", "a type needs an expression"),
    ("p::f:int,int:a", "2 type"),
    ("vfs_read", "probe must be"),
])
def test_parse_argdist_errors(text: str, msg: str | None) -> None:
    if msg is None:
        B.parse_argdist(text)
        return
    with pytest.raises(B.SpecError, match=msg):
        B.parse_argdist(text)
