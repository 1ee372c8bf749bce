"""BCC's probe specifiers, parsed and turned into bpftrace attach points.

BCC's multi-tools each take a probe in a small language of its own:

- funccount/stackcount/funclatency: ``func`` (kernel), ``lib:func`` / ``p:lib:func`` (user),
  ``t:cat:event``, ``u:lib:probe`` (USDT); globs, or regexes with ``-r``.
- trace: ``[{p,r}]:[lib]:func[(signature)] [(predicate)] ["format", args]``, ``t:cat:event``,
  ``u:lib:probe``.
- argdist: ``{p,r,t,u}:{lib,cat}:func(signature)[:type[,type]:expr[,expr][:filter]][#label]``.

Everything here is pure text handling (tested without a kernel) except `resolve_library`
and the regex expansion, which look at the file system. Libraries resolve as BCC's
`BPF.find_library` then `find_exe`: ``c`` is libc, ``pthread`` libpthread, paths as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class SpecError(ValueError):
    """A probe specifier that cannot be parsed; the message is shown as is."""


@dataclass(frozen=True)
class ProbeSpec:
    """One probe: type p (entry), r (return), t (tracepoint), u (USDT).

    `library` is empty for kernel probes; for tracepoints it is the category."""
    type: str
    library: str
    name: str

    @property
    def kernel(self) -> bool:
        return self.type == "t" or (self.type in "pr" and not self.library)

    def text(self) -> str:
        return f"{self.type}:{self.library}:{self.name}"


def split_spec(spec: str, usdt_prefix: bool = True) -> ProbeSpec:
    """``func`` -> p::func, ``lib:func`` -> p:lib:func, ``t:cat:ev``, ``u:lib:probe``, ``r::func``.

    A library path may itself contain ':' only in the middle part (BCC joins parts[1:-1])."""
    if not spec:
        raise SpecError("empty probe specifier")
    parts = spec.split(":")
    if len(parts) == 1:
        parts = ["p", "", parts[0]]
    elif len(parts) == 2:
        parts = ["p", parts[0], parts[1]]
    kind = parts[0] or "p"
    if kind not in ("p", "r", "t", "u"):
        raise SpecError(f"probe type must be '', 'p', 't', 'r', or 'u', but got '{parts[0]}'")
    if kind == "u" and not usdt_prefix:
        kind = "p"
    lib = ":".join(parts[1:-1])
    name = parts[-1]
    if kind == "t" and (len(parts) != 3 or not lib or not name):
        raise SpecError(f"tracepoint must be t:category:event, got '{spec}'")
    if kind == "u" and not lib:
        raise SpecError(f"USDT probe needs a binary or library: u:lib:probe, got '{spec}'")
    if not name:
        raise SpecError(f"no function in probe specifier '{spec}'")
    return ProbeSpec(kind, lib, name)


def parse_pattern(pattern: str, allow: str = "ptu") -> ProbeSpec:
    """funccount/stackcount/funclatency patterns (``r`` is not one of theirs)."""
    ps = split_spec(pattern)
    if ps.type not in allow:
        kinds = ", ".join(f"'{k}'" for k in allow)
        raise SpecError(f"Type must be {kinds}, but got {ps.type}")
    return ps


# ---------------------------------------------------------------- libraries

def resolve_library(name: str, pid: int | None = None) -> str | None:
    """BCC's order: a path as given, then a shared library (`c` -> libc.so.6), then $PATH."""
    import os

    from ..kernel.ldcache import find_in_path, find_library

    if "/" in name:
        return name if os.path.exists(name) else None
    return find_library(name, pid) or find_in_path(name)


# ---------------------------------------------------------------- globs, regexes, attach points

def glob_to_regex(glob: str) -> str:
    """BCC turns '*' into '.*' and anchors the pattern; everything else is literal."""
    return "^" + ".*".join(re.escape(p) for p in glob.split("*")) + "$"


def _kernel_functions() -> list[str]:
    for path in ("/sys/kernel/tracing/available_filter_functions",
                 "/sys/kernel/debug/tracing/available_filter_functions"):
        try:
            with open(path) as f:
                return sorted({ln.split()[0] for ln in f if ln.strip()})
        except OSError:
            continue
    return []


def _tracepoints(category: str) -> list[str]:
    import os

    base = "/sys/kernel/tracing/events"
    out = []
    try:
        cats = sorted(os.listdir(base))
    except OSError:
        return []
    for c in cats:
        if not os.path.isdir(f"{base}/{c}"):
            continue
        for ev in sorted(os.listdir(f"{base}/{c}")):
            if os.path.isdir(f"{base}/{c}/{ev}"):
                out.append(f"{c}:{ev}")
    return out


def expand_regex(ps: ProbeSpec, regex: str, path: str = "") -> list[str]:
    """Names a `-r` regex matches (bpftrace has globs only): kernel functions, a binary's
    functions, or `cat:event` tracepoints (the regex applies to the event part)."""
    try:
        rx = re.compile(regex)
    except re.error as e:
        raise SpecError(f"invalid regular expression '{regex}': {e}") from None
    if ps.type == "t":
        cat = re.compile(glob_to_regex(ps.library))
        return [t for t in _tracepoints(ps.library) if cat.match(t.split(":")[0]) and rx.search(t.split(":")[1])]
    if ps.library:
        from ..kernel import elf

        return sorted({s.name for s in elf.function_symbols(path) if rx.search(s.name)})
    return [f for f in _kernel_functions() if rx.search(f)]


def attach_point(ps: ProbeSpec, path: str = "", name: str | None = None) -> str:
    """The bpftrace attach point for one (possibly wildcard) probe; `path` is the resolved library."""
    n = ps.name if name is None else name
    if ps.type == "t":
        return f"tracepoint:{ps.library}:{n}" if name is None or ":" not in n else f"tracepoint:{n}"
    if ps.type == "u":
        return f"usdt:{path}:{n}"
    if ps.library:
        return f"{'uretprobe' if ps.type == 'r' else 'uprobe'}:{path}:{n}"
    return f"{'kretprobe' if ps.type == 'r' else 'kprobe'}:{n}"


def attach_points(ps: ProbeSpec, regex: bool = False, pid: int | None = None) -> list[str]:
    """All attach points for a tool's pattern (a regex is expanded to names, a glob kept)."""
    path = ""
    if ps.type != "t" and ps.library:
        found = resolve_library(ps.library, pid)
        if found is None:
            raise SpecError(f"can't find library {ps.library}")
        path = found
    if not regex:
        return [attach_point(ps, path)]
    names = expand_regex(ps, ps.name, path)
    if not names:
        raise SpecError(f"No functions/probes found matching '{ps.name}'" if ps.type != "t"
                        else f"No tracepoints found matching '{ps.library}:{ps.name}'")
    return [attach_point(ps, path, n) for n in names]


# ---------------------------------------------------------------- C expressions -> bpftrace

@dataclass
class Signature:
    """``(struct sock *sk, int len)``: parameter names -> (C type, index)."""
    params: list[tuple[str, str]] = field(default_factory=list)   # (type, name)

    def cast(self, name: str) -> str | None:
        for i, (ctype, pname) in enumerate(self.params):
            if pname == name:
                return f"(({ctype})arg{i})"
        return None


def parse_signature(text: str) -> Signature:
    text = text.strip()
    if not text or text == "void":
        return Signature()
    out = []
    for p in split_top(text, ","):
        p = p.strip()
        m = re.match(r"^(.*?[\s\*])([A-Za-z_]\w*)\s*$", p)
        if not m:
            raise SpecError(f"cannot parse parameter '{p}' (want 'type name')")
        out.append((re.sub(r"\s+", " ", m.group(1).strip()), m.group(2)))
    return Signature(out)


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside quotes, parentheses and brackets."""
    out, depth, cur, quote = [], 0, [], ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
            cur.append(c)
        elif c in "([{":
            depth += 1
            cur.append(c)
        elif c in ")]}":
            depth -= 1
            cur.append(c)
        elif c == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


_IDENT = re.compile(r"\$?[A-Za-z_]\w*")


def c_expr(expr: str, sig: Signature | None = None, retval_ok: bool = True) -> str:
    """A BCC C expression in bpftrace: argN (1-based) -> arg(N-1), $retval/retval -> retval,
    signature parameter names -> casted args, $latency -> $__lat, args->f kept, `$entry(p)` is
    not supported; strings and numbers untouched."""
    out: list[str] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'":
            j = i + 1
            while j < len(expr) and expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            out.append(expr[i:j + 1])
            i = j + 1
            continue
        m = _IDENT.match(expr, i)
        if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_.>")):
            w = m.group(0)
            after = expr[m.end():m.end() + 1]
            rep = w
            if re.fullmatch(r"arg[1-9]\d*", w):
                rep = f"arg{int(w[3:]) - 1}"
            elif w in ("retval", "$retval"):
                if not retval_ok:
                    raise SpecError("retval is only available in return probes (r:)")
                rep = "retval"
            elif w == "$latency":
                rep = "$__lat"
            elif w == "$PID":   # argdist's alias for the process id
                rep = "pid"
            elif w.startswith("$entry"):
                raise SpecError("$entry(...) is not supported")
            elif sig is not None and after != "(":
                rep = sig.cast(w) or w
            out.append(rep)
            i = m.end()
            continue
        if m:
            out.append(m.group(0))
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- trace

@dataclass
class TraceProbe:
    spec: ProbeSpec
    signature: Signature | None
    predicate: str          # bpftrace boolean expression, "" for none
    fmt: str                # printf format (BCC's), "" for none
    args: list[str]         # bpftrace expressions, one per conversion
    raw: str


_FMT_CONV = re.compile(r"%(%|[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?([a-zA-Z]))")


def conversions(fmt: str) -> list[str]:
    """The conversion letters of a printf format, in order (%% skipped)."""
    return [m.group(2) for m in _FMT_CONV.finditer(fmt) if m.group(1) != "%"]


def parse_trace(text: str) -> TraceProbe:
    """One `trace` probe argument, as BCC's trace parses it."""
    raw = text
    text = text.strip()
    m = re.match(r"([^ \t(]+)(\([^(]*\))?(.*)$", text, re.S)
    if not m:
        raise SpecError(f"cannot parse probe '{raw}'")
    spec_text, sig_text, rest = m.groups()
    ps = split_spec(spec_text)
    sig = parse_signature(sig_text[1:-1]) if sig_text else None
    if sig is not None and ps.type in ("t", "u"):
        raise SpecError("USDT and tracepoint probes can't have a function signature; "
                        "use arg1, arg2, ... instead")
    rest = rest.lstrip()
    predicate = ""
    if rest.startswith("("):
        depth = 0
        end = -1
        for i, c in enumerate(rest):
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                end = i
                break
        if end < 0:
            raise SpecError("unmatched end of predicate")
        predicate = c_expr(rest[1:end], sig, ps.type == "r")
        rest = rest[end + 1:].lstrip()
    fmt = ""
    args: list[str] = []
    if rest:
        if not rest.startswith('"'):
            raise SpecError(f"expected format string in double quotes, got '{rest}'")
        j = 1
        while j < len(rest) and rest[j] != '"':
            j += 2 if rest[j] == "\\" else 1
        if j >= len(rest):
            raise SpecError("unterminated format string")
        fmt = rest[1:j]
        tail = rest[j + 1:].strip()
        if tail:
            if not tail.startswith(","):
                raise SpecError(f"expected ',' after the format string, got '{tail}'")
            args = [a.strip() for a in split_top(tail[1:], ",")]
            if any(not a for a in args):
                raise SpecError("empty argument after the format string")
        convs = conversions(fmt)
        if len(convs) != len(args):
            raise SpecError(f"expected {len(convs)} arguments for the format string, got {len(args)}")
        args = [c_expr(a, sig, ps.type == "r") for a in args]
    return TraceProbe(ps, sig, predicate, fmt, args, raw)


# ---------------------------------------------------------------- argdist

@dataclass
class ArgdistProbe:
    spec: ProbeSpec
    signature: Signature | None
    types: list[str]
    exprs: list[str]        # bpftrace expressions
    exprs_text: list[str]   # as typed (BCC's headings use them)
    filter: str             # bpftrace expression or ""
    label: str
    raw: str
    default: bool = False   # no type/expression given: BCC's "total calls" / "retval = N" keys


def parse_argdist(text: str) -> ArgdistProbe:
    """``{p,r,t,u}:{lib,cat}:func(signature)[:type[,type]:expr[,expr][:filter]][#label]``."""
    raw = text
    label = ""
    if "#" in text:
        text, _, label = text.rpartition("#")
    parts = split_top(text, ":")
    if len(parts) < 3:
        raise SpecError(f"probe must be {{p,r,t,u}}:{{lib,category}}:function[(sig)]..., got '{raw}'")
    kind = parts[0]
    if kind not in ("p", "r", "t", "u"):
        raise SpecError(f"probe type must be 'p', 'r', 't' or 'u', but got '{kind}'")
    lib = parts[1]
    fn = parts[2]
    sig = None
    m = re.match(r"^([^(]+)(?:\((.*)\))?$", fn.strip(), re.S)
    if not m:
        raise SpecError(f"cannot parse function '{fn}'")
    fname = m.group(1)
    if m.group(2) is not None:
        sig = parse_signature(m.group(2))
    if kind in ("t", "u") and sig is not None and sig.params:
        raise SpecError("USDT and tracepoint probes can't have a function signature")
    types: list[str] = []
    exprs: list[str] = []
    filt = ""
    if len(parts) > 3:
        types = [t.strip() for t in split_top(parts[3], ",")]
        if len(parts) < 5:
            raise SpecError(f"a type needs an expression: '{raw}'")
        exprs_text = [x.strip() for x in split_top(parts[4], ",")]
        if len(types) != len(exprs_text):
            raise SpecError(f"{len(types)} type(s) but {len(exprs_text)} expression(s) in '{raw}'")
        if len(parts) > 5:
            filt = c_expr(":".join(parts[5:]), sig, kind == "r")
    else:   # BCC's defaults: a return probe counts its return value, others their calls
        types, exprs_text = (["int"], ["$retval"]) if kind == "r" else (["u64"], ["1"])
    exprs = [c_expr(x, sig, kind == "r") for x in exprs_text]
    ps = ProbeSpec(kind, lib, fname)
    if kind == "t" and not lib:
        raise SpecError(f"tracepoint needs a category: t:category:event, got '{raw}'")
    if kind == "u" and not lib:
        raise SpecError(f"USDT probe needs a binary or library: u:lib:probe, got '{raw}'")
    return ArgdistProbe(ps, sig, types, exprs, exprs_text, filt, label, raw, default=len(parts) <= 3)
