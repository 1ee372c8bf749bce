"""The pieces the tools share (tools/_stacktool.py, _histtool.py, _tcp.py, base.py): BCC's
stack layouts, the id lists, the blocked-time program each off-CPU tool prints with --ebpf,
-e's summary line and the options refused or exclusive in every tool that takes them."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bpfscope.tools import _histtool, _stacktool

from .conftest import bpfscope

K = ["__schedule", "schedule", "do_nanosleep"]        # leaf first, as decoded
U = ["clock_nanosleep", "a;b", "main"]


def test_folded_line_root_first_with_delimiter() -> None:
    line = _stacktool.folded_line("sleep", K, U, True, True, True)
    assert line == ["sleep", "main", "a;b", "clock_nanosleep", "-", "do_nanosleep", "schedule", "__schedule"]
    assert _stacktool.fold(line) == "sleep;main;a:b;clock_nanosleep;-;do_nanosleep;schedule;__schedule"
    # no delimiter without -d, nor when one side is empty; -U/-K drop a side
    assert "-" not in _stacktool.folded_line("s", K, U, True, True, False)
    assert _stacktool.folded_line("s", K, [], True, True, True) == ["s", "do_nanosleep", "schedule", "__schedule"]
    assert _stacktool.folded_line("s", K, U, False, True, False) == ["s", "main", "a;b", "clock_nanosleep"]
    assert _stacktool.folded_line("s", K, U, True, False, False) == ["s", "do_nanosleep", "schedule", "__schedule"]


def test_stack_rows_bcc_layout() -> None:
    text = _stacktool.stack_rows(K, U[:1], True, "sleep", 42, 1234)
    assert text == ("    __schedule\n    schedule\n    do_nanosleep\n    --\n    clock_nanosleep\n"
                    "    -                sleep (42)\n        1234\n")
    assert "--" not in _stacktool.stack_rows(K, U, False, "x", 1, 1)


def test_int_list_messages() -> None:
    parse = _stacktool.int_list("int list")
    assert parse("5,7") == [5, 7]
    with pytest.raises(argparse.ArgumentTypeError, match="invalid int list value: '5,x'"):
        parse("5,x")
    with pytest.raises(argparse.ArgumentTypeError, match="must be positive"):
        parse("5,0")


def _ns(**kw: Any) -> argparse.Namespace:
    base = {"tgid": None, "pid": None, "user_threads_only": False, "kernel_threads_only": False, "state": None,
            "min_block_time": 1, "max_block_time": _stacktool.U64_MAX}
    base.update(kw)
    return argparse.Namespace(**base)


def test_thread_state_and_range_conditions() -> None:
    assert _stacktool.thread_cond(_ns(tgid=5), "$p") == "$p->tgid == 5"
    assert _stacktool.thread_cond(_ns(tgid=[5, 6]), "$p") == "$p->tgid == 5 || $p->tgid == 6"
    assert _stacktool.thread_cond(_ns(pid=[7]), "$w") == "$w->pid == 7"
    assert _stacktool.thread_cond(_ns(user_threads_only=True), "$p") == "($p->flags & 2097152) == 0"
    assert _stacktool.thread_cond(_ns(), "$p") == ""
    assert _stacktool.state_cond(_ns(state=0), "$p") == "$p->__state == 0"
    assert _stacktool.state_cond(_ns(state=2), "$p") == "($p->__state & 2) != 0"
    assert _stacktool.block_range(_ns()) == "$d >= 1"
    assert _stacktool.block_range(_ns(min_block_time=10, max_block_time=100)) == "$d >= 10 && $d <= 100"


def test_offcputime_program_text() -> None:
    r = bpfscope("offcputime", "--ebpf", "-p", "5", "--state", "2", "-m", "10", "-M", "100", "-K")
    assert r.returncode == 0, r.stderr
    assert r.stdout == """rawtracepoint:sched_switch {
  $p = args.prev;
  if ($p->tgid == 5 && ($p->__state & 2) != 0) { @start[$p->pid] = nsecs; @kst[$p->pid] = kstack; }
  $n = args.next;
  $t = @start[$n->pid];
  if ($t) {
    delete(@start, $n->pid);
    $d = (nsecs - $t) / 1000;
    if ($d >= 10 && $d <= 100) {
      @counts[$n->pid, $n->tgid, $n->comm, @kst[$n->pid], 0] = sum($d);
    }
  }
}
"""


def test_offwaketime_program_takes_the_waker_between() -> None:
    r = bpfscope("offwaketime", "--ebpf", "-t", "3,4", "-U")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("rawtracepoint:sched_waking { $w = args.p; if (($w->pid == 3 || $w->pid == 4)) "
                        "{ @wk[$w->pid] = (comm, tid, pid, 0, ustack); } }")
    i = lines.index("    $d = (nsecs - $t) / 1000;")
    assert lines[i + 1:i + 4] == ["    $wk = @wk[$n->pid];", "    delete(@wk, $n->pid);", "    if ($d >= 1) {"]


class _Ext(_histtool.HistTool):
    """-e's bookkeeping against a dict in place of the kernel maps (pure logic)."""

    name = "ext"

    def __init__(self, json: bool, maps: dict[str, int]) -> None:
        super().__init__(argparse.Namespace(extension=True, milliseconds=True, json=json))
        self.store = maps
        self.cleared: list[str] = []

    def map(self, name: str) -> Any:
        return self.store.get(name)

    def clear(self, name: str) -> None:
        self.cleared.append(name)


def test_extension_summary() -> None:
    t = _Ext(False, {"@ext_total": 100, "@ext_count": 7})
    assert t.unit() == (1000000, "msecs")
    assert "@ext_total = sum($d);" in t.extension()
    t.extension_summary("msecs")
    assert t._buf == ["\navg = 14 msecs, total: 100 msecs, count: 7\n\n"]
    assert t.cleared == ["@ext_total", "@ext_count"]
    t = _Ext(True, {"@ext_total": 100, "@ext_count": 7})    # --json: one record a line, no text
    t.extension_summary("msecs")
    assert t._buf == [] and t.cleared == ["@ext_total", "@ext_count"]
    t = _Ext(False, {})
    t.extension_summary("msecs")
    assert t._buf == []


@pytest.mark.parametrize(("tool", "instead"), [("execsnoop", "-u/-P"), ("opensnoop", "-p/-t/-u"),
                                               ("tcpaccept", "-p"), ("tcpconnect", "-p/-u")])
def test_pinned_maps_refused_plainly(tool: str, instead: str) -> None:
    r = bpfscope(tool, "--mntnsmap", "/sys/fs/bpf/x")
    assert r.returncode == 1
    assert r.stderr == (f"{tool}: --cgroupmap/--mntnsmap filter on BCC's pinned maps, which bpfscope "
                        f"does not support; use {instead} instead\n")


@pytest.mark.parametrize("tool", ["tcpaccept", "tcpconnect", "tcplife", "tcpretrans", "tcpstates"])
def test_family_options_exclusive(tool: str) -> None:
    r = bpfscope(tool, "-4", "-6")
    assert r.returncode == 2 and "argument -6/--ipv6: not allowed with argument -4/--ipv4" in r.stderr
