"""The compiler's output for a fixed corpus of programs is byte-for-byte what it was when the
golden file was recorded: a guard for refactorings of lang/ that must not change behaviour.

The corpus (tests/lang/data/xlated_corpus.json) is the one-liners harvested from tests/ plus
Debian's /usr/sbin/*.bt tools that compile on the recording machine. Each is compiled WITHOUT
loading (`Program.compile`): instructions keep their map-index placeholders, so the output depends
only on the compiler and on this kernel's tracepoint formats, BTF and kallsyms. The golden bytes are
therefore tied to the kernel version they were recorded on; on another build of that version (a
new machine: other BTF digest, other kallsyms) they are compared with kernel addresses masked (the
only thing that differs between builds), and on another version the test skips and says so.
Re-record (only for a deliberate codegen change) with

    python3 -m tests.lang.test_xlated_corpus

kprobe/kretprobe resolution is forced on (this host has no kprobes; only compile-time facts are
needed: the pt_regs layout and kallsyms), so the per-arch register code is covered too.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_root

DATA = Path(__file__).parent / "data" / "xlated_corpus.json"
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def _kernel() -> dict[str, str]:
    btf = hashlib.sha256(VMLINUX.read_bytes()).hexdigest() if VMLINUX.exists() else ""
    return {"release": platform.release(), "machine": platform.machine(), "btf_sha256": btf}


def _compile(entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The compiler's output for one corpus entry, as plain JSON data."""
    from bpfscope.kernel import features
    from bpfscope.kernel.insn import encode
    from bpfscope.runtime.probes import kernelfunc
    from bpfscope.runtime.program import Program

    monkeypatch.setattr(features, "kprobes", lambda: True)
    monkeypatch.setattr(features, "kretprobes", lambda: True)
    monkeypatch.setattr(features, "kprobe_multi", lambda: False)
    # functions this kernel lacks (tools written for older kernels) still compile: the corpus
    # guards code generation, not which probes exist
    monkeypatch.setattr(kernelfunc, "_exists", lambda pattern: True)
    # recorded when max_strlen defaulted to 64: the corpus guards code generation, which the
    # default string size would change everywhere without telling anything new
    src = entry["source"]
    cp = Program(src, filename=entry.get("filename", "stdin"), unsafe=True,
                 opts={} if "max_strlen" in src else {"max_strlen": 64}).compile()
    return {
        "progs": [{"name": p.probe.name, "insns": encode(p.insns).hex(), "consts": [list(c) for c in p.consts],
                   "subprogs": list(p.subprogs)} for p in cp.progs],
        "maps": [[m.name, m.map_type, m.key_size, m.value_size, m.max_entries, m.flags] for m in cp.maps],
        "events": [[e.kind, e.fmt, e.map_name] for e in cp.events],
    }


def _version(release: str) -> str:
    """6.18.44 of 6.18.44-fc-v1147: the build suffix changes per machine, formats do not."""
    return release.split("-", 1)[0]


def _comparable(rec: dict[str, str]) -> bool:
    now = _kernel()
    return rec["machine"] == now["machine"] and _version(rec["release"]) == _version(now["release"])


def _mask_kernel_addresses(hexed: str) -> str:
    """Zero the immediates of 64-bit constant loads that hold kernel addresses (kaddr(), kallsyms
    lookups): they move between builds of one kernel version."""
    b = bytearray(bytes.fromhex(hexed))
    for i in range(0, len(b) - 15, 8):
        if b[i] == 0x18 and b[i + 1] >> 4 == 0 and int.from_bytes(b[i + 12:i + 16], "little") >= 0xFFFF8000:
            b[i + 4:i + 8] = bytes(4)
            b[i + 12:i + 16] = bytes(4)
    return b.hex()


def _load() -> dict[str, Any]:
    return json.loads(DATA.read_text())


CORPUS = _load()["programs"]


@needs_root
def test_recorded_on_this_kernel() -> None:
    """Say plainly when the golden bytes cannot apply (instead of 200 silent skips)."""
    rec = _load()["kernel"]
    if not _comparable(rec):
        pytest.skip(f"golden bytes recorded on another kernel: {rec['release']} ({rec['btf_sha256'][:12]}); "
                    f"this is {platform.release()}")
    assert len(CORPUS) > 150


@needs_root
@pytest.mark.parametrize("index", range(len(CORPUS)), ids=[f"{i}:{e['origin']}" for i, e in enumerate(CORPUS)])
def test_compiles_to_recorded_bytes(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _load()
    entry = data["programs"][index]
    if not _comparable(data["kernel"]):
        pytest.skip("golden bytes recorded on another kernel")
    got = _compile(entry, monkeypatch)
    want = entry["output"]
    if data["kernel"] != _kernel():
        for prog in (*got["progs"], *want["progs"]):
            prog["insns"] = _mask_kernel_addresses(prog["insns"])
    for p_got, p_want in zip(got["progs"], want["progs"], strict=False):
        assert p_got["name"] == p_want["name"]
        if p_got["insns"] != p_want["insns"]:
            g, w = bytes.fromhex(p_got["insns"]), bytes.fromhex(p_want["insns"])
            first = next((i // 8 for i in range(0, min(len(g), len(w)), 8) if g[i:i + 8] != w[i:i + 8]),
                         min(len(g), len(w)) // 8)
            pytest.fail(f"{p_got['name']}: instructions differ from insn {first} "
                        f"({len(g) // 8} now, {len(w) // 8} recorded): "
                        f"now {g[first * 8:first * 8 + 8].hex()} recorded {w[first * 8:first * 8 + 8].hex()}")
    assert got == want


def record() -> None:
    """Re-record every entry's output from the current tree (the corpus itself stays fixed)."""
    data = _load()
    for entry in data["programs"]:
        with pytest.MonkeyPatch.context() as m:
            entry["output"] = _compile(entry, m)
    data["kernel"] = _kernel()
    DATA.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    record()
