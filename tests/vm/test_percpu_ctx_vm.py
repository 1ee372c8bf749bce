"""percpu_kaddr() and kprobe `ctx` on Debian's stock kernel (the VM lane).

percpu_kaddr needs the kernel to resolve the variable's address (ld_imm64 BPF_PSEUDO_BTF_ID
looks it up in kallsyms): the development kernel has no data symbols there (no
CONFIG_KALLSYMS_ALL), so its real runs live here; its compile-time errors are checked on the
host (tests/e2e/test_percpu_ctx.py). kprobes too exist only here.
"""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.vm
DD_777 = "dd if=/dev/zero of=/dev/null bs=1 count=777"


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout


def test_percpu_kaddr_runtime_row(bpfscope):
    # bpftrace's tests/runtime row: a CPU in range gives a non-NULL address
    prog = 'BEGIN{ $a = (int64*)0; print(((bool)percpu_kaddr("process_counts", 0), (bool)$a)); exit(); }'
    assert _ok(bpfscope("-q", "-e", prog)) == "(true, false)\n\n\n"


def test_percpu_kaddr_each_cpu_and_this_cpu(bpfscope):
    # struct rq's `cpu` field names the CPU whose runqueue it is: CPU i's copy says i, this
    # CPU's copy says cpu, and both ways of asking for this CPU give the same address;
    # a CPU beyond nr_cpu_ids gives NULL (bpf_per_cpu_ptr)
    prog = ('BEGIN { $i = 0; while ($i < ncpus) { printf("%d ", percpu_kaddr("runqueues", $i).cpu); $i++; } '
            'printf("| %d %d %d\\n", percpu_kaddr("runqueues").cpu == cpu, '
            'percpu_kaddr("runqueues") == percpu_kaddr("runqueues", cpu), '
            'percpu_kaddr("runqueues", 100000) == 0); exit(); }')
    out = _ok(bpfscope("-q", "-e", prog))
    n = os.cpu_count() or 1
    assert out == " ".join(str(i) for i in range(n)) + " | 1 1 1\n\n\n"


def test_percpu_kaddr_counter_follows_context_switches(bpfscope):
    # runqueues.nr_switches is this CPU's count of context switches, incremented just before
    # sched_switch fires: between two sched_switch events on one CPU it grows by exactly 1,
    # read through this CPU's address and through the explicit CPU's alike
    prog = ('tracepoint:sched:sched_switch { $n = percpu_kaddr("runqueues").nr_switches; '
            '$m = (*percpu_kaddr("runqueues", cpu)).nr_switches; '
            'if (@last[cpu] != 0) { if ($n - @last[cpu] == 1 && $m == $n) { @ok = 1; } else { @bad = 1; } } '
            '@last[cpu] = $n; } '
            'END { print((@ok, @bad)); clear(@last); clear(@ok); clear(@bad); }')
    out = _ok(bpfscope("-q", "-e", prog, "-c", "sleep 0.5"))
    assert out == "(1, 0)\n\n\n"


def test_percpu_kaddr_scalar_variable(bpfscope):
    # process_counts is an unsigned long per CPU: `*` reads it as one. Summed over CPUs it is the
    # kernel's nr_processes(), so positive; one CPU's value alone may wrap below zero (a process
    # is counted on the CPU that forks it and uncounted on the CPU that reaps it). Without a CPU
    # argument percpu_kaddr is this CPU's: the same word as with `cpu` as the argument.
    prog = ('BEGIN { $s = (uint64)0; $i = 0; while ($i < ncpus) { $s += *percpu_kaddr("process_counts", $i); '
            '$i++; } print(((int64)$s > 0, *percpu_kaddr("process_counts") == '
            '*percpu_kaddr("process_counts", cpu))); exit(); }')
    assert _ok(bpfscope("-q", "-e", prog)) == "(true, true)\n\n\n"


def test_kprobe_ctx_is_pt_regs(bpfscope):
    # dd's 777 one-byte reads: ctx.dx is vfs_read's third argument (count), as arg2
    prog = "kprobe:vfs_read /pid == cpid && ctx.dx == 1/ { @[ctx.dx == arg2, ctx.si == arg1] = count(); }"
    assert _ok(bpfscope("-q", "-e", prog, "-c", DD_777)) == "\n\n@[true, true]: 777\n"
    prog = ("kretprobe:vfs_read /pid == cpid && retval == 1/ "
            "{ @[ctx.ax, ((struct pt_regs *)ctx)->ax == retval] = count(); }")
    assert _ok(bpfscope("-q", "-e", prog, "-c", DD_777)) == "\n\n@[1, true]: 777\n"


def test_fentry_ctx_is_the_args_array(bpfscope):
    # a trampoline's ctx is its u64 argument array: vfs_read(file, buf, count, pos)
    prog = ("fentry:vfs_read /pid == cpid && args.count == 1/ "
            "{ @[((uint64 *)ctx)[2], ((uint64 *)ctx)[1] == (uint64)args.buf] = count(); }")
    assert _ok(bpfscope("-q", "-e", prog, "-c", DD_777)) == "\n\n@[1, true]: 777\n"
