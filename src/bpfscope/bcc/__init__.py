"""BCC's Python API on bpfscope's own compiler: `from bpfscope.bcc import BPF` runs BCC
programs (C text with BCC's macros) without clang or libbcc."""

from __future__ import annotations

from typing import Any

__all__ = ["BPF", "BPFCompileError", "USDT", "USDTException"]


def __getattr__(name: str) -> Any:   # lazy: importing bpfscope.bcc stays cheap
    if name in ("BPF", "BPFCompileError"):
        from . import bpf

        return getattr(bpf, name)
    if name in ("USDT", "USDTException"):
        from . import usdt

        return getattr(usdt, name)
    raise AttributeError(name)
