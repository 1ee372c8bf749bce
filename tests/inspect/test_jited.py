"""`prog dump jited`: capstone-decoded lines in bpftool's LLVM layout.

Debian's bpftool is built without a disassembler ("No libbfd support"), so the reference
for the instruction text is LLVM itself: llvm-objdump on the very same JITed bytes (the
MC printer bpftool's LLVM backend uses). Every instruction of every function must read
the same; the layout around it (symbol headers, `%4x:`, opcodes rows) is bpftool's.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.kernel import objinfo
from tests.inspect.conftest import Loaded, needs_root
from tests.inspect.helpers import ours

pytestmark = [pytest.mark.root, needs_root]
capstone = pytest.importorskip("capstone", reason="capstone (the `jited` extra) is not installed")


def llvm_lines(code: bytes, base: int, tmp: Path) -> dict[int, str]:
    """pc -> instruction text (blank-collapsed) as llvm-objdump prints it."""
    for tool in ("objcopy", "llvm-objdump"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (reference disassembler) is not installed")
    b, o = tmp / "img.bin", tmp / "img.o"
    b.write_bytes(code)
    subprocess.run(["objcopy", "-I", "binary", "-O", "elf64-x86-64", "-B", "i386:x86-64",
                    "--set-section-flags", ".data=alloc,load,contents,code,readonly",
                    "--rename-section", ".data=.text", str(b), str(o)], check=True)
    out = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", f"--adjust-vma={base:#x}", str(o)],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+):\s*\t(.*)$", line)
        if m:
            res[int(m.group(1), 16) - base] = " ".join(re.sub(r" <[^>]*>", "", m.group(2)).split())
    return res


def parse_ours(text: str) -> list[tuple[str, dict[int, str]]]:
    """[(function header, {pc: instruction text})] from our plain output."""
    funcs: list[tuple[str, dict[int, str]]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t(.*)$", line)
        if m and funcs:
            funcs[-1][1][int(m.group(1), 16)] = " ".join(m.group(2).split())
        elif line.endswith(":") and not line.startswith((" ", "\t", ";")) and "(" not in line:
            funcs.append((line[:-1], {}))
    return funcs


def check_against_llvm(prog_id: int, tmp: Path) -> int:
    fd = objinfo.fd_by_id("prog", prog_id)
    try:
        info = objinfo.prog_info(fd, detail=True)
    finally:
        os.close(fd)
    text, rc = ours(f"prog dump jited id {prog_id}")
    assert rc == 0
    funcs = parse_ours(text)
    assert len(funcs) == len(info.jited_func_lens)
    img, checked = 0, 0
    for (name, lines), flen, base in zip(funcs, info.jited_func_lens, info.jited_ksyms, strict=True):
        assert re.fullmatch(r"bpf_prog_[0-9a-f]{16}_\w+|0x[0-9a-f]{16}", name), name
        ref = llvm_lines(info.jited[img:img + flen], base, tmp)
        assert lines == ref, f"prog {prog_id} {name}: ours vs llvm-objdump differ"
        checked += len(lines)
        img += flen
    return checked


def test_jited_matches_llvm_on_our_program(loaded: Loaded, tmp_path: Path) -> None:
    pid = objinfo.prog_info(loaded.prog_fd).id
    assert check_against_llvm(pid, tmp_path) > 10
    text, _ = ours(f"prog dump jited id {pid}")
    assert text.endswith("\n\n")  # a blank line closes each function, as in bpftool
    # opcodes: the byte rows put back together are exactly the JITed image
    op_text, _ = ours(f"prog dump jited id {pid} opcodes")
    rows = [ln for ln in op_text.splitlines() if ln.startswith("\t") and re.fullmatch(r"\t([0-9a-f]{2} )+", ln)]
    info = objinfo.prog_info(loaded.prog_fd, detail=True)
    assert bytes.fromhex("".join(rows).replace("\t", "")) == info.jited
    js = json.loads(ours(f"prog dump jited id {pid} opcodes -j")[0])
    assert [f["name"] for f in js] == [f[0] for f in parse_ours(text)]
    first = js[0]["insns"][0]
    assert set(first) == {"pc", "operation", "operands", "opcodes"} and first["pc"] == "0x0"


def test_jited_matches_llvm_on_clang_object(bpf_objects: dict[str, str], bpffs_dir: str, tmp_path: Path) -> None:
    """A BTF-annotated program: prototype line and `; source` lines from the jited line info."""
    path = os.path.join(bpffs_dir, "p")
    assert ours(f"prog load {bpf_objects['count']} {path}")[1] == 0
    from bpfscope.kernel import syscall as sc

    fd = sc.obj_get(path)
    try:
        pid = objinfo.prog_info(fd).id
    finally:
        os.close(fd)
    assert check_against_llvm(pid, tmp_path) > 50
    text, _ = ours(f"prog dump jited id {pid}")
    lines = text.splitlines()
    assert lines[0] == "int count_getppid(void * ctx):"
    assert lines[1].startswith("bpf_prog_") and lines[1].endswith("_count_getppid:")
    assert lines[2].startswith("; ") and "bpf_get_current_pid_tgid" in lines[2]
    assert "static void add_stat(__u32 idx, __u64 v):" in text or "void add_stat(__u32 idx, __u64 v):" in text
    linum, _ = ours(f"prog dump jited id {pid} linum")
    assert re.search(r"^; .* \[file:.*count\.bpf\.c line_num:\d+ line_col:\d+\]$", linum, re.M)


def test_missing_capstone_is_a_clear_error(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_capstone(name: str, *a: object, **k: object) -> object:
        if name == "capstone":
            raise ImportError("no capstone")
        return real_import(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_capstone)
    import contextlib
    import io

    from bpfscope.inspect.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["prog", "dump", "jited", "id", str(objinfo.prog_info(loaded.prog_fd).id)])
    assert rc == 255 and "capstone" in err.getvalue() and "pip install" in err.getvalue()
