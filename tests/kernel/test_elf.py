"""ELF reader, demangling and library resolution, cross-checked against binutils."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpfscope.kernel import elf
from bpfscope.kernel.demangle import demangle, strip_params
from bpfscope.kernel.ldcache import (
    find_library,
    ld_cache_entries,
    parse_ld_cache,
    resolve_target,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("nm") and shutil.which("readelf")),
    reason="needs gcc, nm and readelf (binutils) to build and cross-check fixtures",
)


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("elf")
    out = {
        "lib": str(d / "libfix.so"),
        "pie": str(d / "chain"),
        "nopie": str(d / "chain_nopie"),
    }
    flags = ["-O0", "-fno-omit-frame-pointer", "-g"]
    _run("gcc", *flags, "-shared", "-fPIC", "-o", out["lib"], str(FIXTURES / "fixlib.c"))
    common = ["-DWITH_LIB", str(FIXTURES / "chain.c"), f"-L{d}", "-lfix", f"-Wl,-rpath,{d}"]
    _run("gcc", *flags, "-pie", "-fPIE", "-o", out["pie"], *common)
    _run("gcc", *flags, "-no-pie", "-fno-PIE", "-o", out["nopie"], *common)
    if shutil.which("g++"):
        out["cxx"] = str(d / "cxx")
        _run("g++", "-O1", "-fno-inline", "-o", out["cxx"], str(FIXTURES / "cxx.cpp"))
    return out


def _nm(path: str, *extra: str) -> dict[str, tuple[int, int]]:
    """name -> (value, size) from `nm -S --defined-only`."""
    syms: dict[str, tuple[int, int]] = {}
    for line in _run("nm", "-S", "--defined-only", *extra, path).splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms.setdefault(parts[3], (int(parts[0], 16), int(parts[1], 16)))
    return syms


def _readelf_loads(path: str) -> list[tuple[int, int, int]]:
    """(offset, vaddr, filesz) of LOAD program headers, parsed from `readelf -lW`."""
    rows = []
    for line in _run("readelf", "-lW", path).splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD":
            rows.append((int(parts[1], 16), int(parts[2], 16), int(parts[4], 16)))
    return rows


@pytest.mark.parametrize("which", ["pie", "nopie"])
def test_symbols_match_nm(built: dict[str, str], which: str) -> None:
    path = built[which]
    nm = _nm(path)
    ours = {s.name: s for s in elf.symbols(path)}
    for fn in ("main", "outer", "middle", "leaf"):
        assert elf.resolve_symbol(path, fn) == nm[fn]
        assert ours[fn].type == "FUNC" and ours[fn].bind == "GLOBAL"
    assert ours["sink"].type == "OBJECT"
    funcs = {s.name for s in elf.function_symbols(path)}
    assert {"main", "outer", "middle", "leaf"} <= funcs
    assert "sink" not in funcs
    assert "getpid" not in funcs  # undefined import, not attachable here


@pytest.mark.parametrize("which", ["pie", "nopie", "lib"])
def test_file_offsets_match_program_headers(built: dict[str, str], which: str) -> None:
    path = built[which]
    loads = _readelf_loads(path)
    names = ("leaf", "middle") if which != "lib" else ("fix_work", "fix_helper")
    nm = _nm(path)
    for fn in names:
        vaddr = nm[fn][0]
        expected = [vaddr - va + off for off, va, fsz in loads if va <= vaddr < va + fsz]
        assert len(expected) == 1
        assert elf.vaddr_to_file_offset(path, vaddr) == expected[0]
        # The bytes at that offset are the function's code: same as what objdump would show.
        ef = elf.open_elf(path)
        assert ef.offset_to_vaddr(expected[0]) == vaddr
    if which == "nopie":
        assert elf.vaddr_to_file_offset(path, 0x10) is None


def test_pie_detection(built: dict[str, str]) -> None:
    assert elf.is_pie(built["pie"]) and elf.open_elf(built["pie"]).is_pie
    assert not elf.is_pie(built["nopie"]) and not elf.open_elf(built["nopie"]).is_pie
    lib = elf.open_elf(built["lib"])
    assert lib.is_dyn and not lib.is_pie
    hdr = _run("readelf", "-hW", built["nopie"])
    assert "EXEC" in hdr and elf.open_elf(built["nopie"]).e_type == elf.ET_EXEC


def test_shared_library_symbols(built: dict[str, str]) -> None:
    lib = built["lib"]
    nm = _nm(lib)
    assert elf.resolve_symbol(lib, "fix_work") == nm["fix_work"]
    assert elf.resolve_symbol(lib, "fix_helper") == nm["fix_helper"]  # local, .symtab only
    dyn = _nm(lib, "-D")
    assert "fix_helper" not in dyn and "fix_work" in dyn
    assert elf.match_functions(lib, "fix_*") == ["fix_helper", "fix_work"]
    assert elf.resolve_symbol(lib, "no_such_fn") is None


def test_build_id_matches_readelf(built: dict[str, str]) -> None:
    m = re.search(r"Build ID: ([0-9a-f]+)", _run("readelf", "-n", built["pie"]))
    assert m is not None
    assert elf.build_id(built["pie"]) == m.group(1)


def test_debuglink_and_build_id_debug_files(built: dict[str, str], tmp_path: Path) -> None:
    if not shutil.which("objcopy"):
        pytest.skip("objcopy not installed")
    src = built["pie"]
    stripped = tmp_path / "chain"
    (tmp_path / ".debug").mkdir()
    dbg = tmp_path / ".debug" / "chain.debug"
    _run("objcopy", "--only-keep-debug", src, str(dbg))
    _run("objcopy", "--strip-all", f"--add-gnu-debuglink={dbg}", src, str(stripped))
    assert not elf.open_elf(str(stripped)).has_symtab
    link = elf.debuglink(str(stripped))
    assert link is not None and link[0] == "chain.debug"
    assert elf.find_debug_file(str(stripped)) == str(dbg)
    # Stripped binary: symbols come from the debug file, values unchanged.
    assert elf.resolve_symbol(str(stripped), "middle") == _nm(src)["middle"]
    # A corrupted debug file fails the CRC check and is ignored.
    data = bytearray(dbg.read_bytes())
    data[-1] ^= 0xFF
    dbg.write_bytes(bytes(data))
    assert elf.find_debug_file(str(stripped)) is None
    # The build-id path wins when present (tested under a private root).
    bid = elf.build_id(str(stripped))
    assert bid
    bdir = tmp_path / "root" / "usr/lib/debug/.build-id" / bid[:2]
    bdir.mkdir(parents=True)
    (bdir / f"{bid[2:]}.debug").write_bytes(b"x")
    found = elf.find_debug_file(str(stripped), root=str(tmp_path / "root"))
    assert found == str(bdir / f"{bid[2:]}.debug")


def test_cxx_demangled_matching(built: dict[str, str]) -> None:
    if "cxx" not in built:
        pytest.skip("g++ not installed")
    path = built["cxx"]
    nm = _nm(path)
    mangled = [n for n in nm if n.startswith("_ZN5fixns7compute")]
    assert len(mangled) == 2
    assert demangle("_ZN5fixns7computeEi") == "fixns::compute(int)"
    if shutil.which("c++filt"):
        for n in mangled:
            assert demangle(n) == _run("c++filt", n).strip()
    assert strip_params(demangle("_ZNK5fixns6Widget4pokeEi")) == "fixns::Widget::poke"
    # Without '(' a name matches every overload; with it, only the exact signature.
    assert elf.match_functions(path, "fixns::compute") == sorted(mangled)
    assert elf.match_functions(path, "fixns::compute(int)") == ["_ZN5fixns7computeEi"]
    assert elf.match_functions(path, "fixns::*") == sorted([*mangled, "_ZNK5fixns6Widget4pokeEi"])
    assert elf.match_functions(path, "*Widget::poke*") == ["_ZNK5fixns6Widget4pokeEi"]
    assert elf.resolve_symbol(path, "fixns::Widget::poke") == nm["_ZNK5fixns6Widget4pokeEi"]
    assert elf.resolve_symbol(path, "_ZN5fixns7computeEi") == nm["_ZN5fixns7computeEi"]
    assert demangle("not_mangled") == "not_mangled"
    assert demangle("_Zgarbage!") == "_Zgarbage!"


def test_wildcard_semantics() -> None:
    assert elf.wildcard_match("foo*", "foobar")
    assert elf.wildcard_match("*bar", "foobar")
    assert elf.wildcard_match("f*b*r", "foobar")
    assert not elf.wildcard_match("foo*", "xfoo")
    assert elf.wildcard_match("op[]?", "op[]?")  # only '*' is special, as in bpftrace
    assert not elf.wildcard_match("op?", "opx")
    assert elf.wildcard_match("exact", "exact") and not elf.wildcard_match("exact", "exactly")


def test_not_elf(tmp_path: Path) -> None:
    p = tmp_path / "text"
    p.write_bytes(b"hello world, not an ELF at all" * 4)
    with pytest.raises(elf.ElfError):
        elf.open_elf(str(p))
    with pytest.raises(elf.ElfError):
        elf.open_elf(str(tmp_path / "missing"))


def test_elf_cache_reloads_on_change(built: dict[str, str], tmp_path: Path) -> None:
    p = tmp_path / "bin"
    shutil.copy(built["pie"], p)
    a = elf.open_elf(str(p))
    assert elf.open_elf(str(p)) is a
    shutil.copy(built["lib"], tmp_path / "new")
    os.replace(tmp_path / "new", p)
    b = elf.open_elf(str(p))
    assert b is not a and elf.resolve_symbol(str(p), "fix_work") is not None


# -- ld.so.cache and target resolution ----------------------------------------------------------
def test_libc_resolves_through_ld_cache() -> None:
    if not os.path.exists("/etc/ld.so.cache"):
        pytest.skip("no /etc/ld.so.cache on this system")
    for name in ("libc", "c", "libc.so.6"):
        path = find_library(name)
        assert path is not None and path.endswith("/libc.so.6") and os.path.exists(path)
    assert resolve_target("libc") == find_library("libc")
    assert find_library("definitely_not_a_library_xyz") is None


def test_ld_cache_agrees_with_ldconfig() -> None:
    if not (os.path.exists("/etc/ld.so.cache") and shutil.which("ldconfig")):
        pytest.skip("needs /etc/ld.so.cache and ldconfig")
    out = _run("ldconfig", "-p")
    listed = set(re.findall(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", out, re.M))
    ours = {(e.soname, e.path) for e in ld_cache_entries()}
    assert {(s, p) for s, _f, p in listed} == ours
    m = re.match(r"(\d+) libs found", out)
    assert m is not None and int(m.group(1)) == len(ld_cache_entries())


def test_parse_ld_cache_synthetic() -> None:
    strings = b"libfoo.so.1\0/opt/lib/libfoo.so.1\0"
    hdr_len, entry_len = 48, 24
    base = hdr_len + entry_len
    header = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", 1, len(strings), 2, 0)
    entry = struct.pack("<iIIIQ", 0x0303, base, base + 12, 0, 0)
    entries = parse_ld_cache(header + entry + strings)
    assert [(e.soname, e.path, e.flags) for e in entries] == [("libfoo.so.1", "/opt/lib/libfoo.so.1", 0x303)]
    with pytest.raises(ValueError):
        parse_ld_cache(b"not a cache" + b"\0" * 64)


def test_bin_names_resolve_through_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "mytool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"/nonexistent:{tmp_path}")
    assert resolve_target("mytool") == str(exe)
    assert resolve_target(str(exe)) == str(exe)
    assert resolve_target("/no/such/file") is None
    pid = os.getpid()
    assert resolve_target(str(exe), pid=pid) == f"/proc/{pid}/root{exe}"
