"""Issue 14: C constructs of BCC's dialect, one small program each, loaded into this kernel.

Every program is a TRACEPOINT_PROBE on sys_enter_getppid that only counts calls of this
test's pid; it adds what the construct computes to slots of a BPF_ARRAY. The test calls
getppid() N times, so each slot must hold exactly N times the value the C code defines."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import needs_root
from tests.schedtrace import SchedTrace

N = 5
PRELUDE = r'''
BPF_ARRAY(out, s64, 16);
static void put(int k, s64 v) {
    s64 *p = out.lookup(&k);
    if (p)
        *p += v;
}
'''
PROBE = r'''
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
        return 0;
%s
    return 0;
}
'''

CASES: list[tuple[str, str, str, list[int]]] = [
    ("goto", "", r'''
    int x = 1;
    if (x == 1)
        goto skip;
    put(0, 100);                     /* skipped */
skip:
    put(0, 1);
    {
        int k = 0;
        for (k = 0; k < 3; k++) {
            if (k == 2)
                goto done;           /* out of a loop and a block */
            put(1, 10);
        }
        put(1, 1000);                /* never: the loop is left by the goto */
    }
done:
    put(2, 7);
    goto end;
    put(3, 1);                       /* unreachable, not emitted */
end:
    put(3, 2);
''', [1, 20, 7, 2]),
    ("for_break_continue", "", r'''
    s64 sum = 0, last = -1;
    for (int i = 0; i < 10; i++) {   /* unrolled: i is a constant in each copy */
        if (i % 2)
            continue;
        if (i == 8)
            break;
        sum += i;                    /* 0 + 2 + 4 + 6 */
    }
    put(0, sum);
    int j;
    for (j = 10; j > 0; j -= 3)      /* 10 7 4 1, j ends at -2 */
        last = j;
    put(1, last);
    put(2, j);
    char arr[4] = {5, 6, 7, 8};
    s64 t = 0;
    for (int k = 0; k < 4; k++)      /* constant indexes in the unrolled copies */
        t = t * 10 + arr[k];
    put(3, t);
''', [12, 1, -2, 5678]),
    ("loops_at_run_time", "", r'''
    int zero = 0;
    s64 *base = out.lookup(&zero);   /* a bound the verifier sees as unknown */
    if (!base)
        return 0;
    int n = (*base & 7) + 3;         /* slot 0 holds a multiple of 8 here: n = 3 */
    s64 acc = 0;
    int i = 0;
    while (i < n && i < 16) {        /* a real loop (kernel >= 5.3 verifies bounded loops) */
        acc += 2;
        i++;
    }
    put(1, acc);
    int m = 0;
    do {
        m++;
        if (m == 4)
            break;
    } while (m < 100);
    put(2, m);
    do { put(3, 9); } while (0);     /* the macro idiom */
    s64 odd = 0;
    for (int q = 0; q < n && q < 16; q++) {   /* not unrolled: n is known only at run time */
        if (q == 1)
            continue;
        odd += q + 1;                /* q = 0, 2: 1 + 3 */
    }
    put(4, odd);
    char digits[4] = {1, 2, 3, 4};
    s64 picked = 0;
    for (int q = 0; q < n && q < 4; q++)      /* a run-time index into a local array */
        picked = picked * 10 + digits[q];
    put(5, picked);
    put(0, 8);
''', [8, 6, 4, 9, 4, 123]),
    ("calls", r'''
static inline int add(int a, int b) { return a + b; }
static int twice(int x) { return add(x, x); }
static u8 narrow(int v) { return v; }            /* converted to the return type */
static int sign(int v) {
    if (v < 0)
        return -1;
    if (v == 0)
        return 0;
    return 1;
}
struct pair { int a; int b; };
static void fill(struct pair *p, int v) { p->a = v; p->b = twice(v); }
static int sum_pair(struct pair p) { p.a = 0; return p.a + p.b; }   /* by value: a copy */
''', r'''
    put(0, twice(add(2, 3)));
    put(1, narrow(300));
    put(2, sign(-5) * 100 + sign(0) * 10 + sign(9));
    struct pair pr = {};
    fill(&pr, 21);
    put(3, pr.a * 1000 + pr.b);
    put(4, sum_pair(pr) + pr.a);
''', [10, 44, -99, 21042, 63]),
    ("byte_order", "", r'''
    u16 port = 0x1f90;               /* 8080 in network order on the wire */
    put(0, ntohs(port));
    put(1, htonl(0x01020304));
    put(2, bpf_ntohs(htons(443)));
    put(3, be64_to_cpu(0x0102030405060708ULL) == 0x0807060504030201ULL);
    put(4, __builtin_bswap32(0xaabbccdd) & 0xffff);
''', [0x901f, 0x04030201, 443, 1, 0xbbaa]),
    ("switch", r'''
static int classify(int v) {
    int r = 0;
    switch (v) {
    case 1:
        r += 1;                      /* falls through */
    case 2:
        r += 10;
        break;
    case -3:
        return 300;
    default:
        r = 5;
    }
    return r;
}
''', r'''
    put(0, classify(1));
    put(1, classify(2));
    put(2, classify(-3));
    put(3, classify(42));
''', [11, 10, 300, 5]),
    ("declarations", r'''
struct kv { u64 ts; unsigned __int128 addr; u32 n; };
static __attribute__((always_inline)) int first(const char *s) {
    char c[8] = {};
    bpf_probe_read_kernel(&c, sizeof(c), s);
    return c[0] * 1000 + c[4];
}
''', r'''
    struct kv *pp = 0, two = {};     /* the '*' is pp's only */
    two.n = 7;
    put(0, sizeof(pp) * 100 + two.n);
    unsigned __int128 w = 0x1122334455667788ULL;
    u64 *halves = (u64 *)&w;
    put(1, halves[0] == 0x1122334455667788ULL && halves[1] == 0);
    char *op = "fsync";              /* a string literal as a value */
    put(2, first(op));
    put(3, S_ISREG(0100644) * 10 + S_ISDIR(0100644));
    put(4, min(3, 9) * 10 + max(3, 9));
''', [807, 1, 102099, 10, 39]),
    ("consts_and_sizes", r'''
struct rec { u32 a; u64 b; char c[3]; };
''', r'''
    char s[] = "abc";
    put(0, sizeof(s));
    put(1, s[1]);
    put(2, offsetof(struct rec, b) * 10 + offsetof(struct rec, c));
    char disk[DISK_NAME_LEN];
    put(3, sizeof(disk));
    put(4, offsetof(struct task_struct, pid) == KPID);
''', [4, ord("b"), 96, 32, 1]),
    ("post_increment_deref", r"""
static int local_strcmp(const char *cs, const char *ct)   /* virtiostat's */
{
    int len = 0;
    unsigned char c1, c2;
    while (len++ < 16) {
        c1 = *cs++;
        c2 = *ct++;
        if (c1 != c2)
            return c1 < c2 ? -1 : 1;
        if (!c1)
            break;
    }
    return 0;
}
static int never_called(const char *p) { return *p++; }  /* static: not a program of its own */
""", r"""
    char a[16] = "abcd", b[16] = "abce", c[16] = "abcd";
    put(0, local_strcmp(a, b));
    put(1, local_strcmp(a, c));
    put(2, local_strcmp(b, a));
    u16 arr[4] = {3, 5, 7, 9};
    u16 *q = arr;
    s64 t = *q++;
    t = t * 10 + *q++;
    t = t * 10 + *q;
    put(3, t);
    u16 *r = &arr[3];
    s64 u = *r--;
    u = u * 10 + *r--;
    put(4, u * 10 + *r);
    put(5, (s64)(q - arr) * 10 + (s64)(arr - q));
""", [-1, 0, 1, 357, 975, 18]),
    ("clamped_sizes", r"""
struct ev { u32 n; char buf[64]; };
BPF_ARRAY(evs, struct ev, 1);
""", r"""
    int zero = 0;
    struct ev *e = evs.lookup(&zero);
    s64 *base = out.lookup(&zero);   /* slot 0 stays 0: sizes unknown to the verifier */
    if (!e || !base)
        return 0;
    u32 len = *base + 100;
    if (len > 64)                    /* sslsniff/javaobjnew: the bound must reach the size */
        len = 64;
    int r = bpf_probe_read_kernel(e->buf, len, e);
    put(1, len * 10 + (r == 0));
    u64 len2 = *base + 7;
    u32 m = min((size_t)32, (size_t)len2);
    r = bpf_probe_read_kernel(e->buf, m, e);
    put(2, m * 10 + (r == 0));
    u64 big = *base + 1000;
    if (big > sizeof(e->buf))
        big = sizeof(e->buf);
    r = bpf_probe_read_kernel(e->buf, big, e);
    put(3, big * 10 + (r == 0));
    int n = *base + 50;              /* a signed int, sign-extended at each load */
    u32 c = min((size_t)32, (size_t)n);
    r = bpf_probe_read_kernel(e->buf, c, e);
    put(4, c * 10 + (r == 0));
    r = bpf_probe_read_kernel(e->buf, min_t(u32, len2, 64), e);
    put(5, min_t(u32, len2, 64) * 10 + (r == 0));
""", [0, 641, 71, 641, 321, 71]),
    ("bitfields_and_anonymous_members", r"""
union bind_options {                 /* bindsnoop's */
    u8 data;
    struct {
        u8 freebind:1;
        u8 transparent:1;
        u8 bind_address_no_port:1;
        u8 reuseaddress:1;
        u8 reuseport:1;
    } fields;
};
struct data_t {                      /* mountsnoop's, shortened */
    u32 type;
    union {
        struct { u32 ns; char comm[6]; u64 flags; } enter;
        char str[20];
        int retval;
    };
    struct { u16 a:3, b:9; s32 c:4; u32 :0; u8 d; };
};
""", r"""
    union bind_options opts = {0};
    opts.fields.freebind = 1;
    opts.fields.bind_address_no_port = 7;       /* only its one bit kept */
    opts.fields.reuseport = 1;
    opts.fields.transparent = 0;
    put(0, opts.data);                          /* 0b10101 */
    put(1, sizeof(opts) * 100 + opts.fields.reuseport * 10 + opts.fields.transparent);
    struct data_t ev = {};
    ev.retval = -3;
    put(2, ev.retval);
    put(3, sizeof(ev) * 1000 + offsetof(struct data_t, retval) * 100 + offsetof(struct data_t, enter.flags));
    ev.a = 5; ev.b = 300; ev.c = -2; ev.d = 7;
    put(4, ev.a * 1000000 + ev.b * 1000 + ev.c * 10);
    put(5, ev.d * 100 + offsetof(struct data_t, d));
    ev.enter.comm[0] = 122;
    put(6, ev.str[4] * 1000 + (u8)ev.str[0]);   /* the union's members overlap */
""", [21, 110, -3, 40824, 5299980, 736, 122253]),
    ("kernel_header_macros", "", r"""
    put(0, IFNAMSIZ * 100 + WRITE * 10 + READ);
    u64 d = 12345678901ULL;
    put(1, div_u64(d, 1000) + div64_u64(d, d));
    put(2, -ENOMEM);
    char b[12];
    __builtin_memset(b, 7, sizeof(b));
    put(3, b[0] * 100 + b[11]);
    put(4, NSEC_PER_MSEC / NSEC_PER_USEC);
    struct scatterlist sg = {};
    sg.page_link = SG_END;
    put(5, (sg_is_last(&sg) != 0) * 10 + (unlikely(sg_is_chain(&sg)) != 0));
""", [1610, 12345679, -12, 707, 1000, 10]),
    ("implicit_kernel_reads", r"""
static u32 *pid_ptr(struct task_struct *t) { return (u32 *)((u8 *)t + KPID); }
""", r"""
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    u32 *pp = pid_ptr(t);            /* a kernel pointer from a static helper: probe reads */
    put(0, pp[0] == TARGET);
    put(1, *pid_ptr(t) == TARGET);
    put(2, ((u8 *)pp)[0] == (TARGET & 0xff));
""", [1, 1, 1]),
    # BCC's test_clang programs: the constructs below each failed a case of it
    ("statement_expressions_and_typeof", r"""
#define _(P) ({typeof(P) val = 0; bpf_probe_read(&val, sizeof(val), &P); val;})
""", r"""
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    put(0, _(t->tgid) == TARGET);                   /* test_probe_read3's read macro */
    int x = 20;
    put(1, ({ typeof(x) v = x * 2; v + 1; }));      /* its own scope, its last value */
    put(2, ({ int w = 3; w; }) + ({ 4; }));
""", [1, 41, 7]),
    ("user_struct_pointers_in_kernel_memory", r"""
struct sock { u64 sk_daddr; };                 /* its own struct sock: no sock.h shorthands */
struct leader_ov { u8 *leader; };              /* read through a kernel pointer */
""", r"""
    struct sock s = {};
    s.sk_daddr = 9;
    put(0, s.sk_daddr);
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    struct leader_ov *ov = (struct leader_ov *)((u8 *)t + KLEADER);
    put(1, *(u32 *)(ov->leader + KTGID) == TARGET);   /* the u8 * read from there points there */
    u8 **pl = &ov->leader;
    put(2, *(u32 *)(*pl + KTGID) == TARGET);
""", [9, 1, 1]),
    ("layout_attributes_and_forward_declarations", r"""
struct node;
struct node { struct node *next; u32 v; };
struct pk { u16 a; u32 b; } __packed;
struct pk2 { u8 c; u64 d; } __attribute__((packed));
struct al { u8 src[4] __attribute__ ((aligned (8))); u8 dst[4] __attribute__ ((aligned (8))); };
struct wide { u32 a; struct { char b; __int128 c; }; u8 d; };
""", r"""
    struct node n = {};
    n.v = 3;
    n.next = &n;
    put(0, sizeof(struct node) * 10 + n.v);
    struct pk p = {};
    p.a = 10;
    p.b = 70000;                                     /* at offset 2: stored byte by byte */
    put(1, sizeof(p) * 1000000 + p.b * 10 + p.a / 10);
    struct pk2 q = {};
    q.d = 0x1122334455ULL;
    put(2, sizeof(q) * 100 + offsetof(struct pk2, d) * 10 + (q.d == 0x1122334455ULL));
    put(3, sizeof(struct al) * 100 + offsetof(struct al, dst));
    put(4, sizeof(struct wide) * 10000 + offsetof(struct wide, c) * 100 + offsetof(struct wide, d));
""", [163, 6700001, 911, 1608, 643248]),
    ("network_header_macros_and_prog_array", r"""
BPF_PROG_ARRAY(jmp, 4);
""", r"""
    put(0, TC_ACT_SHOT * 10 + TC_ACT_OK);
    put(1, ETH_P_IP + ETH_P_8021Q);
    jmp.call(args, 1);                 /* an empty slot: the tail call returns, the program goes on */
    put(2, 1);
""", [20, 0x8900, 1]),
]


def _task_pid_offset(member: str = "pid") -> int:
    """offsetof(struct task_struct, member) as BTF gives it (the kernel's own answer)."""
    from bpfscope.kernel.btf import Btf
    from bpfscope.lang.ctype.typedb import TypeDB

    db = TypeDB(None, Btf.vmlinux)
    t = db.named("struct task_struct")
    assert t is not None
    m = db.member(t, member)
    assert m is not None
    return int(m.offset)


@needs_root
@pytest.mark.parametrize("name,defs,body,expect", CASES, ids=[c[0] for c in CASES])
def test_construct_in_kernel(name: str, defs: str, body: str, expect: list[int]) -> None:
    from bpfscope.bcc import BPF

    cflags = [f"-DTARGET={os.getpid()}", f"-DKPID={_task_pid_offset()}",
              f"-DKTGID={_task_pid_offset('tgid')}", f"-DKLEADER={_task_pid_offset('group_leader')}"]
    with BPF(text=PRELUDE + defs + PROBE % body, cflags=cflags) as b:
        for _ in range(N):
            os.getppid()
        got = [b["out"][i].value for i in range(len(expect))]
        progs = [f.name for f in b.obj.funcs]
    assert got == [N * v for v in expect]
    assert progs == ["tracepoint__syscalls__sys_enter_getppid"]     # called functions are inlined


# ---------------------------------------------------------------------- errors
def _error(text: str) -> str:
    from bpfscope.bcc import BPF, BPFCompileError

    with pytest.raises(BPFCompileError) as ei:
        BPF(text=text)
    return str(ei.value).splitlines()[0]


@pytest.mark.parametrize("body,msg", [
    ("goto nowhere;", "3:5: error: use of undeclared label 'nowhere'"),
    ("break;", "3:5: error: 'break' statement not in a loop or switch"),
    ("if (1) continue;", "3:12: error: 'continue' statement not in a loop"),
    ("return f(1);", "3:12: error: recursive call to 'f' (BPF programs cannot recurse)"),
    ("return g(1, 2);", "3:12: error: g() takes 1 argument, 2 given"),
    ("switch (1) { case x: break; }", "3:23: error: case value must be an integer constant"),
])
def test_control_flow_errors(body: str, msg: str) -> None:
    text = ("static int g(int a) { return a; }\nstatic int f(int x) {\n    " + body + "\n    return 0;\n}\n"
            "int probe(void *ctx) { int x = 1; return f(x) + g(x); }\n")
    assert _error(text) == f"<text>:{msg}"


@pytest.mark.parametrize("text,msg", [
    ("int probe(struct pt_regs *ctx) {\n    char c = 0;\n    c = *ctx++;\n    return c;\n}\n",
     "3:10: error: the context pointer cannot be modified (copy it to a local first)"),
    ("struct s {\n    u8 a:9;\n};\nint probe(void *ctx) { struct s v = {}; return v.a; }\n",
     "1:1: error: width of bit-field 'a' (9 bits) exceeds its type's"),
    ("int probe(void *ctx) {\n    char b[4];\n    __builtin_memset(b, 0, ctx);\n    return 0;\n}\n",
     "3:5: error: __builtin_memset() needs a constant value and size"),
    # BCC compiles every non-static function as a program of its own (test_clang's noninline call)
    ("int bar(void) {\n    return 0;\n}\nint foo(struct pt_regs *ctx) {\n    return bar();\n}\n",
     "5:12: error: cannot call non-static helper function"),
    ("int probe(void *ctx) {\n    int x = ({ if (1) x = 2; });\n    return x;\n}\n",
     "2:13: error: this statement expression has no value (it must end in an expression)"),
])
def test_construct_errors(text: str, msg: str) -> None:
    """Unsupported or wrong uses are located errors, never an internal traceback."""
    assert _error(text) == f"<text>:{msg}"


MEMBERS_C = r'''
union opts { u8 data; struct { u8 freebind:1; u8 transparent:1; u8 reuseport:1; } fields; };
struct ev { u32 type; union { int retval; char str[6]; }; union opts o; };
BPF_ARRAY(evs, struct ev, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
        return 0;
    int zero = 0;
    struct ev *e = evs.lookup(&zero);
    if (!e)
        return 0;
    e->retval = -7;
    e->o.fields.reuseport = 1;
    e->o.fields.freebind = 1;
    return 0;
}
'''


@needs_root
def test_anonymous_and_bitfield_members_reach_python() -> None:
    """A table's leaf with an anonymous union and bit-fields: the kernel writes the members
    (read-modify-write of the bit-fields), Python reads them by the same names, as with BCC."""
    from bpfscope.bcc import BPF

    with BPF(text=MEMBERS_C, cflags=[f"-DTARGET={os.getpid()}"]) as b:
        os.getppid()
        v = b["evs"][0]
        got = (v.retval, v.str[:4], v.o.data, v.o.fields.freebind, v.o.fields.transparent, v.o.fields.reuseport)
    assert got == (-7, b"\xf9\xff\xff\xff", 0b101, 1, 0, 1)


LAYOUT_C = r'''
struct pk { u16 a; u32 b; } __packed;
BPF_HASH(pks, u32, struct pk, 2);
BPF_HASH(anon, int, struct { u64 a; u64 c:36; u64 d:28; struct { u32 a; u32 b; } s; }, 2);
BPF_HASH(wide, unsigned __int128, __int128, 2);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
        return 0;
    u32 k = 0;
    struct pk p = {};
    p.a = 10;
    p.b = 20;
    pks.update(&k, &p);
    return 0;
}
'''


@needs_root
def test_layout_attributes_reach_python() -> None:
    """A packed leaf (stored by the kernel), an untagged struct leaf written in BPF_HASH's
    arguments, 16-byte integers: ctypes classes of the same layout as the compiler's."""
    import ctypes as ct

    from bpfscope.bcc import BPF

    with BPF(text=LAYOUT_C, cflags=[f"-DTARGET={os.getpid()}"]) as b:
        os.getppid()
        v = b["pks"][ct.c_uint(0)]
        got = (ct.sizeof(b["pks"].Leaf), v.a, v.b)
        a = b["anon"]
        a[ct.c_int(1)] = a.Leaf(2, 5, 3, (7, 8))
        w = a[ct.c_int(1)]
        sizes = (ct.sizeof(a.Leaf), ct.sizeof(b["wide"].Key), ct.sizeof(b["wide"].Leaf))
        got2 = (w.a, w.c, w.d, w.s.a, w.s.b)
    assert got == (6, 10, 20)
    assert sizes == (24, 16, 16)
    assert got2 == (2, 5, 3, 7, 8)


@needs_root
def test_printk_format_warnings_and_load_api(capfd: Any) -> None:
    """BCC's front end warns (and still compiles) about bpf_trace_printk conversions the
    helper does not take and about a second %s; BPF.KPROBE/SCHED_CLS name the program types,
    load_func() gives BCC's Function (fd, name), load_funcs() loads every function."""
    from bpfscope.bcc import BPF

    text = ('int a(struct pt_regs *ctx) {\n  bpf_trace_printk("%0.2f %lf\\n", 1, 2);\n  return 0;\n}\n'
            'int b(struct pt_regs *ctx) {\n  char s1[] = "x", s2[] = "y";\n'
            '  bpf_trace_printk("%s %s %d %llu %-5lx\\n", s1, s2, 3);\n  return 0;\n}\n')
    with BPF(text=text) as b:
        err = capfd.readouterr().err
        fns = b.load_funcs(BPF.KPROBE)
        names = [(f.name, f.fd == int(f), f.fd > 2) for f in fns]
        assert b.load_func("a", BPF.KPROBE) is fns[0]
    assert names == [("a", True, True), ("b", True, True)]
    assert [ln for ln in err.splitlines() if "warning" in ln] == [
        "<text>:2:20: warning: only %d %u %x %ld %lu %lx %lld %llu %llx %p %s conversion specifiers allowed",
        "<text>:7:20: warning: cannot use several %s conversion specifiers"]
    assert (BPF.KPROBE, BPF.SCHED_CLS, BPF.XDP, BPF.TRACEPOINT) == (2, 3, 6, 5)


PACKET_C = r'''
#include <bcc/proto.h>
BPF_ARRAY(out, u64, 8);
static void put(int k, u64 v) { out.update(&k, &v); }
int filt(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    if (eth->type != ETH_P_IP)
        return 0;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    if (ip->nextp != 17)
        return 0;
    struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
    if (udp->dport != PORT)
        return 0;
    put(0, ip->ver * 100 + ip->hlen);          /* bit-fields in the packet's order */
    put(1, udp->length);                       /* network order read as a number */
    put(2, ip->src);
    put(3, ip->mf * 10 + ip->foffset);
    put(4, eth->dst + eth->src);               /* 48-bit fields: loopback's zero addresses */
    put(5, udp->sport == SPORT);
    return 0;
}
int rewrite(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
    u32 old = ip->dst;
    eth->src = eth->dst;
    ip->ttl = 3;
    ip->dst = ip->src;
    incr_cksum_l4(&udp->crc, old, ip->src, 1);
    return 0;
}
'''


@needs_root
def test_packet_headers_read_a_real_packet() -> None:
    """bcc/proto.h's headers over a socket buffer: a socket filter on a loopback packet socket
    reads one UDP datagram's fields (LD_IND loads, wire-order bit-fields); the rewriting
    program (stores, checksum helper) passes the verifier as a tc classifier."""
    import socket

    from bpfscope.bcc import BPF

    port = 45123
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sport = s.getsockname()[1]
    with BPF(text=PACKET_C, cflags=[f"-DPORT={port}", f"-DSPORT={sport}"]) as b, \
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)) as ps:
        assert b.load_func("rewrite", BPF.SCHED_CLS).fd > 2
        ps.bind(("lo", 0))
        ps.setsockopt(socket.SOL_SOCKET, 50, b.load_func("filt", BPF.SOCKET_FILTER).fd)   # SO_ATTACH_BPF
        s.sendto(b"hello", ("127.0.0.1", port))
        got = [b["out"][i].value for i in range(6)]
    s.close()
    assert got == [405, 13, 0x7F000001, 0, 0, 1]


@needs_root
def test_public_tables_and_kernel_struct_leaves() -> None:
    """BPF_TABLE_PUBLIC shares a table with BPF_TABLE("extern", ...) of another BPF object in
    this process: the second one's program writes it, the first one's Python reads it. A kernel
    struct (BTF) as a key reaches Python with its anonymous unions' members (remote_ipv4)."""
    import ctypes as ct

    from bpfscope.bcc import BPF

    probe = ('TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {\n'
             '    if ((bpf_get_current_pid_tgid() >> 32) != TARGET) return 0;\n'
             '    int k = 7, v = 42;\n    shared_tbl.update(&k, &v);\n    return 0;\n}\n')
    flags = [f"-DTARGET={os.getpid()}"]
    with BPF(text='BPF_TABLE_PUBLIC("hash", int, int, shared_tbl, 4);') as b1:
        with BPF(text='BPF_TABLE("extern", int, int, shared_tbl, 4);\n' + probe, cflags=flags):
            os.getppid()
        got = b1["shared_tbl"][ct.c_int(7)].value
    with pytest.raises(Exception, match="no BPF_TABLE_PUBLIC table of that name"):
        BPF(text='BPF_TABLE("extern", int, int, shared_tbl, 4);')
    assert got == 42
    with BPF(text="BPF_HASH(t1, struct bpf_tunnel_key, int, 1);") as b:
        t = b["t1"]
        k = t.Key()
        k.remote_ipv4 = 0x7F000001
        k.tunnel_id = 5
        t[k] = ct.c_int(3)
        (key, val), = t.items()
        got2 = (key.remote_ipv6[0], key.tunnel_id, val.value, ct.sizeof(t.Key))
    assert got2 == (0x7F000001, 5, 3, 44)


@needs_root
def test_table_text_form_round_trip() -> None:
    """key_sprintf/leaf_sprintf give BCC's text (hex integers, `{ }` structs, `[ ]` arrays,
    quoted char arrays) of what the kernel stored; leaf_scanf reads the text back."""
    import ctypes as ct

    from bpfscope.bcc import BPF

    text = ('struct sym { char name[8]; s16 off; };\n'
            'BPF_HASH(t, int, struct { u32 a[2]; u64 c:36; u64 d:28; struct sym s; }, 2);\n'
            'TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {\n'
            '    if ((bpf_get_current_pid_tgid() >> 32) != TARGET) return 0;\n'
            '    int k = -2;\n    typeof(*t.lookup(&k)) v = {};\n'
            '    v.a[1] = 17; v.c = 4; v.d = 1; v.s.off = -1;\n'
            '    v.s.name[0] = 120; v.s.name[1] = 34;\n    t.update(&k, &v);\n    return 0;\n}\n')
    with BPF(text=text, cflags=[f"-DTARGET={os.getpid()}"]) as b:
        os.getppid()
        t = b["t"]
        (k, v), = t.items()
        got = (t.key_sprintf(k), t.leaf_sprintf(v))
        back = t.leaf_scanf(got[1])
        again = (back.a[1], back.c, back.d, back.s.name, back.s.off, t.key_scanf(b"0x7").value)
        plain = t.key_sprintf(ct.c_int(2))
    assert got == (b"0xfffffffe", b'{ [ 0x0 0x11 ] 0x4 0x1 { "x\\"" 0xffff } }')
    assert again == (17, 4, 1, b'x"', -1, 7)
    assert plain == b"0x2"


KPROBE_C = r'''
struct val_t { u64 offset; u32 flags; };
BPF_HASH(seen, u32, struct val_t);
static struct tcphdr *tcp_of(const struct sk_buff *skb)
{
    return (struct tcphdr *)(skb->head + skb->transport_header);
}
int trace_rw_entry(struct pt_regs *ctx, struct kiocb *iocb, char *buf, size_t len, loff_t *ppos)
{
    u32 pid = bpf_get_current_pid_tgid();
    struct val_t val = {};
    val.offset = *ppos;                     /* zfsslower: a probe read of the argument */
    seen.update(&pid, &val);
    return 0;
}
int trace_skb(struct pt_regs *ctx, struct sock *sk, struct sk_buff *skb)
{
    u32 pid = bpf_get_current_pid_tgid();
    struct val_t val = {};
    struct tcphdr *th = tcp_of(skb);
    val.flags = ((u_int8_t *)th)[13];       /* tcpdrop's tcp_flag_byte(th) */
    seen.update(&pid, &val);
    return 0;
}
int inject(struct pt_regs *ctx)
{
    bpf_override_return(ctx, -ENOMEM);      /* inject's helper, known by BCC's name */
    return 0;
}
'''


@needs_root
def test_kprobe_argument_dereferences_load() -> None:
    """Kernel pointers that come from a kprobe's arguments, or from a static helper computing
    them from kernel memory, are read with probe reads: the verifier accepts every function
    loaded as a kprobe program (loading needs no kprobes). bpf_override_return compiles to
    the kernel's helper; whether the kernel lets this program use it is the kernel's call."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import uapi

    with BPF(text=KPROBE_C) as b:
        assert [f.name for f in b.obj.funcs] == ["trace_rw_entry", "trace_skb", "inject"]
        for n in ("trace_rw_entry", "trace_skb"):
            assert b.load_func(n, uapi.BPF_PROG_TYPE_KPROBE) >= 0
        calls = [i.imm for f in b.obj.funcs if f.name == "inject" for i in f.insns if i.code == 0x85]
        assert calls == [uapi.HELPER_ID["override_return"]]


SWITCH_IN = r'''
BPF_STACK_TRACE(st, 64);
BPF_HASH(ids, u32, int);
int oncpu(struct pt_regs *ctx, struct task_struct *prev) {
    u32 pid = bpf_get_current_pid_tgid();
    int f = pid & 1 ? BPF_F_USER_STACK : 0;
    int id = st.get_stackid(ctx, FLAGS);
    ids.update(&pid, &id);
    return 0;
}
'''


def _switch_in(flags: str) -> Any:
    from bpfscope.bcc.bpf import _tp_fields, _vmlinux_btf
    from bpfscope.lang.bcc.compiler import compile_bcc
    from bpfscope.lang.bcc.standins import STAND_INS

    return compile_bcc(SWITCH_IN.replace("FLAGS", flags), _tp_fields, (), _vmlinux_btf,
                       {}, {"oncpu": STAND_INS["finish_task_switch"]})


@needs_root
def test_switch_in_stackid_needs_constant_flags() -> None:
    """A finish_task_switch probe compiled for sched_switch records the stacks of the task
    switched out for each (table, flags) its get_stackid calls use: flags known only at run
    time are a plain located error; constant ones add the hidden LRU table of recorded ids."""
    from bpfscope.kernel import uapi
    from bpfscope.lang.bcc.errors import render
    from bpfscope.lang.diagnostics import CompileError

    with pytest.raises(CompileError) as ei:
        _switch_in("f")
    text = SWITCH_IN.replace("FLAGS", "f")
    assert render(ei.value, text, "<text>").splitlines()[0] == (
        "<text>:7:34: error: get_stackid() in a finish_task_switch probe run from sched_switch needs "
        "constant flags (the stacks are taken when the task is switched out)")
    obj = _switch_in("BPF_F_USER_STACK | 0")
    hidden = obj.tables[-1]
    assert [t.name for t in obj.tables] == ["st", "ids", "__oncpu_switch_stacks"]
    assert (hidden.map_type, hidden.key.size, hidden.leaf.size) == (uapi.BPF_MAP_TYPE_LRU_HASH, 8, 8)


# ---------------------------------------------------------------------- Debian's scripts
@needs_root
def test_offcputime_child_sleeps_folded() -> None:
    """offcputime-bpfcc -K -f -p PID: its finish_task_switch kprobe runs from sched_switch
    where kprobes are missing (the stacks and comm of the task switched in are the ones it had
    when switched out). The child sleeps 40 ms K times after tracing began: its nanosleep
    stack's total is at least K * 40 ms and at most the traced window."""
    import time

    from tests.bcc.test_scripts import Run

    path = "/usr/sbin/offcputime-bpfcc"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (Debian's bpfcc-tools)")
    k = 8
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(k), "idle"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    t0 = time.monotonic()
    r = Run("offcputime", "-K", "-f", "-p", str(child.pid))
    try:
        r.in_sleep()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"done\n"
        text = r.finish()
        window_us = (time.monotonic() - t0) * 1e6
    finally:
        r.kill()
        child.kill()
        child.wait()
    rows = [ln.rsplit(" ", 1) for ln in text.splitlines() if ";" in ln]
    assert rows and all(st.startswith("python3;") for st, _ in rows), text
    naps = [int(n) for st, n in rows if ";do_nanosleep;schedule;" in st]
    assert k * 40000 <= sum(naps) <= window_us, (naps, window_us, text)


# execsnoop, killsnoop, opensnoop, mountsnoop and statsnoop run here: their syscall kprobes
# have stand-ins (tests/bcc/test_syscall_standins.py)
SCRIPTS = ["vfsstat", "biolatency", "tcpconnect", "tcpaccept",
           "bindsnoop", "zfsslower", "virtiostat"]


@needs_root
@pytest.mark.parametrize("name", SCRIPTS)
def test_kprobe_script_compiles_then_needs_kprobes(name: str) -> None:
    """These use goto/for/inlined functions/byte swaps/DISK_NAME_LEN; here they must get past
    compilation (and the verifier, for what loads before attaching) and stop only at the
    plain "no kprobe support" line."""
    from bpfscope.kernel import features

    path = f"/usr/sbin/{name}-bpfcc"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (Debian's bpfcc-tools)")
    if features.kprobes():
        pytest.skip("this kernel has kprobes (the VM lane runs these scripts)")
    p = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", path], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no kprobe support" in lines[0] and "error:" not in lines[0], p.stderr


@needs_root
def test_syscall_stand_in_names_the_argument_it_cannot_give() -> None:
    """Run from sys_exit, a kretprobe function on a syscall has no arguments (a kprobe function
    from sys_enter gets the syscall's, see test_syscall_standins): a parameter is a located
    error naming it, with the kprobe message, no traceback."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import features

    if features.kprobes():
        pytest.skip("this kernel has kprobes (the VM lane runs these)")
    text = "int ret(struct pt_regs *ctx, long a)\n{ return 0; }\n"
    with BPF(text=text) as b:
        with pytest.raises(Exception) as ei:
            b.attach_kretprobe(event=b.get_syscall_fnname("getppid"), fn_name="ret")
    msg = str(ei.value)
    assert "no kretprobe support" in msg and "Traceback" not in msg, msg
    assert msg.splitlines()[1:3] == [
        "<text>:1:30: error: parameter 'a': sys_exit gives a kretprobe no arguments (kprobes are missing)",
        "int ret(struct pt_regs *ctx, long a)"], msg


# ---------------------------------------------------------------------- cpudist-bpfcc
CHILD = r'''
import os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})   # cpudist keys its start times by (pid, cpu)
sys.stdin.readline()                      # asleep since before tracing began: not counted
for _ in range(int(sys.argv[1])):
    if sys.argv[2] == "spin":
        end = time.monotonic() + 0.02
        while time.monotonic() < end:
            pass
    time.sleep(0.04)
print("done", flush=True)
sys.stdin.readline()
'''


def _log2_hist(text: str) -> dict[int, int]:
    """cpudist's log2 histogram: bucket low bound → count."""
    out: dict[int, int] = {}
    for ln in text.splitlines():
        f = ln.split()
        if len(f) >= 5 and f[1] == "->" and f[3] == ":":
            out[int(f[0])] = int(f[4])
    return out


@needs_root
@pytest.mark.parametrize("mode", ["offcpu", "oncpu"])
def test_cpudist_sees_child_pattern(mode: str) -> None:
    """cpudist-bpfcc -m -p PID (kprobe on finish_task_switch, run here from the sched_switch raw
    tracepoint, cpudist's goto and inlined functions compiled by us). The child sleeps 40 ms
    K times: off-CPU, exactly K intervals of 32 ms or more; spinning 20 ms before each sleep:
    on-CPU, at least K intervals and none of 32 ms or more (counting from the wrong task's
    switch, as a kprobe-less port easily does, gives the 60 ms between two switches out)."""
    from tests.bcc.test_scripts import Run

    k = 8
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(k), "spin" if mode == "oncpu" else "idle"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    r = Run("cpudist", "-m", *(["-O"] if mode == "offcpu" else []), "-p", str(child.pid))
    try:
        r.wait_for(b"Hit Ctrl-C to end.")
        with SchedTrace(child.pid) as st:   # the switches the tracepoints delivered meanwhile
            child.stdin.write(b"go\n")
            child.stdin.flush()
            assert child.stdout.readline() == b"done\n"
            missed = r.recursion_misses()   # switches the kernel ran no program for
            text = r.finish()
    finally:
        r.kill()
        child.kill()
        child.wait()
    hist = _log2_hist(text)
    assert "msecs" in text and hist, text
    spans = [us // 1000 for us in (st.off_cpu_us(blocked_only=False) if mode == "offcpu" else st.on_cpu_us())]
    long_ = sum(1 for ms in spans if ms >= 32)
    if mode == "offcpu":   # the sleeps: k of 40 ms, unless the tracepoints missed a switch in
        assert long_ >= k - 1 and sum(1 for ms in spans if 32 <= ms < 64) >= k - 1, spans
    else:                  # 20 ms of spinning at a time, cut by preemptions
        assert len(spans) >= k and long_ <= 1, spans
    assert long_ - missed <= sum(n for lo, n in hist.items() if lo >= 32) <= long_, (text, spans, missed)
    # on-CPU, the last span ends when the child blocks after "done": maybe after cpudist stopped
    assert len(spans) - missed - (mode == "oncpu") <= sum(hist.values()) <= len(spans), (text, spans, missed)


@needs_root
@pytest.mark.parametrize("name,args", [("execsnoop", ()), ("execsnoop", ("--max-args", "200")),
                                       ("biolatency", ()), ("biosnoop", ()), ("tcpconnect", ()),
                                       ("statsnoop", ()), ("opensnoop", ()), ("bindsnoop", ()),
                                       ("mountsnoop", ()), ("zfsslower", ()), ("virtiostat", ()),
                                       ("virtiostat", ("-d", "virtio_blk")), ("sslsniff", ())])
def test_kprobe_script_programs_pass_the_verifier(name: str, args: tuple[str, ...]) -> None:
    """The C each script prints with --ebpf, every function loaded as a kprobe program: the
    verifier accepts the unrolled loops, inlined calls and byte swaps (loading needs no kprobes).
    execsnoop --max-args 200 is past the unrolling limit: a real loop, bounded for the verifier."""
    from bpfscope.bcc import BPF
    from bpfscope.kernel import uapi

    path = f"/usr/sbin/{name}-bpfcc"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (Debian's bpfcc-tools)")
    p = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", path, *args, "--ebpf"], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr
    with BPF(text=p.stdout, cflags=["-DMAX_PID=32768"]) as b:
        names = [f.name for f in b.obj.funcs]
        assert names
        for n in names:
            assert b.load_func(n, uapi.BPF_PROG_TYPE_KPROBE) >= 0


@needs_root
def test_cpudist_intervals_end_by_themselves() -> None:
    """`cpudist-bpfcc 1 3`: three one-second usecs histograms, then it exits 0 by itself; every
    histogram has samples (two CPUs keep switching: this test's own process included)."""
    path = "/usr/sbin/cpudist-bpfcc"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (Debian's bpfcc-tools)")
    p = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", path, "1", "3"], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    parts = p.stdout.split("usecs               : count     distribution")
    assert parts[0].startswith("Tracing on-CPU time... Hit Ctrl-C to end.") and len(parts) == 4, p.stdout
    assert all(_log2_hist(part) and sum(_log2_hist(part).values()) > 0 for part in parts[1:]), p.stdout
