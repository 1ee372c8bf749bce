"""C tokens with byte offsets, so every diagnostic points at the user's text (not at a
macro expansion), and `bol` marks tokens that start a line (preprocessor directives)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..diagnostics import CompileError, Span

# markers the preprocessor makes of __attribute__((packed)) / aligned(N) for the parser
PACKED, ALIGNED = "__bpfscope_packed", "__bpfscope_aligned"


@dataclass
class Tok:
    kind: str      # id, num, str, char, op, eol (end of a directive line only)
    text: str
    start: int
    end: int
    bol: bool = False

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


_OPS = sorted("""... <<= >>= -> ++ -- << >> <= >= == != && || += -= *= /= %= &= |= ^= ##
{ } ( ) [ ] ; , . + - * / % & | ^ ! ~ ? : = < > #""".split(), key=len, reverse=True)
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\f\v]+|\\\n)|(?P<nl>\n)|(?P<com>//[^\n]*|/\*.*?\*/)"
    r"|(?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)"
    r"|(?P<id>[A-Za-z_]\w*)"
    r"|(?P<str>\"(?:[^\"\\\n]|\\.)*\")|(?P<char>'(?:[^'\\\n]|\\.)+')"
    r"|(?P<op>" + "|".join(re.escape(o) for o in _OPS) + ")", re.S)


def lex(text: str) -> list[Tok]:
    """Tokens of `text`; newlines are dropped, recorded as `bol` on the next token."""
    out: list[Tok] = []
    pos, bol = 0, True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise CompileError(f"unexpected character {text[pos]!r}", Span(pos, pos + 1))
        kind = m.lastgroup or ""
        if kind == "nl":
            bol = True
        elif kind == "com":
            if "\n" in m.group():
                bol = True
        elif kind != "ws":
            out.append(Tok(kind, m.group(), m.start(), m.end(), bol))
            bol = False
        pos = m.end()
    return out


_ESC = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\", "'": "'", '"': '"', "r": "\r"}


def unescape(body: str) -> str:
    """The value of a C string/char literal body (simple escapes and \\xNN)."""
    return re.sub(r"\\(x[0-9a-fA-F]{1,2}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else _ESC.get(m.group(1), m.group(1)), body)


def int_value(text: str) -> int:
    return int(text.rstrip("uUlL"), 0) if not re.fullmatch(r"0\d+[uUlL]*", text) else int(text.rstrip("uUlL"), 8)
