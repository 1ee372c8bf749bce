"""bpf_trace_printk(fmt, ...): BCC's macro copies the literal format onto the stack and calls
the kernel helper with its size and up to three arguments; the text goes to tracefs's
trace_pipe, where the Python side's trace_print()/trace_fields() read it."""

from __future__ import annotations

from ...kernel import insn as I
from ..ctype.types import Type, int_type
from ..diagnostics import CompileError
from ..ebpf.emitter import IntVal
from . import ast as A
from .lvalues import Gen

MAX_ARGS = 3      # the helper's own limit (fmt, fmt_size, arg1..arg3)


def trace_printk(g: Gen, x: A.Call) -> tuple[IntVal, Type]:
    e = g.e
    if not x.args or not isinstance(x.args[0], A.Str):
        raise CompileError("bpf_trace_printk() needs a string literal as its format", x.span)
    if len(x.args) - 1 > MAX_ARGS:
        raise CompileError(f"bpf_trace_printk() takes at most {MAX_ARGS} arguments after the format "
                           f"({len(x.args) - 1} given)", x.span)
    data = x.args[0].value.encode() + b"\0"
    vals = [g.rvalue(a)[0] for a in x.args[1:]]
    off = e.alloc((len(data) + 7) & ~7)
    padded = data + b"\0" * (-len(data) % 8)
    for k in range(0, len(padded), 8):      # the literal, 8 bytes a store
        e.emit(I.ld_imm64(I.R0, int.from_bytes(padded[k:k + 8], "little")))
        e.emit(I.stx(8, I.R10, I.R0, off + k))
    for k, v in enumerate(vals):
        g.to_reg(v, I.R3 + k)
    for v in vals:
        e.release(v)
    e.emit(I.mov64_reg(I.R1, I.R10), I.alu64_imm(I.ADD, I.R1, off), I.mov64_imm(I.R2, len(data)))
    e.call("trace_printk")
    out = e.new_int()
    t = int_type(4, True)
    g.normalize(I.R0, t)
    e.set_from(out, I.R0)
    return out, t
