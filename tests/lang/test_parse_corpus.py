"""Parse real bpftrace programs: documentation one-liners, tool-style scripts and, when the
Debian bpftrace package is installed, every tool it ships. Each is compared with an expected
shape kept in data/ (one-liners: the whole tree, checked by hand; tools: probes, predicates
and maps, taken from the script text by a separate walk)."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfscope.lang.bpftrace import ast
from bpfscope.lang.bpftrace.parser import parse
from bpfscope.lang.diagnostics import CompileError, Source

ONE_LINERS = [
    'BEGIN { printf("hello world\\n"); }',
    'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args.filename)); }',
    "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
    "tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args.ret); }",
    "kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }",
    "kprobe:vfs_read { @start[tid] = nsecs; } "
    "kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start, tid); }",
    "tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }",
    "profile:hz:99 { @[kstack] = count(); }",
    "tracepoint:sched:sched_switch { @[kstack] = count(); }",
    "tracepoint:block:block_rq_issue { @ = hist(args.bytes); }",
    'kprobe:vfs_open { printf("open path: %s\\n", str(((struct path *)arg0)->dentry->d_name.name)); }',
    "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
    'kprobe:do_nanosleep { printf("PID %d sleeping...\\n", pid); }',
    "tracepoint:syscalls:sys_enter_execve { join(args.argv); }",
    'uretprobe:/bin/bash:readline { printf("read a line\\n"); }',
    "k:vfs_* { @[func] = count(); }",
    "software:faults:100 { @[comm] = count(); }",
    "hardware:cache-misses:1e6 { @[pid] = count(); }",
    'watchpoint:0x10000000:8:rw { printf("hit!\\n"); }',
    'iter:task { printf("%s:%d\\n", ctx.task.comm, ctx.task.pid); }',
    'rawtracepoint:vmlinux:kfree_skb { printf("%llx %llx\\n", arg0, args.skb); }',
    'fexit:fget { printf("fd %d name %s\\n", args.fd, str(retval.f_path.dentry.d_name.name)); }',
    'self:signal:SIGUSR1 { print("abc"); }',
    "bench:lhist { @a = lhist(rand % 10, 1, 10, 1); } bench:count { @b = count(); }",
    'test:failure { print("This is a failure!"); return 1; }',
    'begin { printf("I got %d, %s (%d args)\\n", $1, str($2), $#); }',
    'begin { printf("%s\\n", str($1 + 1)) }',
    "begin { print((getopt(\"aa\", 1), getopt(\"bb\"))); }",
    "begin { $x = 1<<16; printf(\"%d %d\\n\", (uint16)$x, $x); }",
    "interval:1s { print(@syscalls); clear(@syscalls); }",
    "kprobe:ip_output { @[kstack(perf, 3)] = count(); }",
    'interval:s:1 { printf("%r\\n", buf(kaddr("avenrun"), 8)); }',
    "interval:s:1 { $sw = nsecs(sw_tai); $tai = nsecs(tai); printf(\"%lldns\\n\", ($sw + $sw)/2 - $tai); }",
    "begin { @x = offsetof(struct Foo, a.b.c.d); exit(); }",
    "kprobe:dummy { @associative[1,2] = 1; if (!has_key(@associative, (1,3))) { print((\"bye\")); } }",
    "begin { $a = (int8[8])12345; printf(\"%x %x\\n\", $a[0], $a[1]); printf(\"%d\\n\", (uint64)$a); }",
    "fentry:tcp_connect { if (args.sk.__sk_common.skc_daddr == (uint32)pton(\"127.0.0.1\")) { exit() } }",
    "begin { let $a = { let $b = 1; $b }; _ = has_key(@a, 1); @[pid, comm]++; @[(pid, comm)]++; }",
    "bench:my_loop { $a = 0; for ($i : 0..10) { $a++; } }",
    "begin { @map[10,11] = 20; for ($kv : @map) { print($kv.0.0); print($kv.0.1); print($kv.1); } }",
    "kprobe:arp_create { $stack_arg0 = *(uint8*)(reg(\"sp\") + 8); }",
    "kretprobe:d_lookup /@fname[tid]/ { printf(\"%-8d %-6d %-16s M %s\\n\", elapsed / 1e6, pid, comm, "
    "str(@fname[tid])); }",
    'uprobe:libc:malloc { printf("Allocated %d bytes\\n", arg0); }',
    "usdt:/root/tick:loop { printf(\"%s: %d\\n\", str(arg0), arg1); }",
    "tracepoint:syscalls:sys_enter_ioctl /args->cmd == 0x40086602/ { @ioctl_count[pid]++; }",
]


DATA = Path(__file__).parent / "data"


def sexp(v: object) -> str:
    """A compact, stable spelling of a parse tree: `(Class positional... field=value)`;
    fields left at their default, spans and inferred types are omitted."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        parts = [type(v).__name__]
        for f in dataclasses.fields(v):
            if f.name in ("span", "type"):
                continue
            x = getattr(v, f.name)
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            if has_default and x == default:
                continue
            parts.append(f"{f.name}={sexp(x)}" if has_default else sexp(x))
        return "(" + " ".join(parts) + ")"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(sexp(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + " ".join(f"{k}:{sexp(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (str, bool)) or v is None:
        return json.dumps(v)
    return repr(v)


def _expected_trees() -> dict[str, str]:
    """parse_oneliners.txt: a JSON string (the program), its tree, a blank line; # comments."""
    lines = [ln for ln in (DATA / "parse_oneliners.txt").read_text().splitlines() if not ln.startswith("#")]
    blocks = [b for b in "\n".join(lines).split("\n\n") if b.strip()]
    return {json.loads(src): tree for src, tree in (b.strip().split("\n") for b in blocks)}


TREES = _expected_trees()


def test_every_one_liner_has_an_expected_tree() -> None:
    assert sorted(TREES) == sorted(ONE_LINERS)


@pytest.mark.parametrize("src", ONE_LINERS)
def test_one_liners(src: str) -> None:
    prog = parse(src)
    for probe in prog.probes:
        assert src[probe.span.start:probe.span.end].endswith("}")
    assert sexp(prog) == TREES[src]


# Tool-shaped scripts in the current (0.2x) style: args.field, config, let, macros, loops.
MODERN_TOOL = r"""#!/usr/bin/env bpftrace
/*
 * runqlat-style histogram, written in the modern dialect.
 */
#ifndef BPFTRACE_HAVE_BTF
#include <linux/sched.h>
#endif
#define TASK_RUNNING 0

config = { max_map_keys = 10240; print_maps_on_exit = false }

let @qtime = lruhash(10240);

macro enqueue(pid) {
  @qtime[pid] = nsecs;
}

begin
{
  printf("Tracing CPU scheduler... Hit Ctrl-C to end.\n");
}

tracepoint:sched:sched_wakeup,
tracepoint:sched:sched_wakeup_new
{
  enqueue(args.pid);
}

tracepoint:sched:sched_switch
{
  if (args.prev_state == TASK_RUNNING) {
    enqueue(args.prev_pid);
  }

  $ns = @qtime[args.next_pid];
  if ($ns) {
    @usecs = hist((nsecs - $ns) / 1000);
  }
  delete(@qtime, args.next_pid);
}

end
{
  clear(@qtime);
}
"""


def test_modern_tool_script() -> None:
    prog = parse(MODERN_TOOL, "runqlat.bt")
    assert [len(p.attach_points) for p in prog.probes] == [1, 2, 1, 1]
    assert prog.config == {"max_map_keys": 10240, "print_maps_on_exit": False}
    assert prog.c_definitions.startswith("#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\n#endif\n")
    sw = prog.probes[2].body.stmts[0]
    assert isinstance(sw, ast.If) and isinstance(sw.cond, ast.Binop)
    assert isinstance(sw.cond.right, ast.Int) and sw.cond.right.value == 0  # #define substituted


INSTALLED_TOOLS = sorted(glob.glob("/usr/share/doc/bpftrace/examples/*.bt")
                         + glob.glob("/usr/sbin/*.bt") + glob.glob("/usr/share/bpftrace/tools/*.bt"))


@pytest.mark.skipif(not INSTALLED_TOOLS, reason="bpftrace tool scripts are not installed")
@pytest.mark.parametrize("path", INSTALLED_TOOLS)
def test_installed_tools_parse(path: str) -> None:
    with open(path) as f:
        text = f.read()
    try:
        prog = parse(text, path)
    except CompileError as err:  # pragma: no cover - show the bpftrace-style message
        pytest.fail(Source(text, path).error(err))
    # expected shapes were taken from the scripts' text by a separate brace/regex walk (and the
    # two C struct definitions it mistook for probes removed by hand): probes with their attach
    # points and whether they have a predicate, and every @map the script names
    want = SHAPES[os.path.basename(path)]
    assert [[[ap.raw for ap in p.attach_points], p.predicate is not None] for p in prog.probes] == want["probes"]
    assert sorted({n.name for n in _nodes(prog.probes) if isinstance(n, ast.Map)}) == want["maps"]


SHAPES = json.loads((DATA / "parse_tools.json").read_text())


def _nodes(v: object) -> Iterator[object]:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        yield v
        for f in dataclasses.fields(v):
            if f.name not in ("span", "type"):
                yield from _nodes(getattr(v, f.name))
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _nodes(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _nodes(x)


def test_500_probe_script_parses() -> None:
    """(its parse time is a figure of bench/run.py --only checks)"""
    probe = (
        "tracepoint:syscalls:sys_enter_openat{i} /pid != 0 && comm == \"bash\"/ {{\n"
        "  @start[tid] = nsecs; $x = (uint32)args.flags & 0xff;"
        " printf(\"%s %d\\n\", str(args.filename), $x);\n}}\n"
    )
    text = "".join(probe.format(i=i) for i in range(500))
    prog = parse(text)
    assert len(prog.probes) == 500
    assert [[ap.raw for ap in p.attach_points] for p in prog.probes] == \
        [[f"tracepoint:syscalls:sys_enter_openat{i}"] for i in range(500)]
