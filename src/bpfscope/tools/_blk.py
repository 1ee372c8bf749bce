"""What the block I/O tools (biolatency, biosnoop) share: their probes, disk lookup and
BCC's names for request flags.

BCC kprobes blk_account_io_start / blk_mq_start_request / blk_account_io_done with the
`struct request *`; the BTF-typed raw tracepoints block_io_start (Linux 6.5+; older:
block_rq_insert), block_rq_issue and block_rq_complete hand us the same pointer on
every kernel with BTF, kprobes or not.
"""

from __future__ import annotations

import os

from .base import ToolError
from .needs import Need, have_tracepoint

ISSUE = "rawtracepoint:block_rq_issue"
DONE = "rawtracepoint:block_rq_complete"


def queued_probe() -> str:
    """When a request enters the OS queue (BCC: blk_account_io_start)."""
    return "rawtracepoint:block_io_start" if have_tracepoint("block:block_io_start") \
        else "rawtracepoint:block_rq_insert"


def needs() -> list[Need]:
    return [Need("btf", instead="the block tools read struct request through BTF"),
            Need("feature", "rawtracepoint", instead="raw tracepoints need Linux 4.17"),
            Need("tracepoint", "block:block_rq_issue"),
            Need("tracepoint", "block:block_rq_complete")]


def disk_devt(name: str) -> tuple[int, int]:
    """-d DISK: (major, first minor) of a disk, from /proc/diskstats as BCC reads it."""
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[2] == os.path.basename(name):
                    return int(parts[0]), int(parts[1])
    except OSError:
        pass
    raise ToolError(f"no such disk '{name}'")


def disk_filter(name: str | None, rq: str = "args.rq") -> str:
    """A predicate condition keeping requests of disk `name` ("" without -d)."""
    if not name:
        return ""
    major, minor = disk_devt(name)
    return f"{rq}->q->disk->major == {major} && {rq}->q->disk->first_minor == {minor}"


# BCC's names (see its flags_print), looked up by kernel bit name so new layouts still decode
_OPS = {0: "Read", 1: "Write", 2: "Flush", 3: "Discard", 5: "SecureErase", 6: "ZoneReset",
        7: "WriteSame", 9: "WriteZeros"}
_FLAGS = (("__REQ_SYNC", "Sync"), ("__REQ_META", "Metadata"), ("__REQ_FUA", "ForcedUnitAccess"),
          ("__REQ_PRIO", "Priority"), ("__REQ_NOMERGE", "NoMerge"), ("__REQ_IDLE", "Idle"),
          ("__REQ_RAHEAD", "ReadAhead"), ("__REQ_BACKGROUND", "Background"),
          ("__REQ_NOWAIT", "NoWait"))
_DEFAULT_BITS = {"__REQ_SYNC": 11, "__REQ_META": 12, "__REQ_PRIO": 13, "__REQ_NOMERGE": 14,
                 "__REQ_IDLE": 15, "__REQ_FUA": 17, "__REQ_RAHEAD": 19, "__REQ_BACKGROUND": 20,
                 "__REQ_NOWAIT": 21}
_bits: dict[str, int] | None = None


def _flag_bits() -> dict[str, int]:
    global _bits
    if _bits is None:
        _bits = dict(_DEFAULT_BITS)
        try:
            from ..kernel.btf import Btf

            btf = Btf.vmlinux()
            tid = btf.find("req_flag_bits")
            if tid is not None:
                _bits.update({n: v for n, v in btf.get(tid).values if n in _bits})
        except (OSError, ValueError, KeyError):
            pass
    return _bits


def flags_text(flags: int) -> str:
    """BCC's -F section name: "Sync-Write", "ReadAhead-Read", ..."""
    desc = _OPS.get(flags & 0xFF, "Unknown")
    bits = _flag_bits()
    for name, word in _FLAGS:
        if flags & (1 << bits[name]):
            desc = f"{word}-{desc}"
    return desc
