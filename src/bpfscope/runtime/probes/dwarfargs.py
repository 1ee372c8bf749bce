"""A uprobe's `args` from the probed binary's DWARF, as bpftrace 0.26 types them.

Each parameter is read from the calling convention's argument register of its position
(bpftrace does the same, so a function with stack-passed parameters gets no `args`);
pointers point into user memory. Used only when the probe's body reads `args`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lang.ctype.dwarftypes import dwarf_type
from ...lang.spec import ArgField
from .base import fail

if TYPE_CHECKING:
    from ...kernel.dwarf import Param
    from ...lang.bpftrace.ast import AttachPoint


def _params(path: str, func: str, vaddr: int | None) -> list[Param] | None:
    from ...kernel import dwarf

    return dwarf.function_params(path, func, vaddr)


def uprobe_args(ap: AttachPoint, probe_name: str, path: str, shown: str, func: str,
                vaddr: int | None) -> list[ArgField]:
    """`args` fields of `func` in `path` (`shown` is the target as the probe names it).
    Errors are 0.26's: "Could not parse arguments of "<probe>": <why>"."""
    from ...kernel import dwarf, kprobes

    try:
        params = _params(path, func, vaddr)
    except dwarf.DwarfError as e:
        raise fail(ap, f'Could not parse arguments of "{probe_name}": {e}') from None
    if params is None:
        raise fail(ap, f'Could not parse arguments of "{probe_name}": no debuginfo found for {shown}')
    out = []
    for i, p in enumerate(params):
        off = kprobes.arg_offset(i)
        if off is None:
            raise fail(ap, f'Could not parse arguments of "{probe_name}": \'args\' builtin is not supported '
                           f'for probes with stack-passed arguments.')
        if p.type.kind in ("struct", "union", "array"):
            raise fail(ap, f'Could not parse argument "{p.name}" of "{probe_name}": a {p.type.name} passed by '
                           f'value is not supported (bpfscope reads arguments from registers)')
        if not p.name:
            continue
        out.append(ArgField(p.name, dwarf_type(p.type), off, user=p.type.kind == "pointer"))
    return out


def describe(path: str, func: str, vaddr: int | None) -> list[str]:
    """`-lv` lines for a uprobe: `    int* n` per parameter (nothing without debug info);
    `vaddr`, the symbol's address, saves a walk over every compile unit."""
    from ...kernel import dwarf

    try:
        params = _params(path, func, vaddr)
    except (dwarf.DwarfError, OSError):
        return []
    return [f"    {p.type.name} {p.name}".rstrip() for p in params or []]
