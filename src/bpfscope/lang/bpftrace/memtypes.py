"""Typing of memory: pointers, structs, arrays, casts, sizeof/offsetof, enum constants.

A mixin of `typecheck.ProbeTypes`. It records, per expression, what code generation needs
beyond the Type: the struct member reached by a field access (`members`) and the address
space — "kernel", "user" or "ctx" — of every value that lives in traced memory (`spaces`), so a
user pointer is read with bpf_probe_read_user, a kernel one with bpf_probe_read_kernel and the
program's context with direct loads.
`.` and `->` are the same operator: a pointer to a struct is dereferenced automatically.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...kernel import uapi
from ..ctype.btftypes import Member
from ..ctype.typedb import TypeDB
from ..ctype.types import BOOL, INT64, UINT32, UINT64, Kind, Type, pointer_type, string_type, tuple_type
from ..diagnostics import CompileError
from . import ast as A

CTX_STRUCTS = {"pt_regs": "struct pt_regs", "perf_event": "struct bpf_perf_event_data"}


class MemTypes:
    # provided by ProbeTypes
    probe: Any
    opts: dict[str, Any]
    types: dict[int, Type]

    def expr(self, e: A.Expr, statement: bool = False) -> Type:  # pragma: no cover - ProbeTypes
        raise NotImplementedError

    def const_int(self, e: A.Expr) -> int | None:  # pragma: no cover - ProbeTypes
        raise NotImplementedError

    def check_nargs(self, c: A.Call, lo: int, hi: int) -> None:  # pragma: no cover - ProbeTypes
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    @property
    def db(self) -> TypeDB:
        db = self.opts.get("typedb")
        if db is None:
            db = self.opts["typedb"] = TypeDB()
        return db  # type: ignore[no-any-return]

    @property
    def members(self) -> dict[int, Member]:
        m = self.__dict__.get("_members")
        if m is None:
            m = self.__dict__["_members"] = {}
        return m  # type: ignore[no-any-return]

    @property
    def spaces(self) -> dict[int, str]:
        s = self.__dict__.get("_spaces")
        if s is None:
            s = self.__dict__["_spaces"] = {}
        return s  # type: ignore[no-any-return]

    def default_space(self) -> str:
        return "user" if self.probe.user_space else "kernel"

    def space_of_ptr(self, t: Type) -> str:
        return t.mode if t.mode in ("user", "kernel", "ctx") else self.default_space()

    def pointee(self, t: Type) -> Type | None:
        """What a pointer points to; tracefs/BTF pointers known only by spelling are resolved here."""
        if t.pointee is not None:
            return t.pointee
        if t.name and t.name.rstrip().endswith("*"):
            inner = t.name.rstrip()[:-1].rstrip()
            if inner and inner.replace("const", "").strip() not in ("void", ""):
                pt = self.db.parse(inner)
                if pt is not None and pt.kind is not Kind.NONE:
                    return pt
        return None

    def with_pointee(self, t: Type, space: str = "") -> Type:
        """A pointer Type with its pointee resolved and its address space fixed."""
        if t.kind is not Kind.POINTER:
            return t
        pt = self.pointee(t)
        if pt is not t.pointee or (space and not t.mode):
            t = dataclasses.replace(t, pointee=pt, mode=t.mode or space)
        return t

    # ------------------------------------------------------------------ fields
    def struct_field(self, e: A.Field, bt: Type) -> Type:
        """`base.name` / `base->name` where base is a struct or a pointer to one."""
        if bt.kind is Kind.POINTER:
            st = self.pointee(bt)
            space = self.space_of_ptr(bt)
            if st is None or st.kind is not Kind.STRUCT:
                raise CompileError(f"Can not access field '{e.name}' on type '{bt}'", e.span)
        elif bt.kind is Kind.STRUCT:
            st = bt
            space = self.spaces.get(id(e.base), self.default_space())
        else:
            raise CompileError(f"Can not access field '{e.name}' on type '{bt}'", e.span)
        m = self.db.member(st, e.name)
        if m is None:
            if not self.db.members(st):
                raise CompileError(f"Cannot access field '{e.name}' of incomplete type '{st.name}'", e.span)
            raise CompileError(f"Struct/union of type '{st.name}' does not contain a field named '{e.name}'",
                               e.span)
        self.members[id(e)] = m
        self.spaces[id(e)] = space
        return self.value_type(m.type, space)

    def value_type(self, t: Type, space: str) -> Type:
        if t.kind is Kind.POINTER:   # a pointer stored in the context points to kernel memory
            return self.with_pointee(t, "kernel" if space == "ctx" else space)
        if t.kind is Kind.STRUCT:
            return self.db.complete(t)
        if t.kind is Kind.ARRAY:
            return self.db.complete(t)
        return t

    def args_struct(self) -> Type:
        """`args` as a value (`print(args)`, `$a = args`): its fields laid out as in the context."""
        names: list[str] = []
        elems: list[Type] = []
        offs: list[int] = []
        for f in self.probe.args:
            if f.data_loc or f.name.startswith("$"):
                continue
            names.append(f.name)
            elems.append(f.type)
            offs.append(f.offset)
        if self.probe.ctx == "pt_regs":   # registers (uprobe DWARF args): laid out as a C struct, copied per field
            lay = tuple_type(elems)
            return Type(Kind.STRUCT, size=lay.size, name="args", names=tuple(names), elems=tuple(elems),
                        offsets=lay.offsets)
        size = max((o + t.size for o, t in zip(offs, elems, strict=True)), default=0)
        return Type(Kind.STRUCT, size=size, name="args", names=tuple(names), elems=tuple(elems),
                    offsets=tuple(offs))

    def deref(self, e: A.Unop, t: Type) -> Type:
        """`*p`: the pointee (a struct value is laid out in full so it can be stored and printed)."""
        if t.kind is Kind.POINTER:
            pt = self.pointee(t)
            if pt is None:
                raise CompileError(f"Can not dereference type '{t}'", e.span)
            space = self.space_of_ptr(t)
            self.spaces[id(e)] = space
            if pt.kind is Kind.STRUCT and not pt.elems and not self.db.members(pt):   # elems: DWARF
                raise CompileError(f"Can not dereference a pointer to incomplete type '{pt}'", e.span)
            return self.value_type(pt, space)
        if t.is_int:
            self.spaces[id(e)] = self.default_space()
            return INT64
        raise CompileError(f"Can not dereference type '{t}'", e.span)

    def address_of(self, e: A.Unop, t: Type) -> Type:
        """`&x`: a pointer to a variable (BPF stack), a map value, a struct field or an
        element in traced memory (the address is computed, nothing is read)."""
        x = e.operand
        if isinstance(x, A.Var):
            space = "kernel"
        elif isinstance(x, A.Map):
            space = "kernel"
        elif (isinstance(x, A.Field) and (id(x) in self.members or (isinstance(x.base, A.Builtin)
                                                                    and x.base.name == "args"))) \
                or isinstance(x, A.Index) or (isinstance(x, A.Unop) and x.op == "*"):
            space = self.spaces.get(id(x), self.default_space())
        else:
            raise CompileError("The & operator can only take the address of a variable, a map value, a "
                               "struct field or an array element", e.span)
        if t.kind is Kind.NONE or t.is_aggregate:
            raise CompileError(f"Can not take the address of a value of type '{t}'", e.span)
        self.spaces[id(e)] = space
        return pointer_type(t, space=space)

    def index_mem(self, e: A.Index, bt: Type) -> Type:
        """`p[i]` on pointers and arrays (arrays of struct members, casts, BTF)."""
        if bt.kind is Kind.POINTER:
            pt = self.pointee(bt)
            if pt is None:
                raise CompileError(f"The [] operator can not be used on type '{bt}'", e.span)
            space = self.space_of_ptr(bt)
        elif bt.kind is Kind.ARRAY and bt.pointee is not None:
            pt = bt.pointee
            space = self.spaces.get(id(e.base), self.default_space())
            i = self.const_int(e.index)
            if i is not None and bt.count and not 0 <= i < bt.count:
                raise CompileError(f"The array index {i} is out of bounds (array size is {bt.count})",
                                   e.index.span)
        elif bt.kind is Kind.STRING:
            pt = Type(Kind.INT, size=1, signed=True)
            space = self.spaces.get(id(e.base), self.default_space())
            i = self.const_int(e.index)
            if i is not None and not 0 <= i < bt.size:
                raise CompileError(f"The string index {i} is out of bounds (size {bt.size})", e.index.span)
        else:
            raise CompileError(f"The [] operator can not be used on type '{bt}'", e.span)
        it = self.types.get(id(e.index))
        if it is not None and not it.is_int:
            raise CompileError(f"The array index must be an integer ({it} supplied)", e.index.span)
        self.spaces[id(e)] = space
        return self.value_type(pt, space)

    # ------------------------------------------------------------------ arithmetic
    def pointer_binop(self, e: A.Binop, lt: Type, rt: Type) -> Type | None:
        """Binary operators with a pointer operand; None when neither side is a pointer."""
        lp, rp = lt.kind is Kind.POINTER, rt.kind is Kind.POINTER
        if not (lp or rp):
            return None
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            other = rt if lp else lt
            if other.kind is not Kind.POINTER and not other.is_int:
                raise CompileError(f"Type mismatch for '{e.op}': comparing '{lt}' with '{rt}'", e.span)
            return BOOL
        if e.op in ("&&", "||"):
            return BOOL
        if e.op == "+" and lp != rp:
            other = rt if lp else lt
            if other.is_int:
                return lt if lp else rt
        if e.op == "-" and lp and not rp and rt.is_int:
            return lt
        if e.op == "-" and lp and rp:
            return INT64
        if e.op in ("&", "|", "^", ">>", "<<", "%", "/", "*") and lp != rp:
            raise CompileError(f"The {e.op} operator can not be used on expressions of types {lt}, {rt}",
                               e.span)
        raise CompileError(f"The {e.op} operator can not be used on expressions of types {lt}, {rt}", e.span)

    # ------------------------------------------------------------------ types by name
    def typename(self, tn: A.TypeName) -> Type:
        return self.db.from_typename(tn)

    def cast_to(self, e: A.Cast, src: Type) -> Type:
        if e.to.name == "string" and e.to.array and not e.to.pointer:
            if src.kind is not Kind.STRING:
                raise CompileError(f"Cannot cast from \"{src}\" to \"string[{e.to.array}]\"", e.span)
            return string_type(e.to.array)   # 0.26's (string[N]): the string resized
        if e.to.array is not None and not e.to.pointer:
            elem = self.typename(A.TypeName(e.to.name, span=e.to.span))
            if not elem.is_int:
                raise CompileError(f"Cannot cast to an array of \"{elem}\"", e.to.span)
            if not (src.is_int or src.kind in (Kind.ARRAY, Kind.POINTER, Kind.STRING)):
                raise CompileError(f"Cannot cast from \"{src}\" to an array", e.span)
            n = e.to.array or max(1, -(-src.size // max(1, elem.size)))
            t = Type(Kind.ARRAY, size=n * elem.size, pointee=elem, count=n, name=f"{elem}[{n}]")
            if src.kind is Kind.STRING and src.size <= t.size:
                return t       # a string's bytes, zero padded
            if t.size != src.size:
                raise CompileError(f"Cannot cast from \"{src}\" to \"{t}\": sizes differ "
                                   f"({src.size} vs {t.size} bytes)", e.span)
            return t
        t = self.typename(e.to)
        if t.kind is Kind.POINTER:
            if not (src.is_int or src.kind is Kind.POINTER):
                raise CompileError(f"Cannot cast from \"{src}\" to \"{t}\"", e.span)
            if src.kind is Kind.POINTER and src.mode and not t.mode:
                t = dataclasses.replace(t, mode=src.mode)  # a cast keeps the address space
            return t
        if t.kind is Kind.STRUCT:
            raise CompileError(f"Cannot cast to \"{t}\"", e.to.span)
        if t.kind is Kind.NONE:
            raise CompileError("Cannot cast to \"void\"", e.to.span)
        if src.kind is Kind.ARRAY:
            if src.size != t.size:
                raise CompileError(f"Cannot cast from \"{src}\" to \"{t}\": sizes differ "
                                   f"({src.size} vs {t.size} bytes)", e.span)
            return t
        if t.kind is Kind.BOOL and src.kind is Kind.STRING:
            return t           # (bool)"str": true unless empty
        if not (src.is_int or src.kind is Kind.POINTER):
            raise CompileError(f"Cannot cast from \"{src}\" to \"{t}\"", e.span)
        return t

    def sizeof(self, e: A.Sizeof) -> Type:
        if isinstance(e.target, A.TypeName):
            t = self.typename(e.target)
            if t.kind is Kind.NONE:
                raise CompileError("Invalid application of sizeof to a void type", e.span)
        else:
            if isinstance(e.target, A.Identifier):
                named = self.db.named(e.target.name)
                if named is not None:
                    self.types[id(e.target)] = named
                    self.sizes[id(e)] = named.size
                    return UINT64
            t = self.expr(e.target)
        self.sizes[id(e)] = t.size
        return UINT64

    def offsetof(self, e: A.Offsetof) -> Type:
        if isinstance(e.target, A.TypeName):
            t = self.typename(e.target)
        elif isinstance(e.target, A.Identifier) and self.db.named(e.target.name) is not None:
            t = self.db.named(e.target.name)  # type: ignore[assignment]
        else:
            t = self.expr(e.target)
        off = 0
        for name in e.fields:
            if t.kind is Kind.POINTER:
                raise CompileError(f"offsetof() expects a struct type, not '{t}'", e.span)
            if t.kind is not Kind.STRUCT:
                raise CompileError(f"'{t}' is not a struct or union", e.span)
            m = self.db.member(t, name)
            if m is None:
                raise CompileError(f"Struct/union of type '{t.name}' does not contain a field named '{name}'",
                                   e.span)
            off += m.offset
            t = m.type
        self.sizes[id(e)] = off
        return UINT64

    @property
    def sizes(self) -> dict[int, int]:
        s = self.__dict__.get("_sizes")
        if s is None:
            s = self.__dict__["_sizes"] = {}
        return s  # type: ignore[no-any-return]

    def identifier(self, e: A.Identifier) -> Type:
        hit = self.db.enum_constant(e.name)
        if hit is not None:
            value, t = hit
            self.sizes[id(e)] = value
            return t
        raise CompileError(f"Unknown identifier: '{e.name}'", e.span)

    def ctx_type(self) -> Type:
        """`ctx`, as bpftrace: `struct pt_regs *` (kprobe, uprobe, usdt) and `struct
        bpf_perf_event_data *` (profile, interval, software, hardware) are read with direct
        loads the verifier checks and rewrites (space "ctx", kept through casts); elsewhere (the
        tracepoint record, the raw tracepoint/fentry argument array) an untyped kernel pointer."""
        name = CTX_STRUCTS.get(self.probe.ctx)
        st = self.db.named(name) if name else None
        if name is None or st is None or st.kind is not Kind.STRUCT:
            return pointer_type(None, space="kernel")
        return pointer_type(st, f"{name} *", "ctx")

    @property
    def btf_vars(self) -> dict[int, int]:
        """percpu_kaddr() calls → the BTF id of their variable."""
        v = self.__dict__.get("_btf_vars")
        if v is None:
            v = self.__dict__["_btf_vars"] = {}
        return v  # type: ignore[no-any-return]

    def percpu_kaddr(self, c: A.Call) -> Type:
        """`percpu_kaddr(name[, cpu])`: the address of a per-CPU kernel variable on this (or
        that) CPU, typed from BTF as a kernel pointer to the variable (`.field` and `*` work)."""
        self.check_nargs(c, 1, 2)
        a = c.args[0]
        if not isinstance(a, A.Str):
            raise CompileError("percpu_kaddr() expects a string literal", a.span)
        if len(c.args) == 2:
            ct = self.expr(c.args[1])
            if not ct.is_int:
                from .stdlib_types import bt_typename

                raise CompileError(f"percpu_kaddr() expects an integer cpu ({bt_typename(ct)} provided)",
                                   c.args[1].span)
        hit = self.db.btf.percpu_var(a.value) if self.db.btf is not None else None
        if hit is None:
            raise CompileError(f'Could not resolve variable "{a.value}" from BTF', c.span)
        self.btf_vars[id(c)] = hit[0]
        return pointer_type(hit[1], space="kernel")

    def socket_cookie(self, c: A.Call) -> Type:
        """`socket_cookie(struct sock *)`: the kernel's cookie of a socket (what SO_COOKIE
        reads), through the helper tracing programs get: the pointer must come from BTF (a
        rawtracepoint's or fentry's argument), as the verifier checks it."""
        self.check_nargs(c, 1, 1)
        t = self.expr(c.args[0])
        st = t.pointee if t.kind is Kind.POINTER else None
        if st is None or st.kind is not Kind.STRUCT or (st.name or "").split()[-1] != "sock":
            from .stdlib_types import bt_typename

            raise CompileError(f"socket_cookie() only supports 'struct sock *' as the argument "
                               f"({bt_typename(t)} provided)", c.args[0].span)
        if self.probe.prog_type != uapi.BPF_PROG_TYPE_TRACING:
            raise CompileError("socket_cookie() can only be used in fentry/fexit/rawtracepoint probes "
                               f"({self.probe.provider} used here)", c.span)
        return UINT64

    def skboutput(self, c: A.Call) -> Type:
        """`skboutput(path, skb, length, offset)`: the skb's data written to a pcap file by
        user space. bpf_skb_output exists for tracing programs only (0.26 relays the verifier's
        refusal as below) and takes the skb as a BTF pointer (fentry/fexit/rawtracepoint args)."""
        from .stdlib_types import bt_typename

        self.check_nargs(c, 4, 4)
        if not isinstance(c.args[0], A.Str):
            raise CompileError(f"skboutput() expects a string literal ({bt_typename(self.expr(c.args[0]))} "
                               "provided)", c.span)
        t = self.expr(c.args[1])
        if t.kind is not Kind.POINTER:
            raise CompileError(f"skboutput() only supports pointer arguments ({bt_typename(t)} provided)", c.span)
        for a in c.args[2:]:
            at = self.expr(a)
            if not at.is_int:
                raise CompileError(f"skboutput() only supports integer arguments ({bt_typename(at)} provided)",
                                   c.span)
        if self.probe.prog_type != uapi.BPF_PROG_TYPE_TRACING:
            raise CompileError("helper bpf_skb_output not allowed in probe", c.span)
        st = t.pointee
        if st is None or st.kind is not Kind.STRUCT or (st.name or "").split()[-1] != "sk_buff":
            raise CompileError(f"skboutput() needs a 'struct sk_buff *' ('{t.name or t}' provided)",
                               c.args[1].span)
        off = self.const_int(c.args[3])
        if off is None or off < 0:
            raise CompileError("skboutput() expects a non-negative integer literal as its offset",
                               c.args[3].span)
        return UINT32

    def curtask_type(self) -> Type:
        st = self.db.named("struct task_struct")
        if st is None:
            return UINT64
        return pointer_type(st, "struct task_struct *", "kernel")


def fold_binop(op: str, a: int | None, b: int | None) -> int | None:
    """A constant integer expression's value (tuple indexes such as `[1 - 1]`), or None."""
    if a is None or b is None:
        return None
    if op in ("/", "%") and b == 0:
        return None
    fns = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: int(a / b),
           "%": lambda: a - int(a / b) * b, "<<": lambda: a << b if 0 <= b < 64 else None,
           ">>": lambda: a >> b if 0 <= b < 64 else None, "&": lambda: a & b, "|": lambda: a | b,
           "^": lambda: a ^ b}
    fn = fns.get(op)
    return fn() if fn is not None else None
