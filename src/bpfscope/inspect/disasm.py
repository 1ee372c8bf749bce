"""eBPF disassembler producing bpftool's `prog dump xlated` lines.

The text of each instruction follows the kernel's verifier-log syntax
(`(bf) r6 = r1`, `call bpf_map_lookup_elem#1`, `if r0 == 0x0 goto pc+3`), and the
callbacks that bpftool adds on top: helper calls resolved through /proc/kallsyms
(the kernel stores `helper - __bpf_call_base` in an xlated call's imm), map
references as `map[id:N]`, bpf-to-bpf calls through the program's jited symbols.
Keeping the exact same spelling lets users diff our dumps against bpftool's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..kernel import insn as I
from ..kernel import uapi

if TYPE_CHECKING:
    from ..kernel import objinfo

PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2

_ALU = {0x0: "+=", 0x1: "-=", 0x2: "*=", 0x3: "/=", 0x4: "|=", 0x5: "&=", 0x6: "<<=", 0x7: ">>=",
        0x8: "neg", 0x9: "%=", 0xA: "^=", 0xB: "=", 0xC: "s>>=", 0xD: "endian"}
_ALU_SIGNED = {0x3: "s/=", 0x9: "s%="}
_MOVSX = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
_ATOMIC_ALU = {0x00: "add", 0x50: "and", 0x40: "or", 0xA0: "xor"}
_LDST = {I.W: "u32", I.H: "u16", I.B: "u8", I.DW: "u64"}
_LDSX = {I.W: "s32", I.H: "s16", I.B: "s8", I.DW: "s64"}
_JMP = {0x0: "jmp", 0x1: "==", 0x2: ">", 0xA: "<", 0x3: ">=", 0xB: "<=", 0x4: "&", 0x5: "!=",
        0x6: "s>", 0xC: "s<", 0x7: "s>=", 0xD: "s<=", 0x8: "call", 0x9: "exit"}
_CLASS = ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")
_CMPXCHG = 0xF0 | I.FETCH
_XCHG = 0xE0 | I.FETCH
_LOAD_ACQ = 0x100
_STORE_REL = 0x110


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _pm(v: int) -> str:
    """printf("%+d")."""
    return f"{v:+d}"


class KernelSyms:
    """Exact address → name lookup over /proc/kallsyms, the way bpftool resolves calls.

    bpftool matches only exact addresses (a helper's entry point); a miss prints the
    address. The first symbol listed at an address wins.
    """

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.by_addr: dict[int, str] = {}
        self.call_base = 0
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return
        for line in data.splitlines():
            parts = line.split(None, 3)
            if len(parts) < 3:
                continue
            addr = int(parts[0], 16)
            name = parts[2].decode(errors="replace")
            if name == "__bpf_call_base":
                self.call_base = addr
                if not addr:  # kptr_restrict hides addresses: bpftool then resolves nothing
                    self.by_addr.clear()
                    return
            if addr and addr not in self.by_addr:
                self.by_addr[addr] = name

    def get(self, addr: int) -> str | None:
        return self.by_addr.get(addr)


@dataclass
class DumpContext:
    """What the callbacks need: kernel symbols and the program's jited subprog addresses."""

    ksyms: KernelSyms | None = None
    jited_ksyms: list[int] = field(default_factory=list)

    def call_name(self, ins: I.Insn) -> str:
        base = self.ksyms.call_base if self.ksyms else 0
        address = (base + ins.imm) & 0xFFFFFFFFFFFFFFFF
        if ins.src == PSEUDO_CALL and 0 <= ins.imm < len(self.jited_ksyms):
            address = self.jited_ksyms[ins.imm]
        sym = self.ksyms.get(address) if self.ksyms else None
        if ins.src == PSEUDO_CALL:
            if not self.jited_ksyms:
                return _pm(ins.off)
            return f"{_pm(ins.off)}#{sym}" if sym else f"{_pm(ins.off)}#{address:#x}"
        return sym if sym else f"{address:#x}"

    @staticmethod
    def imm_name(ins: I.Insn, nxt: I.Insn | None, full: int) -> str:
        hi = nxt.imm & 0xFFFFFFFF if nxt else 0
        if ins.src == PSEUDO_MAP_FD:
            return f"map[id:{ins.imm & 0xFFFFFFFF}]"
        if ins.src == PSEUDO_MAP_VALUE:
            return f"map[id:{ins.imm & 0xFFFFFFFF}][0]+{hi}"
        if ins.src == PSEUDO_MAP_IDX_VALUE:
            return f"map[idx:{ins.imm & 0xFFFFFFFF}]+{hi}"
        if ins.src == PSEUDO_FUNC:
            return f"subprog[{_pm(ins.imm)}]"
        return f"{full:#x}"


def _func_name(ins: I.Insn, ctx: DumpContext | None) -> str:
    if ins.src == 0 and 0 <= ins.imm < len(uapi.HELPERS):
        return "bpf_" + uapi.HELPERS[ins.imm]
    if ctx is not None:
        return ctx.call_name(ins)
    if ins.src == PSEUDO_CALL:
        return _pm(ins.imm)
    if ins.src == PSEUDO_KFUNC_CALL:
        return "kernel-function"
    return "unknown"


def format_insn(ins: I.Insn, nxt: I.Insn | None = None, ctx: DumpContext | None = None) -> str:
    """One instruction in the kernel's disassembly syntax (`nxt` is the second half of ld_imm64)."""
    code = ins.code
    cls = code & 7
    op = code >> 4
    size = code & 0x18
    mode = code & 0xE0
    h = f"({code:02x})"
    if cls in (I.ALU, I.ALU64):
        r = "w" if cls == I.ALU else "r"
        if op == 0xD:
            if cls == I.ALU64:
                return f"{h} r{ins.dst} = bswap{ins.imm} r{ins.dst}"
            return f"{h} r{ins.dst} = {'be' if code & I.X else 'le'}{ins.imm} r{ins.dst}"
        if op == 0x8:
            return f"{h} {r}{ins.dst} = -{r}{ins.dst}"
        # The kernel's internal per-CPU address move (off -1) and arena casts (off 1) print
        # as plain moves: bpftool 7.x, the reference peer, predates their special syntax.
        opstr = _ALU_SIGNED[op] if op in _ALU_SIGNED and ins.off == 1 else _ALU.get(op, "?")
        if code & I.X:
            sx = _MOVSX.get(ins.off, "") if op == 0xB else ""
            return f"{h} {r}{ins.dst} {opstr} {sx}{r}{ins.src}"
        return f"{h} {r}{ins.dst} {opstr} {ins.imm}"
    if cls == I.STX:
        sz = _LDST[size]
        if mode == I.MEM:
            return f"{h} *({sz} *)(r{ins.dst} {_pm(ins.off)}) = r{ins.src}"
        if mode == I.ATOMIC:
            imm = ins.imm
            if imm in _ATOMIC_ALU:
                return f"{h} lock *({sz} *)(r{ins.dst} {_pm(ins.off)}) {_ALU[imm >> 4]} r{ins.src}"
            if imm & ~I.FETCH in _ATOMIC_ALU and imm & I.FETCH:
                w = "64" if size == I.DW else ""
                return (f"{h} r{ins.src} = atomic{w}_fetch_{_ATOMIC_ALU[imm & ~I.FETCH]}(({sz} *)"
                        f"(r{ins.dst} {_pm(ins.off)}), r{ins.src})")
            if imm == _CMPXCHG:
                w = "64" if size == I.DW else ""
                return f"{h} r0 = atomic{w}_cmpxchg(({sz} *)(r{ins.dst} {_pm(ins.off)}), r0, r{ins.src})"
            if imm == _XCHG:
                w = "64" if size == I.DW else ""
                return f"{h} r{ins.src} = atomic{w}_xchg(({sz} *)(r{ins.dst} {_pm(ins.off)}), r{ins.src})"
            if imm == _LOAD_ACQ:
                return f"{h} r{ins.dst} = load_acquire(({sz} *)(r{ins.src} {_pm(ins.off)}))"
            if imm == _STORE_REL:
                return f"{h} store_release(({sz} *)(r{ins.dst} {_pm(ins.off)}), r{ins.src})"
        return f"BUG_{code:02x}"
    if cls == I.ST:
        if mode == I.MEM:
            return f"{h} *({_LDST[size]} *)(r{ins.dst} {_pm(ins.off)}) = {ins.imm}"
        if mode == 0xC0:
            return f"{h} nospec"
        return f"BUG_st_{code:02x}"
    if cls == I.LDX:
        if mode == I.MEM:
            return f"{h} r{ins.dst} = *({_LDST[size]} *)(r{ins.src} {_pm(ins.off)})"
        if mode == I.MEMSX:
            return f"{h} r{ins.dst} = *({_LDSX[size]} *)(r{ins.src} {_pm(ins.off)})"
        return f"BUG_ldx_{code:02x}"
    if cls == I.LD:
        if mode == I.ABS:
            return f"{h} r0 = *({_LDST[size]} *)skb[{ins.imm}]"
        if mode == I.IND:
            return f"{h} r0 = *({_LDST[size]} *)skb[r{ins.src} + {ins.imm}]"
        if mode == I.IMM and size == I.DW:
            full = ((nxt.imm & 0xFFFFFFFF) << 32 if nxt else 0) | (ins.imm & 0xFFFFFFFF)
            text = DumpContext.imm_name(ins, nxt, full) if ctx is not None else f"{full:#x}"
            return f"{h} r{ins.dst} = {text}"
        return f"BUG_ld_{code:02x}"
    # JMP / JMP32
    r = "w" if cls == I.JMP32 else "r"
    if op == 0x8:
        if ins.src == PSEUDO_CALL:
            return f"{h} call pc{_func_name(ins, ctx)}"
        return f"{h} call {_func_name(ins, ctx)}#{ins.imm}"
    if code == (I.JMP | I.JA):
        return f"{h} goto pc{_pm(ins.off)}"
    if code == (I.JMP | I.JA | I.X):
        return f"{h} gotox r{ins.dst}"
    if code == (I.JMP | 0xE0) and ins.src == 0:
        return f"{h} may_goto pc{_pm(ins.off)}"
    if code == (I.JMP32 | I.JA):
        return f"{h} gotol pc{_pm(ins.imm)}"
    if code == (I.JMP | I.EXIT):
        return f"{h} exit"
    if op not in _JMP:
        return f"{h} {_CLASS[cls]}"
    if code & I.X:
        return f"{h} if {r}{ins.dst} {_JMP[op]} {r}{ins.src} goto pc{_pm(ins.off)}"
    return f"{h} if {r}{ins.dst} {_JMP[op]} {ins.imm & 0xFFFFFFFF:#x} goto pc{_pm(ins.off)}"


# ------------------------------------------------------------------ line / func info
@dataclass
class LineInfo:
    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int


def parse_line_info(raw: bytes, rec_size: int) -> list[LineInfo]:
    if not rec_size:
        return []
    return [LineInfo(*struct.unpack_from("=IIII", raw, o)) for o in range(0, len(raw), rec_size)]


def parse_func_info(raw: bytes, rec_size: int) -> list[tuple[int, int]]:
    """(insn_off, type_id) records."""
    if not rec_size:
        return []
    return [struct.unpack_from("=II", raw, o) for o in range(0, len(raw), rec_size)]


def lfind(recs: list[LineInfo], insn_off: int, nr_skip: int) -> LineInfo | None:
    """The line record for an instruction, as libbpf's bpf_prog_linfo__lfind finds it."""
    if nr_skip >= len(recs) or insn_off < recs[nr_skip].insn_off:
        return None
    j = nr_skip + 1
    while j < len(recs) and recs[j].insn_off <= insn_off:
        j += 1
    return recs[j - 1]


@dataclass
class Annotations:
    """Source annotations from a program's BTF: function prototypes and source lines."""

    strings: Callable[[int], str] | None = None  # BTF string at an offset
    func_proto: Callable[[int], str] | None = None  # "int f(void * ctx)" for a FUNC id
    funcs: list[tuple[int, int]] = field(default_factory=list)
    lines: list[LineInfo] = field(default_factory=list)


def _linfo_text(ann: Annotations, li: LineInfo, linum: bool) -> tuple[str, str]:
    assert ann.strings is not None
    src = ann.strings(li.line_off).lstrip()
    fname = ann.strings(li.file_name_off) if linum else ""
    return src, fname


# ------------------------------------------------------------------ whole-program dumps
def _hex(b: bytes) -> str:
    return " ".join(f"{x:02x}" for x in b)


def dump_plain(xlated: bytes, ctx: DumpContext | None = None, opcodes: bool = False,
               linum: bool = False, ann: Annotations | None = None) -> list[str]:
    """bpftool's `prog dump xlated` text, one string per output line."""
    insns = I.decode(xlated)
    out: list[str] = []
    fi = 0
    nr_skip = 0
    i = 0
    while i < len(insns):
        if ann is not None:
            while fi < len(ann.funcs) and ann.funcs[fi][0] < i:
                fi += 1
            if fi < len(ann.funcs) and ann.funcs[fi][0] == i and ann.func_proto is not None:
                sig = ann.func_proto(ann.funcs[fi][1])
                if sig:
                    out.append(f"{sig}:")
                fi += 1
            if ann.lines and ann.strings is not None:
                li = lfind(ann.lines, i, nr_skip)
                if li is not None:
                    src, fname = _linfo_text(ann, li, linum)
                    if linum:
                        out.append(f"; {src} [file:{fname} line_num:{li.line_col >> 10} "
                                   f"line_col:{li.line_col & 0x3FF}]")
                    else:
                        out.append(f"; {src}")
                    nr_skip += 1
        ins = insns[i]
        double = I.is_ld_imm64(ins)
        nxt = insns[i + 1] if double and i + 1 < len(insns) else None
        out.append(f"{i:4d}: {format_insn(ins, nxt, ctx)}")
        if opcodes:
            line = "       " + _hex(xlated[i * 8: i * 8 + 8])
            if double:
                line += " " + _hex(xlated[i * 8 + 8: i * 8 + 16])
            out.append(line)
        i += 2 if double else 1
    return out


def dump_json(xlated: bytes, ctx: DumpContext | None = None, opcodes: bool = False,
              linum: bool = False, ann: Annotations | None = None) -> list[dict[str, object]]:
    """bpftool's `prog dump xlated -j` records (ordered dicts; values are str/int/lists)."""
    insns = I.decode(xlated)
    out: list[dict[str, object]] = []
    fi = 0
    nr_skip = 0
    i = 0
    while i < len(insns):
        rec: dict[str, object] = {}
        ins = insns[i]
        double = I.is_ld_imm64(ins)
        if ann is not None:
            while fi < len(ann.funcs) and ann.funcs[fi][0] < i:
                fi += 1
            if fi < len(ann.funcs) and ann.funcs[fi][0] == i and ann.func_proto is not None:
                sig = ann.func_proto(ann.funcs[fi][1])
                if sig:
                    rec["proto"] = sig
                fi += 1
            if ann.lines and ann.strings is not None:
                li = lfind(ann.lines, i, nr_skip)
                if li is not None:
                    src, fname = _linfo_text(ann, li, linum)
                    rec["src"] = src
                    if linum:  # bpftool leaves out a zero line or column
                        rec["file"] = fname
                        if li.line_col >> 10:
                            rec["line_num"] = li.line_col >> 10
                        if li.line_col & 0x3FF:
                            rec["line_col"] = li.line_col & 0x3FF
                    nr_skip += 1
        nxt = insns[i + 1] if double and i + 1 < len(insns) else None
        rec["disasm"] = format_insn(ins, nxt, ctx)
        if opcodes:
            raw = xlated[i * 8: i * 8 + 8]
            rec["opcodes"] = {
                "code": f"0x{ins.code:02x}", "src_reg": f"{ins.src:#x}" if ins.src else "0x0",
                "dst_reg": f"{ins.dst:#x}" if ins.dst else "0x0",
                "off": [f"0x{b:02x}" for b in raw[2:4]],
                "imm": [f"0x{b:02x}" for b in (xlated[i * 8 + 4: i * 8 + 16] if double else raw[4:8])],
            }
        out.append(rec)
        i += 2 if double else 1
    return out


def prog_annotations(info: objinfo.ProgInfo) -> Annotations | None:
    """The BTF func/line info of a loaded program, for source lines in xlated/jited dumps."""
    if not info.btf_id or not (info.func_info or info.line_info):
        return None
    try:
        from ..kernel import objinfo
        from ..kernel.btf import Btf

        btf = Btf.from_bytes(objinfo.btf_data_by_id(info.btf_id))
    except Exception:
        return None
    from .btffmt import func_signature

    return Annotations(strings=btf.string, func_proto=lambda tid: func_signature(btf, tid),
                       funcs=parse_func_info(info.func_info, info.func_info_rec_size),
                       lines=parse_line_info(info.line_info, info.line_info_rec_size))
