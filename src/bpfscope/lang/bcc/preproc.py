"""The C preprocessor on tokens: #define (object- and function-like, `#` and `##`), #undef,
#if/#ifdef/#ifndef/#elif/#else/#endif, #include as a no-op (types come from BTF).

Expanded tokens carry the span of the macro's use, so errors point at the user's text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..diagnostics import CompileError, Span
from . import ast as A
from .compat import SOCK_SHORTHANDS, predefined
from .lexer import ALIGNED, PACKED, Tok, lex
from .packet import CURSOR_ADVANCE, PROTO_H


@dataclass
class Macro:
    name: str
    params: list[str] | None     # None: object-like
    body: list[Tok]
    variadic: bool = False


def _builtin_macros() -> dict[str, Macro]:
    out: dict[str, Macro] = {}
    for head, body in predefined().items():
        name, _, rest = head.partition("(")
        params = [p.strip() for p in rest.rstrip(")").split(",")] if rest else None
        out[name] = Macro(name, params, lex(body))
    return out


class Preprocessor:
    def __init__(self, defines: dict[str, str] | None = None) -> None:
        self.macros = _builtin_macros()
        for k, v in (defines or {}).items():
            self.macros[k] = Macro(k, None, lex(v))

    def run(self, toks: list[Tok]) -> list[Tok]:
        if any(toks[k].text == "struct" and toks[k + 1].text == "sock" and toks[k + 2].text == "{"
               for k in range(len(toks) - 2)):
            for name in SOCK_SHORTHANDS:
                self.macros.pop(name, None)
        out: list[Tok] = []
        stack: list[tuple[bool, bool, Tok]] = []   # (this branch active, some branch taken, #if token)
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.bol and t.text == "#" and t.kind == "op":
                j = i + 1
                while j < len(toks) and not toks[j].bol:
                    j += 1
                line = toks[i + 1:j]
                if (all(s[0] for s in stack) and line and line[0].text == "include"
                        and "".join(x.text for x in line[1:]) == "<bcc/proto.h>"):
                    # BCC's packet headers: their text, every token placed at this #include
                    params, body = CURSOR_ADVANCE
                    self.macros["cursor_advance"] = Macro("cursor_advance", list(params), lex(body))
                    out.extend(self.run([Tok(x.kind, x.text, t.start, line[-1].end, x.bol)
                                         for x in lex(PROTO_H)]))
                self._directive(t, line, stack)
                i = j
                continue
            j = i
            while j < len(toks) and not (toks[j].bol and toks[j].text == "#"):
                j += 1
            if all(s[0] for s in stack):
                out.extend(self.expand(toks[i:j]))
            i = j
        if stack:
            raise CompileError("unterminated #if", stack[-1][2].span)
        return out

    # ------------------------------------------------------------------ directives
    def _directive(self, hash_tok: Tok, line: list[Tok], stack: list[tuple[bool, bool, Tok]]) -> None:
        if not line:
            return
        d = line[0].text
        active = all(s[0] for s in stack)
        if d in ("ifdef", "ifndef", "if"):
            if not active:
                stack.append((False, True, hash_tok))
                return
            cond = self._cond(d, line)
            stack.append((cond, cond, hash_tok))
        elif d in ("elif", "else"):
            if not stack:
                raise CompileError(f"#{d} without #if", line[0].span)
            _, taken, tok = stack.pop()
            outer = all(s[0] for s in stack)
            cond = outer and not taken and (d == "else" or self._cond("if", line))
            stack.append((cond, taken or cond, tok))
        elif d == "endif":
            if not stack:
                raise CompileError("#endif without #if", line[0].span)
            stack.pop()
        elif not active:
            return
        elif d == "define":
            self._define(line)
        elif d == "undef":
            if len(line) > 1:
                self.macros.pop(line[1].text, None)
        elif d in ("include", "pragma", "line"):
            return   # kernel headers: their types come from BTF, their macros from compat
        elif d == "error":
            raise CompileError("#error " + " ".join(t.text for t in line[1:]), hash_tok.span)
        else:
            raise CompileError(f"unsupported preprocessor directive #{d}", line[0].span)

    def _define(self, line: list[Tok]) -> None:
        if len(line) < 2 or line[1].kind != "id":
            raise CompileError("macro name missing", line[0].span)
        name = line[1]
        rest = line[2:]
        params: list[str] | None = None
        variadic = False
        if rest and rest[0].text == "(" and rest[0].start == name.end:
            params = []
            k = 1
            while k < len(rest) and rest[k].text != ")":
                if rest[k].text == "...":
                    variadic = True
                    params.append("__VA_ARGS__")
                elif rest[k].kind == "id":
                    params.append(rest[k].text)
                k += 1
            if k >= len(rest):
                raise CompileError("missing ')' in macro parameter list", name.span)
            rest = rest[k + 1:]
        self.macros[name.text] = Macro(name.text, params, rest, variadic)

    def _cond(self, d: str, line: list[Tok]) -> bool:
        if d in ("ifdef", "ifndef"):
            if len(line) < 2:
                raise CompileError(f"#{d} needs a macro name", line[0].span)
            return (line[1].text in self.macros) == (d == "ifdef")
        toks: list[Tok] = []
        k = 1
        while k < len(line):   # `defined X` / `defined(X)` before expansion
            t = line[k]
            if t.text == "defined":
                paren = k + 1 < len(line) and line[k + 1].text == "("
                nt = line[k + 2] if paren else line[k + 1] if k + 1 < len(line) else t
                toks.append(Tok("num", "1" if nt.text in self.macros else "0", t.start, t.end))
                k += 4 if paren else 2
                continue
            toks.append(t)
            k += 1
        return _eval_if(self.expand(toks), line[0])

    # ------------------------------------------------------------------ expansion
    def expand(self, toks: list[Tok], hide: frozenset[str] = frozenset()) -> list[Tok]:
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            m = self.macros.get(t.text) if t.kind == "id" and t.text not in hide else None
            if m is None:
                out.append(t)
                i += 1
                continue
            if m.params is None:
                body = [Tok(b.kind, b.text, t.start, t.end) for b in m.body]
                out.extend(self.expand(_paste(body), hide | {m.name}))
                i += 1
                continue
            if i + 1 >= len(toks) or toks[i + 1].text != "(":
                out.append(t)   # a function-like macro's name without a call
                i += 1
                continue
            args, end = _call_args(toks, i + 1)
            span = Span(t.start, toks[end].end)
            if m.name == "__attribute__":       # layout attributes kept as markers for the parser
                out.extend(_layout_attrs([a for arg in args for a in arg], span))
                i = end + 1
                continue
            if m.variadic and len(args) >= len(m.params):
                fixed = len(m.params) - 1
                va: list[Tok] = []
                for n, a in enumerate(args[fixed:]):
                    if n:
                        va.append(Tok("op", ",", span.start, span.end))
                    va.extend(a)
                args = args[:fixed] + [va]
            if args == [[]] and not m.params:
                args = []
            if len(args) != len(m.params) and not (m.variadic and len(args) == len(m.params) - 1):
                raise CompileError(f"macro {m.name} takes {len(m.params)} arguments, {len(args)} given", span)
            amap = {p: (args[n] if n < len(args) else []) for n, p in enumerate(m.params)}
            body = []
            k = 0
            while k < len(m.body):
                b = m.body[k]
                if b.text == "#" and k + 1 < len(m.body) and m.body[k + 1].text in amap:
                    s = " ".join(a.text for a in amap[m.body[k + 1].text])
                    body.append(Tok("str", '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"',
                                    span.start, span.end))
                    k += 2
                    continue
                if b.kind == "id" and b.text in amap:
                    pasting = (k > 0 and m.body[k - 1].text == "##") or (
                        k + 1 < len(m.body) and m.body[k + 1].text == "##")
                    arg = amap[b.text] if pasting else self.expand(amap[b.text], hide)
                    body.extend(Tok(a.kind, a.text, span.start, span.end) for a in arg)
                else:
                    body.append(Tok(b.kind, b.text, span.start, span.end))
                k += 1
            out.extend(self.expand(_paste(body), hide | {m.name}))
            i = end + 1
        return out




def _layout_attrs(toks: list[Tok], span: Span) -> list[Tok]:
    """`__attribute__((packed, aligned(8)))` → the markers PACKED and `ALIGNED ( 8 )`, which
    the parser takes after `struct`, a struct's `}` or a declarator; other attributes vanish."""
    out: list[Tok] = []
    for k, t in enumerate(toks):
        if t.text in ("packed", "__packed__"):
            out.append(Tok("id", PACKED, span.start, span.end))
        elif t.text in ("aligned", "__aligned__") and k + 2 < len(toks) and toks[k + 1].text == "(":
            depth, j = 0, k + 1
            arg: list[Tok] = []
            while j < len(toks):
                depth += {"(": 1, ")": -1}.get(toks[j].text, 0)
                if depth == 0:
                    break
                if j > k + 1:
                    arg.append(toks[j])
                j += 1
            out.extend([Tok("id", ALIGNED, span.start, span.end), Tok("op", "(", span.start, span.end),
                        *arg, Tok("op", ")", span.start, span.end)])
    return out


def _call_args(toks: list[Tok], lparen: int) -> tuple[list[list[Tok]], int]:
    """Arguments of a macro call starting at `(`: split at top-level commas; index of `)`."""
    depth = 0
    args: list[list[Tok]] = [[]]
    for k in range(lparen, len(toks)):
        t = toks[k]
        if t.text in "([{" and t.kind == "op":
            depth += 1
            if depth == 1:
                continue
        elif t.text in ")]}" and t.kind == "op":
            depth -= 1
            if depth == 0:
                return args, k
        elif t.text == "," and depth == 1:
            args.append([])
            continue
        args[-1].append(t)
    raise CompileError("unterminated macro call", toks[lparen].span)


def _paste(body: list[Tok]) -> list[Tok]:
    """`a ## b` → one token `ab`."""
    if not any(t.text == "##" for t in body):
        return body
    out: list[Tok] = []
    k = 0
    while k < len(body):
        t = body[k]
        if t.text == "##" and out and k + 1 < len(body):
            prev, nxt = out.pop(), body[k + 1]
            text = prev.text + nxt.text
            out.append(lex(text)[0] if text else prev)
            out[-1].start, out[-1].end = prev.start, nxt.end
            k += 2
            continue
        out.append(t)
        k += 1
    return out


def _eval_if(toks: list[Tok], where: Tok) -> bool:
    """An #if expression, parsed as a C expression; identifiers left after expansion are 0."""
    from .parser import Parser

    if not toks:
        raise CompileError("#if with no expression", where.span)
    p = Parser(toks, "")
    e = p.conditional()
    if p.peek() is not None:
        raise CompileError(f"unexpected '{p.peek().text}' in #if", p.peek().span)  # type: ignore[union-attr]
    return bool(_eval(e))


def _eval(e: Any) -> int:
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, A.Name):
        return 0
    if isinstance(e, A.Ternary):
        return _eval(e.a) if _eval(e.cond) else _eval(e.b)
    if isinstance(e, A.Unary) and e.op in ("-", "~", "!"):
        v = _eval(e.e)
        return -v if e.op == "-" else ~v if e.op == "~" else int(not v)
    if isinstance(e, A.Binary):
        if e.op == "&&":
            return int(bool(_eval(e.l)) and bool(_eval(e.r)))
        if e.op == "||":
            return int(bool(_eval(e.l)) or bool(_eval(e.r)))
        a, b = _eval(e.l), _eval(e.r)
        if e.op in ("/", "%") and b == 0:
            raise CompileError("division by zero in #if", e.span)
        ops = {"+": a + b, "-": a - b, "*": a * b, "<<": a << b if b >= 0 else 0, ">>": a >> b if b >= 0 else 0,
               "&": a & b, "|": a | b, "^": a ^ b, "==": int(a == b), "!=": int(a != b), "<": int(a < b),
               ">": int(a > b), "<=": int(a <= b), ">=": int(a >= b)}
        if e.op in ops:
            return ops[e.op]
        return int(a / b) if e.op == "/" else a - b * int(a / b)
    raise CompileError("unsupported expression in #if", e.span)
