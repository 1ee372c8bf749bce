"""Typing of scratch variables: `let` declarations with optional types, bare `let $x;`.

A mixin of `typecheck.ProbeTypes`. Variables are already unique per declaration (see
desugar.Scopes). A typed declaration (`let $x: uint8 = 7;`) fixes the variable's type:
later assignments must fit, and integers are narrowed to it, as in bpftrace. A bare
`let $x;` takes the type of a later assignment (seen in the previous inference pass), or
is an int64 zero when nothing is ever assigned.
"""

from __future__ import annotations

from ..ctype.types import INT64, NONE, Kind, Type, string_type
from ..diagnostics import CompileError
from . import ast as A
from .desugar import display
from .typeops import kv_type, unify


class VarTypes:
    vars: dict[str, Type]
    types: dict[int, Type]
    max_strlen: int

    def expr(self, e: A.Expr, statement: bool = False) -> Type:  # pragma: no cover - ProbeTypes
        raise NotImplementedError

    def cast_type(self, tn: A.TypeName) -> Type:  # pragma: no cover - ProbeTypes
        raise NotImplementedError

    @property
    def fixed_vars(self) -> set[str]:
        s = self.__dict__.get("_fixed")
        if s is None:
            s = self.__dict__["_fixed"] = set()
        return s  # type: ignore[no-any-return]

    @property
    def prior_vars(self) -> dict[str, Type]:
        return self.__dict__.get("_prior") or {}

    @prior_vars.setter
    def prior_vars(self, v: dict[str, Type]) -> None:
        self.__dict__["_prior"] = v

    def declared_type(self, tn: A.TypeName) -> Type:
        if tn.of is not None:
            t = self.expr(tn.of)
            if t.kind is Kind.NONE:
                raise CompileError("Variables can not be of type void", tn.span)
            return t
        if tn.name in ("string", "str_t") and not tn.pointer:
            return string_type(tn.array or self.max_strlen)
        t = self.cast_type(tn)
        if t.kind is Kind.NONE:
            raise CompileError("Variables can not be of type void", tn.span)
        return t

    def let(self, s: A.Let) -> None:
        name = s.var.name
        if s.decl_type is not None:
            t = self.declared_type(s.decl_type)
            self.vars[name] = t
            self.fixed_vars.add(name)
            if s.value is not None:
                vt = self.expr(s.value)
                self.check_fixed(name, vt, s)
            self.types[id(s.var)] = t
            return
        if s.value is not None:
            vt = self.expr(s.value)
            if vt.kind is Kind.NONE:
                raise CompileError("Value of this expression cannot be assigned to a variable", s.value.span)
            self.vars[name] = unify(self.vars.get(name), vt, display(name), s.span)
        elif name not in self.vars:
            self.vars[name] = self.prior_vars.get(name, NONE)
        self.types[id(s.var)] = self.vars[name]

    def check_fixed(self, name: str, vt: Type, s: A.Let | A.Assign) -> None:
        t = self.vars[name]
        value = s.value
        assert value is not None
        if t.is_int and vt.is_int:
            if vt != t and not isinstance(value, A.Cast):
                s.value = _narrow(value, t)
                self.types[id(s.value)] = t
            return
        if t.kind is Kind.STRING and vt.kind is Kind.STRING:
            if vt.size > t.size:
                raise CompileError(f"Type mismatch for {display(name)}: trying to assign value of type '{vt}' "
                                   f"when variable already has a type '{t}'", s.span)
            return
        if t.kind == vt.kind and t.kind not in (Kind.INT,):
            return
        if t.kind is Kind.POINTER and vt.is_int:
            return
        raise CompileError(f"Type mismatch for {display(name)}: trying to assign value of type '{vt}' "
                           f"when variable already has a type '{t}'", s.span)

    def var_use(self, e: A.Var) -> Type:
        t = self.vars.get(e.name)
        if t is None:
            raise CompileError(f"Undefined or undeclared variable: {display(e.name)}", e.span)
        if t.kind is Kind.NONE:
            t = self.prior_vars.get(e.name, INT64)
            if t.kind is Kind.NONE:
                t = INT64
            self.vars[e.name] = t
        return t

    def for_map_var(self, s: A.For) -> Type:
        """`$kv` of `for ($kv : @m)`: (key, value), keys of multi-key maps as a tuple."""
        m = s.iterable
        if not isinstance(m, A.Map) or m.keys:
            raise CompileError("Loop expression must be a map (without keys) or a range a..b", m.span)
        info = self.maps.maps.get(m.name)  # type: ignore[attr-defined]
        if info is None:
            raise CompileError(f"Undefined map: {m.name}", m.span)
        if info.scalar:
            raise CompileError(f"{m.name} has no keys: only maps with keys can be iterated over", m.span)
        if info.value is not None and info.value.kind in (Kind.HIST, Kind.LHIST, Kind.STATS, Kind.TSERIES):
            raise CompileError(f"Loops over {info.value.kind.value}() maps are not supported", m.span)
        return kv_type(info.key, info.value)


def _narrow(value: A.Expr, t: Type) -> A.Expr:
    """`value` as a cast to the declared integer type (the cast carries its own type)."""
    tn = A.TypeName(f"{'int' if t.signed else 'uint'}{t.size * 8}", span=value.span)
    if t.kind is Kind.BOOL:
        tn = A.TypeName("bool", span=value.span)
    return A.Cast(tn, value, span=value.span)
