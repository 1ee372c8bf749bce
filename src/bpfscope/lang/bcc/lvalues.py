"""Where a C object lives (an lvalue), and the generator interface that table methods
(methods.py) call back into, so methods and codegen need not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..ctype.types import Type
from ..diagnostics import Span
from ..ebpf.emitter import Emitter, IntVal
from .tables import TableSpec


@dataclass
class LV:
    """Memory at base+off; base is 'stack' (r10), 'ctx' (r6), 'ptr' (a temporary), 'ctxptr',
    or 'kmem' (kernel memory at the temporary `ptr`: read with bpf_probe_read_kernel, as BCC's
    rewriter does for `task->real_parent->tgid`). bits: (shift, width) of a bitfield."""
    base: str
    off: int
    type: Type
    ptr: IntVal | None = None
    bits: tuple[int, int] | None = None


class Gen(Protocol):
    e: Emitter

    def table(self, name: str, span: Span) -> tuple[int, TableSpec]: ...
    def dry(self, fn: Any) -> Any: ...
    def lvalue(self, x: Any) -> LV: ...
    def rvalue(self, x: Any) -> tuple[IntVal, Type]: ...
    def to_reg(self, v: IntVal, dst: int) -> None: ...
    def imm(self, value: int, t: Type) -> tuple[IntVal, Type]: ...
    def normalize(self, r: int, t: Type) -> None: ...
    def convert(self, r: int, frm: Type, to: Type) -> None: ...
    def const_value(self, x: Any) -> int | None: ...
    def copy(self, dst: LV, src: LV) -> None: ...
    def stmt(self, s: Any) -> None: ...
