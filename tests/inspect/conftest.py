"""Fixtures that load real BPF objects for the inspection tests (root only)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from bpfscope.kernel import insn as I
from bpfscope.kernel import objinfo, uapi
from bpfscope.kernel import syscall as sc

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root to load BPF objects")


def build_btf() -> bytes:
    """A tiny BTF: [1] int, [2] struct val {u64 cnt; char comm[8];}, [3] u64, [4] char[8], [5] char."""
    strs = b"\0int\0val\0cnt\0comm\0long long unsigned int\0char\0"

    def off(s: bytes) -> int:
        return strs.index(b"\0" + s + b"\0") + 1

    types = b""
    types += struct.pack("<IIII", off(b"int"), 1 << 24, 4, (1 << 24) | 32)
    types += struct.pack("<III", off(b"val"), (4 << 24) | 2, 16)
    types += struct.pack("<III", off(b"cnt"), 3, 0) + struct.pack("<III", off(b"comm"), 4, 64)
    types += struct.pack("<IIII", off(b"long long unsigned int"), 1 << 24, 8, 64)
    types += struct.pack("<III", 0, 3 << 24, 0) + struct.pack("<III", 5, 1, 8)
    types += struct.pack("<IIII", off(b"char"), 1 << 24, 1, (2 << 24) | 8)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return hdr + types + strs


class Loaded:
    """A raw-tracepoint program (with a hash map and a BTF array map) attached to sys_enter."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.hash_fd = self._keep(sc.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 16, name="insp_hash"))
        self.btf_fd = self._keep(objinfo.load_btf(build_btf()))
        # one entry: direct map-value access (ld_imm64 PSEUDO_MAP_VALUE) needs it
        self.arr_fd = self._keep(sc.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 16, 1, name="insp_btf",
                                               btf_fd=self.btf_fd, btf_key_type_id=1,
                                               btf_value_type_id=2))
        prog = [
            I.st_imm(4, I.R10, -4, 7),
            I.mov64_reg(I.R2, I.R10),
            I.alu64_imm(I.ADD, I.R2, -4),
            *I.ld_map_fd(I.R1, self.hash_fd),
            I.call(uapi.HELPER_ID["map_lookup_elem"]),
            I.jmp_imm(I.JEQ, I.R0, 0, 2),
            I.mov64_imm(I.R1, 1),
            I.atomic_add(8, I.R0, I.R1, 0),
            *I.ld_map_value(I.R3, self.arr_fd, 8),
            I.Insn(I.JMP | I.CALL, 0, 1, 0, 2),  # bpf-to-bpf call to the subprog below
            I.mov32_imm(I.R0, 0),
            I.exit_(),
            I.call(uapi.HELPER_ID["ktime_get_ns"]),
            I.alu64_imm(I.RSH, I.R0, 3),
            I.exit_(),
        ]
        self.prog_fd, _ = sc.prog_load(uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, I.encode(prog), name="insp_prog",
                                     log_level=1, log_size=1 << 16)
        self._keep(self.prog_fd)
        self.link_fd = self._keep(sc.raw_tracepoint_open("sys_enter", self.prog_fd))
        # key 7 stays absent (the program then counts nothing) except in the counting test
        sc.map_update(self.hash_fd, struct.pack("<I", 3), struct.pack("<Q", 0x1122))
        sc.map_update(self.arr_fd, struct.pack("<I", 0), struct.pack("<Q8s", 42, b"bash"))

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def close(self) -> None:
        for fd in reversed(self.fds):
            os.close(fd)


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    if not ROOT:
        pytest.skip("needs root to load BPF objects")
    obj = Loaded()
    try:
        yield obj
    finally:
        obj.close()


# ------------------------------------------------------------------ clang-built objects
BPF_HEADER = r"""
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static void *(*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
"""

# Counts getppid() per tgid; globals in .bss/.data/.rodata; CO-RE reads of task_struct.
COUNT_SRC = BPF_HEADER + r"""
struct task_struct {
	int pid;
	int tgid;
	long bs_no_such_field;
} __attribute__((preserve_access_index));

struct {
	__uint(type, 1); /* hash */
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct core_seen {
	__u32 pid;            /* task->pid, at the kernel's offset */
	__u32 has_tgid;       /* field exists: 1 */
	__u32 has_missing;    /* field the kernel lacks: 0 */
	__u32 pid_size;       /* field byte size: 4 */
};

struct {
	__uint(type, 1);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct core_seen);
} seen SEC(".maps");

struct {
	__uint(type, 2); /* array */
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

__u64 total = 0;
__u32 bump = 1;
const volatile __u32 only_tgid = 0;

static __attribute__((noinline)) void add_stat(__u32 idx, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &idx);
	if (p)
		__sync_fetch_and_add(p, v);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task();
	struct core_seen cs = {};
	__u64 one = 1, *v;

	if (only_tgid && tgid != only_tgid)
		return 0;
	bpf_probe_read_kernel(&cs.pid, sizeof(cs.pid), &task->pid);
	cs.has_tgid = __builtin_preserve_field_info(task->tgid, 2);
	cs.has_missing = __builtin_preserve_field_info(task->bs_no_such_field, 2);
	cs.pid_size = __builtin_preserve_field_info(task->pid, 1);
	bpf_map_update_elem(&seen, &tgid, &cs, 0);
	v = bpf_map_lookup_elem(&counts, &tgid);
	if (v)
		__sync_fetch_and_add(v, bump);
	else
		bpf_map_update_elem(&counts, &tgid, &one, 0);
	__sync_fetch_and_add(&total, 1);
	add_stat(0, 1);
	add_stat(1, bump);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

# Counts packets in a .bss global and passes them.
XDP_SRC = r"""
#define SEC(name) __attribute__((section(name), used))
struct xdp_md { unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
unsigned long long rx_packets = 0;
SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&rx_packets, 1);
	return 2; /* XDP_PASS */
}
char LICENSE[] SEC("license") = "GPL";
"""


# Counts egress packets of the sockets of a cgroup (and lets them pass).
CGROUP_SRC = r"""
#define SEC(name) __attribute__((section(name), used))
struct __sk_buff { unsigned int len; };
unsigned long long egress_packets = 0;
SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	return 1;
}
char LICENSE[] SEC("license") = "GPL";
"""

# The verifier must reject this one: a read far past the XDP context.
BAD_SRC = r"""
#define SEC(name) __attribute__((section(name), used))
SEC("xdp")
int xdp_bad(void *ctx) { return *(int *)((char *)ctx + 4000); }
char LICENSE[] SEC("license") = "GPL";
"""


def compile_bpf(src: str, out_dir: str, name: str) -> str:
    """`clang -O2 -g -target bpf -c`; the path of the object."""
    import shutil as _sh
    import subprocess as _sp

    if _sh.which("clang") is None:
        pytest.skip("clang (to build .bpf.o test objects) is not installed")
    c = os.path.join(out_dir, name + ".bpf.c")
    o = os.path.join(out_dir, name + ".bpf.o")
    with open(c, "w") as f:
        f.write(src)
    r = _sp.run(["clang", "-O2", "-g", "-target", "bpf", "-c", c, "-o", o], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return o


@pytest.fixture(scope="session")
def bpf_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The test objects, compiled once per session: {"count"|"xdp"|"bad"|"cgroup": path}."""
    d = str(tmp_path_factory.mktemp("bpfobj"))
    return {"count": compile_bpf(COUNT_SRC, d, "count"), "xdp": compile_bpf(XDP_SRC, d, "xdp"),
            "bad": compile_bpf(BAD_SRC, d, "bad"), "cgroup": compile_bpf(CGROUP_SRC, d, "cg")}


@pytest.fixture
def bpffs_dir() -> Iterator[str]:
    """A fresh directory under /sys/fs/bpf, removed (with everything pinned in it) afterwards."""
    import shutil as _sh
    import subprocess as _sp

    if not ROOT:
        pytest.skip("needs root to pin BPF objects")
    if not os.path.ismount("/sys/fs/bpf"):
        _sp.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=False)
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs not mountable")
    import tempfile

    path = tempfile.mkdtemp(prefix="bpfscope_test_", dir="/sys/fs/bpf")
    try:
        yield path
    finally:
        _sh.rmtree(path, ignore_errors=True)
