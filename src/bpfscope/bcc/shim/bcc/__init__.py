"""`import bcc` for unchanged BCC tool scripts: the names they import, served by bpfscope.bcc
(our compiler; no libbcc, no clang)."""

from bpfscope.bcc.bpf import BPF, BPFCompileError
from bpfscope.bcc.perfconst import PerfHWConfig, PerfSWConfig, PerfType

from . import utils
from .utils import ArgString, StrcmpRewrite

__all__ = ["BPF", "BPFCompileError", "PerfType", "PerfSWConfig", "PerfHWConfig", "ArgString",
           "StrcmpRewrite", "USDT", "utils"]


class USDT:
    """BCC's USDT contexts are not served yet: constructing one says so (no traceback)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        from bpfscope.bcc.errors import Unsupported

        raise Unsupported("USDT probes in BCC scripts are not supported by bpfscope yet")
