"""A frame kept in a per-CPU scratch map value instead of the 512-byte BPF stack.

bpftrace keeps values too large for the BPF stack in per-CPU scratch space. Code is first
generated against r10 as usual; when its frame is too big, every r10-relative access is
redirected to r9, which the program's prologue points at the end of the scratch value.
"""

from __future__ import annotations

from ...kernel import insn as I

SCRATCH_LIMIT = 32768 - 8   # a per-CPU map value holds at most 32 KiB


def redirect_frame(insns: list[I.Insn], keep: tuple[I.Insn, ...] | list[I.Insn] = ()) -> list[I.Insn]:
    """Rewrite r10-relative loads, stores and address computations to use r9 (in place),
    except the instructions in `keep` (slots that must stay on the real stack)."""
    kept = {id(k) for k in keep}
    for ins in insns:
        if id(ins) in kept:
            continue
        cls = ins.code & 0x07
        if cls == 0x01 and ins.src == I.R10:            # ldx
            ins.src = I.R9
        elif cls in (0x02, 0x03) and ins.dst == I.R10:  # st / stx
            ins.dst = I.R9
        elif cls in (0x04, 0x07) and ins.src == I.R10 and ins.code & 0x08:  # alu reg source (mov r, r10)
            ins.src = I.R9
    return insns
