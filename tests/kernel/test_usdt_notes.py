"""USDT note parsing, cross-checked against `readelf -n`, plus argument-spec unit tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.kernel import elf
from bpfscope.kernel.usdt_notes import (
    PT_REGS_OFFSETS,
    UsdtArgError,
    find_usdt,
    list_usdt,
    parse_arg,
    parse_args,
)
from tests.conftest import peer_failed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SDT_HEADERS = ("/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h")
HAVE_SDT = any(os.path.exists(p) for p in SDT_HEADERS)


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


needs_fixture = pytest.mark.skipif(
    not (HAVE_SDT and shutil.which("gcc") and shutil.which("readelf")),
    reason="needs gcc, readelf and <sys/sdt.h> (Debian package systemtap-sdt-dev)",
)


@pytest.fixture(scope="module")
def usdt_bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("usdt")
    out = {}
    for opt in ("-O0", "-O1"):
        path = str(d / f"usdt{opt}")
        _run("gcc", opt, "-fno-inline", "-o", path, str(FIXTURES / "usdt.c"))
        out[opt] = path
    return out


def _readelf_notes(path: str) -> list[dict[str, str]]:
    notes = []
    text = _run("readelf", "-nW", path)
    pat = re.compile(
        r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), "
        r"Semaphore: (0x[0-9a-f]+)\s+Arguments:[ \t]*([^\n]*)"
    )
    for m in pat.finditer(text):
        notes.append(
            {"provider": m[1], "name": m[2], "pc": m[3], "base": m[4], "sem": m[5], "args": m[6].strip()}
        )
    return notes


def _section(path: str, name: str) -> tuple[int, int]:
    for line in _run("readelf", "-SW", path).splitlines():
        m = re.search(rf"\]\s+{re.escape(name)}\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m:
            return int(m[1], 16), int(m[2], 16)
    raise AssertionError(f"no section {name}")


@needs_fixture
@pytest.mark.parametrize("opt", ["-O0", "-O1"])
def test_notes_match_readelf(usdt_bins: dict[str, str], opt: str) -> None:
    path = usdt_bins[opt]
    probes = list_usdt(path)
    ref = _readelf_notes(path)
    assert len(ref) == 3
    assert [(p.provider, p.name, hex(p.pc), hex(p.base), hex(p.semaphore), p.arg_string) for p in probes] == [
        (
            r["provider"],
            r["name"],
            hex(int(r["pc"], 16)),
            hex(int(r["base"], 16)),
            hex(int(r["sem"], 16)),
            r["args"],
        )
        for r in ref
    ]
    sem_addr, sem_off = _section(path, ".probes")
    for p in probes:
        assert len(p.args) == len(p.arg_string.split())
        assert p.semaphore_offset == p.semaphore - sem_addr + sem_off
        assert p.pc_offset == elf.vaddr_to_file_offset(path, p.pc)
        assert p.pc_offset is not None
    # The probe sits inside `work` (between its start and end per the symbol table).
    start, size = elf.resolve_symbol(path, "work") or (0, 0)
    assert all(start <= p.pc < start + size for p in probes)


@needs_fixture
def test_arg_kinds_of_O0_build(usdt_bins: dict[str, str]) -> None:
    regs = find_usdt(usdt_bins["-O0"], "fixprov", "regs")[0]
    a, b, c = regs.args
    # -O0 keeps locals in the frame: memory relative to %rbp.
    assert (a.kind, a.size, a.signed, a.base, a.base_offset) == (
        "mem",
        4,
        True,
        "rbp",
        PT_REGS_OFFSETS["rbp"],
    )
    assert a.displacement < 0 and b.kind == "mem" and b.size == 8 and b.displacement < 0
    assert (c.kind, c.size, c.signed, c.value) == ("const", 4, True, -5)


@needs_fixture
def test_arg_kinds_of_O1_build(usdt_bins: dict[str, str]) -> None:
    path = usdt_bins["-O1"]
    regs, mem, none = (find_usdt(path, "fixprov", n)[0] for n in ("regs", "mem", "none"))
    assert none.args == ()
    a, b, c = regs.args
    assert a.kind == "reg" and a.size == 4 and a.signed and a.reg_width == 4
    assert a.reg_offset == PT_REGS_OFFSETS[a.reg or ""]
    assert b.kind == "reg" and b.size == 8 and b.signed
    assert (c.kind, c.value) == ("const", -5)
    counter, elem, byte = mem.args
    nm_counter = elf.resolve_symbol(path, "counter")
    assert nm_counter is not None
    if counter.kind == "mem" and counter.symbol is not None:  # `-4@counter(%rip)` from gcc
        assert counter.rip_relative and counter.symbol == "counter"
        assert counter.symbol_vaddr == nm_counter[0]
    assert counter.size == 4 and counter.signed
    assert elem.size == 8 and elem.signed
    if elem.index is not None:  # `-8@(%rcx,%rdx,8)`: table[i]
        assert elem.scale == 8 and elem.index_offset == PT_REGS_OFFSETS[elem.index]
    assert byte.size == 1 and not byte.signed


@needs_fixture
def test_stapsdt_base_adjustment(usdt_bins: dict[str, str], tmp_path: Path) -> None:
    if not shutil.which("objcopy"):
        pytest.skip("objcopy not installed")
    src = usdt_bins["-O1"]
    moved = str(tmp_path / "moved")
    subprocess.run(
        ["objcopy", "--change-section-address", ".stapsdt.base+16", src, moved],
        check=True,
        capture_output=True,
    )
    before, after = list_usdt(src), list_usdt(moved)
    assert [p.base for p in after] == [p.base for p in before]  # recorded base unchanged
    assert [p.pc for p in after] == [p.pc + 16 for p in before]
    assert [p.semaphore for p in after] == [p.semaphore + 16 for p in before]


@needs_fixture
def test_bpftrace_lists_the_same_probes(usdt_bins: dict[str, str]) -> None:
    if not shutil.which("bpftrace") or os.geteuid() != 0:
        pytest.skip("reference bpftrace needs to be installed and run as root")
    path = usdt_bins["-O1"]
    res = subprocess.run(["bpftrace", "-l", f"usdt:{path}:*"], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        peer_failed("bpftrace -l", res)
    theirs = sorted(line.split(":", 2)[2] for line in res.stdout.split() if line.startswith("usdt:"))
    assert theirs == sorted(p.full_name for p in list_usdt(path))
    assert [p.name for p in find_usdt(path, "*", "re*")] == ["regs"]


def test_not_usdt_binary_has_no_probes() -> None:
    assert list_usdt("/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true") == []


# -- argument spec unit tests (pure logic) --------------------------------------------------------
def test_register_args() -> None:
    a = parse_arg("-4@%edi")
    assert (a.kind, a.size, a.signed, a.reg, a.reg_offset, a.reg_width) == ("reg", 4, True, "rdi", 112, 4)
    b = parse_arg("8@%r10")
    assert (b.reg, b.reg_offset, b.signed) == ("r10", 56, False)
    assert parse_arg("1@%ah").reg_offset == PT_REGS_OFFSETS["rax"] + 1
    assert parse_arg("-2@%r9w").reg_offset == PT_REGS_OFFSETS["r9"]
    assert parse_arg("1@%sil").reg == "rsi"
    nosize = parse_arg("%eax")  # v1/v2 notes have no size prefix
    assert (nosize.size, nosize.signed, nosize.reg) == (8, False, "rax")


def test_memory_args() -> None:
    m = parse_arg("8@-16(%rbp)")
    assert (m.kind, m.base, m.base_offset, m.displacement, m.index) == ("mem", "rbp", 32, -16, None)
    ix = parse_arg("8@(%rax,%rdx,8)")
    assert (ix.base, ix.index, ix.scale, ix.displacement) == ("rax", "rdx", 8, 0)
    assert ix.index_offset == PT_REGS_OFFSETS["rdx"]
    hx = parse_arg("-4@0x10(%rsp,%rcx)")
    assert (hx.displacement, hx.index, hx.scale) == (16, "rcx", 1)
    noidx_base = parse_arg("4@8(,%rdi,4)")
    assert (noidx_base.base, noidx_base.index, noidx_base.scale, noidx_base.displacement) == (
        None,
        "rdi",
        4,
        8,
    )
    rip = parse_arg("-4@counter+4(%rip)")
    assert (rip.base, rip.symbol, rip.displacement, rip.rip_relative) == ("rip", "counter", 4, True)
    seg = parse_arg("8@%fs:0x28")
    assert (seg.kind, seg.segment, seg.displacement, seg.base) == ("mem", "fs", 0x28, None)
    seg2 = parse_arg("-8@%fs:-8(%rax)")
    assert (seg2.segment, seg2.base, seg2.displacement) == ("fs", "rax", -8)


def test_constant_args() -> None:
    assert parse_arg("-8@$5").value == 5
    assert parse_arg("-4@$-5").value == -5
    assert parse_arg("8@$0x10").value == 16
    assert [a.kind for a in parse_args("-4@%edi 8@-16(%rbp) -8@$5")] == ["reg", "mem", "const"]
    assert parse_args("") == []


@pytest.mark.parametrize(
    "bad", ["4@%xmm99", "3@%eax", "8@(%rax,%rdx,3)", "8@%zz:0x10", "8@$abc", "4@(%eax", "8@-16(%al)"]
)
def test_bad_args_raise(bad: str) -> None:
    with pytest.raises(UsdtArgError):
        parse_arg(bad)
