"""The `ctx` builtin per probe type and percpu_kaddr()'s compile-time errors (bpftrace 0.26).

Each program runs for real through the CLI against a workload the test drives; outputs are
compared exactly. `ctx` is `struct bpf_perf_event_data *` in interval/profile/software probes
and `struct pt_regs *` in uprobes (read with direct loads the verifier rewrites), and an
untyped kernel pointer to the tracepoint record / raw tracepoint argument array elsewhere.
percpu_kaddr()'s runs need kallsyms data symbols this kernel lacks: tests/vm/test_percpu_ctx_vm.py.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

# struct pt_regs members holding the first three arguments and the return value
_REGS = {"x86_64": ("di", "si", "dx", "ax"), "aarch64": ("regs[0]", "regs[1]", "regs[2]", "regs[0]")}
A0, A1, A2, RET = _REGS.get(platform.machine(), _REGS["x86_64"])

TP = "struct tp { long regs; int nr; long fd; long buf; unsigned long count; } "

CASES = [
    # (id, program, workload args or "", exact stdout)
    ("interval-sample-period", "i:ms:1 { print(ctx.sample_period); exit(); }", "", "1000000\n\n\n"),
    ("interval-ctx-through-var-and-cast",
     "i:us:1500 { $c = (struct bpf_perf_event_data *)ctx; "
     "print(($c->sample_period, $c.regs.sp == ctx.regs.sp, (*$c).sample_period)); exit(); }",
     "", "(1500000, true, 1500000)\n\n\n"),
    ("software-sample-period", "software:page-faults:7 /pid == cpid/ { print(ctx.sample_period); exit(); }",
     "1", "7\n\n\n"),
    ("profile-ctx", "profile:hz:99 { print(ctx.sample_period > 0); exit(); }", "", "true\n\n\n"),
    ("uprobe-ctx-regs",
     f"uprobe:libc:read /pid == cpid && ctx.{A2} == 1/ "
     f"{{ @[ctx.{A2} == arg2, ctx.{A1} == arg1, ctx.{A0} == arg0] = count(); }}",
     "7 r", "\n\n@[true, true, true]: 7\n"),
    ("uretprobe-ctx-regs",
     f"uretprobe:libc:read /pid == cpid && retval == 1/ {{ @[ctx.{RET}, ((struct pt_regs *)ctx)->{RET} == retval] "
     "= count(); }", "6 r", "\n\n@[1, true]: 6\n"),
    ("tracepoint-ctx-is-the-record",
     TP + "tracepoint:syscalls:sys_enter_read /pid == cpid && args.count == 1/ { $t = (struct tp *)ctx; "
     "@[$t->nr == args.__syscall_nr, $t->count, $t->fd == args.fd] = count(); }",
     "5 r", "\n\n@[true, 1, true]: 5\n"),
    ("rawtracepoint-ctx-is-the-args-array",
     "#include <syscall.h>\nrawtracepoint:sys_enter /pid == cpid && ((int64 *)ctx)[1] == __NR_getppid/ "
     "{ @n = count(); }", "4", "\n\n@n: 4\n"),
]
if platform.machine() == "x86_64":   # the interrupted context's code segment: the user's is 0x33
    CASES.append(("software-regs-cs",
                  "software:page-faults:1 /pid == cpid && usermode/ "
                  "{ print((ctx.regs.cs, (ctx.regs.cs & 3) == 3, ctx.regs.csx == ctx.regs.cs)); exit(); }",
                  "1", "(51, true, true)\n\n\n"))


@pytest.mark.parametrize("prog,wl_args,out", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ctx(prog: str, wl_args: str, out: str, workload: Path) -> None:
    args = ["-q", "-e", prog] + (["-c", f"{workload} {wl_args}"] if wl_args else [])
    r = bpfscope(*args)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == out


def test_ctx_bpftrace_runtime_row() -> None:
    # bpftrace's tests/runtime row (its expectation is a pattern: the first word of pt_regs)
    r = bpfscope("-q", "-e", 'struct x {unsigned long x}; i:ms:1 { printf("SUCCESS %lu\\n", ((struct x*)ctx).x); '
                             "exit(); }")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"SUCCESS \d+\n\n\n", r.stdout), r.stdout


P_KEY = "i:ms:1 { @[(struct bpf_perf_event_data *)ctx] = 1; exit(); }"
P_VALUE = "i:ms:1 { @p = ctx; exit(); }"


def _err(prog: str, start: int, length: int, msg: str) -> str:
    return f"stdin:1:{start + 1}-{start + 1 + length}: ERROR: {msg}\n{prog}\n" + " " * start + "~" * length + "\n"


P_UNKNOWN = 'begin { print(percpu_kaddr("no_such_percpu_var")); }'
P_NOTLIT = 'begin { $n = "runqueues"; print(percpu_kaddr($n)); }'
P_CPU = 'begin { print(percpu_kaddr("runqueues", "0")); }'


@pytest.mark.parametrize("prog,stderr", [
    (P_UNKNOWN, _err(P_UNKNOWN, 14, 34, 'Could not resolve variable "no_such_percpu_var" from BTF')),
    (P_NOTLIT, _err(P_NOTLIT, 45, 2, "percpu_kaddr() expects a string literal")),
    (P_CPU, _err(P_CPU, 40, 3, "percpu_kaddr() expects an integer cpu (string provided)")),
    # the context is read with direct loads through the program's own ctx register only
    (P_KEY, _err(P_KEY, 11, 33, "context cannot be used as a map key")),
    (P_VALUE, _err(P_VALUE, 9, 2, "context cannot be used as a map value")),
], ids=["unknown-variable", "not-a-literal", "cpu-not-an-integer", "ctx-map-key", "ctx-map-value"])
def test_compile_errors(prog: str, stderr: str) -> None:
    r = bpfscope("-q", "-e", prog)
    assert (r.returncode, r.stderr) == (1, stderr)


def test_percpu_kaddr_code() -> None:
    # what the kernel is handed (its runs are in the VM lane): the variable's BTF id in an
    # ld_imm64 BPF_PSEUDO_BTF_ID with BTF object fd 0 (vmlinux), then bpf_this_cpu_ptr, or
    # bpf_per_cpu_ptr with the cpu as u32 and its NULL turned into a plain 0
    from bpfscope.kernel import insn as I
    from bpfscope.kernel.btf import Btf
    from bpfscope.kernel.uapi import HELPER_ID
    from bpfscope.runtime.program import Program

    var = Btf.vmlinux().find_all("runqueues", "var")[0]
    cp = Program('tracepoint:syscalls:sys_enter_getppid { @a = percpu_kaddr("runqueues").cpu; '
                 '@b = percpu_kaddr("runqueues", 3).cpu; }').compile()
    ins = cp.progs[0].insns
    at = [i for i, x in enumerate(ins) if x.code == I.LD | I.DW | I.IMM and x.src == I.PSEUDO_BTF_ID]
    assert len(at) == 2
    for i in at:
        assert (ins[i].dst, ins[i].imm, ins[i + 1].imm) == (I.R1, var, 0)
    assert ins[at[0] + 2].imm == HELPER_ID["this_cpu_ptr"]
    assert ins[at[1] - 1].code == I.ALU | I.MOV | I.X and ins[at[1] - 1].dst == I.R2   # (u32)cpu
    call, jne, zero = ins[at[1] + 2], ins[at[1] + 3], ins[at[1] + 4]
    assert call.imm == HELPER_ID["per_cpu_ptr"]
    assert (jne.code, jne.dst, jne.imm, jne.off) == (I.JMP | I.JNE | I.K, I.R0, 0, 1)
    assert (zero.code, zero.dst, zero.imm) == (I.ALU64 | I.MOV | I.K, I.R0, 0)


def test_percpu_kaddr_without_data_symbols_says_why() -> None:
    """A kernel without CONFIG_KALLSYMS_ALL (this one) cannot give a variable's address: the
    load error says so instead of only quoting the verifier."""
    with open("/proc/kallsyms") as f:
        if any(ln.split()[2:3] == ["process_counts"] for ln in f):
            pytest.skip("this kernel's kallsyms has data symbols (the VM lane tests the real reads)")
    r = bpfscope("-e", 'begin { print(percpu_kaddr("process_counts")); exit(); }')
    assert r.returncode == 1
    assert r.stderr.splitlines()[0].endswith(
        "ldimm64 failed to find the address for kernel symbol 'process_counts'. (the kernel resolves "
        "variables through kallsyms, which lists data symbols only with CONFIG_KALLSYMS_ALL)"), r.stderr
