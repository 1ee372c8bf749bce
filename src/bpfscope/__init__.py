"""bpfscope: BPF performance tools in pure Python.

`bpfscope.Program` is imported lazily so `import bpfscope` (and CLI startup) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .runtime.program import Program

__all__ = ["Program", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Program":
        from .runtime.program import Program

        return Program
    raise AttributeError(name)
