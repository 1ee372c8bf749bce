"""bpf_usdt_readarg(n, ctx, &dst) and bpf_usdt_readarg_p(n, ctx, buf, len) in a function that
USDT.enable_probe() bound to a probe: the argument is read where the probe's note says it is
(lang.ebpf.locarg). As in BCC, readarg writes only when sizeof(*dst) equals the argument's
size, the largest among the probe's locations (else it returns -1), and readarg_p reads
`len` bytes of user memory at the argument taken as an address."""

from __future__ import annotations

from ...kernel import insn as I
from ..ctype.types import Kind, Type
from ..diagnostics import CompileError
from ..ebpf.emitter import IntVal
from ..ebpf.locarg import load_loc_arg
from ..spec import LocArg
from . import ast as A
from .lvalues import Gen
from .typenames import INT


def readarg(g: Gen, x: A.Call, args: list[LocArg] | None) -> tuple[IntVal, Type]:
    want = 3 if x.func == "bpf_usdt_readarg" else 4
    if len(x.args) != want:
        raise CompileError(f"{x.func}() takes {want} arguments", x.span)
    if args is None:
        raise CompileError(f"{x.func}() needs a function enabled on a USDT probe "
                           "(USDT.enable_probe(probe=, fn_name=) and BPF(usdt_contexts=[...]))", x.span)
    n = g.const_value(x.args[0])
    if n is None or not 1 <= n <= len(args):
        raise CompileError(f"argument index must be a constant from 1 to {len(args)} "
                           f"(this probe has {len(args)} argument{'s' if len(args) != 1 else ''})",
                           x.args[0].span)
    a = args[n - 1]
    e = g.e
    if want == 3:
        p, pt = g.rvalue(x.args[2])
        if pt.kind is not Kind.POINTER or pt.pointee is None or pt.pointee.size == 0:
            raise CompileError(f"{x.func}()'s third argument must point to the variable to fill "
                               "(&var)", x.args[2].span)
        want = a.decl_size or a.size       # BCC: the largest size among the probe's locations
        if pt.pointee.size != want:        # BCC: `if (len != sizeof(argtype)) return -1`
            e.release(p)
            return g.imm(-1, INT)
        load_loc_arg(e, a)                 # this location's value, extended to 64 bits
        rp = e.load(p, I.R1)
        e.emit(I.stx(want if want in (1, 2, 4, 8) else 8, rp, I.R0, 0))
        e.release(p)
        return g.imm(0, INT)
    buf, _ = g.rvalue(x.args[2])
    size, _ = g.rvalue(x.args[3])
    if a.size == 8:
        load_loc_arg(e, a)
        e.emit(I.mov64_reg(I.R3, I.R0))
    else:                                   # BCC reads the address into a u64 only when sizes match
        e.emit(I.mov64_imm(I.R3, 0))
    g.to_reg(buf, I.R1)
    g.to_reg(size, I.R2)
    e.release(buf)
    e.release(size)
    e.call("probe_read_user")
    out = e.new_int()
    g.normalize(I.R0, INT)
    e.set_from(out, I.R0)
    return out, INT
