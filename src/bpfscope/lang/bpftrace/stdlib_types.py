"""Type rules of bpftrace's standard library functions (strings, buffers, addresses, time,
errors, map queries, user-space actions).

Kept apart from typecheck.py so that the core inference stays small: `ProbeTypes.call`
hands every name in `STDLIB_FUNCS` to `call_type`, which checks arity and argument
types with bpftrace's messages and returns the result type. Code generation for the
same names lives in codegen_stdlib.py.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, Protocol

from ..ctype.types import BOOL, INT64, NONE, UINT64, Kind, Type, int_type, string_type
from ..diagnostics import CompileError
from ..ebpf.records import key_storage_type
from ..spec import ProbeInfo
from . import ast as A
from .defaults import DEFAULT_MAX_STRLEN
from .typeops import unify


class ProbeTypes(Protocol):
    """What stdlib typing uses of the checker (typecheck.ProbeTypes, which calls into this module):
    a protocol, so this module does not import typecheck back."""

    @property
    def probe(self) -> ProbeInfo: ...
    @property
    def maps(self) -> Any: ...          # typecheck.MapTable
    @property
    def opts(self) -> dict[str, Any]: ...
    @property
    def types(self) -> dict[int, Type]: ...
    @property
    def vars(self) -> dict[str, Type]: ...
    @property
    def positional(self) -> list[str]: ...
    @property
    def tseries_clock(self) -> dict[int, A.Expr]: ...
    def of(self, e: A.Expr) -> Type: ...
    def const_int(self, e: A.Expr) -> int | None: ...
    def map_access(self, m: A.Map, assign: Type | None = None) -> Type: ...
    def check_nargs(self, c: A.Call, lo: int, hi: int) -> None: ...
    def expr(self, e: A.Expr, statement: bool = False) -> Type: ...
    def builtin(self, e: A.Builtin) -> Type: ...

INET = Type(Kind.INET, size=24)        # u64 address family + 16 address bytes
MAC = Type(Kind.MAC, size=6)
CGROUP_PATH = Type(Kind.CGROUP_PATH, size=8)
UINT8 = int_type(1, False)

# names printed in user space from an integer (errno, signal number, syscall number)
NAMED_INTS = {"strerror": "strerror", "signal_name": "signal_name", "syscall_name": "syscall_name"}

STDLIB_FUNCS = frozenset({
    "strncmp", "strcontains", "strstr", "strlen", "memcmp", "buf", "ntop", "pton", "macaddr",
    "strftime", "strerror", "signal_name", "syscall_name", "len", "find", "signal", "cgroupid",
    "cgroup_path", "kptr", "uptr", "assert", "static_assert", "fail", "is_integer", "is_str",
    "is_ptr", "is_array", "is_unsigned_integer", "is_literal", "has_cpid", "strcap", "signal_thread",
    "globmatch", "write_user",
})

# functions the type checker knows itself (STDLIB_FUNCS are typed here)
KNOWN_FUNCS = {
    "printf", "print", "clear", "zero", "delete", "exit", "time", "str", "count", "sum", "min", "max",
    "avg", "stats", "hist", "lhist", "kstack", "ustack", "ksym", "usym", "kaddr", "uaddr", "has_key",
    "len", "bswap", "strncmp", "errorf", "warnf", "debugf", "cat", "system", "signal", "join",
    "strftime", "buf", "ntop", "pton", "macaddr", "strerror", "cgroupid", "cgroup_path", "reg", "sizeof",
    "override", "path", "skboutput", "unwatch", "uptr", "kptr", "strcontains", "strstr", "strlen",
    "memcmp", "signal_name", "syscall_name", "find", "assert", "static_assert", "fail", "tseries",
    "percpu_kaddr", "socket_cookie", "nsecs", "write_user",
}

# call syntax for argument-less builtins: `pid()` is `pid`
CALLABLE_BUILTINS = frozenset({
    "pid", "tid", "uid", "gid", "cpu", "ncpus", "nsecs", "elapsed", "cgroup", "rand", "cpid",
    "jiffies", "numaid", "ppid", "usermode", "curtask",
})

SIGNALS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGIOT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18,
    "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24,
    "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29,
    "SIGPWR": 30, "SIGSYS": 31,
}


def signal_number(name: str) -> int | None:
    """'SIGKILL', 'KILL' or 'sigkill' → 9; None if unknown."""
    n = name.upper()
    return SIGNALS.get(n if n.startswith("SIG") else "SIG" + n)


def timestamp_type(fmt: str) -> Type:
    """strftime() value: u64 ns since boot; the format travels in the type (printed in user space)."""
    return Type(Kind.TIMESTAMP, size=8, name=fmt)


def buffer_type(n: int) -> Type:
    return Type(Kind.BUFFER, size=4 + n)


def byte_array(n: int) -> Type:
    return Type(Kind.ARRAY, size=n, pointee=UINT8, count=n)


def pton_bytes(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


def const_eval(pt: ProbeTypes, e: A.Expr) -> int | None:
    """Fold an integer expression made of literals and positional parameters (or None)."""
    if isinstance(e, A.Bool):
        return int(e.value)
    v = pt.const_int(e)
    if v is not None:
        return v
    if isinstance(e, A.Unop) and e.op in ("!", "-", "~"):
        x = const_eval(pt, e.operand)
        if x is None:
            return None
        return int(not x) if e.op == "!" else -x if e.op == "-" else ~x
    if isinstance(e, A.Binop):
        a = const_eval(pt, e.left)
        if a is None:
            return None
        if e.op == "&&" and not a:
            return 0
        if e.op == "||" and a:
            return 1
        b = const_eval(pt, e.right)
        if b is None:
            return None
        ops: dict[str, Any] = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "&": lambda: a & b,
            "|": lambda: a | b, "^": lambda: a ^ b, "<<": lambda: a << b if 0 <= b < 64 else None,
            ">>": lambda: a >> b if 0 <= b < 64 else None, "==": lambda: int(a == b),
            "!=": lambda: int(a != b), "<": lambda: int(a < b), "<=": lambda: int(a <= b),
            ">": lambda: int(a > b), ">=": lambda: int(a >= b), "&&": lambda: int(bool(b)),
            "||": lambda: int(bool(b)), "/": lambda: int(a / b) if b else None,
            "%": lambda: a - b * int(a / b) if b else None,
        }
        f = ops.get(e.op)
        return f() if f is not None else None
    return None


def _str_like(t: Type) -> bool:
    return t.kind is Kind.STRING or (t.kind is Kind.ARRAY and t.pointee is not None and t.pointee.size == 1)


def _require_str(c: A.Call, i: int, t: Type) -> None:
    if not _str_like(t):
        raise CompileError(f"{c.name}() only supports string arguments ({bt_typename(t)} provided)", c.span)


def _require_int(c: A.Call, t: Type) -> None:
    if not t.is_int:
        raise CompileError(f"{c.name}() only supports integer arguments ({bt_typename(t)} provided)", c.span)


def _literal_str(c: A.Call, i: int, pt: ProbeTypes | None = None) -> str:
    """A string-literal argument, or bpftrace's "expects a string literal (X provided)"."""
    a = c.args[i]
    if not isinstance(a, A.Str):
        got = bt_typename(pt.expr(a)) if pt is not None else "none"
        raise CompileError(f"{c.name}() expects a string literal ({got} provided)", c.span)
    return a.value


def _agg_read_error(t: Type, span: A.Span) -> CompileError:
    return CompileError(f"Type mismatch: '{t}' values can only be read in user space "
                        "(print the map instead)", span)


def map_read_type(t: Type, span: A.Span) -> Type:
    """The integer a count/sum/min/max/avg map reads as in BPF (summed over CPUs)."""
    if t.kind is Kind.COUNT:
        return UINT64
    if t.kind in (Kind.SUM, Kind.MIN, Kind.MAX, Kind.AVG):
        return INT64
    if t.is_aggregate:
        raise _agg_read_error(t, span)
    return t


def call_type(pt: ProbeTypes, c: A.Call, statement: bool) -> Type:
    n = c.name
    handler = _HANDLERS[n]
    return handler(pt, c)


# ---------------------------------------------------------------- string functions
def _strncmp(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 3, 3)
    for i in range(2):
        _require_str(c, i, pt.expr(c.args[i]))
    pt.expr(c.args[2])
    n = const_eval(pt, c.args[2])
    if n is None or n < 0:
        raise CompileError("Builtin strncmp requires a non-negative literal", c.span)
    return INT64


def _two_strings(pt: ProbeTypes, c: A.Call) -> None:
    pt.check_nargs(c, 2, 2)
    for i in range(2):
        _require_str(c, i, pt.expr(c.args[i]))


def _strcontains(pt: ProbeTypes, c: A.Call) -> Type:
    _two_strings(pt, c)
    return BOOL


def _strstr(pt: ProbeTypes, c: A.Call) -> Type:
    _two_strings(pt, c)
    return INT64


def _strlen(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    _require_str(c, 0, pt.expr(c.args[0]))
    return UINT64


def _memcmp(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 3, 3)
    ta, tb = pt.expr(c.args[0]), pt.expr(c.args[1])
    pt.expr(c.args[2])
    for t in (ta, tb):
        if t.is_int or t.kind in (Kind.NONE, Kind.POINTER) or t.is_aggregate:
            raise CompileError(f"memcmp() only supports string, array or record arguments ({bt_typename(t)} "
                               "provided)", c.span)
    n = const_eval(pt, c.args[2])
    if n is None or n < 0:
        raise CompileError("memcmp() expects an integer literal as its third argument", c.args[2].span)
    if n > min(ta.size, tb.size):
        raise CompileError(f"memcmp() size {n} is larger than its arguments ({ta}, {tb})", c.args[2].span)
    return INT64


# ---------------------------------------------------------------- buffers and addresses
def _buf(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 2)
    t = pt.expr(c.args[0])
    arrayish = t.kind in (Kind.STRING, Kind.ARRAY)
    if not (arrayish or t.is_int or t.kind is Kind.POINTER):
        raise CompileError(f"buf() expects an integer, string, or array argument but saw {bt_typename(t)}",
                           c.span)
    if len(c.args) == 1:
        if not arrayish:
            raise CompileError(f"buf() expects a length argument for non-array type {bt_typename(t)}", c.span)
        return buffer_type(t.size)
    lt = pt.expr(c.args[1])
    if not lt.is_int:
        raise CompileError(f"buf() only supports integer arguments ({bt_typename(lt)} provided)", c.span)
    n = const_eval(pt, c.args[1])
    if n is not None and n < 0:
        raise CompileError(f"buf() cannot use negative length ({n})", c.span)
    if n is None:  # run-time length: up to max_strlen bytes (or the array's size)
        n = int(pt.opts.get("max_strlen", DEFAULT_MAX_STRLEN))
        if arrayish:
            n = min(n, t.size)
    return buffer_type(n)


def _addr_bytes(t: Type) -> int:
    if t.kind in (Kind.ARRAY, Kind.STRING):
        return t.size
    return 0


def _ntop(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 2)
    if len(c.args) == 2:
        _require_int(c, pt.expr(c.args[0]))
    a = c.args[-1]
    t = pt.expr(a)
    if t.is_int:
        return INET
    if t.kind not in (Kind.ARRAY, Kind.STRING):
        raise CompileError(f"ntop() expects an integer or array argument, got {bt_typename(t)}", c.span)
    if _addr_bytes(t) not in (4, 16):
        raise CompileError("ntop() argument must be 4 or 16 bytes in size", c.span)
    return INET


def _pton(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    text = _literal_str(c, 0, pt)
    data = pton_bytes(text)
    if data is None:
        raise CompileError(f"pton() expects a valid IPv4 or IPv6 address, got '{text}'", c.args[0].span)
    pt.expr(c.args[0])
    return byte_array(len(data))


def _macaddr(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    t = pt.expr(c.args[0])
    if not (t.kind in (Kind.ARRAY, Kind.STRING) or t.is_int or t.kind is Kind.POINTER):
        raise CompileError(f"macaddr() only supports array or pointer arguments ({bt_typename(t)} provided)",
                           c.span)
    if isinstance(c.args[0], A.Str):
        raise CompileError("macaddr() does not support literal string arguments", c.span)
    if t.kind in (Kind.ARRAY, Kind.STRING) and t.size < 6:
        raise CompileError("macaddr() argument must be at least 6 bytes in size", c.span)
    return MAC


# ---------------------------------------------------------------- time, errors, names
def _strftime(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 2, 2)
    fmt = _literal_str(c, 0, pt)
    pt.expr(c.args[0])
    _require_int(c, pt.expr(c.args[1]))
    ts = c.args[1]
    if isinstance(ts, A.Call) and ts.name == "nsecs" and ts.args and isinstance(ts.args[0], A.Identifier) \
            and ts.args[0].name == "monotonic":
        raise CompileError("strftime() can not take a monotonic timestamp", c.span)
    return timestamp_type(fmt)


def _named_int(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    _require_int(c, pt.expr(c.args[0]))
    return Type(Kind.STRERROR, size=8, name=NAMED_INTS[c.name])


def _cgroupid(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    _literal_str(c, 0, pt)
    pt.expr(c.args[0])
    return UINT64


def _cgroup_path(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 2)
    _require_int(c, pt.expr(c.args[0]))
    if len(c.args) == 2:
        _require_str(c, 1, pt.expr(c.args[1]))
    return CGROUP_PATH


def _addrspace(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    t = pt.expr(c.args[0])
    if not (t.is_int or t.kind is Kind.POINTER):
        raise CompileError(f"{c.name}() only supports integer or pointer arguments ({bt_typename(t)} provided)",
                           c.span)
    return t


# ---------------------------------------------------------------- maps
def _map_arg(pt: ProbeTypes, c: A.Call) -> A.Map:
    m = c.args[0]
    if not isinstance(m, A.Map) or m.keys:
        if c.name == "len":
            raise CompileError("len() expects a map or stack to be provided", c.span)
        raise CompileError(f"{c.name}() expects a map argument", m.span)
    if m.name not in pt.maps.maps:
        raise CompileError(f"Undefined map: {m.name}", m.span)
    return m


def _len(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    a = c.args[0]
    if isinstance(a, A.Builtin) and a.name in ("kstack", "ustack") or (
            isinstance(a, A.Call) and a.name in ("kstack", "ustack")):
        pt.expr(a)
        return INT64  # the depth, in frames
    if isinstance(a, A.Var) and pt.expr(a).kind in (Kind.KSTACK, Kind.USTACK):
        return INT64  # $x = ustack(3); len($x): a variable holds this probe's stack
    m = _map_arg(pt, c)
    if pt.maps.maps[m.name].scalar:   # 0.26 (tests/runtime/call "map len keyless")
        raise CompileError("call to len() expects a map with explicit keys (non-scalar map)", m.span)
    return INT64


def _find(pt: ProbeTypes, c: A.Call) -> Type:
    if not getattr(c, "rewritten", False):  # (map, key, $var) becomes (@map[key], $var) once
        pt.check_nargs(c, 3, 3)
        m = _map_arg(pt, c)
        info = pt.maps.maps[m.name]
        if info.scalar:
            raise CompileError("find() expects a map with keys (not a scalar map)", m.span)
        if not isinstance(c.args[2], A.Var):
            raise CompileError("find() expects a scratch variable as its third argument", c.args[2].span)
        c.args = [A.Map(m.name, [c.args[1]], span=m.span), c.args[2]]
        c.rewritten = True  # type: ignore[attr-defined]
    key, var = c.args
    assert isinstance(key, A.Map) and isinstance(var, A.Var)
    m = key
    vt = pt.map_access(key)
    vt = map_read_type(vt, m.span)
    pt.vars[var.name] = unify(pt.vars.get(var.name), key_storage_type(vt), var.name, var.span)
    pt.types[id(var)] = pt.vars[var.name]
    return BOOL


# ---------------------------------------------------------------- actions and assertions
def _signal(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    if pt.probe.provider in ("begin", "end", "self", "test", "bench"):
        raise CompileError(f'signal can not be used with "{pt.probe.provider}" probes', c.span)
    a = c.args[0]
    if isinstance(a, A.Str):
        if signal_number(a.value) is None:
            raise CompileError(f"{a.value} is not a valid signal", c.span)
    else:
        t = pt.expr(a)
        if not t.is_int:
            raise CompileError(f"signal() only accepts a string literal or an integer ({t} provided)",
                               a.span)
        v = const_eval(pt, a)
        if v is not None and not 1 <= v <= 64:
            raise CompileError(f"sig must be between 1 and 64. {v} provided", a.span)
    pt.expr(a)
    return NONE


def _write_user(pt: ProbeTypes, c: A.Call) -> Type:
    """write_user(dst, src, len): bpf_probe_write_user, true on success. 0.26 defines it as a
    stdlib macro that fail()s in safe mode with the text below."""
    if not pt.opts.get("unsafe"):
        raise CompileError("write_user() is unsafe. To use you need the --unsafe flag", c.span)
    pt.check_nargs(c, 3, 3)
    dst, src, n = (pt.expr(a) for a in c.args)
    if not (dst.is_int or dst.kind is Kind.POINTER):
        raise CompileError(f"write_user() expects a pointer or an integer address ({bt_typename(dst)} provided)",
                           c.args[0].span)
    if not n.is_int:
        raise CompileError(f"write_user() expects an integer length ({bt_typename(n)} provided)", c.args[2].span)
    if src.kind in (Kind.RECORD, Kind.NONE) or src.size == 0:
        raise CompileError(f"write_user() cannot write a {bt_typename(src)}", c.args[1].span)
    return BOOL


def _assert(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 2, 2)
    t = pt.expr(c.args[0])
    if not t.is_int:
        raise CompileError(f"assert() only supports bool arguments ({bt_typename(t)} provided)", c.span)
    _literal_str(c, 1, pt)
    pt.expr(c.args[1])
    return NONE


def _static_assert(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 2, 2)
    msg = _literal_str(c, 1, pt)
    pt.expr(c.args[0])
    v = const_eval(pt, c.args[0])
    if v is None:
        raise CompileError("static_assert() expects a condition known at compile time", c.args[0].span)
    if not v:
        raise CompileError(msg, c.span)  # as fail(msg) would
    return NONE


def _fail(pt: ProbeTypes, c: A.Call) -> Type:
    if not c.args:
        raise CompileError("fail() requires at least one argument (0 provided)", c.span)
    if not isinstance(c.args[0], A.Str):
        raise CompileError("first argument to fail() must be a string literal", c.span)
    for a in c.args[1:]:
        pt.expr(a)
        if not isinstance(a, (A.Str, A.Int, A.Bool, A.Positional)) and const_eval(pt, a) is None:
            raise CompileError("fail() arguments need to be literals", c.span)
    pt.expr(c.args[0])
    return NONE


def format_fail(pt: ProbeTypes, c: A.Call) -> str:
    """Render fail()'s message at compile time (C printf over literal values)."""
    fmt = c.args[0]
    assert isinstance(fmt, A.Str)
    vals: list[object] = []
    for a in c.args[1:]:
        if isinstance(a, A.Str):
            vals.append(a.value)
        elif isinstance(a, A.Positional) and pt.of(a).kind is Kind.STRING:
            vals.append(pt.positional[a.index - 1])
        else:
            vals.append(const_eval(pt, a) or 0)
    out, i = [], 0
    text = fmt.value
    j = 0
    while j < len(text):
        ch = text[j]
        if ch == "%" and j + 1 < len(text):
            k = j + 1
            while k < len(text) and text[k] in "-+ #0123456789.lhjzt":
                k += 1
            conv = text[k] if k < len(text) else ""
            if conv == "%":
                out.append("%")
            elif conv:
                v = vals[i] if i < len(vals) else ""
                i += 1
                spec = "%" + text[j + 1:k].replace("l", "").replace("h", "").replace("j", "") \
                    .replace("z", "").replace("t", "") + ("d" if conv in "iu" else conv)
                try:
                    out.append(spec % v)
                except (TypeError, ValueError):
                    out.append(str(v))
            j = k + 1
            continue
        out.append(ch)
        j += 1
    return "".join(out)


# ---------------------------------------------------------------- tseries
TSERIES_AGGS = ("", "avg", "max", "min", "sum")   # index = the agg code in the type's params


def tseries_type(pt: ProbeTypes, c: A.Call) -> Type:
    """tseries(value, interval_ns, num_intervals[, "avg"|"max"|"min"|"sum"]): params carry
    (interval, intervals, agg code); `signed` follows the value (printing, min/max)."""
    vt = pt.expr(c.args[0])
    if not vt.is_int:
        raise CompileError(f"tseries() expects an integer value ({bt_typename(vt)} provided)", c.args[0].span)
    vals = []
    for a, what in zip(c.args[1:3], ("interval_ns", "num_intervals"), strict=True):
        pt.expr(a)
        v = const_eval(pt, a)
        if v is None:
            raise CompileError(f"tseries() {what} must be an integer literal", a.span)
        if v <= 0:
            raise CompileError(f"tseries() {what} must be > 0 ({v} provided)", a.span)
        vals.append(v)
    if vals[1] > 1_000_000:
        raise CompileError(f"tseries() num_intervals must be <= 1000000 ({vals[1]} provided)", c.args[2].span)
    agg = 0
    if len(c.args) == 4:
        a = c.args[3]
        if not isinstance(a, A.Str) or a.value not in TSERIES_AGGS[1:]:
            raise CompileError('tseries() aggregation must be one of "avg", "max", "min" or "sum"', a.span)
        pt.expr(a)
        agg = TSERIES_AGGS.index(a.value)
    clock = os.environ.get("BPFTRACE_DUMMY_TS_MAP")
    if clock and clock.startswith("@"):   # bpftrace's test hook: a scalar map's value is the time
        node = A.Map(clock, span=c.span)
        pt.expr(node)
        pt.tseries_clock[id(c)] = node
    return Type(Kind.TSERIES, size=8, signed=vt.signed, params=(vals[0], vals[1], agg))


# ---------------------------------------------------------------- type predicates (compile time)
def _is(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    pt.expr(c.args[0])
    return BOOL


def predicate_value(pt: ProbeTypes, c: A.Call) -> bool:
    """Compile-time answer of is_integer/is_str/is_ptr/is_array/is_unsigned_integer/is_literal."""
    a = c.args[0]
    t = pt.of(a)
    n = c.name
    if n == "is_integer":
        return t.kind is Kind.INT
    if n == "is_unsigned_integer":
        return t.kind is Kind.INT and not t.signed
    if n == "is_str":
        return t.kind is Kind.STRING
    if n == "is_ptr":
        return t.kind is Kind.POINTER
    if n == "is_array":
        return t.kind is Kind.ARRAY
    return isinstance(a, (A.Int, A.Str, A.Bool)) or (
        isinstance(a, A.Unop) and a.op == "-" and isinstance(a.operand, A.Int))


def _has_cpid(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 0, 0)
    return BOOL


def _strcap(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 1, 1)
    t = pt.expr(c.args[0])
    if not (_str_like(t) or t.kind is Kind.POINTER):
        raise CompileError(f"strcap() expects a string argument, got {t}", c.args[0].span)
    return INT64


def _globmatch(pt: ProbeTypes, c: A.Call) -> Type:
    pt.check_nargs(c, 2, 2)
    _require_str(c, 0, pt.expr(c.args[0]))
    if not isinstance(c.args[1], A.Str):
        raise CompileError("globmatch() expects a string literal as its pattern", c.args[1].span)
    pt.expr(c.args[1])
    return BOOL


_HANDLERS = {
    "strncmp": _strncmp, "strcontains": _strcontains, "strstr": _strstr, "strlen": _strlen,
    "memcmp": _memcmp, "buf": _buf, "ntop": _ntop, "pton": _pton, "macaddr": _macaddr,
    "strftime": _strftime, "strerror": _named_int, "signal_name": _named_int,
    "syscall_name": _named_int, "len": _len, "find": _find, "signal": _signal,
    "cgroupid": _cgroupid, "cgroup_path": _cgroup_path, "kptr": _addrspace, "uptr": _addrspace,
    "assert": _assert, "static_assert": _static_assert, "fail": _fail, "is_integer": _is,
    "is_str": _is, "is_ptr": _is, "is_array": _is, "is_unsigned_integer": _is, "is_literal": _is,
    "has_cpid": _has_cpid, "strcap": _strcap, "signal_thread": _signal,
    "globmatch": _globmatch, "write_user": _write_user,
}

__all__ = ["STDLIB_FUNCS", "KNOWN_FUNCS", "CALLABLE_BUILTINS", "call_type", "const_eval", "map_read_type",
           "signal_number", "pton_bytes", "format_fail", "predicate_value", "string_type"]


_PROBETYPES = {"begin": "special", "end": "special", "self": "special", "test": "test",
               "bench": "benchmark"}
NSECS_CLOCKS = ("monotonic", "boot", "tai", "sw_tai")


def probetype_name(provider: str) -> str:
    """What the `probetype` builtin says for a probe provider (begin/end are 'special')."""
    return _PROBETYPES.get(provider, provider)


def builtin_call_type(pt: ProbeTypes, c: A.Call) -> Type:
    """`pid()` is `pid`; `nsecs(boot)` picks a clock; `pid(init)`/`tid(curr_ns)` a namespace."""
    if c.name in ("pid", "tid") and c.args:
        pt.check_nargs(c, 0, 1)
        a = c.args[0]
        if not isinstance(a, A.Identifier):
            raise CompileError(f"{c.name}() only supports curr_ns and init as the argument "
                               f"({bt_typename(pt.expr(a))} provided)", c.span)
        if a.name not in ("curr_ns", "init"):
            raise CompileError(f"Invalid PID namespace mode: {a.name} (expects: curr_ns or init)", a.span)
        return pt.builtin(A.Builtin(c.name, span=c.span))
    if c.name == "nsecs":
        pt.check_nargs(c, 0, 1)
        if c.args:
            a = c.args[0]
            if not isinstance(a, A.Identifier) or a.name not in NSECS_CLOCKS:
                raise CompileError("nsecs() expects one of monotonic, boot, tai, sw_tai", a.span)
        return UINT64
    pt.check_nargs(c, 0, 0)
    return pt.builtin(A.Builtin(c.name, span=c.span))


_BT_TYPENAMES = {
    Kind.INT: "integer", Kind.ENUM: "integer", Kind.BOOL: "bool", Kind.STRING: "string",
    Kind.BUFFER: "buffer", Kind.TUPLE: "tuple", Kind.RECORD: "record", Kind.POINTER: "pointer",
    Kind.STRUCT: "struct", Kind.ARRAY: "array", Kind.KSTACK: "kstack_t", Kind.USTACK: "ustack_t",
    Kind.KSYM: "ksym_t", Kind.USYM: "usym_t", Kind.INET: "inet", Kind.MAC: "mac_address",
    Kind.USERNAME: "username", Kind.TIMESTAMP: "timestamp", Kind.CGROUP_PATH: "cgroup_path_t",
    Kind.STRERROR: "string", Kind.NONE: "none", Kind.COUNT: "count_t", Kind.SUM: "sum_t",
    Kind.MIN: "min_t", Kind.MAX: "max_t", Kind.AVG: "avg_t", Kind.STATS: "stats_t",
    Kind.HIST: "hist_t", Kind.LHIST: "lhist_t", Kind.TSERIES: "tseries_t",
}


def bt_typename(t: Type) -> str:
    """A type's kind as bpftrace names it in argument errors ('integer', 'string', ...)."""
    return _BT_TYPENAMES.get(t.kind, t.kind.value)
