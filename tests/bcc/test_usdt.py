"""USDT in BCC programs: `USDT(path=|pid=).enable_probe(probe=, fn_name=)`,
`BPF(text=, usdt_contexts=[u])`, `bpf_usdt_readarg` / `bpf_usdt_readarg_p`, on real probes
(<sys/sdt.h>, semaphore-guarded so they fire only while attached), and Debian's unchanged
trace-bpfcc (u: probes, STRCMP filter) and tplist-bpfcc (-l, -vv) through `bpfscope bcc`.

Workloads know their arguments: h14:req fires (i, i*1000, "req-<i>") for i < N at one site
and (100, 7, "last") at a second site whose arguments are constants (a second argument
layout, so a second program); tests/fixtures/usdt.c has register, rip-relative, indexed
memory and constant arguments."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bcc.test_scripts import Run
from tests.conftest import needs_root

pytestmark = needs_root
FIX = Path(__file__).resolve().parent.parent / "fixtures"

REQ_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
unsigned short h14_req_semaphore __attribute__((section(".probes"))) __attribute__((used));

__attribute__((noinline)) static void last(void) {
    static char tail[8] = "last";
    if (h14_req_semaphore) STAP_PROBE3(h14, req, 100, 7L, tail);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10, fired = 0;
    char name[16], line[8];
    if (argc > 2) {   /* "wait": say so (Popen returns before exec has mapped us), attach, then go */
        fputs("waiting\n", stderr);
        if (!fgets(line, sizeof line, stdin))
            return 2;
    }
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "req-%ld", i);
        if (h14_req_semaphore) { STAP_PROBE3(h14, req, (int)i, i * 1000, name); fired++; }
    }
    last();
    printf("fired %ld\n", fired);
    return 0;
}
"""

PROG = r"""
BPF_HASH(c, u32, s64);
int on_req(struct pt_regs *ctx) {
    int i = 0; long v = 0; u64 wrong = 0; char s[16] = {};
    bpf_usdt_readarg(1, ctx, &i);
    bpf_usdt_readarg(2, ctx, &v);
    u32 k = 0; c.increment(k, v);
    k = 1; c.increment(k, i);
    k = 2; c.increment(k);
    if (bpf_usdt_readarg(1, ctx, &wrong) == -1 && wrong == 0) { k = 3; c.increment(k); }
    bpf_usdt_readarg_p(3, ctx, &s, sizeof(s));
    if (s[0] == 'r' && s[1] == 'e' && s[2] == 'q' && s[3] == '-' && s[4] == '7' && s[5] == 0) { k = 4; c.increment(k); }
    if (s[0] == 'l' && s[3] == 't' && s[4] == 0) { k = 5; c.increment(k); }
    return 0;
}
"""


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the USDT programs")
    if not Path("/usr/include/x86_64-linux-gnu/sys/sdt.h").exists() and not Path("/usr/include/sys/sdt.h").exists():
        pytest.skip("sys/sdt.h (Debian systemtap-sdt-dev) is needed for the USDT programs")
    d = tmp_path_factory.mktemp("usdt")
    (d / "req.c").write_text(REQ_C)
    subprocess.run(["gcc", "-O2", "-o", str(d / "req"), str(d / "req.c")], check=True)
    subprocess.run(["gcc", "-O2", "-g", "-o", str(d / "usdtfix"), str(FIX / "usdt.c")], check=True)
    return d


def _counts(b: object) -> dict[int, int]:
    return {k.value: v.value for k, v in b["c"].items()}  # type: ignore[index]


def _expect(n: int) -> dict[int, int]:
    """What PROG counts for `req N`: N loop firings plus the constant site."""
    return {0: 1000 * n * (n - 1) // 2 + 7, 1: n * (n - 1) // 2 + 100, 2: n + 1, 3: n + 1,
            4: 1 if n > 7 else 0, 5: 1}


def test_usdt_path_args_both_layouts(bins: Path) -> None:
    from bpfscope.bcc import BPF, USDT

    exe = str(bins / "req")
    assert subprocess.run([exe, "10"], capture_output=True, text=True).stdout == "fired 0\n"
    u = USDT(path=exe)
    u.enable_probe(probe="req", fn_name="on_req")
    with BPF(text=PROG, usdt_contexts=[u]) as b:
        assert b.num_open_uprobes() == 2          # two locations, one per argument layout
        assert len(b.funcs) == 2                  # one program per layout
        r = subprocess.run([exe, "10"], capture_output=True, text=True)
        assert r.stdout == "fired 10\n"           # the semaphore was raised while attached
        got = _counts(b)
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in _expect(10).items() if v}, got
    assert subprocess.run([exe, "3"], capture_output=True, text=True).stdout == "fired 0\n"   # lowered again


def test_usdt_pid_and_provider_qualified_name(bins: Path) -> None:
    from bpfscope.bcc import BPF, USDT

    p = subprocess.Popen([str(bins / "req"), "9", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr is not None and p.stderr.readline() == "waiting\n"   # exec'd and mapped
        u = USDT(pid=p.pid)
        u.enable_probe(probe="h14:req", fn_name="on_req")
        active = u.enumerate_active_probes()
        assert len(active) == 2 and all(fn == b"on_req" and pid == p.pid for _, fn, _, pid in active), active
        with BPF(text=PROG, usdt_contexts=[u]) as b:
            out, _ = p.communicate("go\n", timeout=60)
            assert out == "fired 9\n"
            got = _counts(b)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in _expect(9).items() if v}, got


def test_usdt_argument_kinds(bins: Path) -> None:
    """Registers, a rip-relative global, an indexed table element, a constant, a 1-byte arg."""
    from bpfscope.bcc import BPF, USDT

    exe = str(bins / "usdtfix")
    u = USDT(path=exe)
    assert {p.short_name() for p in u.enumerate_probes()} == {"fixprov:regs", "fixprov:mem", "fixprov:none"}
    assert [u.get_probe_arg_ctype("fixprov:regs", k) for k in range(3)][0] == "int32_t"
    u.enable_probe("fixprov:regs", "on_regs")
    u.enable_probe("mem", "on_mem")
    prog = r"""
    BPF_HASH(v, u32, s64);
    int on_regs(struct pt_regs *ctx) {
        int a = 0; long b = 0; int c = 0; u32 k; s64 x;
        bpf_usdt_readarg(1, ctx, &a); bpf_usdt_readarg(2, ctx, &b); bpf_usdt_readarg(3, ctx, &c);
        k = 1; x = a; v.update(&k, &x);
        k = 2; x = b; v.update(&k, &x);
        k = 3; x = c; v.update(&k, &x);
        return 0;
    }
    int on_mem(struct pt_regs *ctx) {
        int counter = 0; long t = 0; u8 small = 0; u32 k; s64 x;
        bpf_usdt_readarg(1, ctx, &counter); bpf_usdt_readarg(2, ctx, &t); bpf_usdt_readarg(3, ctx, &small);
        k = 4; x = counter; v.update(&k, &x);
        k = 5; x = t; v.update(&k, &x);
        k = 6; x = small; v.update(&k, &x);
        return 0;
    }
    """
    with BPF(text=prog, usdt_contexts=[u]) as b:
        subprocess.run([exe, "x", "y"], check=False)          # argc = 3
        got = {k.value: v.value for k, v in b["v"].items()}
    assert got == {1: 3, 2: 43, 3: -5, 4: 7, 5: 4, 6: 3}, got


def test_usdt_errors_are_plain(bins: Path) -> None:
    from bpfscope.bcc import BPF, USDT, BPFCompileError

    u = USDT(path=str(bins / "req"))
    with pytest.raises(Exception, match="Failed to enable USDT probe nope: .* has no such probe"):
        u.enable_probe("nope", "f")
    with pytest.raises(BPFCompileError, match=r"<text>:2:\d+: error: bpf_usdt_readarg\(\) needs a function "
                                              "enabled on a USDT probe"):
        BPF(text="int f(struct pt_regs *ctx) {\n u64 x; bpf_usdt_readarg(1, ctx, &x); return 0; }")
    u.enable_probe("req", "f")
    with pytest.raises(BPFCompileError, match="argument index must be a constant from 1 to 3"):
        BPF(text="int f(struct pt_regs *ctx) {\n u64 x; bpf_usdt_readarg(4, ctx, &x); return 0; }",
            usdt_contexts=[u])


def test_trace_script_usdt_probe_and_strcmp(bins: Path) -> None:
    exe = str(bins / "req")
    # -M 8: the script ends by itself after the 7 + 1 events (Ctrl-C ends BCC's trace with status 1)
    r = Run("trace", "-M", "8", f'u:{exe}:req "%d %s", arg1, arg3',
            f'u:{exe}:req (STRCMP("req-4", arg3)) "match %d", arg2')
    try:
        r.wait_for(b"FUNC")
        assert subprocess.run([exe, "6"], capture_output=True, text=True).stdout == "fired 6\n"
        text = r.finish(sig=None)
    finally:
        r.kill()
    rows = [ln.split()[3:] for ln in text.splitlines()[1:] if ln.strip()]
    assert [x for x in rows if x[1] != "match"] == [["req", str(i), f"req-{i}"] for i in range(6)] + \
        [["req", "100", "last"]], text
    assert [x for x in rows if x[1] == "match"] == [["req", "match", "4000"]], text


def test_tplist_lists_usdt_probes(bins: Path) -> None:
    exe = str(bins / "usdtfix")
    r = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", "tplist-bpfcc", "-l", exe],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "no such script" in r.stderr:
        pytest.skip("tplist-bpfcc is not installed")
    assert r.stdout.splitlines() == [f"{exe} fixprov:regs", f"{exe} fixprov:mem", f"{exe} fixprov:none"], r
    r = subprocess.run([sys.executable, "-m", "bpfscope", "bcc", "tplist-bpfcc", "-vv", "-l", exe, "*:mem"],
                       capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{exe} fixprov:mem [sema 0x"), r
    assert lines[1].startswith("  location #1 ") and len(lines) == 5, r
    assert lines[2] == "    argument #1 4 signed bytes @ memory counter(%rip)", r
    assert lines[3].startswith("    argument #2 8 signed bytes @ memory ("), r
    assert re.fullmatch(r"    argument #3 1 unsigned bytes @ register %\w+", lines[4]), r
