"""Which `bpfscope <name>` commands are BCC-style tools, found without importing them.

A tool is a module `tools/<name>.py` (dashes in the command become underscores) that
defines `TOOL`, a `base.Tool` subclass. Modules of the package that are not tools are
listed in `NOT_TOOLS`. `bpfscope tools` imports every tool to print its purpose and
whether this kernel can run it; dispatching one tool stats one file and imports one module.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

_DIR = os.path.dirname(os.path.abspath(__file__))

# helper modules of this package (a new shared helper goes here, or starts with "_")
NOT_TOOLS = {"base", "bccspec", "registry", "bcchist", "timefmt", "cache", "needs", "listing", "dispatch", "users",
             "signals", "syscalls", "events", "fmt", "common"}

# BCC tools that live elsewhere in bpfscope (listed by `bpfscope tools`, dispatched by cli.INSPECT)
EXTERNAL = {
    "bpflist": "Display processes currently using BPF programs and maps",
    "reset-trace": "Reset the state of tracing (kprobes, uprobes, tracepoint events)",
}


def module_name(name: str) -> str:
    return name.replace("-", "_")


def is_tool(name: str) -> bool:
    """`name` is a tool command (cheap: one stat, no import)."""
    if not name or name.startswith(("_", "-", ".")) or "/" in name or name.endswith(".bt"):
        return False
    mod = module_name(name)
    return mod not in NOT_TOOLS and os.path.isfile(os.path.join(_DIR, mod + ".py"))


def names() -> list[str]:
    """Every tool command of this package, sorted."""
    out = []
    for fn in os.listdir(_DIR):
        if fn.endswith(".py") and not fn.startswith("_") and fn[:-3] not in NOT_TOOLS:
            out.append(fn[:-3])
    return sorted(out)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.{module_name(name)}")
