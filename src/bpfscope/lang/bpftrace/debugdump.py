"""`-d` output: the program's AST (after macro expansion and scoping) and the inferred types.

bpfscope's own format, one node per line, two spaces per level:

    Program
      probe begin
        call printf
          string "%d\\n"
          field pid (int32)
            builtin curtask (struct task_struct *)

followed by, per compiled program, its scratch variables and every map with key and value
types. Instructions are listed by the runner after this (bpf_insn disassembly).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..ctype.types import Type
from . import ast as A
from .desugar import display


def dump_ast(program: A.Program, types: dict[int, Type] | None = None) -> str:
    out: list[str] = ["Program"]
    if program.c_definitions.strip():
        out.append("  c_definitions")
        out.extend("    " + ln for ln in program.c_definitions.strip().splitlines())
    for k, v in program.config.items():
        out.append(f"  config {k} = {v!r}")
    for d in program.map_decls:
        out.append(f"  map {d.name} = {d.kind}({d.max_entries})")
    for p in program.probes:
        out.append("  probe " + ", ".join(ap.raw for ap in p.attach_points))
        if p.predicate is not None:
            out.append("   predicate")
            _node(p.predicate, 3, out, types or {})
        for s in p.body.stmts:
            _node(s, 2, out, types or {})
    return "\n".join(out) + "\n"


def _label(n: A.Node) -> str:
    if isinstance(n, A.Int):
        return f"int {n.value}"
    if isinstance(n, A.Str):
        return "string " + _quote(n.value)
    if isinstance(n, A.Bool):
        return f"bool {'true' if n.value else 'false'}"
    if isinstance(n, A.Builtin):
        return f"builtin {n.name}"
    if isinstance(n, A.Var):
        return f"variable {display(n.name)}"
    if isinstance(n, A.Map):
        return f"map {n.name}"
    if isinstance(n, A.Call):
        return f"call {n.name}"
    if isinstance(n, (A.Binop, A.Unop)):
        return f"{n.op}"
    if isinstance(n, A.IncDec):
        return f"{n.op} ({'prefix' if n.prefix else 'postfix'})"
    if isinstance(n, A.Field):
        return f"field {n.name}"
    if isinstance(n, A.Cast):
        t = n.to
        return f"cast {t.name}{' ' + '*' * t.pointer if t.pointer else ''}" + (
            f"[{t.array}]" if t.array is not None else "")
    if isinstance(n, A.Positional):
        return f"param ${n.index}"
    if isinstance(n, A.Identifier):
        return f"identifier {n.name}"
    if isinstance(n, A.Assign):
        return f"assign {n.op}=" if n.op else "assign ="
    if isinstance(n, A.Jump):
        return n.kind
    if isinstance(n, A.Record):
        return "record (" + ", ".join(n.names) + ")"
    if isinstance(n, A.Offsetof):
        return "offsetof " + ".".join(n.fields)
    if isinstance(n, A.TypeName):
        return f"type {n.name}{' ' + '*' * n.pointer if n.pointer else ''}"
    return type(n).__name__.lower()


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace('"', '\\"') + '"'


def _node(n: Any, depth: int, out: list[str], types: dict[int, Type]) -> None:
    if isinstance(n, list):
        for x in n:
            _node(x, depth, out, types)
        return
    if not isinstance(n, A.Node):
        return
    label = _label(n)
    t = types.get(id(n))
    if t is not None:
        label += f" ({t})"
    out.append("  " * depth + label)
    for f in dataclasses.fields(n):
        if f.name in ("span", "type", "name", "op", "value", "prefix", "index", "names", "fields", "arrow",
                      "kind", "to") and not (f.name == "value" and isinstance(n, (A.Assign, A.Let, A.Jump,
                                                                                   A.BlockExpr))):
            continue
        _node(getattr(n, f.name), depth + 1, out, types)


def dump_types(var_types: list[tuple[str, dict[str, Type]]], maps: list[Any]) -> str:
    out: list[str] = ["Types"]
    for probe, vars_ in var_types:
        out.append(f"  {probe}")
        for name, t in vars_.items():
            out.append(f"    {display(name)}: {t}")
    for m in maps:
        if getattr(m, "internal", False):
            continue
        key = str(m.key_type) if m.key_type is not None else "(none)"
        out.append(f"  map {m.name}: key {key}, value {m.value_type}  [type {m.map_type}, max_entries "
                   f"{m.max_entries}, key_size {m.key_size}, value_size {m.value_size}]")
    return "\n".join(out) + "\n"


_ALU = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=", 0x70: ">>=",
        0x90: "%=", 0xa0: "^=", 0xb0: "=", 0xc0: "s>>="}
_JMP = {0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=", 0xa0: "<",
        0xb0: "<=", 0xc0: "s<", 0xd0: "s<="}
_SIZE = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}


def format_insns(insns: list[Any], helper_names: dict[int, str] | None = None) -> list[str]:
    """Our instructions in bpftool's notation (`r1 = *(u64 *)(r10 -8)`, `if r0 == 0x0 goto pc+4`)."""
    out: list[str] = []
    skip = False
    for i, ins in enumerate(insns):
        if skip:
            skip = False
            continue
        out.append(f"{i:5}: " + _insn_text(ins, insns[i + 1] if i + 1 < len(insns) else None, helper_names))
        skip = ins.code == 0x18
    return out


def _insn_text(ins: Any, nxt: Any, helpers: dict[int, str] | None) -> str:
    code, dst, src, off, imm = ins.code, ins.dst, ins.src, ins.off, ins.imm
    cls = code & 0x07
    if code == 0x18:
        hi = nxt.imm if nxt is not None else 0
        if src == 1:
            return f"r{dst} = map[{imm}]"
        if src == 4:
            return f"r{dst} = func pc{imm:+d}"
        return f"r{dst} = {(hi << 32) | (imm & 0xFFFFFFFF):#x} ll"
    if cls in (0x04, 0x07):
        w = "r" if cls == 0x07 else "w"
        op = code & 0xF0
        if op == 0x80:
            return f"{w}{dst} = -{w}{dst}"
        if op == 0xD0:
            return f"r{dst} = be{imm}(r{dst})" if code & 0x08 else f"r{dst} = le{imm}(r{dst})"
        sym = _ALU.get(op, f"alu{op:#x}")
        if op in (0x30, 0x90) and off == 1:
            sym = "s" + sym
        rhs = f"{w}{src}" if code & 0x08 else f"{imm}"
        return f"{w}{dst} {sym} {rhs}"
    if cls in (0x05, 0x06):
        op = code & 0xF0
        if op == 0x90:
            return "exit"
        if op == 0x80:
            name = (helpers or {}).get(imm, "")
            return f"call {name}#{imm}" if name else f"call {imm}"
        if op == 0x00:
            return f"goto pc{off:+d}"
        rhs = f"r{src}" if code & 0x08 else f"{imm:#x}"
        w = "r" if cls == 0x05 else "w"
        return f"if {w}{dst} {_JMP.get(op, op)} {rhs} goto pc{off:+d}"
    size = _SIZE.get(code & 0x18, "u64")
    if cls == 0x01:
        return f"r{dst} = *({size} *)(r{src} {off:+d})"
    if cls == 0x03:
        return f"*({size} *)(r{dst} {off:+d}) = r{src}"
    if cls == 0x02:
        return f"*({size} *)(r{dst} {off:+d}) = {imm}"
    return f"code={code:#04x} dst=r{dst} src=r{src} off={off} imm={imm}"
