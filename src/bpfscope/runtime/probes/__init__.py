"""Registry of probe providers (see base.py for the provider contract)."""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {
    "begin": "special", "end": "special", "self": "special", "test": "special", "bench": "special",
    "tracepoint": "tracepoint", "rawtracepoint": "rawtracepoint",
    "profile": "perf", "interval": "perf", "software": "perf", "hardware": "perf",
    "kprobe": "kernelfunc", "kretprobe": "kernelfunc", "fentry": "kernelfunc", "fexit": "kernelfunc",
    "uprobe": "uprobe", "uretprobe": "uprobe", "usdt": "usdt",
    "watchpoint": "watchpoint", "asyncwatchpoint": "watchpoint", "iter": "iter",
}


def provider(name: str) -> ModuleType | None:
    mod = _MODULES.get(name)
    if mod is None:
        return None
    try:
        return importlib.import_module(f"{__name__}.{mod}")
    except ModuleNotFoundError:
        return None
