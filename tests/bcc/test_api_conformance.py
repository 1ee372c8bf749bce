"""BCC Python API behaviours that BCC's own tests/python suite relies on, checked on real
programs with exact counts: lookup_or_init returning from the function, tables named by bytes,
negative array indices, batch map operations, BPF_QUEUE/BPF_STACK, per-CPU Leaf arrays and
reducers, detach_uprobe/detach_uretprobe, a uprobe on a library that only exists in the traced
process's mount namespace, bcc.utils.detect_language, and USDT readarg sizes across locations
plus one function enabled in two processes' contexts.

Workloads are getppid()/getpgrp() syscalls and libc calls made by this test's own thread (the
programs filter on its thread id), or child processes the test drives."""

from __future__ import annotations

import ctypes as ct
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = needs_root

LIBC = ct.CDLL("libc.so.6", use_errno=True)


def _tid_filter(text: str) -> str:
    return text.replace("TID", str(threading.get_native_id()))


# ---------------------------------------------------------------- lookup_or_init
INIT_PROG = r"""
BPF_HASH(full, u32, u64, 1);
BPF_ARRAY(after, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    u32 key = KEY;
    u64 zero = 0;
    u64 *val = full.lookup_or_init(&key, &zero);
    (*val)++;                 /* no NULL check: lookup_or_init returned from the function */
    int i = 0;
    u64 *a = after.lookup(&i);
    if (a)
        (*a)++;
    return 0;
}
"""


def test_lookup_or_init_returns_from_the_function_when_it_cannot_insert() -> None:
    from bpfscope.bcc import BPF

    # room for the key: every call counts in both tables
    with BPF(text=_tid_filter(INIT_PROG).replace("KEY", "7")) as b:
        for _ in range(5):
            os.getppid()
        assert {k.value: v.value for k, v in b["full"].items()} == {7: 5}
        assert b["after"][0].value == 5
    # the table's one slot taken by another key: the insert fails, the function returns 0
    with BPF(text=_tid_filter(INIT_PROG).replace("KEY", "7")) as b:
        b["full"][ct.c_uint(1)] = ct.c_uint64(100)
        for _ in range(4):
            os.getppid()
        assert {k.value: v.value for k, v in b["full"].items()} == {1: 100}
        assert b["after"][0].value == 0


# ---------------------------------------------------------------- names, arrays
def test_tables_by_bytes_name_and_negative_array_indices() -> None:
    from bpfscope.bcc import BPF

    with BPF(text=b"BPF_ARRAY(arr, u64, 16); BPF_HASH(h, int, int);") as b:
        assert b"arr" in b and "h" in b and b"nope" not in b
        arr = b[b"arr"]
        assert arr is b["arr"] and b.get_table(b"h") is b["h"]
        arr[-1] = ct.c_uint64(37)
        arr[-16] = ct.c_uint64(5)
        assert arr[15].value == 37 and arr[0].value == 5 and arr[ct.c_int(-1)].value == 37
        with pytest.raises(IndexError):
            arr[-17] = ct.c_uint64(1)
        with pytest.raises(IndexError):
            arr[16]
        with pytest.raises(KeyError):
            b[b"nope"]


# ---------------------------------------------------------------- batch operations
def test_batch_lookup_update_delete() -> None:
    from bpfscope.bcc import BPF

    with BPF(text="BPF_HASH(m, int, int, 256);") as b:
        m = b["m"]
        for i in range(200):
            m[ct.c_int(i)] = ct.c_int(i)
        # as BCC (elements of ctypes arrays): simple keys and values come out as plain ints,
        # so BCC's test_map_batch_ops can sort them and hand them back
        assert sorted(m.items_lookup_batch()) == [(i, i) for i in range(200)]
        keys = (m.Key * 50)(*range(50))
        vals = (m.Leaf * 50)(*(-i for i in range(50)))
        m.items_update_batch(keys, vals)
        assert m[ct.c_int(49)].value == -49 and m[ct.c_int(50)].value == 50
        m.items_delete_batch((m.Key * 20)(*range(20)))
        assert len(m) == 180 and ct.c_int(19) not in m
        m.items_delete_batch([k for k, _v in m.items_lookup_batch() if k < 25])   # a plain list too
        assert len(m) == 175 and ct.c_int(24) not in m and ct.c_int(25) in m
        m.items_update_batch([1, 2], [10, 20])
        assert (m[ct.c_int(1)].value, m[ct.c_int(2)].value) == (10, 20)
        got = sorted(m.items_lookup_and_delete_batch())
        assert got == [(1, 10), (2, 20)] + [(i, -i) for i in range(25, 50)] + [(i, i) for i in range(50, 200)]
        assert len(m) == 0
        for i in range(10):
            m[ct.c_int(i)] = ct.c_int(1)
        m.items_delete_batch()
        assert len(m) == 0
    with BPF(text="struct k { u32 a; u32 b; }; BPF_HASH(s, struct k, u64, 16);") as b:
        m = b["s"]
        m[m.Key(1, 2)] = ct.c_uint64(7)
        ((k, v),) = list(m.items_lookup_batch())
        assert (k.a, k.b, v) == (1, 2, 7)   # struct keys stay structs


# ---------------------------------------------------------------- BPF_F_TABLE (BCC's test_flags)
@pytest.mark.parametrize("kind,flag,value", [("lru_hash", "BPF_F_NO_COMMON_LRU", 2), ("hash", "BPF_F_NO_PREALLOC", 1)])
def test_f_table_creates_the_map_with_its_flags(kind: str, flag: str, value: int) -> None:
    from bpfscope.bcc import BPF
    from bpfscope.kernel import objinfo

    with BPF(text=f'BPF_F_TABLE("{kind}", int, u64, t, 64, {flag});') as b:
        t = b[b"t"]
        assert t.flags == value
        assert objinfo.map_info(t.map.fd).map_flags == value   # as the kernel created it
        t[ct.c_int(3)] = ct.c_uint64(9)
        assert t[ct.c_int(3)].value == 9


# ---------------------------------------------------------------- BPF_LPM_TRIE (BCC's test_lpm_trie)
LPM_PROG = r"""
struct key_v4 { u32 prefixlen; u8 data[4]; };
BPF_LPM_TRIE(trie, struct key_v4, int, 16);
BPF_ARRAY(res, int, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID) return 0;
    struct key_v4 k = {};
    k.prefixlen = 32; k.data[0] = 192; k.data[1] = 168; k.data[2] = 0; k.data[3] = 15;
    int zero = 0;
    int *v = trie.lookup(&k);
    if (v) res.update(&zero, v);
    return 0;
}
"""


def test_lpm_trie_longest_prefix_from_python_and_bpf() -> None:
    from bpfscope.bcc import BPF

    class KeyV4(ct.Structure):
        _fields_ = [("prefixlen", ct.c_uint), ("data", ct.c_ubyte * 4)]

    with BPF(text=LPM_PROG.replace("TID", str(threading.get_native_id()))) as b:
        t = b["trie"]
        t[KeyV4(24, (192, 168, 0, 0))] = ct.c_int(24)
        t[KeyV4(28, (192, 168, 0, 0))] = ct.c_int(28)
        assert t[KeyV4(32, (192, 168, 0, 15))].value == 28
        assert t[KeyV4(32, (192, 168, 0, 127))].value == 24
        with pytest.raises(KeyError):
            t[KeyV4(32, (172, 16, 1, 127))]
        os.getppid()
        assert b["res"][ct.c_int(0)].value == 28   # the program's lookup took the longest match too


# ---------------------------------------------------------------- maps of maps (BCC's test_map_in_map)
MAP_OF_MAPS = r"""
struct pick { u32 tag; u32 which; };
BPF_ARRAY(sel, u32, 1);
BPF_HASH(first, u32, u64, 4);
BPF_HASH(second, u32, u64, 4);
BPF_HASH_OF_MAPS(by_key, struct pick, "first", 4);
BPF_ARRAY(a0, u64, 2);
BPF_ARRAY(a1, u64, 2);
BPF_ARRAY_OF_MAPS(by_index, "a0", 4);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    u32 zero = 0, one = 1;
    u32 *w = sel.lookup(&zero);
    if (!w)
        return 0;
    struct pick k = {7, *w};
    void *inner = by_key.lookup(&k);
    if (inner) {
        u64 init = 1;
        u64 *n = bpf_map_lookup_elem(inner, &one);
        if (n)
            *n += 1;
        else
            bpf_map_update_elem(inner, &one, &init, BPF_NOEXIST);
    }
    void *arr = by_index.lookup(w);
    if (arr) {
        u64 *n = bpf_map_lookup_elem(arr, &one);
        if (n)
            *n += 10;
    }
    return 0;
}
"""


def test_hash_and_array_of_maps_route_to_the_inner_map_user_space_stores() -> None:
    """BPF_HASH_OF_MAPS (struct key) and BPF_ARRAY_OF_MAPS: user space stores inner maps' fds
    (get_fd()), the program looks the inner map up and updates it with bpf_map_*_elem; each
    getppid() lands in the inner map the selector names, and nowhere else."""
    from bpfscope.bcc import BPF

    with BPF(text=_tid_filter(MAP_OF_MAPS)) as b:
        by_key, by_index = b["by_key"], b["by_index"]
        Pick = by_key.Key
        by_key[Pick(7, 1)] = ct.c_int(b["first"].get_fd())
        by_key[Pick(7, 2)] = ct.c_int(b["second"].get_fd())
        by_index[1] = ct.c_int(b["a0"].get_fd())
        by_index[2] = ct.c_int(b["a1"].get_fd())
        for which, times in ((1, 3), (2, 5), (3, 2)):   # 3: no inner map stored, nothing counted
            b["sel"][0] = ct.c_uint(which)
            for _ in range(times):
                os.getppid()
        assert b["first"][ct.c_uint(1)].value == 3 and b["second"][ct.c_uint(1)].value == 5
        assert b["a0"][1].value == 30 and b["a1"][1].value == 50 and b["a0"][0].value == 0
        del by_key[Pick(7, 1)]
        b["sel"][0] = ct.c_uint(1)
        os.getppid()
        assert b["first"][ct.c_uint(1)].value == 3 and b["a0"][1].value == 40


def test_map_of_maps_errors_are_located() -> None:
    from bpfscope.bcc import BPF

    for text, msg in (
            ('BPF_HASH_OF_MAPS(m, int, "later", 4);\nBPF_HASH(later, int, int, 4);',
             "<text>:1:1: error: BPF_HASH_OF_MAPS: inner table 'later' must be declared before 'm'"),
            ("BPF_ARRAY_OF_MAPS(m, 4);", '<text>:1:1: error: BPF_ARRAY_OF_MAPS expects (name, "inner_table", size)')):
        with pytest.raises(Exception) as ei:
            BPF(text=text)
        assert str(ei.value).splitlines()[0] == msg and "Traceback" not in str(ei.value), str(ei.value)


# ---------------------------------------------------------------- BPF_STACK_TRACE_BUILDID (BCC's test_stackid)
BUILDID_PROG = r"""
BPF_STACK_TRACE_BUILDID(stacks, 64);
BPF_ARRAY(ids, int, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    int zero = 0;
    int id = stacks.get_stackid(args, BPF_F_USER_STACK);
    ids.update(&zero, &id);
    return 0;
}
"""


def test_stack_trace_buildid_frames_resolve_through_add_module() -> None:
    """The user stack of getppid() kept as (build id, file offset) frames: the innermost is in
    libc, whose build id the frame carries (readelf's), and sym() names it getppid once libc
    is add_module()d; walk() gives the frames up to the first empty one."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import elf

    libc = next(ln.split()[-1] for ln in open("/proc/self/maps") if "/libc.so" in ln or "/libc-" in ln)
    with BPF(text=_tid_filter(BUILDID_PROG)) as b:
        os.getppid()
        sid = b["ids"][0].value
        assert sid >= 0, sid
        stacks = b["stacks"]
        top = stacks[sid].trace[0]
        assert top.status == 1 and bytes(top.build_id).hex() == elf.build_id(libc)[:40], (top.status, libc)
        b.add_module(libc)
        assert BPF.sym(top, -1) == b"getppid", BPF.sym(top, -1)
        assert BPF.sym(top, -1, show_module=True).endswith(f" [{os.path.basename(libc)}]".encode())
        frames = list(stacks.walk(sid))
        assert frames and all(f.status in (1, 2) for f in frames) and frames[0].offset == top.offset
        with pytest.raises(Exception, match="not an ELF object with a build id"):
            b.add_module("/proc/self/status")


# ---------------------------------------------------------------- BPF_LICENSE (BCC's test_license)
GPL_ONLY = r"""
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    u64 ts = bpf_ktime_get_ns();
    events.perf_submit(args, &ts, sizeof(ts));
    return 0;
}
"""
ANY_LICENSE = r"""
BPF_ARRAY(hits, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgrp) {
    hits.increment(0);
    return 0;
}
"""


@pytest.mark.parametrize("lic,gpl", [(None, True), ("GPL", True), ("Dual BSD/GPL", True),
                                     ("Proprietary license", False), ("", False)])
def test_bpf_license_reaches_the_kernel(lic: str | None, gpl: bool) -> None:
    """`#define BPF_LICENSE X` (after the code too, as BCC's footer.h reads it) is the license
    the programs are loaded with: GPL-only helpers (perf_submit) load only under a GPL-compatible
    one; others load under any, and the kernel reports which it got."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import objinfo

    define = f"#define BPF_LICENSE {lic}\n" if lic is not None else ""
    with BPF(text=ANY_LICENSE + define) as b:   # TRACEPOINT_PROBEs load and attach at once
        fd = b.load_func("tracepoint__syscalls__sys_enter_getpgrp", 5).fd
        assert objinfo.prog_info(fd).gpl_compatible == gpl
        os.getpgrp()
        assert b["hits"][ct.c_int(0)].value >= 1
    if gpl:
        BPF(text=GPL_ONLY + define).cleanup()
    else:
        with pytest.raises(Exception, match="GPL-restricted function"):
            BPF(text=GPL_ONLY + define)


def test_bpf_license_from_cflags_is_refused() -> None:
    from bpfscope.bcc import BPF

    with pytest.raises(Exception, match="BPF_LICENSE cannot be specified through cflags"):
        BPF(text=ANY_LICENSE, cflags=["-DBPF_LICENSE=GPL"])


# ---------------------------------------------------------------- ring buffer: discarded records
def test_ring_buffer_poll_returns_after_discarded_records() -> None:
    """BCC's test_ringbuf_discard: ring_buffer_poll() returns once the records there are consumed,
    even when all were discarded (no callback runs); it used to wait for a further wakeup."""
    import time

    from bpfscope.bcc import BPF

    text = ("BPF_RINGBUF_OUTPUT(events, 8);\n"
            "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {\n"
            f"    if ((u32)bpf_get_current_pid_tgid() != {threading.get_native_id()}) return 0;\n"
            "    u64 *d = events.ringbuf_reserve(sizeof(u64));\n"
            "    if (!d) return 0;\n    *d = 1;\n    events.ringbuf_discard(d, 0);\n    return 0;\n}\n")
    got: list[int] = []
    with BPF(text=text) as b:
        b["events"].open_ring_buffer(lambda ctx, data, size: got.append(size))
        os.getppid()
        t0 = time.monotonic()
        assert b.ring_buffer_poll(5000) == 0
        assert time.monotonic() - t0 < 2.5 and got == []


# ---------------------------------------------------------------- queue / stack
@pytest.mark.parametrize("macro,order", [("BPF_QUEUE", [0, 1, 2, 3]), ("BPF_STACK", [3, 2, 1, 0])])
def test_queue_and_stack(macro: str, order: list[int]) -> None:
    from bpfscope.bcc import BPF

    with BPF(text=f"{macro}(q, u64, 4);") as b:
        q = b["q"]
        with pytest.raises(KeyError):
            q.peek()
        for i in range(4):
            q.push(ct.c_uint64(i))
        with pytest.raises(Exception, match="push"):
            q.push(ct.c_uint64(9))
        assert q.peek().value == order[0]
        assert [q.pop().value for _ in range(4)] == order
        with pytest.raises(KeyError):
            q.pop()


# ---------------------------------------------------------------- per-CPU tables
PERCPU_PROG = r"""
typedef struct counter { u32 c1; u32 c2; } counter;
BPF_TABLE("TYPE", u32, LEAF, stats, 4);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    u32 key = 0;
    LEAF zero = {}, *val;
    val = stats.lookup_or_init(&key, &zero);
    BUMP;
    return 0;
}
"""


@pytest.mark.parametrize("typ", ["percpu_hash", "lru_percpu_hash"])
@pytest.mark.parametrize("leaf", ["u32", "u64"])
def test_percpu_leaf_array_sum_and_max(typ: str, leaf: str) -> None:
    from bpfscope.bcc import BPF
    from bpfscope.kernel.maps import possible_cpus

    text = _tid_filter(PERCPU_PROG).replace("TYPE", typ).replace("LEAF", leaf).replace("BUMP", "(*val) += 2")
    with BPF(text=text) as b:
        t = b["stats"]
        ncpu = possible_cpus()
        assert len(t.Leaf()) == ncpu and ct.sizeof(t.Leaf) == 8 * ncpu    # 8-byte slots, as BCC
        ini = t.Leaf()
        for i in range(ncpu):
            ini[i] = 10
        t[t.Key(0)] = ini
        for _ in range(6):
            os.getpgid(0)
        vals = list(t[t.Key(0)])
        assert sum(vals) == 10 * ncpu + 12 and max(vals) >= 22
        assert t.sum(t.Key(0)).value == 10 * ncpu + 12
        assert t.max(t.Key(0)).value == max(vals)


def test_percpu_struct_leaf_reducer() -> None:
    from bpfscope.bcc import BPF

    text = (_tid_filter(PERCPU_PROG).replace("TYPE", "percpu_hash").replace("LEAF", "counter")
            .replace("BUMP", "val->c1 += 1; val->c2 += 3"))
    with BPF(text=text) as b:
        t = b.get_table("stats", reducer=lambda x, y: t.sLeaf(x.c1 + y.c1, x.c2 + y.c2))
        for _ in range(5):
            os.getpgid(0)
        total = t[t.Key(0)]
        assert (total.c1, total.c2) == (5, 15)


# ---------------------------------------------------------------- uprobes
UPROBE_PROG = r"""
BPF_ARRAY(hits, u64, 2);
int on_entry(struct pt_regs *ctx) { int i = 0; u64 *p = hits.lookup(&i); if (p) (*p)++; return 0; }
int on_return(struct pt_regs *ctx) { int i = 1; u64 *p = hits.lookup(&i); if (p) (*p)++; return 0; }
"""


def test_detach_uprobe_and_uretprobe() -> None:
    from bpfscope.bcc import BPF

    with BPF(text=UPROBE_PROG) as b:
        me = os.getpid()
        b.attach_uprobe(name="c", sym="getpriority", fn_name="on_entry", pid=me)
        b.attach_uretprobe(name="c", sym="getpriority", fn_name="on_return", pid=me)
        assert b.num_open_uprobes() == 2
        for _ in range(3):
            LIBC.getpriority(0, 0)
        assert [b["hits"][i].value for i in (0, 1)] == [3, 3]
        b.detach_uretprobe(name="c", sym="getpriority", pid=me)
        LIBC.getpriority(0, 0)
        b.detach_uprobe(name="c", sym="getpriority", pid=me)
        LIBC.getpriority(0, 0)
        assert [b["hits"][i].value for i in (0, 1)] == [4, 3]
        assert b.num_open_uprobes() == 0
        with pytest.raises(Exception, match="not attached"):
            b.detach_uprobe(name="c", sym="getpriority", pid=me)


NS_CHILD = r"""
import ctypes, os, shutil, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
d, lib = sys.argv[1], sys.argv[2]
assert libc.unshare(0x00020000) == 0                                  # CLONE_NEWNS
assert libc.mount(None, b"/", None, (1 << 14) | (1 << 18), None) == 0  # MS_REC|MS_PRIVATE
assert libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, None) == 0
shutil.copy(lib, d)
z = ctypes.CDLL(os.path.join(d, os.path.basename(lib)))
print("READY", flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        z.zlibVersion()
    print("DONE", flush=True)
"""


def test_uprobe_on_a_library_only_in_the_process_mount_namespace(tmp_path: Path) -> None:
    from bpfscope.bcc import BPF

    libz = next((p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")
                 if os.path.exists(p)), None)
    if libz is None:
        pytest.skip("libz.so.1 is needed")
    d = tmp_path / "private"
    d.mkdir()
    p = subprocess.Popen([sys.executable, "-c", NS_CHILD, str(d), libz], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline() == "READY\n"
        inner = str(d / "libz.so.1")
        assert not os.path.exists(inner)            # not in this test's namespace
        with BPF(text=UPROBE_PROG) as b:
            b.attach_uprobe(name=inner, sym="zlibVersion", fn_name="on_entry", pid=p.pid)
            b.attach_uretprobe(name=inner, sym="zlibVersion", fn_name="on_return", pid=p.pid)
            p.stdin.write("3\n")
            p.stdin.flush()
            assert p.stdout.readline() == "DONE\n"
            assert [b["hits"][i].value for i in (0, 1)] == [3, 3]
            b.detach_uprobe(name=inner, sym="zlibVersion", pid=p.pid)
            b.detach_uretprobe(name=inner, sym="zlibVersion", pid=p.pid)
    finally:
        p.kill()
        p.communicate()


# ---------------------------------------------------------------- bcc.utils
def test_detect_language() -> None:
    shim = Path(__file__).resolve().parents[2] / "src" / "bpfscope" / "bcc" / "shim"
    code = ("import os, subprocess, sys; from bcc.utils import detect_language as d; "
            "s = subprocess.Popen(['sleep', '30']); "
            "m = f'/proc/{s.pid}/maps'; "
            "[None for _ in iter(lambda: 'libc.so' in open(m).read(), True)]; "   # until libc is mapped
            "c = ['c', 'java', 'perl', 'php', 'node', 'ruby', 'python']; "
            "print(d(c, os.getpid()), d(c, s.pid), d(['java'], os.getpid())); s.kill()")
    env = dict(os.environ, PYTHONPATH=f"{shim}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout == "python c None\n"


# ---------------------------------------------------------------- USDT
APP_C = r"""
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    volatile int wide = atoi(argv[1]);
    volatile char narrow = (char)(wide + 1);
    char line[16];
    puts("READY");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        STAP_PROBEV(t, p, wide);      /* 4-byte argument */
        STAP_PROBEV(t, p, narrow);    /* 1-byte argument at the same probe */
        puts("DONE");
        fflush(stdout);
    }
    return 0;
}
"""
USDT_PROG = r"""
BPF_HASH(seen, int, u64);
BPF_HASH(bad, int, u64);
int on_p(struct pt_regs *ctx) {
    int v = 0; char c = 0;
    if (bpf_usdt_readarg(1, ctx, &v) == 0)
        seen.increment(v);
    if (bpf_usdt_readarg(1, ctx, &c) == -1 && c == 0)   /* one size for every location: int */
        bad.increment(0);
    return 0;
}
"""


def test_usdt_readarg_largest_size_and_two_process_contexts(tmp_path: Path) -> None:
    from bpfscope.bcc import BPF, USDT

    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the USDT program")
    if not any(Path(p).exists() for p in ("/usr/include/x86_64-linux-gnu/sys/sdt.h", "/usr/include/sys/sdt.h")):
        pytest.skip("sys/sdt.h (Debian systemtap-sdt-dev) is needed")
    (tmp_path / "app.c").write_text(APP_C)
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "app"), str(tmp_path / "app.c")], check=True)
    procs = [subprocess.Popen([str(tmp_path / "app"), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for n in (10, 40)]
    try:
        ctxs = []
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "READY\n"
            u = USDT(pid=p.pid)
            u.enable_probe(probe="p", fn_name="on_p")       # the same function in both contexts
            ctxs.append(u)
        with BPF(text=USDT_PROG, usdt_contexts=ctxs) as b:
            for p, n in zip(procs, (2, 3), strict=True):
                assert p.stdin is not None and p.stdout is not None
                for _ in range(n):
                    p.stdin.write("x\n")
                    p.stdin.flush()
                    assert p.stdout.readline() == "DONE\n"
            assert {k.value: v.value for k, v in b["seen"].items()} == {10: 2, 11: 2, 40: 3, 41: 3}
            assert {k.value: v.value for k, v in b["bad"].items()} == {0: 10}
    finally:
        for p in procs:
            p.kill()
            p.communicate()


# ---------------------------------------------------------------- ring buffer reserve/submit/discard/query
RINGBUF_PROG = r"""
BPF_RINGBUF_OUTPUT(events, 8);
struct data_t { u64 n; u64 ring; };
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    struct data_t *d = events.ringbuf_reserve(sizeof(struct data_t));
    if (!d)
        return 1;
    d->n = 7;
    d->ring = events.ringbuf_query(BPF_RB_RING_SIZE);
    if (DISCARD) {
        events.ringbuf_discard(d, 0);
        return 0;
    }
    events.ringbuf_submit(d, 0);
    return 0;
}
"""


@pytest.mark.parametrize("discard", [False, True])
def test_ringbuf_reserve_submit_discard_query(discard: bool) -> None:
    import mmap

    from bpfscope.bcc import BPF

    got: list[tuple[int, list[int]]] = []

    def cb(ctx: object, data: int, size: int) -> None:
        got.append((size, ct.cast(data, ct.POINTER(ct.c_uint64 * 2)).contents[:]))

    with BPF(text=_tid_filter(RINGBUF_PROG).replace("DISCARD", str(int(discard)))) as b:
        b["events"].open_ring_buffer(cb)
        for _ in range(3):
            os.getppid()
        b.ring_buffer_consume()
    assert got == ([] if discard else [(16, [7, 8 * mmap.PAGESIZE])] * 3)


# ---------------------------------------------------------------- attach_perf_event_raw
RAW_PERF_PROG = r"""
#include <linux/perf_event.h>
BPF_HASH(pages, u64, u64);
int on_fault(struct bpf_perf_event_data *ctx) {
    u64 a = ctx->addr;
    if (a < BASE || a >= BASE + NPAGES * 4096)
        return 0;
    pages.increment((a - BASE) / 4096);
    return 0;
}
"""


def test_attach_perf_event_raw_samples_page_fault_addresses() -> None:
    import mmap

    from bpfscope.bcc import BPF
    from bpfscope.bcc.perfattr import Perf, PerfEventSampleFormat
    from bpfscope.bcc.perfconst import PerfSWConfig

    n = 6
    region = mmap.mmap(-1, n * mmap.PAGESIZE)
    base = ct.addressof(ct.c_char.from_buffer(region))
    text = RAW_PERF_PROG.replace("BASE", f"{base}ULL").replace("NPAGES", str(n))
    try:
        with BPF(text=text) as b:
            attr = Perf.perf_event_attr()
            attr.type = Perf.PERF_TYPE_SOFTWARE
            attr.config = PerfSWConfig.PAGE_FAULTS
            attr.sample_period = 1
            attr.sample_type = PerfEventSampleFormat.ADDR
            b.attach_perf_event_raw(attr=attr, fn_name="on_fault", pid=threading.get_native_id(), cpu=-1)
            for i in range(n):                  # the first write to each page faults once
                region[i * mmap.PAGESIZE] = 1
            got = {k.value: v.value for k, v in b["pages"].items()}
            b.detach_perf_event(Perf.PERF_TYPE_SOFTWARE, PerfSWConfig.PAGE_FAULTS)
        assert got == {i: 1 for i in range(n)}
    finally:
        region.close()


# ---------------------------------------------------------------- SymbolCache
SYM_CC = r"""
#include <cstdio>
#include <unistd.h>
namespace ns { static __attribute__((noinline)) int twice(int x) { volatile int z = 2 * x; return z; } }
int main() { printf("%p\n", (void *)&ns::twice); fflush(stdout); pause(); return ns::twice(3); }
"""


def test_symbol_cache_stripped_binary_with_debuglink(tmp_path: Path) -> None:
    from bpfscope.bcc.symcache import SymbolCache

    if not all(shutil.which(t) for t in ("g++", "objcopy", "strip", "nm")):
        pytest.skip("g++ and binutils are needed")
    exe, dbg = tmp_path / "symdemo", tmp_path / "symdemo.debug"
    (tmp_path / "symdemo.cc").write_text(SYM_CC)
    subprocess.run(["g++", "-O1", "-o", str(exe), str(tmp_path / "symdemo.cc")], check=True)
    mangled = next(ln.split()[2] for ln in subprocess.run(["nm", str(exe)], capture_output=True, text=True,
                                                         check=True).stdout.splitlines() if "twice" in ln)
    subprocess.run(["objcopy", "--only-keep-debug", str(exe), str(dbg)], check=True)
    subprocess.run(["strip", str(exe)], check=True)
    subprocess.run(["objcopy", f"--add-gnu-debuglink={dbg}", str(exe)], check=True, cwd=tmp_path)
    p = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        addr = int(p.stdout.readline(), 16)
        syms = SymbolCache(p.pid)
        assert syms.resolve(addr, False) == (mangled.encode(), 0, str(exe).encode())
        assert syms.resolve(addr + 2, True) == (b"ns::twice(int)", 2, str(exe).encode())
        assert syms.resolve_name(str(exe).encode(), mangled.encode()) == addr
        assert syms.resolve_name(str(exe), "no_such_symbol") == -1
        assert SymbolCache(p.pid).resolve(8, True) == (None, 8, None)
    finally:
        p.kill()
        p.communicate()


# ---------------------------------------------------------------- C: compound literals, local struct types
C_FORMS_PROG = r"""
typedef struct { int idx; } Key;
typedef struct { u64 val; } Val;
BPF_HASH(stats, Key, Val, 3);
BPF_HISTOGRAM(h, Key, 8);
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((u32)bpf_get_current_pid_tgid() != TID)
        return 0;
    stats.lookup_or_init(&(Key){1}, &(Val){0})->val++;
    Val *v = stats.lookup_or_init(&(Key){.idx = 2}, &(Val){5});
    v->val += (int){3};
    h.increment((Key){7});
    struct { u64 a; u32 b; } data = {7, 9};
    struct pair { u32 x; u32 y; };
    struct pair p = {.y = 3};
    data.b += p.y;
    events.perf_submit(args, &data, sizeof(data));
    return 0;
}
"""


def test_compound_literals_and_struct_types_defined_in_a_body() -> None:
    from bpfscope.bcc import BPF

    got: list[list[int]] = []
    with BPF(text=_tid_filter(C_FORMS_PROG)) as b:
        b["events"].open_perf_buffer(lambda cpu, data, size: got.append(
            ct.cast(data, ct.POINTER(ct.c_uint64 * 2)).contents[:]))
        for _ in range(4):
            os.getppid()
        while len(got) < 4 and b.perf_buffer_poll(2000):
            pass
        assert sorted((k.idx, v.val) for k, v in b["stats"].items()) == [(1, 4), (2, 5 + 4 * 3)]
        assert [(k.idx, v.value) for k, v in b["h"].items()] == [(7, 4)]
    assert got == [[7, 12]] * 4


# ---------------------------------------------------------------- scripts run as `python3 SCRIPT` would
def test_script_imports_its_own_modules_and_uses_kprobe_poll(tmp_path: Path) -> None:
    """`bpfscope bcc DIR/test_x.py` from another directory: the script's directory is on sys.path
    (BCC's tests import their utils.py), and old BCC's kprobe_poll delivers perf events."""
    (tmp_path / "helper_mod.py").write_text("N = 5\n")
    (tmp_path / "script.py").write_text(
        "import os\nfrom bcc import BPF\nfrom helper_mod import N\n"
        "b = BPF(text='''BPF_PERF_OUTPUT(events);\n"
        "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {\n"
        "    u32 pid = bpf_get_current_pid_tgid() >> 32;\n"
        "    if (pid != %d) return 0;\n"
        "    events.perf_submit(args, &pid, sizeof(pid));\n"
        "    return 0;\n}''' % os.getpid())\n"
        "got = []\n"
        "b['events'].open_perf_buffer(lambda cpu, data, size: got.append(size))\n"
        "for _ in range(N):\n    os.getppid()\n"
        "while len(got) < N:\n    b.kprobe_poll(1000)\n"
        "print(len(got))\n")
    p = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", str(tmp_path / "script.py")], capture_output=True,
                       text=True, timeout=120, cwd="/")
    assert (p.returncode, p.stdout) == (0, "5\n"), p.stderr
