"""Kernel and user symbolization: kallsyms, live processes, snapshots after exit, perf maps."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfscope.kernel import elf
from bpfscope.kernel.ksyms import KernelSymbols, format_addr
from bpfscope.kernel.procmaps import ProcessMaps
from bpfscope.kernel.symbols import Symbolizer, SymbolTable, format_stack, usym

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _kallsyms_lines() -> list[tuple[int, str, str]]:
    rows = []
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            rows.append((int(parts[0], 16), parts[1], parts[2]))
    return rows


kallsyms_visible = os.path.exists("/proc/kallsyms") and any(a for a, _t, _n in _kallsyms_lines()[:5])


# -- kernel ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not kallsyms_visible, reason="kallsyms addresses hidden (need root / kptr_restrict=0)")
class TestKernel:
    def test_loads_every_text_symbol(self) -> None:
        # its load time is a figure of bench/run.py --only checks
        n_text = sum(1 for _a, t, _n in _kallsyms_lines() if t in "tT")
        assert len(KernelSymbols()) >= n_text > 10_000

    def test_known_symbols_cross_checked(self) -> None:
        rows = _kallsyms_lines()
        ks = KernelSymbols()
        by_name: dict[str, int] = {}
        for a, _t, n in rows:
            by_name.setdefault(n, a)
        for name in ("vfs_read", "schedule", "do_sys_openat2"):
            if name not in by_name:
                continue
            addr = by_name[name]
            assert ks.kaddr(name) == addr
            assert ks.ksym(addr) == name
            assert ks.ksym(addr + 7, offset=True) == f"{name}+7"
            assert ks.ksym(addr, offset=True) == f"{name}+0"
        assert ks.kaddr("no_such_kernel_symbol_xyz") is None

    def test_every_text_symbol_resolves_to_an_alias_at_its_address(self) -> None:
        rows = _kallsyms_lines()
        ks = KernelSymbols()
        names_at: dict[int, set[str]] = {}
        for a, t, n in rows:
            if t not in "bBdDrR":
                names_at.setdefault(a, set()).add(n)
        text = [(a, n) for a, t, n in rows if t in "tT"]
        for a, _n in text[:: max(1, len(text) // 2000)]:
            hit = ks.lookup(a + 1)
            assert hit is not None
            assert hit[0] in names_at[a] or a + 1 in names_at, (hex(a), hit)

    def test_unknown_and_data_addresses(self) -> None:
        ks = KernelSymbols()
        assert ks.ksym(0x10) == "0x10"
        assert ks.ksym(0x10, offset=True) == "0x10"
        assert format_addr(0) == "0x0"
        text_names = {n for _a, t, n in _kallsyms_lines() if t not in "bBdDrR"}
        data = [(a, n) for a, t, n in _kallsyms_lines() if t in "dD" and n not in text_names]
        assert data
        a, n = data[len(data) // 2]
        hit = ks.lookup(a)
        assert hit is None or hit[0] != n  # data symbols never name a stack frame

    def test_symbolizer_kstack(self) -> None:
        ks = KernelSymbols()
        s = Symbolizer(kernel=ks)
        addr = ks.kaddr("schedule")
        assert addr is not None
        assert s.kstack([addr + 5, 0x10]) == ["schedule+5", "0x10"]
        assert s.kstack([addr + 5], perf=True) == ["schedule+5"]
        assert s.ksym(addr + 5) == "schedule"

    def test_unsorted_and_irregular_kallsyms(self, tmp_path: Path) -> None:
        p = tmp_path / "kallsyms"
        p.write_text(
            "ffffffff81000200 T beta\n"
            "ffffffff81000100 T alpha\n"
            "ffffffff81000150 D some_data\n"
            "ffffffffc0001000 t mod_fn\t[mymod]\n"
        )
        ks = KernelSymbols(str(p))
        assert ks.ksym(0xFFFFFFFF81000160, offset=True) == "alpha+96"
        assert ks.ksym(0xFFFFFFFF81000210, offset=True) == "beta+16"
        assert ks.ksym(0xFFFFFFFFC0001004, offset=True) == "mod_fn+4"
        assert ks.kaddr("some_data") == 0xFFFFFFFF81000150
        short = tmp_path / "short"
        short.write_text("81000100 T alpha\n81000200 t beta\n")
        assert KernelSymbols(str(short)).ksym(0x81000204, offset=True) == "beta+4"


# -- user -----------------------------------------------------------------------------------------
needs_gcc = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("nm")), reason="needs gcc and nm")


@pytest.fixture(scope="module")
def chain_bin(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if not (shutil.which("gcc") and shutil.which("nm")):
        pytest.skip("needs gcc and nm")
    d = tmp_path_factory.mktemp("sym")
    lib, exe = str(d / "libfix.so"), str(d / "chain")
    _run("gcc", "-O0", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", lib, str(FIXTURES / "fixlib.c"))
    _run(
        "gcc", "-O0", "-fno-omit-frame-pointer", "-DWITH_LIB", "-o", exe, str(FIXTURES / "chain.c"),
        f"-L{d}", "-lfix", f"-Wl,-rpath,{d}",
    )  # fmt: skip
    return exe, lib


class Live:
    def __init__(self, proc: subprocess.Popen[str], addrs: dict[str, int]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.addrs = addrs

    def finish(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("x\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)


@pytest.fixture
def live(chain_bin: tuple[str, str]) -> Iterator[Live]:
    proc = subprocess.Popen([chain_bin[0]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    addrs: dict[str, int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            break
        k, v = line.split()
        addrs[k] = int(v, 16)
    lv = Live(proc, addrs)
    yield lv
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _nm_vals(path: str, *extra: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _run("nm", "--defined-only", *extra, path).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2].split("@")[0], int(parts[0], 16))  # drop @@GLIBC_x.y
    return out


def _expected_frames(live: Live, exe: str, lib: str) -> tuple[list[int], list[str]]:
    nm = _nm_vals(exe)
    bias = live.addrs["leaf"] - nm["leaf"]
    middle_rt = nm["middle"] + bias
    ret = live.addrs["ret_leaf"]
    assert middle_rt < ret < middle_rt + 200
    addrs = [live.addrs["leaf"] + 4, ret, live.addrs["fix_work"] + 1, 0x1234]
    frames = ["leaf+4", f"middle+{ret - middle_rt}", "fix_work+1", "0x1234"]
    return addrs, frames


@needs_gcc
def test_live_then_after_exit(live: Live, chain_bin: tuple[str, str]) -> None:
    exe, lib = chain_bin
    addrs, frames = _expected_frames(live, exe, lib)
    s = Symbolizer()
    snap = s.capture(live.pid)
    assert snap is not None and snap.exe == exe
    assert s.ustack(live.pid, addrs) == frames
    assert s.usym(live.pid, addrs[0]) == "leaf"
    perf = s.ustack(live.pid, addrs, perf=True)
    assert perf == [
        f"leaf+4 ({exe})",
        f"{frames[1]} ({exe})",
        f"fix_work+1 ({lib})",
        "0x1234 ([unknown])",
    ]
    live.finish()
    assert not os.path.exists(f"/proc/{live.pid}/maps")
    # The kept snapshot still symbolizes, in this symbolizer and in a fresh one.
    assert s.ustack(live.pid, addrs) == frames
    fresh = Symbolizer()
    assert fresh.ustack(live.pid, addrs) == ["0x" + format(a, "x") for a in addrs]  # nothing captured
    fresh.set_maps(snap)
    assert fresh.ustack(live.pid, addrs) == frames
    assert usym(snap, addrs[1]) == frames[1]
    assert usym(snap, addrs[1], offset=False) == "middle"


@needs_gcc
def test_libc_frame_names_an_alias_at_that_address(live: Live) -> None:
    s = Symbolizer()
    addr = live.addrs["getpid"]
    snap = s.capture(live.pid)
    assert snap is not None
    entry = snap.find(addr)
    assert entry is not None and "libc" in entry.path
    sym = s.resolve_user(live.pid, addr)
    assert sym is not None and sym.offset == 0 and sym.module == entry.path
    # Names nm reports at getpid's link-time address (dynamic table and any debug file).
    nm = _nm_vals(entry.path, "-D")
    vaddr = nm["getpid"]
    names = {n for n, v in nm.items() if v == vaddr}
    dbg = elf.find_debug_file(entry.path)
    if dbg:
        names |= {n for n, v in _nm_vals(dbg).items() if v == vaddr}
    assert sym.name in names


@needs_gcc
def test_many_frames_symbolize_alike(live: Live, chain_bin: tuple[str, str]) -> None:
    """10k frames (the time they take is a figure of bench/run.py --only checks)."""
    addrs, frames = _expected_frames(live, *chain_bin)
    s = Symbolizer()
    s.capture(live.pid)
    s.ustack(live.pid, addrs)  # warm the per-binary tables
    assert s.ustack(live.pid, addrs * 2500) == frames * 2500


@needs_gcc
def test_background_prewarm_loads_tables_while_tracing(live: Live, chain_bin: tuple[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    exe, lib = chain_bin
    addrs, frames = _expected_frames(live, exe, lib)
    s = Symbolizer(background=True)
    snap = s.capture(live.pid)   # as on a first-sight event: the worker loads every binary
    assert snap is not None
    deadline = time.monotonic() + 10
    paths = {e.open_path for e in snap.entries if e.executable and e.open_path}
    while time.monotonic() < deadline and not paths <= {k[0] for k in s.cache._tables}:
        time.sleep(0.01)
    assert {exe, lib} <= {k[0] for k in s.cache._tables}   # loaded into the bounded LRU
    loads: list[str] = []
    real = SymbolTable.load
    monkeypatch.setattr(SymbolTable, "load", lambda p: loads.append(p) or real(p))
    assert s.ustack(live.pid, addrs) == frames
    assert loads == []   # every table was ready
    s.stop_prewarm()
    assert not s._pending


@needs_gcc
def test_gone_pid_is_not_reread_for_every_frame(live: Live, chain_bin: tuple[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    addrs, _frames = _expected_frames(live, *chain_bin)
    live.finish()
    reads: list[int] = []
    real = ProcessMaps.capture

    def counting(pid: int) -> ProcessMaps:
        reads.append(pid)
        return real(pid)

    monkeypatch.setattr(ProcessMaps, "capture", staticmethod(counting))
    s = Symbolizer()
    assert s.ustack(live.pid, addrs * 50) == ["0x" + format(a, "x") for a in addrs] * 50
    assert reads == [live.pid]   # one failed read, then throttled


@pytest.mark.skipif(not kallsyms_visible, reason="kallsyms addresses hidden (need root / kptr_restrict=0)")
def test_kallsyms_preload_in_background() -> None:
    ks = KernelSymbols()
    ks.preload()
    ks.preload()   # idempotent
    addr = ks.kaddr("schedule")   # waits for the loader
    assert addr is not None and ks.ksym(addr + 1, offset=True) == "schedule+1"


@needs_gcc
def test_perf_map_for_anonymous_code(live: Live) -> None:
    s = Symbolizer()
    snap = s.capture(live.pid)
    assert snap is not None
    anon = next(e for e in snap.entries if not e.open_path)  # e.g. [heap] or [stack]
    path = Path(f"/tmp/perf-{live.pid}.map")
    try:
        path.write_text(f"{anon.start:x} 40 jit::compiled fn\n{anon.start + 0x40:x} 10 other\n")
        assert s.usym(live.pid, anon.start + 0x10, offset=True) == "jit::compiled fn+16"
        assert s.usym(live.pid, anon.start + 0x42, offset=True, perf=True) == f"other+2 ({path})"
        assert s.usym(live.pid, anon.start + 0x60) == format_addr(anon.start + 0x60)
    finally:
        path.unlink()


def test_cxx_frames_are_demangled(tmp_path: Path) -> None:
    if not (shutil.which("g++") and shutil.which("nm")):
        pytest.skip("needs g++ and nm")
    exe = str(tmp_path / "cxx")
    _run("g++", "-O1", "-fno-inline", "-o", exe, str(FIXTURES / "cxx.cpp"))
    table = SymbolTable.load(exe)
    poke = _nm_vals(exe)["_ZNK5fixns6Widget4pokeEi"]
    assert table.lookup(poke + 2) == ("fixns::Widget::poke(int) const", 2)


def test_nested_and_aliased_symbols() -> None:
    rows = [
        (0x1000, 0x100, b"outer_fn"),
        (0x1040, 0x10, b"inner_fn"),
        (0x1200, 0x20, b"alias_weak"),
        (0x1200, 0x20, b"alias_global"),
    ]
    t = SymbolTable("/x", [rows[0], rows[1], rows[3], rows[2]], [(0, 0, 0x2000)])
    assert t.lookup(0x1044) == ("inner_fn", 4)
    assert t.lookup(0x1080) == ("outer_fn", 0x80)  # walks back past the nested symbol
    assert t.lookup(0x1204) == ("alias_global", 4)  # first of equal starts wins
    assert t.lookup(0x1300) is None and t.lookup(0x10) is None


def test_process_maps_parse() -> None:
    text = (
        "55d0a0000000-55d0a0001000 r--p 00000000 08:01 1234 /usr/bin/prog\n"
        "55d0a0001000-55d0a0002000 r-xp 00001000 08:01 1234 /usr/bin/prog\n"
        "7f0000000000-7f0000001000 r-xp 00002000 08:01 99 /tmp/lib with space.so (deleted)\n"
        "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]\n"
        "7ffe00000000-7ffe00001000 rw-p 00000000 00:00 0\n"
    )
    snap = ProcessMaps.parse(42, text, root="/proc/42/root")
    e = snap.find(0x55D0A0001010)
    assert e is not None and e.path == "/usr/bin/prog" and e.file_offset(0x55D0A0001010) == 0x1010
    assert e.open_path == "/proc/42/root/usr/bin/prog"
    assert snap.base(e) == 0x55D0A0000000
    d = snap.find(0x7F0000000004)
    assert d is not None and d.deleted and d.path == "/tmp/lib with space.so"
    v = snap.find(0x7FFD00000010)
    assert v is not None and v.path == "[vdso]" and v.open_path == ""
    assert snap.find(0x1000) is None and snap.find(0x55D0A0002000) is None
    assert snap.paths() == ["/proc/42/root/usr/bin/prog", "/proc/42/root/tmp/lib with space.so"]


def test_format_stack_modes() -> None:
    addrs = [0xFFFFFFFF81000010, 0x7F00]
    frames = ["schedule+16", "0x7f00"]
    assert format_stack(addrs, frames) == "\n        schedule+16\n        0x7f00\n"
    assert format_stack(addrs, frames, indent=4) == "\n    schedule+16\n    0x7f00\n"
    assert format_stack(addrs, frames, "perf") == "\n\tffffffff81000010 schedule+16\n\t7f00 0x7f00\n"
    assert format_stack(addrs, [], "raw") == "\nffffffff81000010\n7f00\n"
