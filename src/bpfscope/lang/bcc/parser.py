"""Recursive-descent parser for the C that BCC programs are written in (after preprocessing):
struct definitions, BCC's map macros, TRACEPOINT_PROBE and plain functions, locals,
if/else, return, C expressions with `map.method(...)` calls."""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import CompileError, Span
from . import ast as A
from .lexer import ALIGNED, PACKED, Tok, int_value, unescape
from .typenames import is_type_word

MAP_MACROS = ("BPF_HASH", "BPF_ARRAY", "BPF_HISTOGRAM", "BPF_PERF_OUTPUT", "BPF_RINGBUF_OUTPUT",
              "BPF_PERCPU_ARRAY", "BPF_PERCPU_HASH", "BPF_TABLE", "BPF_STACK_TRACE", "BPF_PROG_ARRAY",
              "BPF_QUEUE", "BPF_STACK", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED", "BPF_F_TABLE",
              "BPF_LPM_TRIE", "BPF_HASH_OF_MAPS", "BPF_ARRAY_OF_MAPS",
              "BPF_STACK_TRACE_BUILDID")
_BINPREC = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
            ("<<", ">>"), ("+", "-"), ("*", "/", "%")]
_ASSIGN = ("=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=")


class Parser:
    def __init__(self, toks: list[Tok], text: str) -> None:
        self.toks = _layout_markers(toks)
        self.i = 0
        self.end = len(text)
        self.structs: set[str] = set()
        self.typedefs: set[str] = set()
        self.nested: list[A.StructDef] = []   # struct/union definitions made inside another

    # ------------------------------------------------------------------ helpers
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.text == text and t.kind in ("op", "id")

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise CompileError("unexpected end of program", Span(self.end, self.end))
        self.i += 1
        return t

    def expect(self, text: str, what: str = "") -> Tok:
        t = self.peek()
        if t is None or t.text != text:
            got = f"'{t.text}'" if t else "end of program"
            raise CompileError(f"expected '{text}'{what} before {got}", self._here())
        self.i += 1
        return t

    def ident(self, what: str = "identifier") -> Tok:
        t = self.peek()
        if t is None or t.kind != "id":
            raise CompileError(f"expected {what}", self._here())
        self.i += 1
        return t

    def _here(self) -> Span:
        t = self.peek()
        if t is not None:
            return t.span
        p = self.toks[-1].end if self.toks else self.end
        return Span(p, p + 1)

    def prev_end(self) -> int:
        return self.toks[self.i - 1].end if self.i else 0

    def is_type_start(self, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind == "id" and (is_type_word(t.text) or t.text in self.typedefs
                                                     or t.text == "typeof")

    # ------------------------------------------------------------------ top level
    def program(self) -> A.Program:
        items: list[Any] = []
        while self.peek() is not None:
            if self.at(";"):
                self.next()
                continue
            t = self.peek()
            assert t is not None
            if t.text in MAP_MACROS:
                md = self.map_decl()
                items.extend(self.nested)       # struct types defined in its arguments
                self.nested.clear()
                items.append(md)
            elif t.text == "typedef":
                items.extend(self.typedef())
            elif t.text == "TRACEPOINT_PROBE":
                items.extend(self._with_local_types(self.tracepoint_probe()))
            elif t.text == "RAW_TRACEPOINT_PROBE":
                items.extend(self._with_local_types(self.raw_tracepoint_probe()))
            elif t.text == "enum" and (self.at("{", 1) or self.at("{", 2)):
                items.append(self.enum_def())
            elif t.text in ("struct", "union") and self.at(";", 2):    # a forward declaration
                self.i += 3
            elif t.text in ("struct", "union") and self.peek(1) is not None and self.at("{", 2):
                sd = self.struct_def()
                items.extend(self.nested)
                self.nested.clear()
                items.append(sd)
            elif self.is_type_start():
                items.extend(self._with_local_types(self.function()))
            else:
                raise CompileError(f"expected a declaration or function, found '{t.text}'", t.span)
        return A.Program(items)

    def _with_local_types(self, fn: Any) -> list[Any]:
        """A function preceded by the struct/union types its body defined (hoisted to file scope)."""
        out: list[Any] = [*self.nested, fn]
        self.nested.clear()
        return out

    def enum_def(self) -> A.EnumDef:
        """enum [name] { A, B = 3, C };  — the constants become integers of the program."""
        kw = self.next()
        name = "" if self.at("{") else self.ident("enum name").text
        self.expect("{")
        items: list[tuple[str, Any]] = []
        while not self.at("}"):
            n = self.ident("enumerator")
            v = None
            if self.at("="):
                self.next()
                v = self.conditional()
            items.append((n.text, v))
            if not self.at("}"):
                self.expect(",")
        self.expect("}")
        self.expect(";", " after enum definition")
        return A.EnumDef(Span(kw.start, self.prev_end()), name, items)

    def typedef(self) -> list[Any]:
        """typedef struct x { ... } x_t;  /  typedef struct { ... } x_t;  /  typedef u64 x_t;"""
        kw = self.next()
        out: list[Any] = []
        if self.at("struct") or self.at("union"):
            anon = self.at("{", 1)
            if anon or self.at("{", 2):
                sd = self.struct_def(semicolon=False, anon_name=None if not anon else f"__anon{self.i}")
                out.extend(self.nested)
                self.nested.clear()
                out.append(sd)
                tn = A.TypeName(sd.name, 0, sd.span)
            else:
                tn = self.type_name()
        else:
            tn = self.type_name()
        d = self.declarator(tn)
        self.expect(";", " after typedef")
        self.typedefs.add(d.name)
        out.append(A.Typedef(Span(kw.start, self.prev_end()), d.name, d.type, d.dims))
        return out

    def struct_def(self, semicolon: bool = True, anon_name: str | None = None) -> A.StructDef:
        """A struct/union definition. Members may be bit-fields (`u8 a:1;`), and structs or
        unions defined in place: named (`struct { ... } fields;`) or anonymous C11 members
        (`union { ... };`, whose members are reached directly). Definitions made inside are
        queued in self.nested, to be laid out before the struct that holds them."""
        kw = self.next()
        packed, align = self.layout_attrs()
        name = self.ident("struct name") if anon_name is None else Tok("id", anon_name, kw.start, kw.end)
        self.expect("{")
        fields: list[A.Decl] = []
        while not self.at("}"):
            if (self.at("struct") or self.at("union")) and (self.at("{", 1) or self.at("{", 2)):
                inner = self.struct_def(semicolon=False,
                                        anon_name=f"__anon{self.i}" if self.at("{", 1) else None)
                self.nested.append(inner)
                tn = A.TypeName(inner.name, 0, inner.span)
                if self.at(";"):           # an anonymous member
                    self.next()
                    fields.append(A.Decl(inner.span, tn, "", []))
                    continue
            else:
                tn = self.type_name(stars=False)
            while True:
                if self.at(":"):           # an unnamed bit-field: padding
                    d = A.Decl(tn.span, tn, "", [])
                else:
                    d = self.declarator(tn)
                if self.at(":"):
                    self.next()
                    w = self.conditional()
                    if not isinstance(w, A.Num):
                        raise CompileError("bit-field width must be an integer", w.span)
                    d.bits = w.value
                fields.append(d)
                if not self.at(","):
                    break
                self.next()
            self.expect(";")
        self.expect("}")
        packed2, align2 = self.layout_attrs()
        if semicolon:
            self.expect(";", " after struct definition")
        full = f"{kw.text} {name.text}"
        self.structs.add(full)
        return A.StructDef(Span(kw.start, self.prev_end()), full, fields, kw.text == "union",
                           packed or packed2, align2 if align2 is not None else align)

    def layout_attrs(self) -> tuple[bool, Any]:
        """Markers the preprocessor made of `__attribute__((packed))` / `aligned(N)`."""
        packed, align = False, None
        while self.at(PACKED) or self.at(ALIGNED):
            if self.next().text == PACKED:
                packed = True
            else:
                self.expect("(")
                align = self.conditional()
                self.expect(")")
        return packed, align

    def map_decl(self) -> A.MapDecl:
        m = self.next()
        self.expect("(")
        args: list[Any] = []
        while not self.at(")"):
            if (self.at("struct") or self.at("union")) and (self.at("{", 1) or self.at("{", 2)):
                sd = self.struct_def(semicolon=False, anon_name=f"__anon{self.i}" if self.at("{", 1) else None)
                self.nested.append(sd)
                args.append(A.TypeName(sd.name, 0, sd.span))
            elif self.is_type_start():
                args.append(self.type_name())
            else:
                args.append(self.assignment())
            if not self.at(")"):
                self.expect(",")
        self.expect(")")
        span = Span(m.start, self.prev_end())
        # ("hash", key, leaf, name, size[, flags])
        if m.text in ("BPF_TABLE", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED", "BPF_F_TABLE"):
            if len(args) < 4 or not isinstance(args[0], A.Str) or not isinstance(args[3], A.Name):
                raise CompileError(f'{m.text} expects ("type", key_type, leaf_type, name[, size])', span)
            return A.MapDecl(span, m.text, args[3].id, [args[0], args[1], args[2]] + args[4:])
        if not args or not isinstance(args[0], A.Name):
            raise CompileError(f"{m.text} needs a table name as its first argument", span)
        return A.MapDecl(span, m.text, args[0].id, args[1:])

    def tracepoint_probe(self) -> A.Func:
        kw = self.next()
        self.expect("(")
        cat = self.ident("tracepoint category")
        self.expect(",")
        ev = self.ident("tracepoint event")
        self.expect(")")
        body = self.block()
        name = f"tracepoint__{cat.text}__{ev.text}"
        return A.Func(Span(kw.start, self.prev_end()), name, A.TypeName("int"),
                      [A.Decl(kw.span, A.TypeName(f"struct {name}", 1), "args", [])], body,
                      (cat.text, ev.text))

    def raw_tracepoint_probe(self) -> A.Func:
        """RAW_TRACEPOINT_PROBE(event) { ... }: BCC's `int raw_tracepoint__event(struct
        bpf_raw_tracepoint_args *ctx)`, attached by its name; ctx->args[i] are the raw arguments."""
        kw = self.next()
        self.expect("(")
        ev = self.ident("raw tracepoint name")
        self.expect(")")
        body = self.block()
        return A.Func(Span(kw.start, self.prev_end()), f"raw_tracepoint__{ev.text}", A.TypeName("int"),
                      [A.Decl(kw.span, A.TypeName("struct bpf_raw_tracepoint_args", 1), "ctx", [])], body)

    def function(self) -> A.Func:
        start = self.peek()
        assert start is not None
        k = 0
        while self.peek(k) is not None and self.peek(k).text in _SPECIFIERS:  # type: ignore[union-attr]
            k += 1
        static = any(self.peek(j).text == "static" for j in range(k))  # type: ignore[union-attr]
        ret = self.type_name()
        name = self.ident("function name")
        self.expect("(")
        params: list[A.Decl] = []
        if self.at("void") and self.at(")", 1):
            self.next()
        while not self.at(")"):
            tn = self.type_name()
            params.append(self.declarator(tn))
            if not self.at(")"):
                self.expect(",")
        self.expect(")")
        body = self.block()
        return A.Func(Span(start.start, self.prev_end()), name.text, ret, params, body, static=static)

    # ------------------------------------------------------------------ types
    def type_name(self, stars: bool = True) -> A.TypeName:
        """stars=False in declarations: `T *a, b;` gives the '*' to a's declarator only."""
        first = self.peek()
        assert first is not None
        words: list[str] = []
        if first.text == "typeof" and first.kind == "id":
            self.next()
            self.expect("(")
            of = self.expression()
            self.expect(")")
            ptr = 0
            while self.at("*"):
                self.next()
                ptr += 1
            return A.TypeName("typeof", ptr, Span(first.start, self.prev_end()), of)
        while True:
            t = self.peek()
            if t is None or t.kind != "id":
                break
            if t.text in ("const", "volatile", "static", "__user", "restrict", "__restrict"):
                self.next()
                continue
            if t.text in ("struct", "union", "enum"):
                if words:
                    break
                self.next()
                words.append(f"{t.text} {self.ident(t.text + ' name').text}")
                break
            if not words and t.text in self.typedefs:
                words.append(self.next().text)
                break
            if is_type_word(t.text) and (not words or t.text in _COMBINING and all(w in _COMBINING for w in words)):
                words.append(self.next().text)
                continue
            break
        if not words:
            raise CompileError("expected a type", self._here())
        ptr = 0
        while stars and (self.at("*") or any(self.at(q) for q in _QUALIFIERS)):
            if self.next().text == "*":
                ptr += 1
        return A.TypeName(_normalize(words), ptr, Span(first.start, self.prev_end()))

    def declarator(self, tn: A.TypeName) -> A.Decl:
        ptr = tn.ptr
        while self.at("*") or any(self.at(q) for q in _QUALIFIERS):
            if self.next().text == "*":
                ptr += 1
        name = self.ident("a name in the declaration")
        dims: list[int] = []
        while self.at("["):
            self.next()
            if self.at("]") and not dims:     # char s[] = "...": sized by its initializer
                self.next()
                dims.append(-1)
                continue
            e = self.conditional()
            # a size naming a constant (a kernel enum such as NR_VM_ZONE_STAT_ITEMS) is
            # evaluated with the types (FuncGen.type_of, compiler's struct layout)
            dims.append(e.value if isinstance(e, A.Num) else e)  # type: ignore[arg-type]
            self.expect("]")
        t = A.TypeName(tn.base, ptr, tn.span, tn.of)
        _, align = self.layout_attrs()
        return A.Decl(Span(tn.span.start, name.end), t, name.text, dims, align=align)

    # ------------------------------------------------------------------ statements
    def block(self) -> A.Block:
        lb = self.expect("{")
        stmts: list[Any] = []
        while not self.at("}"):
            if self.peek() is None:
                raise CompileError("expected '}' at end of block", lb.span)
            stmts.extend(self.statement())
        self.next()
        return A.Block(Span(lb.start, self.prev_end()), stmts)

    def statement(self) -> list[Any]:
        t = self.peek()
        assert t is not None
        if t.text == "{" and t.kind == "op":
            return [self.block()]
        if t.text == ";":
            self.next()
            return []
        if t.kind == "id" and t.text == "if":
            self.next()
            self.expect("(")
            cond = self.expression()
            self.expect(")")
            then = self._single()
            orelse = None
            if self.at("else"):
                self.next()
                orelse = self._single()
            return [A.If(Span(t.start, self.prev_end()), cond, then, orelse)]
        if t.kind == "id" and t.text == "return":
            self.next()
            e = None if self.at(";") else self.expression()
            self.expect(";")
            return [A.Return(Span(t.start, self.prev_end()), e)]
        if t.kind == "id" and t.text in _CONTROL:
            return [getattr(self, "stmt_" + t.text)()]
        if t.kind == "id" and self.at(":", 1) and not self.is_type_start():
            self.next()
            self.next()
            return [A.LabelStmt(t.span, t.text)]
        local_type = t.text in ("struct", "union") and (self.at("{", 1) or self.at("{", 2))
        if local_type:      # `struct { u64 ts; } data = {...};` / `struct s {...};` in a body
            sd = self.struct_def(semicolon=False, anon_name=f"__anon{self.i}" if self.at("{", 1) else None)
            self.nested.append(sd)
            if self.at(";"):
                self.next()
                return []
        if local_type or self.is_type_start() and (t.text == "typeof" or not (
                self.peek(1) is not None and self.peek(1).text in ("(", "."))):  # type: ignore[union-attr]
            tn = A.TypeName(sd.name, 0, sd.span) if local_type else self.type_name(stars=False)
            decls: list[Any] = []
            while True:
                d = self.declarator(tn)
                if self.at("="):
                    self.next()
                    d.init = self.initializer()
                    d.span = Span(d.span.start, self.prev_end())
                decls.append(d)
                if not self.at(","):
                    break
                self.next()
            self.expect(";", " after declaration")
            return decls
        e = self.expression()
        self.expect(";", " after expression")
        return [A.ExprStmt(e.span, e)]

    def _paren_expr(self) -> Any:
        self.expect("(")
        e = self.expression()
        self.expect(")")
        return e

    def stmt_for(self) -> A.Loop:
        kw = self.next()
        self.expect("(")
        init: list[Any] = []
        if not self.at(";"):
            init = self.statement()          # a declaration or an expression, with its ';'
        else:
            self.next()
        cond = None if self.at(";") else self.expression()
        self.expect(";", " in for")
        step = None if self.at(")") else self.expression()
        self.expect(")")
        body = self._single()
        return A.Loop(Span(kw.start, self.prev_end()), init, cond, step, body)

    def stmt_while(self) -> A.Loop:
        kw = self.next()
        cond = self._paren_expr()
        body = self._single()
        return A.Loop(Span(kw.start, self.prev_end()), [], cond, None, body)

    def stmt_do(self) -> A.Loop:
        kw = self.next()
        body = self._single()
        self.expect("while", " after do's body")
        cond = self._paren_expr()
        self.expect(";", " after do/while")
        return A.Loop(Span(kw.start, self.prev_end()), [], cond, None, body, post_test=True)

    def stmt_goto(self) -> A.Goto:
        kw = self.next()
        n = self.ident("label name")
        self.expect(";", " after goto")
        return A.Goto(Span(kw.start, self.prev_end()), n.text)

    def stmt_break(self) -> A.Break:
        kw = self.next()
        self.expect(";", " after break")
        return A.Break(kw.span)

    def stmt_continue(self) -> A.Continue:
        kw = self.next()
        self.expect(";", " after continue")
        return A.Continue(kw.span)

    def stmt_switch(self) -> A.Switch:
        kw = self.next()
        e = self._paren_expr()
        lb = self.expect("{")
        body: list[Any] = []
        while not self.at("}"):
            t = self.peek()
            if t is None:
                raise CompileError("expected '}' at end of switch", lb.span)
            if t.kind == "id" and t.text in ("case", "default"):
                self.next()
                v = None if t.text == "default" else self.conditional()
                self.expect(":", f" after {t.text}")
                body.append(A.Case(Span(t.start, self.prev_end()), v))
                continue
            body.extend(self.statement())
        self.next()
        return A.Switch(Span(kw.start, self.prev_end()), e, body)

    def _single(self) -> Any:
        s = self.statement()
        if len(s) == 1:
            return s[0]
        sp = s[0].span if s else self._here()
        return A.Block(sp, s)

    def initializer(self) -> Any:
        if self.at("{"):
            lb = self.next()
            items: list[Any] = []
            while not self.at("}"):
                if self.at(".") and self.peek(1) is not None and self.peek(1).kind == "id":  # type: ignore[union-attr]
                    dot = self.next()
                    n = self.ident("member name")
                    self.expect("=")
                    v = self.initializer()
                    items.append(A.Designated(Span(dot.start, self.prev_end()), n.text, v))
                else:
                    items.append(self.initializer())
                if not self.at("}"):
                    self.expect(",")
            self.next()
            return A.InitList(Span(lb.start, self.prev_end()), items)
        return self.assignment()

    # ------------------------------------------------------------------ expressions
    def expression(self) -> Any:
        e = self.assignment()
        if not self.at(","):
            return e
        items = [e]
        while self.at(","):
            self.next()
            items.append(self.assignment())
        return A.Comma(Span(e.span.start, items[-1].span.end), items)

    def assignment(self) -> Any:
        left = self.conditional()
        t = self.peek()
        if t is not None and t.kind == "op" and t.text in _ASSIGN:
            self.next()
            right = self.assignment()
            return A.Assign(Span(left.span.start, right.span.end), t.text, left, right)
        return left

    def conditional(self) -> Any:
        c = self.binary(0)
        if self.at("?"):
            self.next()
            a = self.assignment()
            self.expect(":")
            b = self.conditional()
            return A.Ternary(Span(c.span.start, b.span.end), c, a, b)
        return c

    def binary(self, level: int) -> Any:
        if level == len(_BINPREC):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            t = self.peek()
            if t is None or t.kind != "op" or t.text not in _BINPREC[level]:
                return left
            self.next()
            right = self.binary(level + 1)
            left = A.Binary(Span(left.span.start, right.span.end), t.text, left, right)

    def unary(self) -> Any:
        t = self.peek()
        if t is None:
            raise CompileError("expected an expression", self._here())
        if t.kind == "op" and t.text in ("-", "+", "~", "!", "*", "&", "++", "--"):
            self.next()
            e = self.unary()
            if t.text == "+":
                return e
            op = t.text + "x" if t.text in ("++", "--") else t.text
            return A.Unary(Span(t.start, e.span.end), op, e)
        if t.kind == "id" and t.text == "sizeof":
            self.next()
            if self.at("(") and self.is_type_start(1):
                self.next()
                tn = self.type_name()
                self.expect(")")
                return A.Sizeof(Span(t.start, self.prev_end()), tn)
            e = self.unary()
            return A.Sizeof(Span(t.start, e.span.end), None, e)
        if t.text == "(" and self.is_type_start(1):
            self.next()
            tn = self.type_name()
            self.expect(")")
            if self.at("{"):                 # a compound literal: (Key){1, 2}
                il = self.initializer()
                return self.postfix(A.CompoundLit(Span(t.start, il.span.end), tn, il))
            e = self.unary()
            return A.Cast(Span(t.start, e.span.end), tn, e)
        return self.postfix(self.primary())

    def postfix(self, e: Any) -> Any:
        while True:
            t = self.peek()
            if t is None or t.kind != "op":
                return e
            if t.text in (".", "->"):
                self.next()
                n = self.ident("member name")
                if t.text == "." and isinstance(e, A.Name) and self.at("("):
                    args = self.call_args()
                    e = A.MethodCall(Span(e.span.start, self.prev_end()), e.id, n.text, args, n.span)
                    continue
                e = A.Member(Span(e.span.start, n.end), e, n.text, t.text == "->", n.span)
            elif t.text == "[":
                self.next()
                idx = self.expression()
                self.expect("]")
                e = A.Index(Span(e.span.start, self.prev_end()), e, idx)
            elif t.text in ("++", "--"):
                self.next()
                e = A.Unary(Span(e.span.start, t.end), "x" + t.text, e)
            else:
                return e

    def call_args(self) -> list[Any]:
        self.expect("(")
        args: list[Any] = []
        while not self.at(")"):
            args.append(self.assignment())
            if not self.at(")"):
                self.expect(",")
        self.next()
        return args

    def primary(self) -> Any:
        t = self.next()
        if t.kind == "num":
            suf = re.sub(r"^(0[xX][0-9a-fA-F]+|\d+)", "", t.text).lower()
            return A.Num(t.span, int_value(t.text), "u" in suf, "l" in suf)
        if t.kind == "char":
            return A.Num(t.span, ord(unescape(t.text[1:-1])[:1] or "\0"))
        if t.kind == "str":
            s, end = unescape(t.text[1:-1]), t.end
            while self.peek() is not None and self.peek().kind == "str":  # type: ignore[union-attr]
                nt = self.next()
                s += unescape(nt.text[1:-1])
                end = nt.end
            return A.Str(Span(t.start, end), s)
        if t.kind == "id" and t.text in ("offsetof", "__builtin_offsetof") and self.at("("):
            self.next()
            tn = self.type_name()
            self.expect(",")
            path = [self.ident("member name").text]
            while self.at("."):
                self.next()
                path.append(self.ident("member name").text)
            self.expect(")")
            return A.Offsetof(Span(t.start, self.prev_end()), tn, path)
        if t.kind == "id":
            if self.at("("):
                args = self.call_args()
                return A.Call(Span(t.start, self.prev_end()), t.text, args, t.span)
            return A.Name(t.span, t.text)
        if t.text == "(" and self.at("{"):      # a GNU statement expression
            body = self.block()
            self.expect(")")
            return A.StmtExpr(Span(t.start, self.prev_end()), body)
        if t.text == "(":
            e = self.expression()
            self.expect(")")
            return e
        raise CompileError(f"expected an expression before '{t.text}'", t.span)


_CONTROL = ("for", "while", "do", "switch", "goto", "break", "continue")
_QUALIFIERS = ("const", "volatile", "__user", "restrict", "__restrict")
_SPECIFIERS = ("static", "const", "volatile")          # before a function's return type
_COMBINING = {"unsigned", "signed", "int", "long", "short", "char", "__int128"}


def _layout_markers(toks: list[Tok]) -> list[Tok]:
    """Layout attributes (preproc.PACKED / ALIGNED(N)) where the parser takes them: after
    `struct`/`union`, a struct's `}`, a declarator's name or `]`; dropped elsewhere (a function's)."""
    out: list[Tok] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.text in (PACKED, ALIGNED) and t.kind == "id":
            n = 1
            if t.text == ALIGNED:       # the marker, `(`, the argument's tokens, `)`
                depth = 0
                for j in range(k + 1, len(toks)):
                    depth += {"(": 1, ")": -1}.get(toks[j].text, 0)
                    if depth == 0:
                        n = j - k + 1
                        break
            prev = out[-1] if out else None
            if prev is not None and (prev.text in ("}", "struct", "union", "]") or prev.kind == "id"):
                out.extend(toks[k:k + n])
            k += n
            continue
        out.append(t)
        k += 1
    return out


def _normalize(words: list[str]) -> str:
    """'unsigned long int' → 'unsigned long', 'signed int' → 'int', 'long long int' → 'long long'."""
    if len(words) == 1 or not all(w in _COMBINING for w in words):
        return " ".join(words)
    ws = [w for w in words if w != "signed"] or ["int"]
    if "int" in ws and len(ws) > 1 and ("long" in ws or "short" in ws):
        ws.remove("int")
    if ws == ["unsigned"]:
        ws = ["unsigned", "int"]
    if "signed" in words and ws == ["char"]:
        return "signed char"
    return " ".join(ws)


def parse(toks: list[Tok], text: str) -> A.Program:
    return Parser(toks, text).program()
