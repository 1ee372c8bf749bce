"""`-l 'struct task_struct'` and `-lv 'struct task_*'`: kernel types listed from BTF.

bpftrace 0.26 treats a search that starts with `struct `, `union ` or `enum ` as a type search:
`-l` prints the matching type names, `-lv` their C definitions as libbpf's btf_dump writes them
(a definition opens on a line ending in `{` and closes on `};` at the start of a line), each followed
by an empty line, in sorted order.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

PREFIXES = ("struct ", "union ", "enum ")
_KINDS = {"struct": "struct", "union": "union", "enum": "enum", "enum64": "enum"}


def is_type_name(search: str) -> bool:
    return search.startswith(PREFIXES)


def listing(search: str, verbose: bool = False) -> list[str]:
    """Output lines for one type search (a glob on `struct name`)."""
    from ...kernel.btf import Btf

    btf = Btf.vmlinux()
    named: dict[str, list[int]] = {}
    for kind, spelled in _KINDS.items():
        for tid in btf.ids(kind):
            name = btf.name_of(tid)
            if name:
                named.setdefault(f"{spelled} {name}", []).append(tid)
    hits = sorted(n for n in named if fnmatchcase(n, search))
    if not verbose:
        return hits
    from ...kernel.btf_dump import dump_c

    text = dump_c(btf, [tid for n in hits for tid in named[n]])
    defs: set[str] = set()
    cur: list[str] = []
    for line in text.splitlines():
        if cur:
            cur.append(line)
            if line.startswith("}"):   # `};`, or `} name_t;` closing a typedef'd anonymous one
                defs.add("\n".join(cur))
                cur = []
        elif line.endswith("{"):
            cur = [line]
    out: list[str] = []
    for d in sorted(x for x in defs if fnmatchcase(x, search + " *{*}*")):
        out += [*d.split("\n"), ""]
    return out
