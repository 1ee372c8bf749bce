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
    warn = getattr(g, "warnings", None)
    if warn is not None:
        warn.extend((x.args[0].span, w) for w in format_warnings(x.args[0].value))
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


def format_warnings(fmt: str) -> list[str]:
    """What BCC's front end warns about in a bpf_trace_printk format (the program still loads):
    a conversion other than %d %u %x %p %s (with l/ll), and more than one %s."""
    out: list[str] = []
    strings = 0
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            i += 1
            continue
        i += 1
        if i < len(fmt) and fmt[i] == "%":
            i += 1
            continue
        while i < len(fmt) and fmt[i] in "-+ #0123456789.":    # flags, width, precision
            i += 1
        length = 0
        while i < len(fmt) and fmt[i] == "l" and length < 2:
            i += 1
            length += 1
        conv = fmt[i] if i < len(fmt) else ""
        i += 1
        if conv == "s" and not length:
            strings += 1
            if strings == 2:
                out.append("cannot use several %s conversion specifiers")
        elif not (conv and conv in "diux" or conv in ("c", "p") and not length):
            msg = "only %d %u %x %ld %lu %lx %lld %llu %llx %p %s conversion specifiers allowed"
            if msg not in out:
                out.append(msg)
    return out
