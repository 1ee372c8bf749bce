"""`prog dump xlated PROG visual`: the program's control-flow graph in DOT.

The layout is the one Debian's bpftool 7.1 prints, byte for byte, so the two can be
diffed and fed to the same `dot -Tsvg` pipelines:

* functions are split at the targets of bpf-to-bpf calls (`insn + off + 1`); each is a
  `cluster_N` subgraph whose N counts functions in the order their first call is met;
* blocks are split at jump targets and after conditional jumps (calls and exits do not
  end a block); block 0 is ENTRY, 1 is EXIT, real blocks count from 2 in address order;
* a block whose last instruction is not a jump (or is an exit) falls through to the
  next block in address order, EXIT after the last one; one that ends in a call is a
  conditional jump to `insn + off + 1` for bpftool 7.1 (a helper call: a second edge to
  the same next block) - all as bpftool draws it;
* each instruction of a block is one row of a DOT record, numbered from the function's
  start; rows are separated by ` | `, end in `\\l\\` (left-aligned, continued line) and
  escape the characters DOT records treat specially. Like bpftool, a row is cut to 63
  characters before escaping, and bpf-to-bpf calls print without their jited symbol.

`linum` and `opcodes` (which bpftool 7.1 refuses next to `visual`) add rows the way
later bpftool versions annotate graphs: the function prototype and source line
(`linum` also its file, line and column) before an instruction, its raw bytes after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel import insn as I
from . import disasm

ENTRY, EXIT = 0, 1
_ROW_MAX = 63  # bpftool formats a row into a 64-byte buffer
_ROW_ESCAPE = "<>|&"  # what bpftool escapes in an instruction row
_SRC_ESCAPE = '\\"{}<>|'  # and in source text (file names, lines)
_EDGE = '[style="solid,bold", color=black, weight=10, constraint=true];'


@dataclass
class Block:
    head: int  # absolute instruction index of the first slot
    tail: int  # absolute index of the last slot (may precede head for a stray target)
    idx: int = 0


@dataclass
class Func:
    start: int
    end: int
    idx: int
    blocks: list[Block] = field(default_factory=list)  # real blocks, address order


def _is_jmp(code: int) -> bool:
    return code & 7 in (I.JMP, I.JMP32)


def _op(code: int) -> int:
    return code & 0xF0


def split_functions(insns: list[I.Insn]) -> list[Func]:
    """Functions in address order; `idx` is the order in which bpftool discovers them."""
    found: dict[int, int] = {0: 0}
    for i, ins in enumerate(insns):
        if ins.code == (I.JMP | I.CALL) and ins.src == disasm.PSEUDO_CALL:
            found.setdefault(i + ins.off + 1, len(found))
    starts = sorted(found)
    funcs = []
    for n, s in enumerate(starts):
        end = starts[n + 1] - 1 if n + 1 < len(starts) else len(insns) - 1
        funcs.append(Func(s, end, found[s]))
    return funcs


def split_blocks(insns: list[I.Insn], func: Func) -> list[Block]:
    """Basic blocks of one function: heads at its start, jump targets and after branches."""
    heads = {func.start}
    for i in range(func.start, func.end + 1):
        code = insns[i].code
        if not _is_jmp(code) or _op(code) in (I.EXIT, I.CALL):
            continue
        heads.add(i + insns[i].off + 1)
        if _op(code) != I.JA:
            heads.add(i + 1)
    order = sorted(heads)
    blocks = []
    for n, h in enumerate(order):
        tail = order[n + 1] - 1 if n + 1 < len(order) else func.end
        blocks.append(Block(h, tail, n + 2))
    return blocks


def block_edges(insns: list[I.Insn], func: Func) -> list[tuple[int, int]]:
    """(from, to) block indices in bpftool's order: ENTRY's, each block's, none of EXIT's."""
    blocks = func.blocks
    by_head = {b.head: b.idx for b in blocks}
    edges = [(ENTRY, blocks[0].idx if blocks else EXIT)]
    for n, b in enumerate(blocks):
        nxt = blocks[n + 1].idx if n + 1 < len(blocks) else EXIT
        last = insns[b.tail] if 0 <= b.tail < len(insns) else I.Insn(0)
        code = last.code
        if not _is_jmp(code) or _op(code) == I.EXIT:
            edges.append((b.idx, nxt))
            continue
        target = by_head.get(b.tail + last.off + 1)
        if _op(code) == I.JA:
            if target is not None:
                edges.append((b.idx, target))
            continue
        edges.append((b.idx, nxt))
        if target is not None:
            edges.append((b.idx, target))
    return edges


# ------------------------------------------------------------------ labels
def escape_row(text: str) -> str:
    """One instruction's text as bpftool puts it in a record: cut, `\\l\\` ended, escaped."""
    raw = (text + "\n")[:_ROW_MAX]
    out = []
    for ch in raw:
        if ch == "\n":
            out.append("\\l\\\n")
        elif ch in _ROW_ESCAPE:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def escape_source(text: str) -> str:
    """Source text (a C line, a file name) made safe inside a DOT record label."""
    return "".join("\\" + ch if ch in _SRC_ESCAPE else ch for ch in text)


def shorten_path(path: str, limit: int = 32) -> str:
    """Keep a long path's tail from a `/` within the last `limit` characters, `...`-prefixed."""
    if len(path) <= limit:
        return path
    cut = path.find("/", len(path) - limit)
    if cut >= 0:
        return path if cut < 3 else "..." + path[cut:]
    cut = path.rfind("/")
    return "..." + path[cut:] if cut > 0 else path


@dataclass
class _Annotate:
    ann: disasm.Annotations
    opcodes: bool
    linum: bool


def _rows_before(a: _Annotate, at: int, last: list[disasm.LineInfo | None]) -> str:
    out = ""
    ann = a.ann
    if a.linum and ann.func_proto is not None:
        for off, tid in ann.funcs:
            if off == at:
                sig = ann.func_proto(tid)
                if sig:
                    out += f"; {escape_source(sig)}:\\l\\\n"
    if a.linum and ann.lines and ann.strings is not None:
        li = disasm.lfind(ann.lines, at, 0)
        if li is not None and li is not last[0]:
            last[0] = li
            src = ann.strings(li.line_off).lstrip()
            if src:
                fname = shorten_path(ann.strings(li.file_name_off))
                out += (f"; [{escape_source(fname)} line:{li.line_col >> 10} "
                        f"col:{li.line_col & 0x3FF}]\\l\\\n")
                out += f"; {escape_source(src)}\\l\\\n"
    return out


def _block_label(insns: list[I.Insn], xlated: bytes, func: Func, b: Block,
                 dctx: disasm.DumpContext | None, extra: _Annotate | None) -> str:
    rows = []
    last: list[disasm.LineInfo | None] = [None]
    double = False
    for i in range(b.head, b.tail + 1):
        if double:  # the second half of an ld_imm64 has no row of its own
            double = False
            continue
        ins = insns[i]
        double = I.is_ld_imm64(ins)
        nxt = insns[i + 1] if double and i + 1 < len(insns) else None
        row = _rows_before(extra, i, last) if extra else ""
        row += f"{i - func.start: 4d}: " + escape_row(disasm.format_insn(ins, nxt, dctx))
        if extra and extra.opcodes:
            raw = xlated[i * 8: i * 8 + (16 if double and i < b.tail else 8)]
            row += "\\ \\ \\ \\ " + " ".join(f"{x:02x}" for x in raw) + "\\l\\\n"
        rows.append(row)
    return "{" + " | ".join(rows) + "}"


def render(xlated: bytes, dctx: disasm.DumpContext | None = None, ann: disasm.Annotations | None = None,
           opcodes: bool = False, linum: bool = False) -> str:
    """The whole DOT document, ending in a newline, as `bpftool prog dump xlated ... visual` prints it.

    `dctx` should carry kernel symbols but no jited symbols (bpftool's graph has none).
    """
    insns = I.decode(xlated)
    extra = _Annotate(ann or disasm.Annotations(), opcodes, linum) if opcodes or linum else None
    out = ['digraph "DOT graph for eBPF program" {\n']
    for func in split_functions(insns):
        func.blocks = split_blocks(insns, func)
        f = func.idx
        out.append(f'subgraph "cluster_{f}" {{\n\tstyle="dashed";\n\tcolor="black";\n\tlabel="func_{f} ()";\n')
        out.append(f'\tfn_{f}_bb_{ENTRY} [shape=Mdiamond,style=filled,label="ENTRY"];\n\n')
        for b in func.blocks:
            label = _block_label(insns, xlated, func, b, dctx, extra)
            out.append(f'\tfn_{f}_bb_{b.idx} [shape=record,style=filled,label="{label}"];\n\n')
        out.append(f'\tfn_{f}_bb_{EXIT} [shape=Mdiamond,style=filled,label="EXIT"];\n\n')
        for src, dst in block_edges(insns, func):
            out.append(f"\tfn_{f}_bb_{src}:s -> fn_{f}_bb_{dst}:n {_EDGE}\n")
        out.append(f'\tfn_{f}_bb_{ENTRY}:s -> fn_{f}_bb_{EXIT}:n [style="invis", constraint=true];\n}}\n')
    out.append("}\n")
    return "".join(out)
