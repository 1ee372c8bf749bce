"""Hand-written recursive-descent parser for the bpftrace 0.26 language.

Why hand-written: no parser generator at run time, precise spans on every node, and
bison-style messages ("syntax error, unexpected X, expecting Y") that point at the
offending token. Attach points and C definitions are scanned as raw text (their
lexical rules differ from expressions); everything else goes through `lexer.lex`.
Any bad input raises `CompileError` and nothing else.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, NoReturn

from ..diagnostics import CompileError
from . import ast
from .ast import Span
from .lexer import SKIP_RE, Token, decode_string, lex, lex_run, skip_trivia

PROVIDERS = {
    "begin": "begin", "BEGIN": "begin", "end": "end", "END": "end",
    "tracepoint": "tracepoint", "t": "tracepoint",
    "rawtracepoint": "rawtracepoint", "rt": "rawtracepoint",
    "kprobe": "kprobe", "k": "kprobe", "kretprobe": "kretprobe", "kr": "kretprobe",
    "uprobe": "uprobe", "u": "uprobe", "uretprobe": "uretprobe", "ur": "uretprobe",
    "usdt": "usdt", "U": "usdt",
    "profile": "profile", "p": "profile", "interval": "interval", "i": "interval",
    "software": "software", "s": "software", "hardware": "hardware", "h": "hardware",
    "fentry": "fentry", "f": "fentry", "kfunc": "fentry",
    "fexit": "fexit", "fr": "fexit", "kretfunc": "fexit",
    "iter": "iter", "it": "iter",
    "watchpoint": "watchpoint", "w": "watchpoint", "asyncwatchpoint": "asyncwatchpoint",
    "aw": "asyncwatchpoint",
    "self": "self", "test": "test", "bench": "bench",
}

BUILTINS = frozenset(
    {
        "pid", "tid", "uid", "gid", "nsecs", "elapsed", "numaid", "cpu", "ncpus", "comm",
        "kstack", "ustack", "args", "retval", "func", "probe", "curtask", "rand", "cgroup",
        "cpid", "username", "ppid", "pcomm", "jiffies", "usermode", "ctx", "probetype",
    }
)
BARE_CALLS = frozenset({"has_cpid"})
_BUILTIN_RE = re.compile(r"(?:s?arg[0-9]+|__builtin_\w+)\Z")

INT_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string",
     "void", "char", "int", "long", "short", "unsigned", "signed"}
)
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="})
# Binary operator precedence (higher binds tighter), C order.
_BINARY = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}
# Token kinds that can begin an operand (used to tell `(type)expr` casts from `(expr)`).
_OPERAND_START = frozenset(
    {"int", "str", "ident", "var", "param", "paramcount", "map", "(", "!", "~", "true", "false",
     "sizeof", "offsetof", "++", "--", "{"}
)
_DEFINE_INT_RE = re.compile(
    r"#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+(\(?-?(?:0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*\)?)[ \t]*(?://.*)?\Z"
)
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")
_WILDCARD_BRACE_RE = re.compile(r"\{[\w*?.,\-+/]*\}")
_AP_STOP = frozenset(" \t\r\n\f\v,;{}()")
_PATH_PROVIDERS = frozenset({"uprobe", "uretprobe", "u", "ur", "usdt", "U"})


def is_builtin(name: str) -> bool:
    return name in BUILTINS or _BUILTIN_RE.match(name) is not None


def parse(text: str, filename: str = "stdin", positional: list[str] | None = None) -> ast.Program:
    """Parse a whole bpftrace program; raises `CompileError` on any malformed input.

    With the positional parameters known, an attach point whose probe type itself holds one
    (`BEG$1`, `$1`) is expanded first, as 0.26 expands them before parsing attach points."""
    try:
        return _Parser(text, positional).program()
    except CompileError:
        raise
    except RecursionError:
        raise CompileError("program is nested too deeply", Span(0, len(text))) from None


class _Parser:
    def __init__(self, text: str, positional: list[str] | None = None) -> None:
        self.text = text
        self.positional = positional
        self.toks: list[Token] = []  # lookahead tokens, consumed up to index `i`
        self.i = 0
        self.pos = 0  # lexer position (end of the last buffered token)
        self.last_end = 0  # end of the last consumed token
        self.in_pred = False
        self.int_macros: dict[str, int] = {}

    # ------------------------------------------------------------------ tokens
    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        toks = self.toks
        while len(toks) <= j:
            if toks and toks[-1].kind in ("eof", "error"):
                j = len(toks) - 1
                break
            toks.extend(lex_run(self.text, toks[-1].end if toks else self.pos))
        tok = toks[j]
        if tok.kind == "error":
            raise tok.value
        return tok

    def next(self) -> Token:
        i = self.i
        tok = self.toks[i] if i < len(self.toks) else self.peek()
        self.i = i + 1
        self.last_end = tok.end
        return tok

    def at(self, kind: str) -> bool:
        i = self.i
        return (self.toks[i] if i < len(self.toks) else self.peek()).kind == kind

    def accept(self, kind: str) -> Token | None:
        i = self.i
        tok = self.toks[i] if i < len(self.toks) else self.peek()
        if tok.kind == kind:
            self.i = i + 1
            self.last_end = tok.end
            return tok
        return None

    def expect(self, kind: str, expecting: str | None = None) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            self.unexpected(tok, expecting or kind)
        return self.next()

    def unexpected(self, tok: Token, expecting: str | None = None) -> NoReturn:
        msg = f"syntax error, unexpected {tok.describe()}"
        if expecting:
            msg += f", expecting {expecting}"
        raise CompileError(msg, tok.span)

    def reset(self, pos: int) -> None:
        """Continue tokenizing (or raw scanning) from `pos`.

        Tokens already lexed past `pos` are reused when one starts exactly where lexing
        from `pos` would start, so a file is normally tokenized in a single pass.
        """
        self.last_end = pos
        toks = self.toks
        j = bisect.bisect_left(toks, pos, key=_tok_start)
        if j < len(toks) and toks[j].kind != "error" and (j == 0 or toks[j - 1].end <= pos):
            if skip_trivia_safe(self.text, pos) == toks[j].start:
                self.i = j
                return
        self.toks = []
        self.i = 0
        self.pos = pos

    # ---------------------------------------------------------------- top level
    def program(self) -> ast.Program:
        text = self.text
        prog = ast.Program(span=Span(0, len(text)))
        cdefs: list[str] = []
        pos = 0
        if text.startswith("#!"):
            eol = text.find("\n")
            pos = len(text) if eol < 0 else eol
        n = len(text)
        while True:
            pos = skip_trivia(text, pos)
            if pos >= n:
                break
            ch = text[pos]
            word_m = _IDENT_RE.match(text, pos)
            word = word_m.group(0) if word_m else ""
            if ch == "#":
                end = self.preproc_end(pos)
                line = text[pos:end]
                cdefs.append(line)
                prog.c_spans.append(Span(pos, end))
                dm = _DEFINE_INT_RE.match(line.rstrip())
                if dm:
                    self.int_macros[dm.group(1)] = _c_int(dm.group(2))
                pos = end
                continue
            if word in ("struct", "union", "enum", "typedef") and self.is_c_definition(pos, word):
                end = self.c_definition_end(pos, word)
                cdefs.append(text[pos:end])
                prog.c_spans.append(Span(pos, end))
                pos = end
                continue
            self.reset(pos)
            if word == "config" and text[skip_trivia(text, pos + 6):].startswith("="):
                self.config(prog)
            elif word == "let":
                prog.map_decls.append(self.map_decl())
            elif word == "macro" and self.peek(1).kind == "ident":
                prog.macros.append(self.macro())
            elif word == "fn" and self.peek(1).kind == "ident":
                prog.functions.append(self.function())
            elif word == "import" and self.peek(1).kind == "str":
                self.next()
                prog.imports.append(str(self.next().value))
                self.expect(";")
            else:
                prog.probes.append(self.probe(pos))
            pos = self.last_end
        prog.c_definitions = "\n".join(cdefs) + ("\n" if cdefs else "")
        return prog

    def preproc_end(self, pos: int) -> int:
        text = self.text
        while True:
            eol = text.find("\n", pos)
            if eol < 0:
                return len(text)
            if eol > 0 and text[eol - 1] == "\\" or (eol > 1 and text[eol - 2:eol] == "\\\r"):
                pos = eol + 1
                continue
            return eol

    def is_c_definition(self, pos: int, word: str) -> bool:
        """`struct X {`, `struct X;`, `enum {`, `typedef ...` -- not a probe named like a keyword."""
        end = pos + len(word)
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_:"):
            return False
        return True

    def c_definition_end(self, pos: int, word: str) -> int:
        """End of a struct/union/enum/typedef definition, including a trailing `;`."""
        text = self.text
        n = len(text)
        i = pos + len(word)
        depth = 0
        seen_brace = False
        while i < n:
            c = text[i]
            if c == "/" and text.startswith(("//", "/*"), i):
                i = SKIP_RE.match(text, i).end()  # type: ignore[union-attr]
                if text.startswith("/*", i):
                    raise CompileError("end of file during comment", Span(i, n))
                continue
            if c == "{":
                depth += 1
                seen_brace = True
            elif c == "}":
                depth -= 1
                if depth < 0:
                    raise CompileError("syntax error, unexpected }", Span(i, i + 1))
                if depth == 0 and word != "typedef":
                    j = skip_trivia(text, i + 1)
                    if text.startswith("__attribute__", j):   # `} __attribute__((packed));`
                        j = _attribute_end(text, j)
                    if j < n and text[j] == ";":
                        return j + 1
                    # `struct X { ... } name;` style declarators are not bpftrace syntax
                    return max(i + 1, j) if text.startswith("__attribute__", skip_trivia(text, i + 1)) \
                        else i + 1
            elif c == ";" and depth == 0:
                return i + 1
            i += 1
        what = "}" if seen_brace and depth else ";"
        raise CompileError(f"syntax error, unexpected end of file, expecting {what}", Span(n, n))

    def config(self, prog: ast.Program) -> None:
        self.next()  # config
        self.expect("=")
        self.expect("{")
        while not self.at("}"):
            name = self.expect("ident", "identifier")
            self.expect("=")
            tok = self.next()
            value: Any
            if tok.kind in ("int", "str"):
                value = tok.value
            elif tok.kind in ("true", "false"):
                value = tok.kind == "true"
            elif tok.kind == "ident":
                value = tok.text
            else:
                self.unexpected(tok)
            prog.config[name.text] = value
            prog.config_spans[name.text] = Span(name.start, tok.end)
            if not self.accept(";"):
                break
        self.expect("}")
        self.accept(";")

    def map_decl(self) -> ast.MapDecl:
        let = self.next()
        name = self.expect("map")
        self.expect("=")
        kind = self.expect("ident", "identifier")
        self.expect("(")
        size = self.expect("int", "integer")
        self.expect(")")
        semi = self.expect(";")
        return ast.MapDecl(name.text, kind.text, int(size.value), span=Span(let.start, semi.end))

    def macro(self) -> ast.Macro:
        kw = self.next()
        name = self.next()
        self.expect("(")
        params: list[str] = []
        if not self.at(")"):
            while True:
                tok = self.next()
                if tok.kind not in ("var", "map", "ident"):
                    self.unexpected(tok, "variable or map or identifier")
                params.append(tok.text)
                if not self.accept(","):
                    break
        self.expect(")")
        body, value, lbrace, rbrace = self.block_items()
        span = Span(lbrace.start, rbrace.end)
        node: ast.BlockExpr | ast.Block
        if value is not None:
            node = ast.BlockExpr(body, value, span=span)
        else:
            node = ast.Block(body, span=span)
        return ast.Macro(name.text, params, node, span=Span(kw.start, rbrace.end))

    def function(self) -> ast.Function:
        kw = self.next()
        name = self.next()
        self.expect("(")
        params: list[tuple[str, ast.TypeName]] = []
        if not self.at(")"):
            while True:
                var = self.expect("var", "variable")
                self.expect(":")
                params.append((var.text, self.type_name()))
                if not self.accept(","):
                    break
        self.expect(")")
        ret = None
        if self.accept(":"):
            ret = self.type_name()
        body = self.block()
        return ast.Function(name.text, params, ret, body, span=Span(kw.start, body.span.end))

    # ------------------------------------------------------------------ probes
    def probe(self, pos: int) -> ast.Probe:
        text = self.text
        aps = [self.attach_point(pos)]
        pos = aps[-1].span.end
        while True:
            pos = skip_trivia(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = skip_trivia(text, pos + 1)
                aps.append(self.attach_point(pos))
                pos = aps[-1].span.end
            else:
                break
        self.reset(pos)
        pred = None
        if self.at("/"):
            self.next()
            self.in_pred = True
            pred = self.expr()
            self.in_pred = False
            self.expect("endpred", "end predicate")
        if not self.at("{"):
            self.unexpected(self.peek(), "{")
        body = self.block()
        return ast.Probe(aps, pred, body, span=Span(aps[0].span.start, body.span.end))

    def attach_point(self, start: int) -> ast.AttachPoint:
        """Scan one attach point as raw text: fields split on ':', quotes and paths kept whole."""
        text = self.text
        n = len(text)
        parts: list[str] = []
        cur: list[str] = []
        i = start
        while i < n:
            c = text[i]
            if c == '"':
                close = i + 1
                while close < n and text[close] != '"' and text[close] != "\n":
                    close += 2 if text[close] == "\\" else 1
                if close >= n or text[close] != '"':
                    raise CompileError("unterminated string", Span(i, close))
                cur.append(decode_string(text[i + 1:close], i))
                i = close + 1
                continue
            if c == ":":
                if text.startswith("::", i) and cur:  # C++ scope inside a function name
                    cur.append("::")
                    i += 2
                    continue
                parts.append("".join(cur))
                cur = []
                i += 1
                continue
            if c == "{":
                m = _WILDCARD_BRACE_RE.match(text, i)
                if m is not None and "," in m.group(0) and i > start:
                    cur.append(m.group(0))
                    i = m.end()
                    continue
                break
            if c in _AP_STOP:
                break
            if c == "/" and len(parts) == 1 and parts[0] in _PATH_PROVIDERS:
                pass  # a uprobe/usdt target: `uprobe:bin/prog:fn` is a relative path, as in 0.26
            elif c == "/":
                part = "".join(cur)
                if part and part[0] not in "./" and "/" not in part:
                    break  # start of a predicate
                if text.startswith(("//", "/*"), i) and not (part and part[0] in "./"):
                    break
            cur.append(c)
            i += 1
        parts.append("".join(cur))
        raw = text[start:i]
        span = Span(start, i)
        if not raw:
            tok = lex(text, start)
            self.unexpected(tok)
        provider = parts[0]
        if "$" in provider and self.positional is not None:
            args = self.positional
            raw = re.sub(r"\$(\d+)", lambda m: args[int(m.group(1)) - 1] if 0 < int(m.group(1)) <= len(args)
                         else "", raw)
            parts = raw.split(":")
            provider = parts[0]
        if "=" in provider:  # `name=provider:...` -- the name is reserved, ignore it
            provider = provider.rsplit("=", 1)[1]
        canon = PROVIDERS.get(provider)
        if canon is None:
            raise CompileError(f"Invalid probe type: {provider}", span)
        return ast.AttachPoint(raw, canon, parts[1:], span=span)

    # -------------------------------------------------------------- statements
    def block(self) -> ast.Block:
        stmts, value, lbrace, rbrace = self.block_items()
        if value is not None:
            stmts.append(ast.ExprStmt(value, span=value.span))
        return ast.Block(stmts, span=Span(lbrace.start, rbrace.end))

    def block_items(self, want_value: bool = False) -> tuple[list[ast.Stmt], ast.Expr | None, Token, Token]:
        """`{ stmts }`; the final expression is returned apart when it has no trailing `;`.

        With want_value (a block used as an expression) a final `if … else …` whose branches
        end in values is that value, as in 0.26.
        """
        lbrace = self.expect("{")
        stmts: list[ast.Stmt] = []
        value: ast.Expr | None = None
        while True:
            tok = self.peek()
            if tok.kind == "}":
                break
            if tok.kind == ";":
                self.next()
                continue
            if want_value and tok.kind == "if":
                if_stmt, if_value = self.if_forms()
                if if_value is not None and self.at("}"):
                    value = if_value
                    break
                stmts.append(if_stmt)
                continue
            stmt, needs_semi = self.statement()
            if needs_semi:
                if self.accept(";"):
                    stmts.append(stmt)
                    continue
                if not self.at("}"):
                    self.unexpected(self.peek(), "; or }")
                if isinstance(stmt, ast.ExprStmt):
                    value = stmt.expr
                else:
                    stmts.append(stmt)
                break
            stmts.append(stmt)
        rbrace = self.expect("}")
        return stmts, value, lbrace, rbrace

    def statement(self) -> tuple[ast.Stmt, bool]:
        """One statement and whether it must be followed by `;` (unless last in the block)."""
        tok = self.peek()
        kind = tok.kind
        if kind == "if":
            return self.if_stmt(), False
        if kind == "{":
            return self.block(), False
        if kind == "for":
            return self.for_stmt(), False
        if kind == "while":
            self.next()
            self.expect("(")
            cond = self.expr()
            self.expect(")")
            body = self.block()
            return ast.While(cond, body, span=Span(tok.start, body.span.end)), False
        if kind == "unroll":
            self.next()
            self.expect("(")
            count = self.expr()
            self.expect(")")
            body = self.block()
            return ast.Unroll(count, body, span=Span(tok.start, body.span.end)), False
        if kind == "let":
            return self.let_stmt(), True
        if kind in ("break", "continue"):
            self.next()
            return ast.Jump(kind, span=tok.span), True
        if kind == "return":
            self.next()
            value = None
            if self.peek().kind not in (";", "}"):
                value = self.expr()
            end = value.span.end if value is not None else tok.end
            return ast.Jump("return", value, span=Span(tok.start, end)), True
        expr = self.expr()
        op = self.peek()
        if op.kind in _ASSIGN_OPS:
            self.next()
            value = self.expr()
            return ast.Assign(expr, value, "" if op.kind == "=" else op.kind[:-1],
                              span=Span(expr.span.start, value.span.end)), True
        return ast.ExprStmt(expr, span=expr.span), True

    def if_stmt(self) -> ast.If:
        return self.if_forms()[0]

    def if_forms(self) -> tuple[ast.If, ast.Expr | None]:
        """`if cond { … } else …` (parentheses optional, as in 0.26) as a statement, and as an
        expression (a ternary of block expressions) when every branch ends in a value."""
        kw = self.next()
        cond = self.expr()
        then_stmts, then_value, lb, rb = self.block_items(want_value=True)
        then = _branch_block(then_stmts, then_value, lb, rb)
        other: ast.Block | None = None
        other_value: ast.Expr | None = None
        end = then.span.end
        if self.accept("else"):
            if self.at("if"):
                nested, other_value = self.if_forms()
                other = ast.Block([nested], span=nested.span)
            elif self.at("{"):
                o_stmts, o_value, olb, orb = self.block_items(want_value=True)
                other = _branch_block(o_stmts, o_value, olb, orb)
                other_value = _branch_value(o_stmts, o_value, olb, orb)
            else:
                self.unexpected(self.peek(), "{ or if")
            end = other.span.end
        stmt = ast.If(cond, then, other, span=Span(kw.start, end))
        then_expr = _branch_value(then_stmts, then_value, lb, rb)
        if then_expr is None or other_value is None:
            return stmt, None
        return stmt, ast.Ternary(cond, then_expr, other_value, span=Span(kw.start, end))

    def for_stmt(self) -> ast.For:
        """`for ($v : iterable) { … }`; 0.26's tools also write it without the parentheses."""
        kw = self.next()
        parens = self.accept("(") is not None
        vt = self.expect("var", "variable")
        var = ast.Var(vt.text, span=vt.span)
        self.expect(":")
        low = self.expr()
        iterable = low
        if self.accept(".."):
            high = self.expr()
            iterable = ast.Range(low, high, span=Span(low.span.start, high.span.end))
        if parens:
            self.expect(")")
        body = self.block()
        return ast.For(var, iterable, body, span=Span(kw.start, body.span.end))

    def let_stmt(self) -> ast.Let:
        kw = self.next()
        vt = self.peek()
        if vt.kind != "var":
            self.unexpected(vt, "variable")
        self.next()
        var = ast.Var(vt.text, span=vt.span)
        decl_type = None
        value = None
        end = vt.end
        if self.accept(":"):
            decl_type = self.type_name()
            end = decl_type.span.end
        if self.accept("="):
            value = self.expr()
            end = value.span.end
        return ast.Let(var, decl_type, value, span=Span(kw.start, end))

    # ------------------------------------------------------------------- types
    def looks_like_type(self, k: int = 0) -> bool:
        """Whether the tokens from lookahead k spell a type (for casts, sizeof, offsetof)."""
        tok = self.peek(k)
        if tok.kind != "ident":
            return False
        if tok.text in ("struct", "union", "enum"):
            return True
        if tok.text in INT_TYPES or tok.text.endswith("_t"):
            return True
        return self.peek(k + 1).kind in ("*", "[")

    def type_name(self) -> ast.TypeName:
        first = self.expect("ident", "type")
        name = first.text
        end = first.end
        if name == "typeof" and self.at("("):   # let $y: typeof(x): the type of an expression
            self.next()
            of = self.expr()
            end = self.expect(")").end
            return ast.TypeName(name, of=of, span=Span(first.start, end))
        if name in ("struct", "union", "enum"):
            tag = self.expect("ident", "identifier")
            name = f"{name} {tag.text}"
            end = tag.end
        elif name in ("unsigned", "signed", "long", "short"):
            while self.peek().kind == "ident" and self.peek().text in ("int", "long", "short", "char"):
                tok = self.next()
                name = f"{name} {tok.text}"
                end = tok.end
        pointer = 0
        while self.at("*"):
            pointer += 1
            end = self.next().end
        array = None
        if self.at("["):
            self.next()
            array = 0
            if self.at("int"):
                array = int(self.next().value)
            end = self.expect("]").end
            while self.at("*"):
                pointer += 1
                end = self.next().end
        return ast.TypeName(name, pointer, array, span=Span(first.start, end))

    # ------------------------------------------------------------- expressions
    def expr(self) -> ast.Expr:
        cond = self.binary(1)
        if self.at("?"):
            self.next()
            then = cond if self.at(":") else self.expr()   # `a ?: b`: the condition is the value
            self.expect(":")
            other = self.expr()
            return ast.Ternary(cond, then, other, span=Span(cond.span.start, other.span.end))
        return cond

    def binary(self, min_prec: int) -> ast.Expr:
        left = self.unary()
        while True:
            tok = self.peek()
            kind = tok.kind
            if kind == "endpred" and not self.in_pred:
                kind = "/"
            prec = _BINARY.get(kind)
            if prec is None or prec < min_prec:
                return left
            self.next()
            right = self.binary(prec + 1)
            left = ast.Binop(kind, left, right, span=Span(left.span.start, right.span.end))

    def unary(self) -> ast.Expr:
        tok = self.peek()
        kind = tok.kind
        if kind in ("!", "~", "-", "*", "&", "+"):
            self.next()
            operand = self.unary()
            span = Span(tok.start, operand.span.end)
            if kind == "-" and isinstance(operand, ast.Int):
                return ast.Int(-operand.value, span=span)
            if kind == "+":
                return operand
            return ast.Unop(kind, operand, span=span)
        if kind in ("++", "--"):
            self.next()
            target = self.unary()
            return ast.IncDec(kind, True, target, span=Span(tok.start, target.span.end))
        if kind == "(" and self.is_cast():
            self.next()
            to = self.type_name()
            self.expect(")")
            operand = self.unary()
            return ast.Cast(to, operand, span=Span(tok.start, operand.span.end))
        start = self.peek().start   # a postfix span opens at a primary's `(`, as bpftrace's does
        return self.postfix(self.primary(), start)

    def is_cast(self) -> bool:
        t1 = self.peek(1)
        if t1.kind != "ident":
            return False
        if t1.text in ("struct", "union", "enum"):
            return True
        # find the closing paren of a would-be type
        k = 2
        if t1.text in ("unsigned", "signed", "long", "short"):
            while self.peek(k).kind == "ident" and self.peek(k).text in ("int", "long", "short", "char"):
                k += 1
        while self.peek(k).kind == "*":
            k += 1
        if self.peek(k).kind == "[":
            if self.peek(k + 1).kind == "int":
                k += 1
            if self.peek(k + 1).kind != "]":
                return False
            k += 2
            while self.peek(k).kind == "*":
                k += 1
        if self.peek(k).kind != ")":
            return False
        if k > 2:  # pointer or array spelling: definitely a type
            return True
        after = self.peek(k + 1).kind
        if t1.text in INT_TYPES or t1.text.endswith("_t"):
            return after in _OPERAND_START or after in ("-", "*", "&", "+")
        if t1.text in self.int_macros or is_builtin(t1.text):
            return False
        return after in _OPERAND_START and after not in ("(", "{")

    def postfix(self, node: ast.Expr, start: int | None = None) -> ast.Expr:
        begin = node.span.start if start is None else start
        while True:
            tok = self.peek()
            kind = tok.kind
            if kind == "." or kind == "->":
                self.next()
                name = self.next()
                if name.kind == "int":
                    fname = name.text
                elif name.kind == "ident" or name.kind.isalpha():
                    fname = name.text
                else:
                    self.unexpected(name, "identifier")
                node = ast.Field(node, fname, kind == "->", span=Span(begin, name.end))
            elif kind == "[":
                self.next()
                index = self.expr()
                end = self.expect("]").end
                node = ast.Index(node, index, span=Span(begin, end))
            elif kind in ("++", "--"):
                self.next()
                node = ast.IncDec(kind, False, node, span=Span(begin, tok.end))
            else:
                return node

    def args(self, close: str) -> tuple[list[ast.Expr], Token]:
        items: list[ast.Expr] = []
        if not self.at(close):
            while True:
                items.append(self.expr())
                if not self.accept(","):
                    break
        return items, self.expect(close, f'{close} or ","')

    def primary(self) -> ast.Expr:
        tok = self.next()
        kind = tok.kind
        span = tok.span
        if kind == "int":
            return ast.Int(tok.value, span=span)
        if kind == "str":
            return ast.Str(tok.value, span=span)
        if kind == "var":
            return ast.Var(tok.text, span=span)
        if kind == "map":
            if self.at("["):
                self.next()
                keys, close = self.args("]")
                if not keys:
                    self.unexpected(close)
                return ast.Map(tok.text, keys, span=Span(tok.start, close.end))
            return ast.Map(tok.text, span=span)
        if kind == "ident":
            name = tok.text
            if self.at("("):
                self.next()
                args, close = self.args(")")
                return ast.Call(name, args, span=Span(tok.start, close.end))
            if is_builtin(name):
                return ast.Builtin(name, span=span)
            if name in BARE_CALLS:   # argument-less functions work without the call syntax
                return ast.Call(name, [], span=span)
            if name in self.int_macros:
                return ast.Int(self.int_macros[name], span=span)
            return ast.Identifier(name, span=span)
        if kind == "param":
            return ast.Positional(tok.value, span=span)
        if kind == "paramcount":
            return ast.PositionalCount(span=span)
        if kind == "true" or kind == "false":
            return ast.Bool(kind == "true", span=span)
        if kind == "(":
            return self.paren(tok)
        if kind == "if":
            self.i -= 1
            _stmt, if_value = self.if_forms()
            if if_value is None:
                self.unexpected_at(self.peek(), "else with a value in each branch")
            return if_value
        if kind == "{":
            self.i -= 1  # hand the `{` back to block_items
            stmts, value, lbrace, rbrace = self.block_items(want_value=True)
            if value is None:
                self.unexpected_at(rbrace, "expression")
            return ast.BlockExpr(stmts, value, span=Span(lbrace.start, rbrace.end))
        if kind == "sizeof":
            self.expect("(")
            target: ast.TypeName | ast.Expr
            if self.looks_like_type() and self.type_follows_close():
                target = self.type_name()
            else:
                target = self.expr()
            close = self.expect(")")
            return ast.Sizeof(target, span=Span(tok.start, close.end))
        if kind == "offsetof":
            self.expect("(")
            if self.looks_like_type():
                target = self.type_name()
            else:
                target = self.expr()
            self.expect(",")
            fields = [self.field_name()]
            while self.accept("."):
                fields.append(self.field_name())
            close = self.expect(")")
            return ast.Offsetof(target, fields, span=Span(tok.start, close.end))
        self.unexpected(tok)

    def unexpected_at(self, tok: Token, what: str) -> NoReturn:
        raise CompileError(f"syntax error, unexpected {tok.describe()}, expecting {what}", tok.span)

    def field_name(self) -> str:
        tok = self.next()
        if tok.kind == "ident" or tok.kind == "int" or tok.kind.isalpha():
            return tok.text
        self.unexpected(tok, "identifier")

    def type_follows_close(self) -> bool:
        """After a type-looking start in sizeof(...): a bare identifier must be followed by ')'."""
        t = self.peek()
        if t.text in ("struct", "union", "enum") or t.text in INT_TYPES:
            return True
        nxt = self.peek(1).kind
        return nxt in (")", "*", "[")

    def paren(self, lparen: Token) -> ast.Expr:
        if self.at(")"):
            close = self.next()
            return ast.Tuple([], span=Span(lparen.start, close.end))
        if self.peek().kind == "ident" and self.peek(1).kind == "=":
            names: list[str] = []
            elems: list[ast.Expr] = []
            while True:
                name = self.expect("ident", "identifier")
                self.expect("=")
                names.append(name.text)
                elems.append(self.expr())
                if not self.accept(",") or self.at(")"):
                    break
            close = self.expect(")", ') or ","')
            return ast.Record(names, elems, span=Span(lparen.start, close.end))
        first = self.expr()
        if self.at(")"):
            self.next()
            return first
        items = [first]
        while self.accept(","):
            if self.at(")"):
                break
            items.append(self.expr())
        close = self.expect(")", ') or ","')
        return ast.Tuple(items, span=Span(lparen.start, close.end))


def _branch_block(stmts: list[ast.Stmt], value: ast.Expr | None, lb: Token, rb: Token) -> ast.Block:
    """An if branch as a statement block (its final value becomes an expression statement)."""
    items = list(stmts)
    if value is not None:
        items.append(ast.ExprStmt(value, span=value.span))
    return ast.Block(items, span=Span(lb.start, rb.end))


def _branch_value(stmts: list[ast.Stmt], value: ast.Expr | None, lb: Token, rb: Token) -> ast.Expr | None:
    """An if branch as an expression: its value, after its statements."""
    if value is None:
        return None
    if not stmts:
        return value
    return ast.BlockExpr(list(stmts), value, span=Span(lb.start, rb.end))


def _attribute_end(text: str, pos: int) -> int:
    """End of `__attribute__((...))` at pos (balanced parentheses), trivia after it skipped."""
    i = pos + len("__attribute__")
    i = skip_trivia(text, i)
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return skip_trivia(text, i + 1)
        elif depth == 0:
            break
        i += 1
    return i


def _tok_start(tok: Token) -> int:
    return tok.start


def skip_trivia_safe(text: str, pos: int) -> int:
    try:
        return skip_trivia(text, pos)
    except CompileError:
        return -1


def _c_int(text: str) -> int:
    t = text.strip("()").rstrip("uUlL")
    neg = t.startswith("-")
    t = t.lstrip("-")
    if t[:2] in ("0x", "0X"):
        v = int(t[2:], 16)
    elif len(t) > 1 and t[0] == "0":
        try:
            v = int(t[1:], 8)
        except ValueError:
            v = int(t)
    else:
        v = int(t)
    return -v if neg else v
