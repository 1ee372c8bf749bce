"""Tokenizer for the bpftrace language.

One compiled regular expression with named groups does all the work, because
lexing speed bounds how fast large generated scripts (hundreds of probes)
compile. Tokens are produced on demand from any offset: the parser switches to
raw-text scanning for attach points and C definitions, whose lexical rules
differ from those of expressions, and then resumes tokenizing where it left off.
"""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import CompileError
from .ast import Span

KEYWORDS = frozenset(
    {
        "if", "else", "while", "for", "unroll", "let", "return", "break", "continue",
        "sizeof", "offsetof", "true", "false",
    }
)

# Suffixes folded into integer literals: C integer suffixes (ignored) and durations (-> ns).
_INT_SUFFIXES = frozenset({"u", "l", "ul", "lu", "ll", "ull", "llu"})
DURATIONS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
}
U64_MAX = (1 << 64) - 1

_TRIVIA = r"(?:[ \t\r\n\f\v]+|//[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)*"
# Leading trivia is part of every match so that one `match` call yields one token.
_TOKEN_RE = re.compile(
    _TRIVIA
    + r"""(?:
    (?P<op><<=|>>=|\.\.|->|\+\+|--|&&|\|\||==|!=|<=|>=|<<|>>|[-+*%&|^]=|[-+*%&|^!~<>=?:;,.(){}\[\]])
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*(?:[eE][0-9]+)?)(?P<sfx>[A-Za-z_][A-Za-z0-9_]*)?
  | (?P<var>\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|\#))
  | (?P<map>@[A-Za-z_][A-Za-z0-9_]*|@)
  | (?P<str>")
  | (?P<bc>/\*)
  | (?P<endpred>/(?=(?:[ \t\r\n]|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)*(?:[{]|//|$)))
  | (?P<other>/=?|\$)
    )""",
    re.VERBOSE,
)
SKIP_RE = re.compile(_TRIVIA)
_STRING_RE = re.compile(r'"((?:[^"\\\n]|\\.)*)"', re.DOTALL)
_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"', "'": b"'",
                   "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v", "e": b"\x1b", "?": b"?"}

# Human names bison gives token kinds in "syntax error, unexpected X" messages.
KIND_NAMES = {
    "int": "integer",
    "str": "string",
    "ident": "identifier",
    "builtin": "builtin",
    "var": "variable",
    "param": "positional parameter",
    "paramcount": "positional parameter count",
    "map": "map",
    "endpred": "end predicate",
    "eof": "end of file",
}


class Token:
    """One token: `kind` is a class ('int', 'ident', ...) or the operator/keyword text itself."""

    __slots__ = ("kind", "text", "start", "end", "value")

    def __init__(self, kind: str, text: str, start: int, end: int, value: Any = None) -> None:
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end
        self.value = value

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)

    def describe(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.start}, {self.end})"


def skip_trivia(text: str, pos: int) -> int:
    """Offset of the first character at or after `pos` that is not whitespace or a comment."""
    end = SKIP_RE.match(text, pos).end()  # type: ignore[union-attr]
    if text.startswith("/*", end):
        raise CompileError("end of file during comment", Span(end, len(text)))
    return end


def decode_string(body: str, start: int) -> str:
    """Resolve C escapes in a string literal body.

    Escapes denote bytes, so the result is the literal's bytes decoded as UTF-8 with
    `surrogateescape`: `value.encode('utf-8', 'surrogateescape')` gives back the exact bytes.
    """
    if "\\" not in body:
        return body
    out = bytearray()
    last = 0
    for m in _ESCAPE_RE.finditer(body):
        out += body[last:m.start()].encode("utf-8", "surrogateescape")
        esc = m.group(1)
        if esc[0] == "x":
            out.append(int(esc[1:], 16))
        elif esc[0] in "01234567":
            val = int(esc, 8)
            if val > 255:
                raise CompileError(f"invalid escape character '\\{esc}'",
                                   Span(start, start + 1 + m.end()))
            out.append(val)
        elif esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc]
        else:
            raise CompileError(f"invalid escape character '\\{esc}'", Span(start, start + 1 + m.end()))
        last = m.end()
    out += body[last:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def _parse_int(digits: str, span: Span) -> int:
    d = digits.replace("_", "")
    try:
        if d[:2] in ("0x", "0X"):
            return int(d[2:], 16)
        if d[:2] in ("0b", "0B"):
            return int(d[2:], 2)
        if "e" in d or "E" in d:   # bpftrace's integer scientific notation: one digit, exponent <= 16
            mant, _, exp = d.lower().partition("e")
            if int(mant) > 9:
                raise CompileError(f"Coefficient part of scientific literal must be in range (0,9), got: {mant}",
                                   span)
            if int(exp) > 16:
                raise CompileError(f"Exponent will overflow integer range: {exp}", span)
            return int(mant) * 10 ** int(exp)
        if len(d) > 1 and d[0] == "0":
            return int(d[1:], 8)
        return int(d)
    except ValueError:
        raise CompileError(f"invalid integer literal: {digits}", span) from None


def lex(text: str, pos: int) -> Token:
    """The next token at or after `pos` (whitespace and comments skipped)."""
    m = _TOKEN_RE.match(text, pos)
    if m is None:
        n = len(text)
        pos = skip_trivia(text, pos)
        if pos >= n:
            return Token("eof", "", n, n)
        raise CompileError(f"invalid character '{text[pos]}'", Span(pos, pos + 1))
    group = m.lastgroup
    if group == "op" or group == "other":
        op = m.group(group)
        return Token(op, op, m.start(group), m.end())
    if group == "id":
        word = m.group("id")
        return Token(word if word in KEYWORDS else "ident", word, m.start(group), m.end())
    if group == "num" or group == "sfx":
        return _lex_number(m)
    start = m.start(group)  # type: ignore[arg-type]
    end = m.end()
    if group == "var":
        word = m.group("var")
        if word == "$#":
            return Token("paramcount", word, start, end)
        if word[1].isdigit():
            return Token("param", word, start, end, int(word[1:]))
        return Token("var", word, start, end)
    if group == "map":
        return Token("map", m.group("map"), start, end)
    if group == "str":
        sm = _STRING_RE.match(text, start)
        if sm is None:
            eol = text.find("\n", start)
            raise CompileError("unterminated string", Span(start, len(text) if eol < 0 else eol))
        return Token("str", sm.group(0), start, sm.end(), decode_string(sm.group(1), start))
    if group == "bc":
        raise CompileError("end of file during comment", Span(start, len(text)))
    return Token("endpred", "/", start, end)


def lex_run(text: str, pos: int, limit: int = 512) -> list[Token]:
    """Up to `limit` tokens from `pos`, ending with 'eof' or, on a lexical error, an 'error'
    token carrying the CompileError: lookahead may run past what the parser will ever need
    (into raw attach-point text), so errors only count once the parser reaches them."""
    out: list[Token] = []
    append = out.append
    match = _TOKEN_RE.match
    keywords = KEYWORDS
    for _ in range(limit):
        m = match(text, pos)
        if m is not None:
            group = m.lastgroup
            if group == "op" or group == "other":
                op = m.group(group)
                pos = m.end()
                append(Token(op, op, m.start(group), pos))
                continue
            if group == "id":
                word = m.group("id")
                pos = m.end()
                append(Token(word if word in keywords else "ident", word, m.start(group), pos))
                continue
        try:
            tok = lex(text, pos)
        except CompileError as err:
            span = err.span or Span(pos, pos)
            append(Token("error", "", span.start, span.end, err))
            break
        append(tok)
        pos = tok.end
        if tok.kind == "eof":
            break
    return out


def _lex_number(m: re.Match[str]) -> Token:
    pos = m.start("num")
    digits = m.group("num")
    sfx = m.group("sfx")
    end = m.end("num")
    value = _parse_int(digits, Span(pos, end))
    if sfx is not None:
        low = sfx.lower()
        if sfx in DURATIONS:
            value *= DURATIONS[sfx]
            end = m.end()
        elif low in _INT_SUFFIXES:
            end = m.end()
        # any other suffix is left for the next token (bison then reports it)
    if value > U64_MAX:
        raise CompileError(f"integer literal out of range: {m.string[pos:end]}", Span(pos, end))
    return Token("int", m.string[pos:end], pos, end, value)
