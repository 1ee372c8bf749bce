"""`@record`: a dataclass that is cheap to define (startup time is measured).

`dataclasses.dataclass` compiles __init__, __repr__, __eq__ (and __hash__, __setattr__ for
frozen classes) with exec() for every class, and calls inspect.signature() for classes without
a docstring: ~0.2 ms per class, ~15 ms for the compiler's node and spec classes at every start.
`record` lets dataclasses collect the fields (so `dataclasses.fields`, `replace`, `asdict`
keep working) and installs shared, closure-based methods with the same behaviour instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_C = TypeVar("_C", bound=type)


@overload
def record(cls: _C, /) -> _C: ...
@overload
def record(*, eq: bool = True, frozen: bool = False) -> Callable[[_C], _C]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: Any = None, /, *, eq: bool = True, frozen: bool = False) -> Any:
    """Like @dataclass / @dataclass(eq=..., frozen=...) for plain field classes."""
    def wrap(c: _C) -> _C:
        if c.__doc__ is None:
            c.__doc__ = c.__name__
        own_repr = "__repr__" in c.__dict__
        dataclass(init=False, repr=False, eq=False)(c)   # collects the fields, in place
        flds = fields(c)
        c.__init__ = _init_for(flds)  # type: ignore[misc]
        if not own_repr:
            c.__repr__ = _repr  # type: ignore[assignment]
        if eq and "__eq__" not in c.__dict__:
            get = _getter(tuple(f.name for f in flds if f.compare))
            c.__eq__ = _eq_for(get)  # type: ignore[assignment]
            hashed = _getter(tuple(f.name for f in flds if (f.compare if f.hash is None else f.hash)))
            c.__hash__ = _hash_for(hashed) if frozen else None  # type: ignore[assignment]
        if frozen:
            c.__setattr__ = _frozen_setattr  # type: ignore[assignment]
            c.__delattr__ = _frozen_delattr  # type: ignore[assignment]
        return c

    return wrap if cls is None else wrap(cls)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)  # type: ignore[return-value]


def _repr(self: Any) -> str:
    args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({args})"


def _eq_for(get: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return get(self) == get(other)
        return NotImplemented
    return __eq__


def _hash_for(get: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(get(self))
    return __hash__


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _init_for(flds: tuple[Field[Any], ...]) -> Callable[..., None]:
    """The __init__ dataclass would generate: positional fields in order, kw-only ones after,
    defaults and default factories applied, unknown or missing arguments a TypeError."""
    pos = [(f.name, f.default, f.default_factory) for f in flds if f.init and not f.kw_only]
    kwo = [(f.name, f.default, f.default_factory) for f in flds if f.init and f.kw_only]
    known = frozenset(f.name for f in flds if f.init)
    names = tuple(n for n, _, _ in pos)
    kwo_names = frozenset(n for n, _, _ in kwo)
    # the usual call, every positional field given and plain kw-only defaults: dict updates only
    simple_kwo = ({n: d for n, d, _ in kwo}
                  if all(fac is MISSING and d is not MISSING for _, d, fac in kwo) else None)

    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        d = self.__dict__
        if simple_kwo is not None and len(args) == len(names) and (not kw or kwo_names.issuperset(kw)):
            d.update(zip(names, args, strict=True))
            d.update(simple_kwo)
            if kw:
                d.update(kw)
            return
        if len(args) > len(pos):
            raise TypeError(f"{type(self).__name__}() takes {len(pos)} positional arguments")
        for (name, _, _), v in zip(pos, args, strict=False):
            if name in kw:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument '{name}'")
            d[name] = v
        for name, dflt, factory in pos[len(args):] + kwo:
            if name in kw:
                d[name] = kw[name]
            elif dflt is not MISSING:
                d[name] = dflt
            elif factory is not MISSING:
                d[name] = factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing argument: '{name}'")
        if kw and not known.issuperset(kw):
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{next(iter(set(kw) - known))!r}")

    return __init__
