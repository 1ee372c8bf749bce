"""Which language features need which kernel: when the verifier rejects a program because
the running kernel lacks a BPF helper, say which feature needs it and from which Linux
release, located at the statement that uses it, instead of relaying the verifier's log.
"""

from __future__ import annotations

import os
import re

from ..kernel import insn as I
from ..kernel.uapi import HELPER_ID
from ..lang.diagnostics import CompileError
from ..lang.spec import ProgSpec

# helper -> (first Linux release with it, what needs it)
HELPER_NEEDS: dict[str, tuple[str, str]] = {
    "loop": ("5.17", "range loops (for ($i : a..b)), globmatch() and strstr()/strcontains() on strings "
                      "longer than 64 bytes"),
    "for_each_map_elem": ("5.13", "map loops (for ($kv : @map)) and len(@map)"),
    "ktime_get_tai_ns": ("6.1", "tseries()"),
    "map_lookup_percpu_elem": ("5.19", "reading count()/sum()/min()/max()/avg() values in a probe"),
    "get_func_ip": ("5.15", "the func builtin"),
    "trace_vprintk": ("5.16", "debugf()"),
    "ktime_get_boot_ns": ("5.8", "nsecs(boot)"),
    "ringbuf_output": ("5.8", "printf() and the other outputs to user space"),
    "jiffies64": ("5.5", "the jiffies builtin"),
    "skb_output": ("5.5", "skboutput()"),
    "send_signal_thread": ("5.5", "signal_thread()"),
    "send_signal": ("5.3", "signal()"),
    "probe_read_kernel": ("5.5", "reading kernel memory"),
    "probe_read_user": ("5.5", "reading user memory"),
    "probe_read_kernel_str": ("5.5", "str() on kernel memory"),
    "probe_read_user_str": ("5.5", "str() on user memory"),
}
_REJECT = re.compile(r"(?:unknown func|invalid func|cannot use helper) (?:bpf_)?(\w+)#(\d+)")


def missing_helper(ps: ProgSpec, log: str) -> CompileError | None:
    """A plain, located error when `log` says a helper is unavailable; None otherwise."""
    m = _REJECT.search(log)
    if m is None:
        return None
    hid = int(m.group(2))
    name = next((n for n, i in HELPER_ID.items() if i == hid), m.group(1))
    need = HELPER_NEEDS.get(name)
    span = ps.probe.span
    for idx, ins in enumerate(ps.insns):
        if ins.code == I.call(0).code and ins.src == 0 and ins.imm == hid:
            for first, sp in ps.spans:
                if first <= idx:
                    span = sp
            break
    release = os.uname().release
    if need is None:
        return CompileError(f"this kernel ({release}) does not provide the BPF helper bpf_{name} that "
                            f"{ps.probe.name} needs", span)
    version, feature = need
    return CompileError(f"{feature} needs Linux {version} or newer (the BPF helper bpf_{name}); "
                        f"this kernel is {release}", span)


def gpl_only_helper(ps: ProgSpec, log: str) -> CompileError | None:
    """0.26's error when the config's license is not GPL-compatible and a helper the kernel
    keeps for GPL programs is used: located at the statement that calls it."""
    if "cannot call GPL-restricted function" not in log:
        return None
    calls = re.findall(r"call (?:bpf_)?(\w+)#(\d+)", log.split("cannot call GPL-restricted function")[0])
    if not calls:
        return None
    hid = int(calls[-1][1])
    name = next((n for n, i in HELPER_ID.items() if i == hid), calls[-1][0])
    span = ps.probe.span
    for idx, ins in enumerate(ps.insns):
        if ins.code == I.call(0).code and ins.src == 0 and ins.imm == hid:
            for first, sp in ps.spans:
                if first <= idx:
                    span = sp
            break
    return CompileError(f"helper bpf_{name} can only be used in GPL-compatible programs", span)
