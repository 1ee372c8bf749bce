"""`import bcc` for unchanged BCC tool scripts: the names they import, served by bpfscope.bcc
(our compiler; no libbcc, no clang)."""

from bpfscope.bcc.bpf import BPF, BPFCompileError
from bpfscope.bcc.perfconst import PerfHWConfig, PerfSWConfig, PerfType
from bpfscope.bcc.usdt import USDT, USDTException

from . import utils
from .utils import ArgString, StrcmpRewrite

__all__ = ["BPF", "BPFCompileError", "PerfType", "PerfSWConfig", "PerfHWConfig", "ArgString",
           "StrcmpRewrite", "USDT", "USDTException", "utils"]
