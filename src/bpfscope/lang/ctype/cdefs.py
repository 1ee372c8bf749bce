"""The C subset a bpftrace program may carry in its preamble, parsed without clang.

bpftrace hands `#include`/`#define` lines and `struct`/`union`/`enum`/`typedef` definitions
to libclang; we parse the part people actually write in scripts ourselves:

- a small preprocessor: `#define NAME value` (object-like; function-like macros are kept
  but never expanded), `#undef`, `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif` with
  `defined()`, `#include` (ignored: kernel types come from BTF, as bpftrace prefers);
- declarations: struct/union definitions (nested and anonymous members, arrays, pointers,
  function pointers, bitfields, `__attribute__((packed))`), enums with constant
  expressions, typedefs, forward declarations.

The result (`CDecls`) is layout-free: `TypeDB` turns it into sized Types, because member
types may name kernel (BTF) types whose sizes only the runtime knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field

from ..diagnostics import CompileError, HeaderNotFound, Span
from ..records import record

_TOKEN_PATTERN = (
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
      | (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)[uUlL]*
      | (?P<id>[A-Za-z_]\w*)
      | (?P<str>"(?:[^"\\\n]|\\.)*")
      | (?P<op><<|>>|<=|>=|==|!=|&&|\|\||\.\.\.|[-+*/%&|^~!<>?:;,.()\[\]{}=#])"""
)   # compiled on first use (re caches it): scripts without C definitions never tokenize

QUALIFIERS = frozenset({"const", "volatile", "restrict", "__restrict", "static", "extern", "register",
                        "inline", "__inline", "__inline__", "__extension__", "_Atomic", "__user",
                        "__kernel", "__iomem", "__rcu", "__percpu", "__force", "__must_check"})
BASE_WORDS = frozenset({"unsigned", "signed", "char", "short", "int", "long", "void", "_Bool", "bool",
                        "float", "double"})


@record
class Tok:
    kind: str   # num, id, str, op
    text: str
    pos: int    # offset in the preamble text


@record
class CType:
    """A type as written: a base spelling plus declarator parts."""
    base: str                       # "struct foo", "int", "unsigned long", a typedef name
    pointer: int = 0
    dims: tuple[int, ...] = ()
    funcptr: bool = False


@record
class CField:
    name: str                       # "" for an anonymous struct/union member
    ctype: CType
    bits: int | None = None
    pos: int = 0


@record
class CRecord:
    kind: str                       # struct | union
    name: str                       # full key: "struct foo" (anonymous: "struct <anon#3>")
    fields: list[CField] | None     # None: only declared forward
    packed: bool = False
    pos: int = 0


@record
class CDecls:
    records: dict[str, CRecord] = field(default_factory=dict)
    enums: dict[str, list[tuple[str, int]]] = field(default_factory=dict)   # "enum foo" -> values
    enum_sizes: dict[str, int] = field(default_factory=dict)
    typedefs: dict[str, CType] = field(default_factory=dict)
    constants: dict[str, tuple[int, str]] = field(default_factory=dict)   # enumerator -> (value, enum key)
    macros: dict[str, str] = field(default_factory=dict)                  # object-like #define bodies
    includes: list[str] = field(default_factory=list)
    spans: dict[str, Span] = field(default_factory=dict)                  # definition spans, by key

    def empty(self) -> bool:
        return not (self.records or self.enums or self.typedefs or self.macros)


class _Mapper:
    """Offsets in the joined preamble text → offsets in the program source."""

    def __init__(self, text: str, spans: list[Span]) -> None:
        self.starts: list[tuple[int, int]] = []
        pos = 0
        for sp in spans:
            self.starts.append((pos, sp.start))
            pos += (sp.end - sp.start) + 1
        self.text_len = len(text)

    def span(self, start: int, end: int) -> Span | None:
        best = None
        for joined, src in self.starts:
            if joined <= start:
                best = (joined, src)
        if best is None:
            return None
        return Span(best[1] + start - best[0], best[1] + end - best[0])


def parse_cdefs(text: str, spans: list[Span] | None = None, predefined: dict[str, str] | None = None,
                sizeof: Callable[[CType], int | None] | None = None) -> CDecls:
    """Preprocess and parse a preamble's C text. `spans` locate the joined chunks in the source."""
    mapper = _Mapper(text, spans or [])
    out = CDecls()
    macros: dict[str, str] = {"__bpf__": "1", "__x86_64__": "1", "__KERNEL__": "1",
                              **(predefined or {})}
    code = _preprocess(text, macros, out, mapper)
    out.macros = {k: v for k, v in macros.items() if k not in (predefined or {})}
    _DeclParser(code, out, mapper, macros, sizeof).parse()
    return out


# ------------------------------------------------------------------ preprocessor
def _preprocess(text: str, macros: dict[str, str], out: CDecls, mapper: _Mapper) -> str:
    """Blank out directive lines and inactive regions (keeping offsets), collecting #defines."""
    lines = text.split("\n")
    res: list[str] = []
    stack: list[tuple[bool, bool]] = []   # (this branch active, some branch already taken)
    active = True
    pos = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        start = pos
        full = line
        n_extra = 0
        while full.endswith("\\") and i + 1 + n_extra < len(lines):
            n_extra += 1
            full = full[:-1] + " " + lines[i + n_extra]
        stripped = full.strip()
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            word_m = re.match(r"[A-Za-z_]\w*", body)
            word = word_m.group(0) if word_m else ""
            rest = body[len(word):].strip()
            err_span = mapper.span(start, start + len(line))

            def cond(expr: str, sp: Span | None = err_span) -> bool:
                return _eval_pp(expr, macros, sp) != 0

            if word in ("ifdef", "ifndef"):
                name = rest.split()[0] if rest.split() else ""
                parent = active
                taken = (name in macros) == (word == "ifdef")
                stack.append((parent, taken))
                active = parent and taken
            elif word == "if":
                parent = active
                taken = cond(rest) if parent else False
                stack.append((parent, taken))
                active = parent and taken
            elif word == "elif":
                if not stack:
                    raise CompileError("#elif without #if", err_span)
                parent, taken = stack[-1]
                now = (not taken) and parent and cond(rest)
                stack[-1] = (parent, taken or now)
                active = now
            elif word == "else":
                if not stack:
                    raise CompileError("#else without #if", err_span)
                parent, taken = stack[-1]
                active = parent and not taken
                stack[-1] = (parent, True)
            elif word == "endif":
                if not stack:
                    raise CompileError("#endif without #if", err_span)
                parent, _taken = stack.pop()
                active = parent
            elif active and word == "define":
                m = re.match(r"([A-Za-z_]\w*)(\([^)]*\))?\s*(.*)", rest, re.DOTALL)
                if not m:
                    raise CompileError("macro name missing in #define", err_span)
                if m.group(2) is None:
                    macros[m.group(1)] = _strip_comment(m.group(3)).strip()
            elif active and word == "undef":
                macros.pop(rest.split()[0] if rest.split() else "", None)
            elif active and word == "include":
                out.includes.append(rest)
                from .header_consts import header_exists

                name = rest.strip()
                if name[:1] == "<" and name.endswith(">") and not header_exists(name[1:-1]):
                    col = line.index(name[0])
                    raise HeaderNotFound(name[1:-1], mapper.span(start + col, start + col + len(name)))
            elif active and word in ("pragma", "error", "warning", "line", ""):
                if word == "error":
                    raise CompileError(f"#error {rest}", err_span)
            elif active:
                raise CompileError(f"invalid preprocessing directive #{word}", err_span)
            for k in range(n_extra + 1):
                res.append(" " * len(lines[i + k]))
            pos += sum(len(lines[i + k]) + 1 for k in range(n_extra + 1))
            i += n_extra + 1
            continue
        res.append(line if active else " " * len(line))
        pos += len(line) + 1
        i += 1
    if stack:
        raise CompileError("unterminated #if/#ifdef in the preamble", mapper.span(0, 1))
    return "\n".join(res)


def _strip_comment(s: str) -> str:
    s = re.sub(r"/\*.*?\*/", " ", s, flags=re.DOTALL)
    i = s.find("//")
    return s if i < 0 else s[:i]


def tokenize(text: str, mapper: _Mapper | None = None) -> list[Tok]:
    toks: list[Tok] = []
    if not text or text.isspace():
        return toks
    match = re.compile(_TOKEN_PATTERN, re.VERBOSE | re.DOTALL).match
    pos = 0
    n = len(text)
    while pos < n:
        m = match(text, pos)
        if m is None:
            sp = mapper.span(pos, pos + 1) if mapper else None
            raise CompileError(f"unexpected character {text[pos]!r} in C definition", sp)
        kind = m.lastgroup or ""
        if kind != "ws":
            if kind == "num":
                toks.append(Tok("num", m.group("num"), pos))
            else:
                toks.append(Tok(kind, m.group(kind), pos))
        pos = m.end()
    return toks


def c_int(text: str) -> int:
    t = text.rstrip("uUlL")
    if t[:2] in ("0x", "0X"):
        return int(t[2:], 16)
    if t[:2] in ("0b", "0B"):
        return int(t[2:], 2)
    if len(t) > 1 and t[0] == "0":
        return int(t[1:], 8)
    return int(t)


def _eval_pp(expr: str, macros: dict[str, str], span: Span | None) -> int:
    """#if expression: integers, defined(X), macros, C operators; unknown names are 0."""
    expr = re.sub(r"defined\s*\(\s*([A-Za-z_]\w*)\s*\)|defined\s+([A-Za-z_]\w*)",
                  lambda m: "1" if (m.group(1) or m.group(2)) in macros else "0", _strip_comment(expr))
    try:
        toks = tokenize(expr)
    except CompileError:
        raise CompileError(f"invalid #if expression: {expr}", span) from None
    return ConstExpr(toks, lambda name: _macro_value(name, macros, 0), span).value()


def _macro_value(name: str, macros: dict[str, str], depth: int) -> int:
    body = macros.get(name)
    if body is None or depth > 16:
        return 0
    try:
        toks = tokenize(body)
        return ConstExpr(toks, lambda n: _macro_value(n, macros, depth + 1), None).value()
    except CompileError:
        return 0


class ConstExpr:
    """Integer constant expressions (C precedence) over tokens; names resolved by `lookup`."""

    _PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7,
             ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}

    def __init__(self, toks: list[Tok], lookup: Callable[[str], int | None], span: Span | None,
                 sizeof: Callable[[list[Tok]], int | None] | None = None) -> None:
        self.toks = toks
        self.i = 0
        self.lookup = lookup
        self.span = span
        self.sizeof = sizeof

    def fail(self, msg: str) -> CompileError:
        return CompileError(msg, self.span)

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def value(self) -> int:
        v = self.ternary()
        if self.i != len(self.toks):
            raise self.fail(f"unexpected '{self.toks[self.i].text}' in constant expression")
        return v

    def ternary(self) -> int:
        c = self.binary(1)
        t = self.peek()
        if t is not None and t.text == "?":
            self.i += 1
            a = self.ternary()
            t2 = self.peek()
            if t2 is None or t2.text != ":":
                raise self.fail("expected ':' in constant expression")
            self.i += 1
            b = self.ternary()
            return a if c else b
        return c

    def binary(self, min_prec: int) -> int:
        left = self.unary()
        while True:
            t = self.peek()
            if t is None or t.kind != "op" or t.text not in self._PREC or self._PREC[t.text] < min_prec:
                return left
            op = t.text
            self.i += 1
            right = self.binary(self._PREC[op] + 1)
            left = self.apply(op, left, right)

    def apply(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            raise self.fail("division by zero in constant expression")
        return {
            "||": lambda: int(bool(a) or bool(b)), "&&": lambda: int(bool(a) and bool(b)),
            "|": lambda: a | b, "^": lambda: a ^ b, "&": lambda: a & b, "==": lambda: int(a == b),
            "!=": lambda: int(a != b), "<": lambda: int(a < b), "<=": lambda: int(a <= b),
            ">": lambda: int(a > b), ">=": lambda: int(a >= b), "<<": lambda: a << min(b, 64),
            ">>": lambda: a >> min(b, 64), "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "/": lambda: int(a / b), "%": lambda: a - int(a / b) * b,
        }[op]()

    def unary(self) -> int:
        t = self.peek()
        if t is None:
            raise self.fail("constant expression expected")
        if t.kind == "op" and t.text in ("-", "+", "~", "!"):
            self.i += 1
            v = self.unary()
            return {"-": -v, "+": v, "~": ~v, "!": int(not v)}[t.text]
        if t.kind == "op" and t.text == "(":
            # a cast `(type)x` is skipped; a parenthesized expression is evaluated
            j = self.i + 1
            while j < len(self.toks) and self.toks[j].kind == "id" and (
                    self.toks[j].text in BASE_WORDS or self.toks[j].text in QUALIFIERS):
                j += 1
            if j > self.i + 1 and j < len(self.toks) and self.toks[j].text == ")":
                self.i = j + 1
                return self.unary()
            self.i += 1
            v = self.ternary()
            t2 = self.peek()
            if t2 is None or t2.text != ")":
                raise self.fail("expected ')' in constant expression")
            self.i += 1
            return v
        if t.kind == "num":
            self.i += 1
            return c_int(t.text)
        if t.kind == "id":
            if t.text == "sizeof" and self.sizeof is not None:
                self.i += 1
                start = self.i
                depth = 0
                while self.i < len(self.toks):
                    x = self.toks[self.i].text
                    depth += x == "("
                    depth -= x == ")"
                    self.i += 1
                    if depth == 0:
                        break
                size = self.sizeof(self.toks[start + 1:self.i - 1])
                if size is None:
                    raise self.fail("cannot evaluate sizeof in constant expression")
                return size
            self.i += 1
            found = self.lookup(t.text)
            if found is None:
                raise self.fail(f"use of undeclared identifier '{t.text}'")
            return found
        raise self.fail(f"unexpected '{t.text}' in constant expression")


# ------------------------------------------------------------------ declarations
class _DeclParser:
    def __init__(self, code: str, out: CDecls, mapper: _Mapper, macros: dict[str, str],
                 sizeof: Callable[[CType], int | None] | None) -> None:
        self.toks = tokenize(code, mapper)
        self.i = 0
        self.out = out
        self.mapper = mapper
        self.macros = macros
        self.anon = 0
        self.sizeof_cb = sizeof

    # -- tokens
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, text: str) -> bool:
        t = self.peek()
        return t is not None and t.text == text and t.kind in ("op", "id")

    def span_of(self, t: Tok | None) -> Span | None:
        if t is None:
            if self.toks:
                last = self.toks[-1]
                return self.mapper.span(last.pos + len(last.text), last.pos + len(last.text) + 1)
            return None
        return self.mapper.span(t.pos, t.pos + len(t.text))

    def fail(self, msg: str, t: Tok | None = None) -> CompileError:
        return CompileError(msg, self.span_of(t if t is not None else self.peek()))

    def expect(self, text: str) -> Tok:
        t = self.peek()
        if t is None or t.text != text:
            got = f"'{t.text}'" if t is not None else "end of input"
            raise self.fail(f"C definition: expected '{text}', got {got}", t)
        self.i += 1
        return t

    def ident(self) -> Tok:
        t = self.peek()
        if t is None or t.kind != "id":
            got = f"'{t.text}'" if t is not None else "end of input"
            raise self.fail(f"C definition: expected an identifier, got {got}", t)
        self.i += 1
        return t

    # -- top level
    def parse(self) -> None:
        while self.peek() is not None:
            if self.at(";"):
                self.i += 1
                continue
            self.declaration(top=True)

    def skip_attributes(self) -> bool:
        packed = False
        while self.at("__attribute__") or self.at("__attribute") or self.at("__aligned") \
                or self.at("__packed") or self.at("__randomize_layout"):
            t = self.ident()
            if t.text in ("__packed",):
                packed = True
                continue
            if t.text == "__randomize_layout":
                continue
            start = self.i
            self.balanced()
            if any(x.text == "packed" or x.text == "__packed__" for x in self.toks[start:self.i]):
                packed = True
        return packed

    def balanced(self) -> None:
        self.expect("(")
        depth = 1
        while depth:
            t = self.peek()
            if t is None:
                raise self.fail("C definition: unbalanced parentheses")
            depth += t.text == "("
            depth -= t.text == ")"
            self.i += 1

    def declaration(self, top: bool) -> None:
        first = self.peek()
        is_typedef = False
        while self.peek() is not None and self.peek().text in QUALIFIERS | {"typedef"}:  # type: ignore[union-attr]
            if self.ident().text == "typedef":
                is_typedef = True
        start = self.i
        base = self.type_spec()
        self.skip_attributes()
        if self.at(";") or self.peek() is None:
            if self.peek() is not None:
                self.i += 1
            return
        if top and not is_typedef and any(t.text == "{" for t in self.toks[start:self.i]):
            return  # `struct X { ... }` without `;`: bpftrace allows it, the next definition follows
        while True:
            name, ctype = self.declarator(base)
            self.skip_attributes()
            if is_typedef:
                if not name:
                    raise self.fail("C definition: typedef needs a name", first)
                self.out.typedefs[name] = ctype
            elif top:
                # `struct X {...} var;` declares a variable: bpftrace has no C globals
                pass
            if self.at(","):
                self.i += 1
                continue
            break
        if self.peek() is not None:
            self.expect(";")

    def type_spec(self) -> CType:
        t = self.peek()
        if t is None:
            raise self.fail("C definition: type expected")
        if t.text in ("struct", "union"):
            return CType(self.record())
        if t.text == "enum":
            return CType(self.enum())
        words: list[str] = []
        while True:
            t = self.peek()
            if t is None or t.kind != "id":
                break
            if t.text in QUALIFIERS:
                self.i += 1
                continue
            if t.text in BASE_WORDS:
                words.append(t.text)
                self.i += 1
                continue
            if not words and t.text not in ("__attribute__",):
                words.append(t.text)     # a typedef name
                self.i += 1
                # trailing qualifiers
                while self.peek() is not None and self.peek().text in QUALIFIERS:  # type: ignore[union-attr]
                    self.i += 1
            break
        if not words:
            raise self.fail("C definition: type expected", t)
        return CType(_canon_base(words))

    def record(self) -> str:
        kw = self.ident()
        kind = kw.text
        packed = self.skip_attributes()
        name_tok = self.peek()
        tag = ""
        if name_tok is not None and name_tok.kind == "id" and name_tok.text not in QUALIFIERS:
            tag = name_tok.text
            self.i += 1
        packed = self.skip_attributes() or packed
        if not self.at("{"):
            if not tag:
                raise self.fail(f"C definition: {kind} needs a name or a body", self.peek())
            key = f"{kind} {tag}"
            if key not in self.out.records:
                self.out.records[key] = CRecord(kind, key, None, pos=kw.pos)
            return key
        if tag:
            key = f"{kind} {tag}"
        else:
            self.anon += 1
            key = f"{kind} <anon#{self.anon}>"
        self.i += 1
        fields: list[CField] = []
        while not self.at("}"):
            if self.peek() is None:
                raise self.fail(f"C definition: unterminated {kind} {tag}".rstrip(), None)
            if self.at(";"):
                self.i += 1
                continue
            fields.extend(self.member_decl())
        end = self.expect("}")
        packed = self.skip_attributes() or packed
        if key in self.out.records and self.out.records[key].fields is not None:
            raise CompileError(f"redefinition of '{key}'", self.span_of(kw))
        self.out.records[key] = CRecord(kind, key, fields, packed, kw.pos)
        sp_start = self.mapper.span(kw.pos, end.pos + 1)
        if sp_start is not None:
            self.out.spans[key] = sp_start
        return key

    def member_decl(self) -> list[CField]:
        while self.peek() is not None and self.peek().text in QUALIFIERS:  # type: ignore[union-attr]
            self.i += 1
        start_tok = self.peek()
        base = self.type_spec()
        self.skip_attributes()
        out: list[CField] = []
        if self.at(";"):  # anonymous struct/union member (or a useless declaration)
            self.i += 1
            if base.base.startswith(("struct <anon", "union <anon")):
                out.append(CField("", base, pos=start_tok.pos if start_tok else 0))
            return out
        while True:
            t = self.peek()
            if self.at(":"):
                name, ctype = "", base
            else:
                name, ctype = self.declarator(base)
            bits = None
            if self.at(":"):
                self.i += 1
                bits = self.const_expr_until((",", ";"))
                if bits < 0 or bits > 64:
                    raise self.fail(f"invalid bit-field width {bits}", t)
            self.skip_attributes()
            out.append(CField(name, ctype, bits, pos=t.pos if t else 0))
            if self.at(","):
                self.i += 1
                continue
            break
        if not self.at("}"):  # clang only warns of a missing ';' before the closing brace
            self.expect(";")
        return out

    def declarator(self, base: CType) -> tuple[str, CType]:
        ptr = 0
        while self.at("*") or (self.peek() is not None and self.peek().text in QUALIFIERS):  # type: ignore[union-attr]
            if self.at("*"):
                ptr += 1
            self.i += 1
        if self.at("("):  # function pointer `(*name)(args)` or a parenthesized declarator
            self.i += 1
            inner_ptr = 0
            while self.at("*"):
                inner_ptr += 1
                self.i += 1
            name = ""
            t = self.peek()
            if t is not None and t.kind == "id":
                name = self.ident().text
            dims = self.dims()
            self.expect(")")
            if self.at("("):
                self.balanced()
                return name, CType(base.base, max(1, inner_ptr), dims, funcptr=True)
            return name, CType(base.base, base.pointer + ptr + inner_ptr, dims + base.dims)
        name = ""
        t = self.peek()
        if t is not None and t.kind == "id" and t.text not in ("__attribute__",):
            name = self.ident().text
        dims = self.dims()
        if self.at("("):  # a function declaration: not a type, skip it
            self.balanced()
            return name, CType(base.base, base.pointer + ptr, dims, funcptr=True)
        return name, CType(base.base, base.pointer + ptr, dims + base.dims)

    def dims(self) -> tuple[int, ...]:
        out: list[int] = []
        while self.at("["):
            self.i += 1
            if self.at("]"):
                out.append(0)
            else:
                out.append(self.const_expr_until(("]",)))
            self.expect("]")
        return tuple(out)

    def const_expr_until(self, stops: tuple[str, ...]) -> int:
        start = self.i
        depth = 0
        while self.peek() is not None:
            x = self.peek().text  # type: ignore[union-attr]
            if depth == 0 and x in stops:
                break
            if x in ("(", "["):
                depth += 1
            elif x in (")", "]"):
                if depth == 0:
                    break
                depth -= 1
            self.i += 1
        toks = self.toks[start:self.i]
        if not toks:
            raise self.fail("C definition: constant expected")
        span = self.mapper.span(toks[0].pos, toks[-1].pos + len(toks[-1].text))
        return ConstExpr(toks, self.lookup_const, span, self.sizeof_toks).value()

    def lookup_const(self, name: str) -> int | None:
        c = self.out.constants.get(name)
        if c is not None:
            return c[0]
        if name in self.macros:
            try:
                toks = tokenize(self.macros[name])
                return ConstExpr(toks, self.lookup_const, None, self.sizeof_toks).value()
            except CompileError:
                return None
        return None

    def sizeof_toks(self, toks: list[Tok]) -> int | None:
        if self.sizeof_cb is None:
            return None
        sub = _DeclParser.__new__(_DeclParser)
        sub.toks, sub.i, sub.out, sub.mapper, sub.macros, sub.anon = toks, 0, self.out, self.mapper, self.macros, 0
        sub.sizeof_cb = self.sizeof_cb
        try:
            base = sub.type_spec()
            _name, ct = sub.declarator(base)
        except CompileError:
            return None
        return self.sizeof_cb(ct)

    def enum(self) -> str:
        self.ident()
        self.skip_attributes()
        tag = ""
        t = self.peek()
        if t is not None and t.kind == "id":
            tag = self.ident().text
        if self.at(":"):  # C23 fixed underlying type
            self.i += 1
            self.type_spec()
        if not self.at("{"):
            if not tag:
                raise self.fail("C definition: enum needs a name or a body", self.peek())
            return f"enum {tag}"
        if tag:
            key = f"enum {tag}"
        else:
            self.anon += 1
            key = f"enum <anon#{self.anon}>"
        self.i += 1
        values: list[tuple[str, int]] = []
        nxt = 0
        while not self.at("}"):
            name = self.ident()
            if self.at("="):
                self.i += 1
                nxt = self.const_expr_until((",", "}"))
            if name.text in self.out.constants:
                raise CompileError(f"redefinition of enumerator '{name.text}'", self.span_of(name))
            values.append((name.text, nxt))
            self.out.constants[name.text] = (nxt, key)
            nxt += 1
            if not self.at(","):
                break
            self.i += 1
        self.expect("}")
        self.skip_attributes()
        self.out.enums[key] = values
        lo = min((v for _, v in values), default=0)
        hi = max((v for _, v in values), default=0)
        self.out.enum_sizes[key] = 4 if -(1 << 31) <= lo and hi < (1 << 32) else 8
        return key


def _canon_base(words: list[str]) -> str:
    """`unsigned long int` → `unsigned long`; `long unsigned` → `unsigned long`; `signed` → `int`."""
    if len(words) == 1 and words[0] not in BASE_WORDS:
        return words[0]
    ws = list(words)
    unsigned = "unsigned" in ws
    signed = "signed" in ws
    ws = [w for w in ws if w not in ("unsigned", "signed")]
    longs = ws.count("long")
    if "char" in ws:
        core = "char"
    elif "short" in ws:
        core = "short"
    elif longs >= 2:
        core = "long long"
    elif longs == 1:
        core = "long"
    elif "_Bool" in ws or "bool" in ws:
        return "bool"
    elif "void" in ws:
        return "void"
    elif "float" in ws or "double" in ws:
        return "double" if "double" in ws else "float"
    else:
        core = "int"
    if unsigned:
        return "unsigned " + core
    if signed and core == "char":
        return "signed char"
    return core
