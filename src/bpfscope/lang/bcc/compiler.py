"""Driver: BCC program text → tables and one eBPF program per function.

Tracepoint formats come in through `tp_fields` (the runtime reads tracefs), so this
package stays below the runtime: preprocess → parse → lay out structs and tables →
lower each function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...kernel import insn as I
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError, Span
from ..spec import ArgField
from . import ast as A
from .codegen import FuncGen
from .control import callees
from .lexer import lex
from .parser import parse
from .preproc import Preprocessor
from .standins import StandIn
from .tables import TableSpec, table_spec
from .typenames import ANON, array_of, c_view, struct_type

# functions BCC attaches by their name: programs even when another function calls them too
_PROBE_PREFIXES = ("kprobe__", "kretprobe__", "raw_tracepoint__", "tracepoint__", "kfunc__", "kretfunc__")
TpFields = Callable[[str, str], "list[ArgField] | None"]


@dataclass
class FuncProg:
    name: str
    tracepoint: tuple[str, str] | None
    insns: list[I.Insn]
    spans: list[tuple[int, Span]]


@dataclass
class BccObject:
    tables: list[TableSpec]
    funcs: list[FuncProg]
    structs: dict[str, Type] = field(default_factory=dict)
    warnings: list[tuple[Span, str]] = field(default_factory=list)   # each once, in source order
    license: str = "GPL"          # BPF_LICENSE as the program #defines it (BCC's footer.h): the kernel's


_LAYABLE = (Kind.INT, Kind.BOOL, Kind.ENUM, Kind.POINTER, Kind.ARRAY, Kind.STRUCT)


def laid_out(t: Type, kdb: Any) -> Type:
    """A kernel struct (BTF) used as a table's key or leaf, with its members spelled out, anonymous
    unions kept as anonymous members: the layout Python's ctypes classes are built from (BCC
    hands `t.Key().remote_ipv4` over). Left opaque when it holds bit-fields."""
    if t.kind is Kind.ARRAY and t.pointee is not None:
        inner = laid_out(t.pointee, kdb)
        return t if inner is t.pointee else Type(Kind.ARRAY, size=t.size, pointee=inner, count=t.count, name=t.name)
    if t.kind is not Kind.STRUCT or t.names or not t.size:
        return t
    names: list[str] = []
    elems: list[Type] = []
    offs: list[int] = []
    for k, m in enumerate(kdb.members(t)):
        et = laid_out(c_view(m.type), kdb)
        if m.bits or (et.kind is Kind.STRUCT and not et.names) or et.kind not in _LAYABLE:
            return t
        names.append(m.name or f"{ANON}{k}")
        elems.append(et)
        offs.append(m.offset)
    if not names:
        return t
    return Type(Kind.STRUCT, size=t.size, names=tuple(names), elems=tuple(elems), offsets=tuple(offs), name=t.name)


def cflag_defines(cflags: list[str] | tuple[str, ...]) -> dict[str, str]:
    """-DNAME[=VALUE] flags (others, like -I or -w, mean nothing without clang)."""
    out: dict[str, str] = {}
    for f in cflags:
        if f.startswith("-D"):
            name, _, val = f[2:].partition("=")
            out[name] = val or "1"
    return out


def compile_bcc(text: str, tp_fields: TpFields, cflags: list[str] | tuple[str, ...] = (),
                btf_loader: Callable[[], Any] | None = None,
                usdt_args: dict[str, list[Any]] | None = None,
                stand_ins: dict[str, StandIn] | None = None) -> BccObject:
    """btf_loader: returns the kernel's BTF (kernel.btf.Btf), read only when the program
    names a kernel struct (`struct task_struct *t`). usdt_args: function name → the LocArgs
    of the USDT probe it was enabled on (for bpf_usdt_readarg). stand_ins: function name → the
    raw tracepoint standing in for the kprobe it was written for (kernels without kprobes;
    standins.py): the function is compiled for that tracepoint, and may add a hidden table
    (switchstacks.py) after the program's own."""
    from ..ctype.typedb import TypeDB

    defines = cflag_defines(cflags)
    if "BPF_LICENSE" in defines:   # BCC's helpers.h refuses it the same way
        raise CompileError("BPF_LICENSE cannot be specified through cflags", Span(0, 0))
    pre = Preprocessor(defines)
    toks = pre.run(lex(text))
    prog = parse(toks, text)
    lic = pre.macros.get("BPF_LICENSE")
    kdb = TypeDB(None, btf_loader) if btf_loader is not None else None
    structs: dict[str, Type] = {}
    tables: dict[str, tuple[int, TableSpec]] = {}
    consts: dict[str, int] = {}
    helper = FuncGen(tables, structs, None, consts, kdb)   # for constants and type names at top level

    def resolve(tn: A.TypeName) -> Type:
        return helper.type_of(tn)

    def const(x: Any) -> int:
        v = helper.const_value(x)
        if v is None:
            raise CompileError("expected an integer constant", x.span)
        return v

    funcs: list[A.Func] = []
    for item in prog.items:
        if isinstance(item, A.StructDef):
            # its own name is known while its members are laid out: `struct list *next;` inside
            structs.setdefault(item.name, Type(Kind.STRUCT, name=item.name))
            fields = [(d.name, array_of(resolve(d.type), helper.dim_values(d.dims))) for d in item.fields]
            try:
                aligns = [const(d.align) if d.align is not None else None for d in item.fields]
                structs[item.name] = struct_type(item.name, fields, item.union, [d.bits for d in item.fields],
                                                 item.packed, aligns,
                                                 const(item.align) if item.align is not None else None)
            except CompileError as err:
                err.span = err.span or item.span
                raise
        elif isinstance(item, A.EnumDef):
            nxt = 0
            for n, vx in item.items:
                nxt = const(vx) if vx is not None else nxt
                consts[n] = nxt
                nxt += 1
        elif isinstance(item, A.Typedef):
            structs[item.name] = array_of(resolve(item.type), helper.dim_values(item.dims))
        elif isinstance(item, A.MapDecl):
            if item.name in tables:
                raise CompileError(f"table '{item.name}' is declared twice", item.span)
            spec = table_spec(item, resolve, const)
            if spec.inner and spec.inner not in tables:   # created first: its fd shapes the outer map
                raise CompileError(f"{item.macro}: inner table '{spec.inner}' must be declared before "
                                   f"'{item.name}'", item.span)
            if kdb is not None:
                spec.key, spec.leaf = laid_out(spec.key, kdb), laid_out(spec.leaf, kdb)
            tables[item.name] = (len(tables), spec)
        elif isinstance(item, A.Func):
            funcs.append(item)
    out: list[FuncProg] = []
    warnings: dict[tuple[int, str], tuple[Span, str]] = {}
    by_name = {f.name: f for f in funcs}
    called = set().union(*(callees(f.body) for f in funcs)) if funcs else set()
    for f in funcs:
        if f.tracepoint is None and not f.name.startswith(_PROBE_PREFIXES) and (f.name in called or f.static):
            continue       # a helper function: inlined where it is called (a static one: never a program)
        tp_args = None
        if f.tracepoint is not None:
            tp_args = tp_fields(*f.tracepoint)
            if tp_args is None:
                raise CompileError(f"tracepoint {':'.join(f.tracepoint)} not found", f.span)
        g = FuncGen(tables, structs, tp_args, consts, kdb, by_name)
        g.usdt_args = (usdt_args or {}).get(f.name)
        g.stand_in = (stand_ins or {}).get(f.name)
        g.switch_in = g.stand_in is not None and g.stand_in.switch_in
        insns = g.function(f)
        out.append(FuncProg(f.name, f.tracepoint, insns, g.e.spans))
        for sp, w in g.warnings:
            warnings.setdefault((sp.start, w), (sp, w))
    return BccObject([t for _, t in sorted(tables.values(), key=lambda p: p[0])], out, structs,
                     [warnings[k] for k in sorted(warnings)],
                     _stringified(lic.body) if lic is not None else "GPL")


def _stringified(body: list[Any]) -> str:
    """A macro body as C's # operator spells it: the tokens, one space where the source had any."""
    out = ""
    for k, t in enumerate(body):
        if t.kind == "eol":
            continue
        if k and t.start > body[k - 1].end:
            out += " "
        out += t.text
    return out
