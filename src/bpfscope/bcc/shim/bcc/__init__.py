"""`import bcc` for unchanged BCC tool scripts: the names they import, served by bpfscope.bcc
(our compiler; no libbcc, no clang)."""

from bpfscope.bcc.bpf import BPF, BPFCompileError
from bpfscope.bcc.perfattr import Perf, PerfEventSampleFormat
from bpfscope.bcc.perfconst import PerfHWConfig, PerfSWConfig, PerfType
from bpfscope.bcc.symcache import SymbolCache
from bpfscope.bcc.usdt import USDT, USDTException

from . import utils
from .utils import ArgString, StrcmpRewrite

__all__ = ["BPF", "BPFCompileError", "PerfType", "PerfSWConfig", "PerfHWConfig", "Perf",
           "PerfEventSampleFormat", "ArgString",
           "StrcmpRewrite", "SymbolCache", "USDT", "USDTException", "utils"]
