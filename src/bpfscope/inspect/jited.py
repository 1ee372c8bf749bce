"""`prog dump jited`: x86-64 machine code through capstone (an optional dependency)."""

from __future__ import annotations

from ..kernel import objinfo
from .common import CmdError, Ctx, hex_bytes


def dump_jited(ctx: Ctx, info: objinfo.ProgInfo, opcodes: bool, linum: bool) -> int:
    """Print the JITed image one instruction a line (`   0:\tpush   rbp`), per function."""
    del linum
    if not info.jited:
        raise CmdError("no instructions returned")
    try:
        import capstone  # type: ignore[import-not-found]
    except ImportError:
        raise CmdError("jited dump needs the optional 'capstone' package") from None
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lens = info.jited_func_lens or [len(info.jited)]
    start = 0
    out = []
    for n, flen in enumerate(lens):
        if len(lens) > 1:
            out.append(f"{'' if n == 0 else chr(10)}func #{n}:")
        code = info.jited[start:start + flen]
        base = info.jited_ksyms[n] if n < len(info.jited_ksyms) else 0
        for ins in md.disasm(code, base):
            rel = ins.address - base
            out.append(f"{rel:4x}:\t{ins.mnemonic}\t{ins.op_str}".rstrip())
            if opcodes:
                out.append("\t" + hex_bytes(bytes(ins.bytes)))
        start += flen
    ctx.out.write("\n".join(out) + "\n")
    return 0
