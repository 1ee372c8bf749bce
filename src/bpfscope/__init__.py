"""bpfscope: BPF performance tools in pure Python.

The public API is imported lazily so `import bpfscope` (and CLI startup) stays cheap:

- ``Program``: compile, load, attach, read maps while attached, events, close.
- Errors a daemon catches: ``CompileError`` (the program text: parse, types, a probe that
  does not exist — ``ProbeError`` — or the verifier's rejection — ``VerifierError``, all
  with a source location) and ``BpfscopeError`` (the system: privileges, kernel features).
- Typed map values: ``Histogram``/``Bucket``/``Stats`` (what ``Program.maps()`` returns for
  ``hist``/``lhist``/``stats``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .lang.diagnostics import CompileError
    from .runtime.probes.base import ProbeError
    from .runtime.program import BpfscopeError, Program, VerifierError
    from .runtime.values import Bucket, Event, Histogram, Stats

_LAZY = {
    "Program": ".runtime.program", "BpfscopeError": ".runtime.program", "VerifierError": ".runtime.program",
    "CompileError": ".lang.diagnostics", "ProbeError": ".runtime.probes.base",
    "Histogram": ".runtime.values", "Bucket": ".runtime.values", "Stats": ".runtime.values", "Event": ".runtime.values",
}

__all__ = ["Bucket", "BpfscopeError", "CompileError", "Event", "Histogram", "ProbeError", "Program", "Stats",
           "VerifierError", "__version__"]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(mod, __name__), name)
