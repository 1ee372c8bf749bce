"""Issue 14: RAW_TRACEPOINT_PROBE (ctx->args[i]), BPF_STACK_TRACE + get_stackid with the Python
side (walk, ksym, sym, clear), and BPF_PERF_OUTPUT as a real perf event array (per-CPU
buffers, the CPU in each callback, lost_cb with the kernel's lost count).

The programs run in this process through `bpfscope.bcc.BPF`, filtered to a workload whose
calls are known (getppid N times, pinned to one CPU; a thread renaming itself), so the
counts are exact."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_c, needs_root

pytestmark = needs_root

# a getppid loop with frame pointers and a known call chain: main -> outer -> inner -> leaf ->
# getppid (libc's getppid keeps no frame, so a frame-pointer walk skips its caller, leaf);
# each line N on stdin makes N calls and answers "done"; 0 or EOF ends it (so the test decides
# when it exits, and its maps can be read while it lives)
CHAIN_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) void leaf(void) { getppid(); asm volatile(""); }
__attribute__((noinline)) void inner(long n) { for (long i = 0; i < n; i++) leaf(); asm volatile(""); }
__attribute__((noinline)) void outer(long n) { inner(n); asm volatile(""); }
int main(void) {
    char line[32];
    puts("ready"); fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        long n = atol(line);
        if (n <= 0) break;
        outer(n);
        puts("done"); fflush(stdout);
    }
    return 0;
}
'''


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_c(tmp_path_factory.mktemp("chain"), "stackchain", CHAIN_C, "-O1", "-fno-omit-frame-pointer")


class Chain:
    """The chain workload, waiting for its next line on stdin."""

    def __init__(self, exe: Path, cpu: int | None = None) -> None:
        pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.p = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=pre)
        assert self.p.stdout is not None and self.p.stdout.readline() == b"ready\n"

    def run(self, n: int) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(b"%d\n" % n)
        self.p.stdin.flush()
        assert self.p.stdout.readline() == b"done\n"

    def end(self) -> None:
        if self.p.poll() is None:
            self.p.communicate(b"0\n", timeout=30)


@pytest.fixture
def chains() -> Iterator[list[Chain]]:
    made: list[Chain] = []
    yield made
    for c in made:
        if c.p.poll() is None:
            c.p.kill()
            c.p.wait()


# ---------------------------------------------------------------------- RAW_TRACEPOINT_PROBE
RAW_PROG = r'''
#include <linux/sched.h>
struct name_t { u32 tgid; u32 pid; char comm[TASK_COMM_LEN]; };
BPF_HASH(calls, u32, u64);
BPF_HASH(names, u32, struct name_t);
RAW_TRACEPOINT_PROBE(sys_enter)
{
    // TP_PROTO(struct pt_regs *regs, long id)
    if (ctx->args[1] != 110)          // __NR_getppid
        return 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid != TARGET)
        return 0;
    calls.increment(tgid);
    return 0;
}
RAW_TRACEPOINT_PROBE(task_rename)
{
    // TP_PROTO(struct task_struct *task, const char *comm)
    struct task_struct *t = (struct task_struct *)ctx->args[0];
    struct name_t n = {};
    n.tgid = t->tgid;
    if (n.tgid != TARGET)
        return 0;
    n.pid = t->pid;
    bpf_probe_read_kernel_str(&n.comm, sizeof(n.comm), (void *)ctx->args[1]);
    names.update(&n.pid, &n);
    return 0;
}
'''


def test_raw_tracepoint_probe_args(chain: Path, chains: list[Chain]) -> None:
    """ctx->args[1] is sys_enter's syscall number; args[0] of task_rename a task_struct read
    through BTF, args[1] the new name: exact call count, the renamed thread's pid and name."""
    import threading

    from bpfscope.bcc import BPF

    c = Chain(chain)
    chains.append(c)
    with BPF(text=RAW_PROG.replace("TARGET", str(c.p.pid))) as b:
        c.run(777)
        assert {k.value: v.value for k, v in b["calls"].items()} == {c.p.pid: 777}
        assert b["names"].items() == []     # the workload renames nothing
    c.end()
    tids: list[int] = []

    def rename() -> None:
        tids.append(threading.get_native_id())
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(15, b"bpfscope-raw", 0, 0, 0) == 0    # PR_SET_NAME

    with BPF(text=RAW_PROG.replace("TARGET", str(os.getpid()))) as b:
        th = threading.Thread(target=rename)
        th.start()
        th.join()
        got = {k.value: (v.tgid, v.pid, v.comm) for k, v in b["names"].items()}
    assert got == {tids[0]: (os.getpid(), tids[0], b"bpfscope-raw")}


# ---------------------------------------------------------------------- BPF_STACK_TRACE
STACK_PROG = r'''
struct key_t { int kid; int uid; };
BPF_HASH(counts, struct key_t, u64);
BPF_STACK_TRACE(stack_traces, 1024);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
        return 0;
    struct key_t key = {};
    key.kid = stack_traces.get_stackid(args, 0);
    key.uid = stack_traces.get_stackid(args, BPF_F_USER_STACK);
    counts.increment(key);
    return 0;
}
'''


def test_stack_trace_walk_sym_ksym_clear(chain: Path, chains: list[Chain]) -> None:
    """get_stackid(args, 0 / BPF_F_USER_STACK): every call has the same two stacks; walk()
    gives the addresses innermost first, sym() names them BCC's way while the process lives."""
    from bpfscope.bcc import BPF

    c = Chain(chain)
    chains.append(c)
    with BPF(text=STACK_PROG.replace("TARGET", str(c.p.pid))) as b:
        c.run(500)
        items = b["counts"].items()
        assert len(items) == 1 and items[0][1].value == 500, items
        k = items[0][0]
        assert k.kid >= 0 and k.uid >= 0
        st = b["stack_traces"]
        user = list(st.walk(k.uid))
        names = [b.sym(a, c.p.pid).decode() for a in user]
        i = names.index("inner")
        assert names[i:i + 3] == ["inner", "outer", "main"], names
        full = b.sym(user[i], c.p.pid, show_module=True, show_offset=True).decode()
        assert full.startswith("inner+0x") and full.endswith(" [stackchain]"), full
        off = int(full.split("+0x")[1].split()[0], 16)
        assert b.sym(user[i] - off, c.p.pid, show_offset=True) == b"inner+0x0"
        kern = [b.ksym(a).decode() for a in st.walk(k.kid)]
        assert "do_syscall_64" in kern, kern
        addr = b.ksymname("do_syscall_64")
        assert b.ksym(addr + 3, show_offset=True) == b"do_syscall_64+0x3"
        assert b.ksym(addr, show_module=True) == b"do_syscall_64 [kernel]"
        assert b.ksym(16) == b"[unknown]"
        assert len(st) == 2
        st.clear()
        assert len(st) == 0
        with pytest.raises(KeyError):
            list(st.walk(k.uid))
    c.end()


# ---------------------------------------------------------------------- BPF_PERF_OUTPUT
PERF_PROG = r'''
struct ev_t { u32 pid; u32 cpu; u64 seq; };
BPF_PERF_OUTPUT(events);
BPF_ARRAY(seqs, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    struct ev_t ev = {};
    int zero = 0;
    ev.pid = bpf_get_current_pid_tgid() >> 32;
    if (ev.pid != TARGET)
        return 0;
    ev.cpu = bpf_get_smp_processor_id();
    u64 *s = seqs.lookup(&zero);
    if (s) {
        ev.seq = *s;
        *s += 1;
    }
    events.perf_submit(args, &ev, sizeof(ev));
    return 0;
}
'''


def test_perf_buffer_per_cpu_records(chain: Path, chains: list[Chain]) -> None:
    """The workload's calls pinned to each online CPU in turn: every record arrives once, in
    the callback of the CPU that wrote it (cpu == the record's bpf_get_smp_processor_id())."""
    from bpfscope.bcc import BPF
    from bpfscope.bcc.cpus import online_cpus

    cpus = online_cpus()
    runs = {cpu: 100 + 37 * k for k, cpu in enumerate(cpus)}
    got: list[tuple[int, int, int, int]] = []
    for cpu, n in runs.items():
        c = Chain(chain, cpu)
        chains.append(c)
        with BPF(text=PERF_PROG.replace("TARGET", str(c.p.pid))) as b:
            def cb(cpu_: int, data: int, size: int) -> None:
                ev = b["events"].event(data)
                got.append((cpu_, ev.cpu, ev.seq, size))

            b["events"].open_perf_buffer(cb, page_cnt=64)
            c.run(n)
            while sum(1 for g in got if g[0] == cpu) < n:
                assert b.perf_buffer_poll(5000) > 0
        c.end()
    for cpu, n in runs.items():
        mine = [g for g in got if g[0] == cpu]
        assert [g[2] for g in mine] == list(range(n))     # every record once, in order
        assert all(g[1] == cpu for g in mine)
        # BCC hands over the raw sample's size: 16 bytes + padding to keep the record 8-aligned
        assert {g[3] for g in mine} == {20}
    assert len(got) == sum(runs.values())


def test_perf_buffer_lost_count_is_exact(chain: Path, chains: list[Chain]) -> None:
    """One-page buffers, 20000 records written before anyone reads: the kernel drops most;
    lost_cb gets its count, and received + lost is exactly what the workload wrote."""
    from bpfscope.bcc import BPF

    n = 20000
    c = Chain(chain, 0)
    chains.append(c)
    seqs: list[int] = []
    lost: list[int] = []
    with BPF(text=PERF_PROG.replace("TARGET", str(c.p.pid))) as b:
        b["events"].open_perf_buffer(lambda cpu, data, size: seqs.append(b["events"].event(data).seq),
                                     page_cnt=1, lost_cb=lost.append)
        c.run(n)
        while b.perf_buffer_poll(0) > 0:
            pass
        assert lost == [] and 0 < len(seqs) < n
        c.run(1)          # the kernel reports the loss ahead of the next record that fits
        while b.perf_buffer_poll(0) > 0:
            pass
        assert len(lost) == 1 and lost[0] > 0
        assert len(seqs) + lost[0] == n + 1, (len(seqs), lost)
        assert seqs == sorted(seqs) and seqs[-1] == n
    c.end()
    with pytest.raises(Exception, match="power of two"):
        with BPF(text=PERF_PROG.replace("TARGET", "1")) as b:
            b["events"].open_perf_buffer(lambda *a: None, page_cnt=3)


def test_perf_buffer_without_lost_cb_says_so(chain: Path, chains: list[Chain],
                                              capfd: pytest.CaptureFixture[str]) -> None:
    """No lost_cb: BCC's perf reader reports a loss on stderr, "Possibly lost N samples"."""
    from bpfscope.bcc import BPF

    n = 5000
    c = Chain(chain, 0)
    chains.append(c)
    seen: list[int] = []
    with BPF(text=PERF_PROG.replace("TARGET", str(c.p.pid))) as b:
        b["events"].open_perf_buffer(lambda cpu, data, size: seen.append(size), page_cnt=1)
        c.run(n)
        b.perf_buffer_consume()
        c.run(1)
        b.perf_buffer_consume()
    c.end()
    err = capfd.readouterr().err
    m = re.fullmatch(r"Possibly lost (\d+) samples\n", err)
    assert m and int(m.group(1)) + len(seen) == n + 1, (err, len(seen))


def test_table_method_errors_are_located() -> None:
    from bpfscope.bcc import BPF, BPFCompileError

    cases = [
        ("BPF_HASH(h, u32, u64);\nint f(void *ctx) {\n    return h.get_stackid(ctx, 0);\n}\n",
         "<text>:3:14: error: get_stackid() needs a BPF_STACK_TRACE table; 'h' is a BPF_HASH"),
        ("BPF_STACK_TRACE(st, 16);\nint f(void *ctx) {\n    int k = 0;\n    st.lookup(&k);\n    return 0;\n}\n",
         "<text>:4:8: error: st is a BPF_STACK_TRACE table: its method is get_stackid(ctx, flags)"),
        ("BPF_PERF_OUTPUT(ev);\nint f(void *ctx) {\n    u64 x = 1;\n    ev.ringbuf_output(&x, sizeof(x), 0);\n"
         "    return 0;\n}\n",
         "<text>:4:8: error: ev is a BPF_PERF_OUTPUT table: use ev.perf_submit()"),
        ("RAW_TRACEPOINT_PROBE(sys_enter) {\n    return ctx->nosuch;\n}\n",
         "<text>:2:17: error: no member named 'nosuch' in struct bpf_raw_tracepoint_args"),
    ]
    for text, first in cases:
        with pytest.raises(BPFCompileError) as ei:
            BPF(text=text)
        assert str(ei.value).splitlines()[0] == first, str(ei.value)


TABLE_PROG = r'''
struct ev_t { u64 seq; u64 extra; };
BPF_TABLE("perf_output", int, u32, out, 0);
BPF_TABLE("stack_trace", int, struct bpf_stacktrace, st, 64);
BPF_ARRAY(seqs, u64, 1);
BPF_HASH(ids, int, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
        return 0;
    struct ev_t ev = {};
    int zero = 0;
    u64 *s = seqs.lookup(&zero);
    if (!s)
        return 0;
    ev.seq = *s;
    *s += 1;
    u32 size = 8 + 8 * (ev.seq & 1);      // a run-time size: 8 or 16 bytes
    out.perf_submit(args, &ev, size);
    int id = st.get_stackid(args, BPF_F_USER_STACK);
    ids.increment(id);
    return 0;
}
'''


def test_bpf_table_forms_and_runtime_record_size(chain: Path, chains: list[Chain]) -> None:
    """BPF_TABLE("perf_output"/"stack_trace", ...) as BCC's macros expand to, and perf_submit
    with a size computed at run time: records of 8 and 16 bytes alternate (raw sizes 12, 20)."""
    from bpfscope.bcc import BPF

    c = Chain(chain)
    chains.append(c)
    got: list[tuple[int, int]] = []
    with BPF(text=TABLE_PROG.replace("TARGET", str(c.p.pid))) as b:
        def cb(cpu: int, data: int, size: int) -> None:
            got.append((ctypes.c_uint64.from_address(data).value, size))

        b["out"].open_perf_buffer(cb)
        c.run(10)
        while len(got) < 10:
            assert b.perf_buffer_poll(5000) > 0
        ids = {k.value: v.value for k, v in b["ids"].items()}
        assert list(ids.values()) == [10] and list(ids)[0] >= 0
        frames = [b.sym(a, c.p.pid).decode() for a in b["st"].walk(list(ids)[0])]
        assert frames[1:4] == ["inner", "outer", "main"], frames
    c.end()
    assert got == [(i, 12 if i % 2 == 0 else 20) for i in range(10)]
