"""Kernel #defines that BCC programs get from headers but BTF does not carry (macros are not
types). `#include <linux/...>` is a no-op for us — types come from BTF — so these are always
defined, unless the program defines the name itself."""

from __future__ import annotations

import mmap
import os

from ..ctype.header_consts import WELL_KNOWN


def kernel_version_code(release: str | None = None) -> int:
    """LINUX_VERSION_CODE of the running kernel (uname -r), as KERNEL_VERSION(a, b, c) packs it."""
    rel = release if release is not None else os.uname().release
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in rel.split("-")[0].split(".")[:3]]
    a, b, c = (parts + [0, 0, 0])[:3]
    return (a << 16) + (b << 8) + min(c, 255)


def predefined() -> dict[str, str]:
    """Macro name (with `(params)` for function-like ones) → replacement text."""
    out = dict(WELL_KNOWN)
    out.update({
        "TASK_COMM_LEN": "16", "NAME_MAX": "255", "PATH_MAX": "4096", "DNAME_INLINE_LEN": "32",
        "PF_KTHREAD": "0x00200000", "PAGE_SIZE": str(mmap.PAGESIZE), "AF_INET": "2", "AF_INET6": "10",
        "KERNEL_VERSION(a,b,c)": "(((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))",
        "LINUX_VERSION_CODE": str(kernel_version_code()),
        "NULL": "((void *)0)", "true": "1", "false": "0",
        "__BCC__": "1", "__BPF_TRACING__": "1", "__KERNEL__": "1", "__x86_64__": "1",
        "BPF_F_CURRENT_CPU": "0xffffffffULL", "BPF_ANY": "0", "BPF_NOEXIST": "1", "BPF_EXIST": "2",
        "PT_REGS_PARM1(x)": "((x)->di)", "PT_REGS_PARM2(x)": "((x)->si)", "PT_REGS_PARM3(x)": "((x)->dx)",
        "PT_REGS_PARM4(x)": "((x)->cx)", "PT_REGS_PARM5(x)": "((x)->r8)", "PT_REGS_PARM6(x)": "((x)->r9)",
        "PT_REGS_RC(x)": "((x)->ax)", "PT_REGS_IP(x)": "((x)->ip)", "PT_REGS_SP(x)": "((x)->sp)",
        "PT_REGS_FP(x)": "((x)->bp)",
        "IPPROTO_TCP": "6", "IPPROTO_UDP": "17",
        "IRQ_NONE": "0", "IRQ_HANDLED": "1", "IRQ_WAKE_THREAD": "2",
        # BCC's helpers header: __data_loc strings of TRACEPOINT_PROBE records
        "TP_DATA_LOC_READ_CONST(dst,field,length)":
            "bpf_probe_read_kernel((void *)dst, length, (char *)args + (args->data_loc_##field & 0xFFFF))",
        "TP_DATA_LOC_READ(dst,field)":
            "bpf_probe_read_kernel((void *)dst, (args->data_loc_##field >> 16), "
            "(char *)args + (args->data_loc_##field & 0xFFFF))",
        "TP_DATA_LOC_READ_STR(dst,field,length)":
            "bpf_probe_read_kernel_str((void *)dst, length, (char *)args + (args->data_loc_##field & 0xFFFF))",
        "__always_inline": "", "inline": "", "__inline": "", "static": "", "volatile": "",
    })
    return out
