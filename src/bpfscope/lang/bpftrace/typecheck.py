"""Type inference: give every expression of every (probe, attach point) a Type.

Types are recorded per program in `ProbeTypes` (a wildcard probe's body can see
different `args` layouts per attach point), while map key/value types are unified
across the whole script in `MapTable`, because maps are shared by all probes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..ctype.types import (
    BOOL,
    INT64,
    NONE,
    UINT32,
    UINT64,
    Kind,
    Type,
    int_type,
    pointer_type,
    stack_type,
    string_type,
    tuple_type,
)
from ..diagnostics import CompileError
from ..ebpf.records import key_storage_type
from ..spec import ArgField, ProbeInfo
from . import ast as A
from .defaults import DEFAULT_MAX_STRLEN
from .memtypes import MemTypes
from .stdlib_types import KNOWN_FUNCS, probetype_name
from .typeops import unify
from .vartypes import VarTypes

AGG_FUNCS = {"count": Kind.COUNT, "sum": Kind.SUM, "min": Kind.MIN, "max": Kind.MAX, "avg": Kind.AVG,
             "stats": Kind.STATS, "hist": Kind.HIST, "lhist": Kind.LHIST, "tseries": Kind.TSERIES}

INT_BUILTINS = {
    "pid": UINT32, "tid": UINT32, "uid": UINT32, "gid": UINT32, "cpu": UINT32, "ncpus": UINT32,
    "nsecs": UINT64, "elapsed": UINT64, "cgroup": UINT64, "rand": UINT32, "cpid": UINT32,
    "curtask": UINT64, "jiffies": UINT64, "numaid": UINT32, "ppid": UINT32, "usermode": UINT32,
}
STRING_BUILTINS = {"comm": 16, "pcomm": 16}

UNSAFE_FUNCS = {"system", "signal", "signal_thread", "override"}


def positional_int(text: str) -> int | None:
    """A positional parameter's integer value, read as C reads a literal (0x.. hex, 0.. octal)."""
    try:
        return int(text, 0)
    except ValueError:
        pass
    if re.fullmatch(r"-?0[0-7]+", text):
        return int(text, 8)
    return None


@dataclass
class MapInfo:
    name: str
    key: Type | None = None          # None for scalar
    value: Type | None = None
    span: A.Span = field(default_factory=A.Span)
    scalar: bool | None = None
    used_keys: bool = False


class MapTable:
    def __init__(self) -> None:
        self.maps: dict[str, MapInfo] = {}

    def get(self, name: str, span: A.Span) -> MapInfo:
        m = self.maps.get(name)
        if m is None:
            m = self.maps[name] = MapInfo(name, span=span)
        return m


def ctype_to_type(ctype: str, size: int, signed: bool) -> Type:
    """A tracefs field's C spelling → our Type (char arrays are strings, pointers are ints)."""
    c = ctype.strip()
    if c.endswith("]"):
        base = c[: c.index("[")].strip()
        if base.replace("const ", "").replace("unsigned ", "").replace("signed ", "").strip() in ("char", "u8", "s8"):
            return string_type(size if size > 4 or not c.endswith("[]") else 0)
        n = c[c.index("[") + 1:-1]
        count = int(n) if n.isdigit() else 0
        esize = size // count if count else size
        elem = int_type(esize if esize in (1, 2, 4, 8) else 8, signed)
        return Type(Kind.ARRAY, size=size, pointee=elem, count=count)
    if "*" in c:
        return Type(Kind.POINTER, size=8, signed=False, name=c)
    if c == "bool" or c == "_Bool":
        return BOOL
    from ..ctype.typedb import BASE_INTS

    base = " ".join(w for w in c.split() if w not in ("const", "volatile"))
    if base in BASE_INTS and BASE_INTS[base][0] <= size:
        # the C declaration wins over the slot: syscall args are `int dfd` in an 8-byte, "unsigned" slot
        csize, csigned = BASE_INTS[base]
        return int_type(csize, csigned)
    return int_type(size if size in (1, 2, 4, 8) else 8, signed)


class ProbeTypes(MemTypes, VarTypes):
    """Inference for one concrete program (one ProbeInfo); memory/struct typing in MemTypes."""

    def __init__(self, probe: ProbeInfo, maps: MapTable, opts: dict[str, Any]) -> None:
        self.probe = probe
        self.maps = maps
        self.opts = opts
        self.types: dict[int, Type] = {}
        self.vars: dict[str, Type] = {}
        self.max_strlen: int = opts.get("max_strlen", DEFAULT_MAX_STRLEN)
        self.positional: list[str] = opts.get("positional", [])
        self.tseries_clock: dict[int, A.Expr] = {}   # tseries call → its test clock (BPFTRACE_DUMMY_TS_MAP)

    def of(self, e: A.Expr) -> Type:
        return self.types[id(e)]

    # ------------------------------------------------------------------ statements
    def block(self, b: A.Block) -> None:
        for s in b.stmts:
            self.stmt(s)

    def stmt(self, s: A.Stmt) -> None:
        if isinstance(s, A.ExprStmt):
            self.expr(s.expr, statement=True)
        elif isinstance(s, A.Assign):
            self.assign(s)
        elif isinstance(s, A.Let):
            self.let(s)
        elif isinstance(s, A.Block):
            self.block(s)
        elif isinstance(s, A.If):
            self.expr(s.cond)
            self.block(s.then)
            if s.other is not None:
                self.block(s.other)
        elif isinstance(s, A.Unroll):
            self.expr(s.count)
            self.block(s.body)
        elif isinstance(s, A.While):
            self.expr(s.cond)
            self.block(s.body)
        elif isinstance(s, A.For):
            if isinstance(s.iterable, A.Range):
                self.expr(s.iterable.low)
                self.expr(s.iterable.high)
                self.vars[s.var.name] = INT64
            else:
                self.vars[s.var.name] = self.for_map_var(s)
            self.types[id(s.var)] = self.vars[s.var.name]
            self.block(s.body)
        elif isinstance(s, A.Jump):
            if s.value is not None:
                self.expr(s.value)
        else:
            raise CompileError(f"unsupported statement: {type(s).__name__}", s.span)

    def assign(self, s: A.Assign) -> None:
        tgt = s.target
        if is_discard(s):
            self.expr(s.value)      # `_ = expr`: evaluated, the value dropped
            return
        if s.op:
            if not isinstance(tgt, (A.Map, A.Var)):
                raise CompileError("compound assignment needs a map or variable", s.span)
            rt = self.expr(s.value)
            if not rt.is_int:
                raise CompileError(f"Type mismatch for '{s.op}=': expected integer, got '{rt}'", s.value.span)
            step = self.pointer_target(tgt) if s.op in ("+", "-") else None   # pointers step by pointee
            if isinstance(tgt, A.Map):
                self.map_access(tgt, assign=step or INT64)
            else:
                self.vars[tgt.name] = unify(self.vars.get(tgt.name), step or INT64, tgt.name, s.span)
                self.types[id(tgt)] = self.vars[tgt.name]
            return
        if isinstance(tgt, A.Map):
            v = s.value
            if isinstance(v, A.Call) and v.name in AGG_FUNCS:
                t = self.aggregate(v)
            else:
                t = self.expr(v)
                if t.kind is Kind.NONE:
                    raise _void_assignment(v, "Value of this expression cannot be assigned to a map")
            self.map_access(tgt, assign=t)
        elif isinstance(tgt, A.Var):
            t = self.expr(s.value)
            if t.kind is Kind.NONE and tgt.name != "_":   # `_ = printf(...)` discards
                raise _void_assignment(s.value, "Value of this expression cannot be assigned to a variable")
            if t.is_aggregate:
                raise CompileError("aggregations can only be assigned to maps", s.value.span)
            if tgt.name in self.fixed_vars:
                self.check_fixed(tgt.name, t, s)
                self.types[id(tgt)] = self.vars[tgt.name]
                return
            self.vars[tgt.name] = unify(self.vars.get(tgt.name), t, tgt.name, s.span)
            self.types[id(tgt)] = self.vars[tgt.name]
        else:
            raise CompileError("Assignment target must be a map or a variable", tgt.span)

    def aggregate(self, c: A.Call) -> Type:
        kind = AGG_FUNCS[c.name]
        nargs = {Kind.COUNT: (0, 0), Kind.SUM: (1, 1), Kind.MIN: (1, 1), Kind.MAX: (1, 1), Kind.AVG: (1, 1),
                 Kind.STATS: (1, 1), Kind.HIST: (1, 2), Kind.LHIST: (4, 4), Kind.TSERIES: (3, 4)}[kind]
        self.check_nargs(c, *nargs)
        if kind is Kind.TSERIES:
            from .stdlib_types import tseries_type

            t = tseries_type(self, c)
            self.types[id(c)] = t
            return t
        for a in c.args:
            t = self.expr(a)
            if not t.is_int:
                raise CompileError(f"{c.name}() expects an integer argument, got '{t}'", a.span)
        params: tuple[int, ...] = ()
        if kind is Kind.LHIST:
            vals = []
            for a, nm in zip(c.args[1:], ("min", "max", "step"), strict=True):
                v = self.const_int(a)
                if v is None:
                    raise CompileError(f"lhist() {nm} must be a literal", a.span)
                vals.append(v)
            lo, hi, step = vals
            if step <= 0:
                raise CompileError("lhist() step must be >= 1", c.args[3].span)
            if lo < 0:
                raise CompileError("lhist() min must be non-negative", c.args[1].span)
            if hi <= lo:
                raise CompileError("lhist() max must be greater than min", c.args[2].span)
            params = (lo, hi, step)
        elif kind is Kind.HIST:
            bits = 0
            if len(c.args) == 2:
                b = self.const_int(c.args[1])
                if b is None or not 0 <= b <= 5:
                    raise CompileError("hist() second argument must be a literal between 0 and 5", c.args[1].span)
                bits = b
            params = (bits,)
        t = Type(kind, size=8, signed=True, params=params)
        self.types[id(c)] = t
        return t

    def positional_text(self, e: A.Expr) -> str | None:
        """The text str() reads from a given positional parameter ($1, or $1 + N on a string)."""
        if isinstance(e, A.Positional) and e.index <= len(self.positional):
            return self.positional[e.index - 1]
        if (isinstance(e, A.Binop) and e.op == "+" and isinstance(e.left, A.Positional)
                and e.left.index <= len(self.positional)):
            text = self.positional[e.left.index - 1]
            k = self.const_int(e.right)
            if positional_int(text) is None and k is not None and 0 <= k <= len(text):
                return text[k:]
        return None

    def const_int(self, e: A.Expr) -> int | None:
        if isinstance(e, A.Int):
            return e.value
        if isinstance(e, A.Unop) and e.op == "-" and isinstance(e.operand, A.Int):
            return -e.operand.value
        if isinstance(e, A.Positional):
            v = self.positional[e.index - 1] if e.index <= len(self.positional) else "0"
            return positional_int(v)
        if isinstance(e, A.Binop):
            from .memtypes import fold_binop

            return fold_binop(e.op, self.const_int(e.left), self.const_int(e.right))
        return None

    def pointer_target(self, tgt: A.Expr) -> Type | None:
        """The pointer type a `+=`/`-=`/`++`/`--` target already holds (None when it is no pointer)."""
        t: Type | None = None
        if isinstance(tgt, A.Var):
            t = self.vars.get(tgt.name)
        elif isinstance(tgt, A.Map):
            info = self.maps.maps.get(tgt.name)
            t = info.value if info is not None else None
        return t if t is not None and t.kind is Kind.POINTER else None

    def map_access(self, m: A.Map, assign: Type | None = None) -> Type:
        info = self.maps.get(m.name, m.span)
        scalar = not m.keys
        if info.scalar is None:
            info.scalar = scalar
        elif info.scalar != scalar:
            if scalar:
                raise CompileError(f"{m.name} used as a map without an explicit key (scalar map), "
                                   "previously used with explicit keys (non-scalar map)", m.span)
            raise CompileError(f"{m.name} used as a map with an explicit key (non-scalar map), "
                               "previously used without an explicit key (scalar map)", m.span)
        if m.keys:
            kts = []
            for k in m.keys:
                kt = self.expr(k)
                if kt.kind is Kind.NONE or kt.is_aggregate:
                    raise CompileError(f"Invalid map key type: {kt}", k.span)
                if kt.kind is Kind.POINTER and kt.mode == "ctx":   # only direct loads through r6 read it
                    raise CompileError("context cannot be used as a map key", k.span)
                kts.append(key_storage_type(kt))
            kt = kts[0] if len(kts) == 1 else tuple_type(kts)
            try:
                info.key = unify(info.key, kt, m.name, m.span)
            except CompileError:
                raise CompileError(f"Argument mismatch for {m.name}: trying to access with arguments: '{kt}' "
                                   f"when map expects arguments: '{info.key}'",
                                   A.Span(m.keys[0].span.start, m.keys[-1].span.end)) from None
        if assign is not None:
            if assign.kind is Kind.POINTER and assign.mode == "ctx":
                raise CompileError("context cannot be used as a map value", m.span)
            info.value = unify(info.value, key_storage_type(assign) if not assign.is_aggregate else assign,
                               m.name, m.span)
        t = info.value if info.value is not None else INT64
        self.types[id(m)] = t
        return t

    def _stack_mode(self, name: str, mode: str, span: A.Span) -> str:
        """A stack's mode; kstack in build_id mode warns and falls back to raw, as 0.26 does."""
        if name == "kstack" and mode == "build_id":
            self.opts.setdefault("codegen_warnings", []).append(
                ("'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode.", span))
            return "raw"
        return mode

    def check_nargs(self, c: A.Call, lo: int, hi: int) -> None:
        n = len(c.args)
        if lo <= n <= hi:
            return
        def words(k: int) -> str:  # bpftrace spells 0 and 1, digits above
            return {0: "no arguments", 1: "one argument"}.get(k, f"{k} arguments")

        if lo == hi:
            raise CompileError(f"{c.name}() requires {words(lo)} ({n} provided)", c.span)
        if n < lo:
            raise CompileError(f"{c.name}() requires at least {words(lo)} ({n} provided)", c.span)
        if hi == 0:
            raise CompileError(f"{c.name}() requires no arguments ({n} provided)", c.span)
        raise CompileError(f"{c.name}() takes up to {words(hi)} ({n} provided)", c.span)

    # ------------------------------------------------------------------ expressions
    def expr(self, e: A.Expr, statement: bool = False) -> Type:
        t = self._expr(e, statement)
        self.types[id(e)] = t
        return t

    def _expr(self, e: A.Expr, statement: bool) -> Type:
        if isinstance(e, A.Int):
            return INT64 if e.value < (1 << 63) else UINT64
        if isinstance(e, A.Bool):
            return BOOL
        if isinstance(e, A.Str):
            return string_type(len(e.value.encode("utf-8", "surrogateescape")) + 1)
        if isinstance(e, A.Positional):
            v = self.positional[e.index - 1] if e.index <= len(self.positional) else ""
            if positional_int(v) is not None or e.index > len(self.positional):
                return INT64
            return string_type(len(v.encode()) + 1)
        if isinstance(e, A.PositionalCount):
            return INT64
        if isinstance(e, A.Builtin):
            return self.builtin(e)
        if isinstance(e, A.Var):
            return self.var_use(e)
        if isinstance(e, A.Map):
            if self.maps.maps.get(e.name) is None:
                raise CompileError(f"Undefined map: {e.name}", e.span)
            t = self.map_access(e)
            from .stdlib_types import map_read_type  # count/sum/... read as ints summed over CPUs

            return map_read_type(t, e.span)
        if isinstance(e, A.Binop):
            lt = self.expr(e.left)
            rt = self.expr(e.right)
            if e.op in ("==", "!=", "<", "<=", ">", ">=") and lt.kind is Kind.STRING and rt.kind is Kind.STRING:
                if e.op not in ("==", "!="):
                    raise CompileError(f"Invalid operator '{e.op}' for string comparison", e.span)
                return BOOL
            if e.op in ("==", "!=") and lt.kind is Kind.BUFFER and rt.kind is Kind.BUFFER:
                return BOOL   # equal lengths and equal bytes, whatever the two capacities
            if e.op in ("==", "!=") and lt.kind is Kind.USERNAME and rt.kind is Kind.USERNAME:
                return BOOL   # same user name exactly when same uid (compared as uids)
            if e.op in ("==", "!=") and lt.kind is Kind.TUPLE and rt.kind is Kind.TUPLE:
                if not _tuples_comparable(lt, rt):
                    raise CompileError(f"Type mismatch for '{e.op}': comparing '{lt}' with '{rt}'", e.span)
                return BOOL
            ptr_t = self.pointer_binop(e, lt, rt)
            if ptr_t is not None:
                return ptr_t
            if e.op in ("&&", "||"):
                for t, side in ((lt, e.left), (rt, e.right)):
                    if not t.is_int:
                        raise CompileError(f"Invalid type for logical operator: {t}", side.span)
                return BOOL
            for t, _side in ((lt, e.left), (rt, e.right)):
                if not t.is_int:
                    raise CompileError(
                        f"Type mismatch for '{e.op}': comparing '{lt}' with '{rt}'"
                        if e.op in ("==", "!=", "<", "<=", ">", ">=") else
                        f"The {e.op} operator can not be used on expressions of types {lt}, {rt}", e.span)
            if e.op in ("==", "!=", "<", "<=", ">", ">="):
                return BOOL
            signed = lt.signed or rt.signed
            lit, other_t = (e.left, rt) if isinstance(e.left, A.Int) else (e.right, lt)
            if isinstance(lit, A.Int) and isinstance(e.left, A.Int) != isinstance(e.right, A.Int) and lit.value >= 0:
                signed = other_t.signed   # 0.26: a non-negative literal is unsigned ((uint64)$x % 10 is unsigned)
            return INT64 if signed else UINT64
        if isinstance(e, A.Unop):
            t = self.expr(e.operand)
            if e.op == "!":
                if not t.is_int and t.kind is not Kind.POINTER:
                    raise CompileError(f"Invalid type for !: {t}", e.span)
                return BOOL
            if e.op in ("-", "~"):
                if not t.is_int:
                    raise CompileError(f"Invalid type for {e.op}: {t}", e.span)
                if e.op == "~" and isinstance(e.operand, A.Int) and e.operand.value >= 0:
                    return UINT64       # a literal is unsigned in 0.26: ~10 is 18446744073709551605
                return INT64 if e.op == "-" else (UINT64 if not t.signed else INT64)
            if e.op == "*":
                return self.deref(e, t)
            if e.op == "&":
                return self.address_of(e, t)
            raise CompileError(f"unsupported operator {e.op}", e.span)
        if isinstance(e, A.IncDec):
            step = self.pointer_target(e.target)
            if isinstance(e.target, A.Map):
                self.map_access(e.target, assign=step or INT64)
            elif isinstance(e.target, A.Var):
                self.vars[e.target.name] = unify(self.vars.get(e.target.name), step or INT64, e.target.name, e.span)
                self.types[id(e.target)] = self.vars[e.target.name]
            else:
                raise CompileError("++/-- needs a map or a variable", e.span)
            return step or INT64
        if isinstance(e, A.Ternary):
            ct = self.expr(e.cond)
            if not ct.is_int and ct.kind is not Kind.POINTER:
                raise CompileError(f"Invalid condition in ternary: {ct}", e.cond.span)
            a = self.expr(e.then)
            b = self.expr(e.other)
            if a == b:
                return a            # bool stays bool, an enum stays that enum
            if a.is_int and b.is_int:
                return INT64 if a.signed or b.signed else UINT64
            if a.kind is Kind.POINTER and (b.kind is Kind.POINTER or b.is_int):
                return a
            if b.kind is Kind.POINTER and a.is_int:
                return b
            if a.kind is Kind.STRING and b.kind is Kind.STRING:
                return string_type(max(a.size, b.size))
            if a.kind == b.kind and a.kind is Kind.NONE:
                return NONE
            if a.kind == b.kind and a.kind is Kind.BUFFER:
                return a if a.size >= b.size else b
            if a.kind == b.kind and a.kind in (Kind.TUPLE, Kind.RECORD) and len(a.elems) == len(b.elems):
                try:        # tuples of the same shape: strings grow to the longer one
                    return unify(a, b, "ternary", e.span)
                except CompileError:
                    pass
            raise CompileError(f"Ternary operator must return the same type: have '{a}' and '{b}'", e.span)
        if isinstance(e, A.Field):
            return self.field(e)
        if isinstance(e, A.Index):
            bt = self.expr(e.base)
            self.expr(e.index)
            if bt.kind in (Kind.TUPLE, Kind.RECORD):
                i = self.const_int(e.index)
                if i is None or not 0 <= i < len(bt.elems):
                    raise CompileError("Invalid tuple index", e.index.span)
                return bt.elems[i]
            return self.index_mem(e, bt)
        if isinstance(e, A.Cast):
            return self.cast_to(e, self.expr(e.operand))
        if isinstance(e, A.Tuple):
            return tuple_type([self.expr(x) for x in e.elems])
        if isinstance(e, A.Record):
            return tuple_type([self.expr(x) for x in e.elems], tuple(e.names))
        if isinstance(e, A.Call):
            return self.call(e, statement)
        if isinstance(e, A.Sizeof):
            return self.sizeof(e)
        if isinstance(e, A.Offsetof):
            return self.offsetof(e)
        if isinstance(e, A.BlockExpr):
            for s in e.stmts:
                self.stmt(s)
            return self.expr(e.value)
        if isinstance(e, A.Identifier):
            return self.identifier(e)
        raise CompileError(f"unsupported expression: {type(e).__name__}", e.span)

    def cast_type(self, tn: A.TypeName) -> Type:
        """A type spelled in the program (cast, sizeof, let): ints, C/BTF types, pointers, arrays."""
        return self.typename(tn)

    def builtin(self, e: A.Builtin) -> Type:
        n = e.name
        if n == "usermode" and self.probe.ctx != "none":
            from ..ebpf.arch import host

            if self.probe.ctx not in ("pt_regs", "perf_event") or host().reg_offset("cs") is None:
                raise CompileError(f"usermode is not supported for {self.probe.provider} probes", e.span)
        if n in INT_BUILTINS:
            return self.curtask_type() if n == "curtask" else INT_BUILTINS[n]
        if n in STRING_BUILTINS:
            return string_type(STRING_BUILTINS[n])
        if n == "ctx" and self.probe.ctx == "iter":
            return self.iter_ctx_type(e.span)
        if n == "ctx":
            return self.ctx_type()
        if n == "probetype":
            return string_type(len(probetype_name(self.probe.provider)) + 1)
        if n == "probe":
            return string_type(len(self.probe.name.encode()) + 1)
        if n == "args":
            if not self.probe.args and self.probe.provider == "uprobe":   # typed from DWARF at function entry
                raise CompileError(f"The args builtin needs the function's parameters from DWARF: "
                                   f"{self.probe.name} has none (an offset, no parameters, "
                                   "or no entry in the debug info)", e.span)
            if not self.probe.args or self.probe.ctx == "iter":   # iter probes: ctx->field
                raise CompileError(f"The args builtin can only be used with tracepoint/fentry/uprobe probes "
                                   f"({self.probe.provider} used here)", e.span)
            return self.args_struct()
        if n.startswith("arg") and n[3:].isdigit():
            if self.probe.ctx not in ("pt_regs", "args_array"):
                raise CompileError(f"The {n} builtin can only be used with 'kprobes', 'uprobes' and "
                                   f"'usdt' probes", e.span)
            return UINT64
        if n == "retval":
            if not self.probe.has_retval:
                raise CompileError("The retval builtin can only be used with 'kretprobe' and 'uretprobe' "
                                   "and 'fexit' probes", e.span)
            return INT64
        if n in ("kstack", "ustack"):
            mode = self._stack_mode(n, self.opts.get("stack_mode", "bpftrace"), e.span)
            return stack_type(Kind.KSTACK if n == "kstack" else Kind.USTACK, mode)
        if n == "username":
            return Type(Kind.USERNAME, size=8)
        if n == "func":
            return Type(Kind.KSYM if self.probe.ctx != "pt_regs" or not self.probe.user_space else Kind.USYM,
                        size=8 if not self.probe.user_space else 16)
        raise CompileError(f"Unknown identifier: '{n}'", e.span)

    def iter_ctx_type(self, span: A.Span) -> Type:
        """iter:NAME's `ctx`: a kernel pointer to `struct bpf_iter__NAME` (from BTF)."""
        sname = f"struct bpf_iter__{self.probe.name.partition(':')[2]}"
        st = self.db.named(sname)
        if st is None:
            raise CompileError(f"Unknown struct/union: '{sname}' (no kernel BTF?)", span)
        return pointer_type(st, f"{sname} *", "kernel")

    def arg_field(self, name: str, span: A.Span) -> ArgField:
        for f in self.probe.args:
            if f.name == name:
                return f
        raise CompileError(f"Can't find a field {name} in args", span)

    def field(self, e: A.Field) -> Type:
        if isinstance(e.base, A.Builtin) and e.base.name == "args":
            self.expr(e.base)
            f = self.arg_field(e.name, e.span)
            if f.type.kind is Kind.POINTER:
                space = "user" if f.user else ("kernel" if self.probe.ctx != "pt_regs" else "")
                return self.with_pointee(f.type, space)
            if f.data_loc and f.type.kind is Kind.STRING:
                return string_type(self.max_strlen)
            return f.type
        bt = self.expr(e.base)
        if bt.kind in (Kind.TUPLE, Kind.RECORD):
            if e.name.isdigit():
                i = int(e.name)
                if i >= len(bt.elems):
                    raise CompileError(f"Invalid tuple index: {i}. Found {len(bt.elems)} elements in tuple.",
                                       e.span)
                return bt.elems[i]
            if e.name in bt.names:
                return bt.elems[bt.names.index(e.name)]
            raise CompileError(f"Record does not contain a field named '{e.name}'", e.span)
        return self.struct_field(e, bt)

    def call(self, c: A.Call, statement: bool) -> Type:
        n = c.name
        if n in AGG_FUNCS:
            raise CompileError(f"{n}() must be assigned directly to a map", c.span)
        from .stdlib_types import CALLABLE_BUILTINS, STDLIB_FUNCS, call_type

        if n not in KNOWN_FUNCS and n not in STDLIB_FUNCS and n not in CALLABLE_BUILTINS:
            raise CompileError(f"Unknown function: {n}", A.Span(c.span.start, c.span.start + len(n)))
        if n in UNSAFE_FUNCS and not self.opts.get("unsafe"):
            raise CompileError(f"{n}() is an unsafe function being used in safe mode", c.span)
        if n in STDLIB_FUNCS:
            return call_type(self, c, statement)
        if n in CALLABLE_BUILTINS and (n not in KNOWN_FUNCS or n == "nsecs"):
            from .stdlib_types import builtin_call_type

            return builtin_call_type(self, c)
        if n == "join":
            self.check_nargs(c, 1, 2)
            t = self.expr(c.args[0])
            if not (t.is_int or t.kind in (Kind.POINTER, Kind.ARRAY)):
                raise CompileError(f"join() expects an array of strings ({t} provided)", c.args[0].span)
            if len(c.args) == 2 and not isinstance(c.args[1], A.Str):
                raise CompileError("join() expects a string literal as its delimiter", c.args[1].span)
            return NONE
        if n == "printf" or n in ("errorf", "warnf", "debugf", "system", "cat"):
            if not c.args:
                raise CompileError(f"{n}() requires at least one argument (0 provided)", c.span)
            if not isinstance(c.args[0], A.Str):
                from .stdlib_types import bt_typename

                raise CompileError(f"{n}() expects a string literal ({bt_typename(self.expr(c.args[0]))} "
                                   "provided)", c.span)
            for a in c.args[1:]:
                t = self.expr(a)
                if t.kind is Kind.NONE or t.is_aggregate:
                    raise CompileError(f"{n}() can not take an argument of type '{t}'", a.span)
            self.check_format(c)
            return NONE
        if n == "print":
            self.check_nargs(c, 1, 3)
            a = c.args[0]
            if isinstance(a, A.Map) and not a.keys:
                if a.name not in self.maps.maps:
                    raise CompileError(f"Undefined map: {a.name}", a.span)
                for x in c.args[1:]:
                    self.expr(x)
                return NONE
            t = self.expr(a)
            if t.kind is Kind.NONE:
                raise CompileError("print() can not take a void argument", a.span)
            if len(c.args) != 1:
                raise CompileError(f"Non-map print() only takes 1 argument, {len(c.args)} found", c.span)
            return NONE
        if n in ("clear", "zero"):
            self.check_nargs(c, 1, 1)
            a = c.args[0]
            if not isinstance(a, A.Map) or a.keys:
                raise CompileError(f"{n}() expects a map argument", a.span)
            if a.name not in self.maps.maps:
                raise CompileError(f"Undefined map: {a.name}", a.span)
            return NONE
        if n in ("delete", "has_key") and c.args and isinstance(c.args[0], A.Map) \
                and c.args[0].name not in self.maps.maps:   # never assigned: nothing to delete or find
            raise CompileError(f"Undefined map: {c.args[0].name}", c.args[0].span)
        if n == "delete":   # a bool when its result is used (true: the key was there)
            if len(c.args) == 1 and isinstance(c.args[0], A.Map):
                self.map_access(c.args[0])
                return NONE if statement else BOOL
            if len(c.args) == 2 and isinstance(c.args[0], A.Map) and not c.args[0].keys:
                if self.maps.maps[c.args[0].name].scalar:
                    raise CompileError("call to delete() expects a map with explicit keys (non-scalar map)",
                                       c.args[0].span)
                m = A.Map(c.args[0].name, [c.args[1]], span=c.args[0].span)
                c.args = [m]
                self.map_access(m)
                return NONE if statement else BOOL
            if len(c.args) != 1:
                raise CompileError(f"delete() requires one argument ({len(c.args)} provided)", c.span)
            raise CompileError("delete() expects a map with a key", c.args[0].span)
        if n == "has_key":
            if not getattr(c, "rewritten", False):  # (the map, key) pair becomes @map[key] once
                self.check_nargs(c, 2, 2)
                if not isinstance(c.args[0], A.Map) or c.args[0].keys:
                    raise CompileError("has_key() expects a map as its first argument", c.args[0].span)
                c.args = [A.Map(c.args[0].name, [c.args[1]], span=c.args[0].span)]
                c.rewritten = True  # type: ignore[attr-defined]
            hk = c.args[0]
            assert isinstance(hk, A.Map)
            if self.maps.maps[hk.name].scalar:
                raise CompileError("call to has_key() expects a map with explicit keys (non-scalar map)", hk.span)
            self.map_access(hk)
            return BOOL
        if n == "exit":
            self.check_nargs(c, 0, 1)
            for a in c.args:
                self.expr(a)
            return NONE
        if n == "time":
            self.check_nargs(c, 0, 1)
            if c.args and not isinstance(c.args[0], A.Str):
                raise CompileError("time() expects a string literal", c.args[0].span)
            return NONE
        if n == "str":
            self.check_nargs(c, 1, 2)
            lit = self.positional_text(c.args[0])
            if lit is not None:   # str($1), str($1 + 2): the parameter's text, as 0.26
                c.args[0] = A.Str(lit, span=c.args[0].span)
            t = self.expr(c.args[0])
            size = self.max_strlen
            if len(c.args) == 2:
                self.expr(c.args[1])
                lim = self.const_int(c.args[1])
                if lim is not None:   # n bytes with the NUL, so n - 1 characters (0.26: str(p, 5) is "zzte")
                    size = max(1, min(size, lim))
            if t.kind is Kind.STRING:
                return t if t.size <= size else string_type(size)
            if not t.is_int and t.kind not in (Kind.POINTER, Kind.ARRAY):
                raise CompileError(f"str() expects an integer or a pointer type as first argument ({t} provided)",
                                   c.args[0].span)
            return string_type(size)
        if n in ("kstack", "ustack"):
            self.check_nargs(c, 0, 2)
            mode = self.opts.get("stack_mode", "bpftrace")
            limit = 127
            for a in c.args:
                if isinstance(a, A.Identifier) and a.name in ("bpftrace", "perf", "raw", "build_id"):
                    mode = self._stack_mode(n, a.name, a.span)
                else:
                    v = self.const_int(a)
                    if v is None:
                        raise CompileError(f"{n}: invalid argument", a.span)
                    limit = v
            return stack_type(Kind.KSTACK if n == "kstack" else Kind.USTACK, mode, limit)
        if n == "ksym":
            self.check_nargs(c, 1, 1)
            self.expr(c.args[0])
            return Type(Kind.KSYM, size=8)
        if n == "usym":
            self.check_nargs(c, 1, 1)
            self.expr(c.args[0])
            return Type(Kind.USYM, size=16)
        if n == "bswap":
            self.check_nargs(c, 1, 1)
            t = self.expr(c.args[0])
            return t
        if n == "reg":
            self.check_nargs(c, 1, 1)
            a = c.args[0]
            if not isinstance(a, A.Str):
                raise CompileError("reg() expects a string literal", a.span)
            if self.probe.ctx != "pt_regs":
                raise CompileError(f"reg() can not be used with \"{self.probe.provider}\" probes", c.span)
            from ..ebpf.arch import host

            if host().reg_offset(a.value) is None:
                raise CompileError(f"'{a.value}' is not a valid register", a.span)
            return UINT64
        if n == "kaddr":
            self.check_nargs(c, 1, 1)
            a = c.args[0]
            if isinstance(a, A.Call) and a.name == "str" and len(a.args) == 1:
                lit = self.positional_text(a.args[0])
                if lit is not None:
                    a = c.args[0] = A.Str(lit, span=a.span)
            if not isinstance(a, A.Str):
                raise CompileError("kaddr() expects a string literal", a.span)
            lookup = self.opts.get("kaddr")
            if lookup is None or lookup(a.value) is None:
                raise CompileError(f"Failed to resolve kernel symbol: {a.value}", a.span)
            return UINT64
        if n == "percpu_kaddr":
            return self.percpu_kaddr(c)
        if n == "socket_cookie":
            return self.socket_cookie(c)
        if n == "skboutput":
            return self.skboutput(c)
        if n == "uaddr":
            self.check_nargs(c, 1, 1)
            a = c.args[0]
            if not isinstance(a, A.Str):
                raise CompileError("uaddr() expects a string literal", a.span)
            if self.probe.provider not in ("uprobe", "uretprobe", "usdt") or self.probe.user_symbol is None:
                raise CompileError("uaddr can only be used with uprobes and usdt probes", c.span)
            hit = self.probe.user_symbol(a.value)
            if hit is None:
                raise CompileError(f"Could not resolve symbol: {a.value}", a.span)
            if self.probe.pie and self.probe.loc_vaddr < 0:
                raise CompileError("uaddr() in a position-independent binary needs a probe on one location",
                                   c.span)
            size = hit[1] if hit[1] in (1, 2, 4, 8) else 8
            pointee = int_type(size, False)
            return Type(Kind.POINTER, size=8, pointee=pointee, name=f"uint{8 * size}_t *")
        if n == "cgroupid":
            self.check_nargs(c, 1, 1)
            return UINT64
        if n == "strncmp":
            self.check_nargs(c, 3, 3)
            for a in c.args:
                self.expr(a)
            return INT64
        for a in c.args:
            self.expr(a)
        raise CompileError(f"{n}() is not supported yet by bpfscope", c.span)

    def check_format(self, c: A.Call) -> None:
        from .formats import check_printf

        fmt = c.args[0]
        assert isinstance(fmt, A.Str)
        check_printf(c.name, fmt.value, [self.of(a) for a in c.args[1:]], c.span, fmt.span)


def _tuples_comparable(a: Type, b: Type) -> bool:
    """Tuples compare (==, !=) element by element: same length, each pair ints, strings or tuples."""
    if len(a.elems) != len(b.elems):
        return False
    for x, y in zip(a.elems, b.elems, strict=True):
        if x.is_int and y.is_int:
            continue
        if x.kind is Kind.STRING and y.kind is Kind.STRING:
            continue
        if x.kind is Kind.TUPLE and y.kind is Kind.TUPLE and _tuples_comparable(x, y):
            continue
        if x == y and x.kind is not Kind.NONE:
            continue
        return False
    return True


def is_discard(s: A.Assign) -> bool:
    """`_ = expr` (0.26): the expression runs for its effects, its value is dropped."""
    return isinstance(s.target, A.Identifier) and s.target.name == "_" and not s.op


def _void_assignment(v: A.Expr, fallback: str) -> CompileError:
    """A statement with no value (printf(), print(), exit(), ...) on the right of `=`."""
    if isinstance(v, A.Call):
        return CompileError(f"{v.name}() should not be used in an assignment or as a map key", v.span)
    return CompileError(fallback, v.span)
