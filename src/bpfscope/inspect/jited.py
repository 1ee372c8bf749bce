"""`prog dump jited`: x86-64 machine code through capstone (optional: the `jited` extra).

Layout is bpftool's with its LLVM disassembler: per function the BTF prototype line,
the kernel symbol (`bpf_prog_<tag>_<name>:`), then `%4x:` + LLVM's AT&T text
(`\\tmovq\\t%rsp, %rbp`), `; source` lines from the jited line info, with `opcodes`
a `\\n\\t` + `%02x ` byte line, and a blank line after each function. capstone's AT&T
printer comes from LLVM's; the differences (immediates in decimal with LLVM's
`# imm = 0x..` comment, no blanks inside memory operands, `lock` decoded as its own
instruction as LLVM 14 does) are evened out here, operand by operand.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from ..kernel import objinfo
from ..kernel import syscall as sc
from .common import CmdError, Ctx

_OP_REG, _OP_IMM, _OP_MEM = 1, 2, 3
_COMMENT_COLUMN = 40


def _column(text: str) -> int:
    col = 0
    for ch in text:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def _imm_comment(imm: int) -> str:
    if -256 <= imm <= 255:
        return ""
    if -(1 << 15) <= imm < (1 << 15):
        return f"imm = 0x{imm & 0xFFFF:X}"
    if -(1 << 31) <= imm < (1 << 31):
        return f"imm = 0x{imm & 0xFFFFFFFF:X}"
    return f"imm = 0x{imm & 0xFFFFFFFFFFFFFFFF:X}"


def _mem(ins: Any, op: Any) -> str:
    m = op.mem
    out = ""
    if m.segment:
        out += f"%{ins.reg_name(m.segment)}:"
    if m.disp or (not m.base and not m.index):
        out += str(m.disp)
    if m.base or m.index:
        out += "("
        if m.base:
            out += f"%{ins.reg_name(m.base)}"
        if m.index:
            out += f",%{ins.reg_name(m.index)}"
            if m.scale != 1:
                out += f",{m.scale}"
        out += ")"
    return out


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def llvm_text(ins: Any) -> tuple[str, str]:
    """(LLVM-style "\\tmnemonic\\toperands", comment) of one capstone instruction (detail on)."""
    mnem = ins.mnemonic
    branch = bool(set(ins.groups) & {1, 2, 7})  # jump, call, relative branch
    texts = _split_top(ins.op_str)
    ops = list(ins.operands)
    comments: list[str] = []
    if len(ops) == len(texts):
        rendered = []
        for op, txt in zip(ops, texts, strict=True):
            if op.type == _OP_IMM and branch and not txt.startswith("$"):
                rendered.append(f"0x{op.imm & 0xFFFFFFFFFFFFFFFF:x}")
            elif op.type == _OP_IMM:
                rendered.append(f"${op.imm}")
                c = _imm_comment(op.imm)
                if c:
                    comments.append(c)
            elif op.type == _OP_MEM:
                rendered.append(("*" if txt.startswith("*") else "") + _mem(ins, op))
            else:
                rendered.append(txt)
        operands = ", ".join(rendered)
    else:  # implicit operands: keep capstone's text, minus blanks inside memory operands
        operands = ", ".join(t.replace(", ", ",") for t in texts)
    text = f"\t{mnem}" + (f"\t{operands}" if operands else "")
    return text, "\n".join(comments)


def _with_comment(text: str, comment: str) -> str:
    if not comment:
        return text
    lines = []
    for i, c in enumerate(comment.split("\n")):
        base = text if i == 0 else ""
        pad = max(_COMMENT_COLUMN - _column(base), 1)
        lines.append(base + " " * pad + "# " + c)
    return "\n".join(lines)


def decode(code: bytes, base: int) -> list[tuple[int, int, str, str]]:
    """(offset, length, text, comment) per instruction; `lock` prefixes split off as LLVM 14 does."""
    try:
        import capstone  # type: ignore[import-not-found]
    except ImportError:
        raise CmdError("'prog dump jited' needs the capstone package: pip install 'bpfscope[jited]'") from None
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.syntax = capstone.CS_OPT_SYNTAX_ATT
    md.detail = True
    out: list[tuple[int, int, str, str]] = []
    pc = 0
    while pc < len(code):
        ins = next(md.disasm(code[pc:], base + pc, 1), None)
        if ins is None:  # undecodable byte: LLVM prints nothing useful either; show it raw
            out.append((pc, 1, f"\t.byte\t0x{code[pc]:02x}", ""))
            pc += 1
            continue
        if ins.mnemonic.startswith("lock ") and code[pc] == 0xF0:
            out.append((pc, 1, "\tlock", ""))
            pc += 1
            continue
        text, comment = llvm_text(ins)
        out.append((pc, ins.size, text, comment))
        pc += ins.size
    return out


def _jited_line_info(fd: int, nr: int) -> list[int]:
    """The jited address of each line-info record (bpf_prog_info.jited_line_info)."""
    if not nr:
        return []
    buf = ctypes.create_string_buffer(nr * 8)
    pre = bytearray(objinfo.PROG_INFO_SIZE)
    struct.pack_into("=Q", pre, 160, ctypes.addressof(buf))
    struct.pack_into("=I", pre, 168, nr)
    struct.pack_into("=I", pre, 176, 8)
    sc.obj_get_info(fd, objinfo.PROG_INFO_SIZE, bytes(pre), keep=(buf,))
    return list(struct.unpack_from(f"={nr}Q", buf.raw))


class _JitedLines:
    """libbpf's bpf_prog_linfo jited lookup: line records per function by jited address."""

    def __init__(self, lines: list[Any], addrs: list[int], ksyms: list[int]) -> None:
        self.lines = lines
        self.addrs = addrs
        self.start: list[int] = []
        self.count: list[int] = []
        f = 0
        for i, a in enumerate(addrs):
            if f < len(ksyms) and a == ksyms[f]:
                self.start.append(i)
                f += 1
        for k, s in enumerate(self.start):
            end = self.start[k + 1] if k + 1 < len(self.start) else len(addrs)
            self.count.append(end - s)

    def find(self, addr: int, func: int, nr_skip: int) -> Any | None:
        if func >= len(self.start) or nr_skip >= self.count[func]:
            return None
        i = self.start[func] + nr_skip
        if addr < self.addrs[i]:
            return None
        last = self.start[func] + self.count[func]
        while i + 1 < last and self.addrs[i + 1] <= addr:
            i += 1
        return self.lines[i]


def dump_jited(ctx: Ctx, info: objinfo.ProgInfo, opcodes: bool, linum: bool, fd: int = -1) -> int:
    """Print the JITed image of `info` (detail=True) the way bpftool does."""
    if not info.jited:
        raise CmdError("no instructions returned")
    from . import disasm

    ann = disasm.prog_annotations(info)
    ksyms = disasm.KernelSyms()
    jl = None
    if ann is not None and ann.lines and fd >= 0 and info.nr_jited_line_info:
        try:
            jl = _JitedLines(ann.lines, _jited_line_info(fd, info.nr_jited_line_info), info.jited_ksyms)
        except OSError:
            jl = None
    lens = info.jited_func_lens or [len(info.jited)]
    out_plain: list[str] = []
    out_json: list[dict[str, object]] = []
    img = 0
    for n, flen in enumerate(lens):
        base = info.jited_ksyms[n] if n < len(info.jited_ksyms) else 0
        name = ksyms.get(base) if base else None
        sym = name or (f"0x{base:016x}" if info.jited_ksyms else "unknown")
        sig = ""
        if ann is not None and n < len(ann.funcs) and ann.func_proto is not None:
            sig = ann.func_proto(ann.funcs[n][1]) or ""
        insns: list[dict[str, object]] = []
        if not ctx.json:
            if sig:
                out_plain.append(f"{sig}:")
            out_plain.append(f"{sym}:")
        nr_skip = 0
        code = info.jited[img:img + flen]
        for pc, size, text, comment in decode(code, base):
            li = jl.find(base + pc, n, nr_skip) if jl is not None else None
            if li is not None:
                nr_skip += 1
            src = disasm._linfo_text(ann, li, linum) if li is not None and ann is not None else None
            col = li.line_col if li is not None else 0
            raw = code[pc:pc + size]
            if ctx.json:
                parts = _with_comment(text, comment).replace(",", " ").replace("(", " ").replace(")", " ").split()
                ent: dict[str, object] = {}
                if src is not None:
                    ent["src"] = src[0]
                    if linum:
                        ent.update({"file": src[1], "line_num": col >> 10, "line_col": col & 0x3FF})
                ent["pc"] = f"0x{pc:x}"
                ent["operation"] = parts[0] if parts else ""
                ent["operands"] = parts[1:] or [None]
                if opcodes:
                    ent["opcodes"] = [f"0x{b:02x}" for b in raw]
                insns.append(ent)
                continue
            if src is not None:
                if linum:
                    out_plain.append(f"; {src[0]} [file:{src[1]} line_num:{col >> 10} "
                                     f"line_col:{col & 0x3FF}]")
                else:
                    out_plain.append(f"; {src[0]}")
            line = f"{pc:4x}:" + _with_comment(text, comment)
            if opcodes:
                line += "\n\t" + "".join(f"{b:02x} " for b in raw)
            out_plain.append(line)
        if ctx.json:
            obj: dict[str, object] = {}
            if sig:
                obj["proto"] = sig
            obj["name"] = sym
            obj["insns"] = insns
            out_json.append(obj)
        else:
            out_plain.append("")
        img += flen
    if ctx.json:
        w = ctx.writer()
        w.value(out_json)
        w.finish()
    else:
        ctx.out.write("\n".join(out_plain) + "\n")
    return 0


def capstone_available() -> bool:
    try:
        import capstone  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["capstone_available", "decode", "dump_jited", "llvm_text"]
