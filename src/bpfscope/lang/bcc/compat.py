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
        # map_flags (uapi/linux/bpf.h), for BPF_F_TABLE
        "BPF_F_NO_PREALLOC": "1", "BPF_F_NO_COMMON_LRU": "2", "BPF_F_NUMA_NODE": "4", "BPF_F_RDONLY": "8",
        "BPF_F_WRONLY": "16", "BPF_F_ZERO_SEED": "64", "BPF_F_RDONLY_PROG": "128", "BPF_F_WRONLY_PROG": "256",
        "BPF_F_MMAPABLE": "1024",
        "PT_REGS_PARM1(x)": "((x)->di)", "PT_REGS_PARM2(x)": "((x)->si)", "PT_REGS_PARM3(x)": "((x)->dx)",
        "PT_REGS_PARM4(x)": "((x)->cx)", "PT_REGS_PARM5(x)": "((x)->r8)", "PT_REGS_PARM6(x)": "((x)->r9)",
        "PT_REGS_RC(x)": "((x)->ax)", "PT_REGS_IP(x)": "((x)->ip)", "PT_REGS_SP(x)": "((x)->sp)",
        "PT_REGS_FP(x)": "((x)->bp)",
        "IPPROTO_TCP": "6", "IPPROTO_UDP": "17",
        "DISK_NAME_LEN": "32", "BDEVNAME_SIZE": "32", "INET6_ADDRSTRLEN": "46", "INET_ADDRSTRLEN": "16",
        "REQ_OP_BITS": "8", "REQ_OP_MASK": "((1 << 8) - 1)",           # blk_types.h (4.10+)
        "SCM_RIGHTS": "1", "SCM_CREDENTIALS": "2",
        # stat.h's file types
        "S_IFMT": "00170000", "S_IFSOCK": "0140000", "S_IFLNK": "0120000", "S_IFREG": "0100000",
        "S_IFBLK": "0060000", "S_IFDIR": "0040000", "S_IFCHR": "0020000", "S_IFIFO": "0010000",
        "S_ISREG(m)": "(((m) & 00170000) == 0100000)", "S_ISDIR(m)": "(((m) & 00170000) == 0040000)",
        "S_ISCHR(m)": "(((m) & 00170000) == 0020000)", "S_ISBLK(m)": "(((m) & 00170000) == 0060000)",
        "S_ISFIFO(m)": "(((m) & 00170000) == 0010000)", "S_ISLNK(m)": "(((m) & 00170000) == 0120000)",
        "S_ISSOCK(m)": "(((m) & 00170000) == 0140000)",
        "min(x,y)": "((x) < (y) ? (x) : (y))", "max(x,y)": "((x) > (y) ? (x) : (y))",
        "min_t(t,x,y)": "((t)(x) < (t)(y) ? (t)(x) : (t)(y))", "max_t(t,x,y)": "((t)(x) > (t)(y) ? (t)(x) : (t)(y))",
        "__attribute__(x)": "", "__always_unused": "", "__maybe_unused": "",
        "__packed": "__attribute__((packed))", "__aligned(x)": "__attribute__((aligned(x)))",
        # net/ inline accessors and sock.h/inet_sock.h member shorthands
        "tcp_sk(sk)": "((struct tcp_sock *)(sk))", "inet_sk(sk)": "((struct inet_sock *)(sk))",
        "inet_csk(sk)": "((struct inet_connection_sock *)(sk))", "udp_sk(sk)": "((struct udp_sock *)(sk))",
        "inet_daddr": "sk.__sk_common.skc_daddr", "inet_rcv_saddr": "sk.__sk_common.skc_rcv_saddr",
        "inet_dport": "sk.__sk_common.skc_dport", "inet_num": "sk.__sk_common.skc_num",
        "sk_family": "__sk_common.skc_family", "sk_state": "__sk_common.skc_state",
        "sk_daddr": "__sk_common.skc_daddr", "sk_rcv_saddr": "__sk_common.skc_rcv_saddr",
        "sk_dport": "__sk_common.skc_dport", "sk_num": "__sk_common.skc_num",
        "sk_v6_daddr": "__sk_common.skc_v6_daddr", "sk_v6_rcv_saddr": "__sk_common.skc_v6_rcv_saddr",
        "sk_bound_dev_if": "__sk_common.skc_bound_dev_if", "sk_net": "__sk_common.skc_net",
        "sk_reuse": "__sk_common.skc_reuse", "sk_refcnt": "__sk_common.skc_refcnt",
        "FMODE_CREATED": "0x100000",                                  # fs.h (4.19+)
        # x86-64's direct-map base (4-level paging): profile's "is this a kernel ip" check
        "PAGE_OFFSET": "0xffff888000000000ULL",
        "IRQ_NONE": "0", "IRQ_HANDLED": "1", "IRQ_WAKE_THREAD": "2",
        # BCC's helpers header: __data_loc strings of TRACEPOINT_PROBE records
        "TP_DATA_LOC_READ_CONST(dst,field,length)":
            "bpf_probe_read_kernel((void *)dst, length, (char *)args + (args->data_loc_##field & 0xFFFF))",
        "TP_DATA_LOC_READ(dst,field)":
            "bpf_probe_read_kernel((void *)dst, (args->data_loc_##field >> 16), "
            "(char *)args + (args->data_loc_##field & 0xFFFF))",
        "TP_DATA_LOC_READ_STR(dst,field,length)":
            "bpf_probe_read_kernel_str((void *)dst, length, (char *)args + (args->data_loc_##field & 0xFFFF))",
        "likely(x)": "(x)", "unlikely(x)": "(x)",                   # compiler.h
        # time64.h / vdso/time64.h
        "NSEC_PER_USEC": "1000L", "NSEC_PER_MSEC": "1000000L", "NSEC_PER_SEC": "1000000000L",
        "USEC_PER_MSEC": "1000L", "USEC_PER_SEC": "1000000L", "MSEC_PER_SEC": "1000L",
        # math64.h inlines: plain 64-bit divisions on a 64-bit kernel
        "div_u64(a,b)": "((u64)(a) / (u32)(b))", "div64_u64(a,b)": "((u64)(a) / (u64)(b))",
        "div_s64(a,b)": "((s64)(a) / (s32)(b))", "div64_s64(a,b)": "((s64)(a) / (s64)(b))",
        # scatterlist.h: the page_link bits and the inline accessors over them
        "SG_CHAIN": "0x01UL", "SG_END": "0x02UL", "SG_PAGE_LINK_MASK": "0x03UL",
        "sg_is_chain(sg)": "((sg)->page_link & 0x01UL)", "sg_is_last(sg)": "((sg)->page_link & 0x02UL)",
        "sg_chain_ptr(sg)": "((struct scatterlist *)((sg)->page_link & ~0x03UL))",
        "IFNAMSIZ": "16",                                             # if.h
        # skbuff.h inlines: queue_mapping holds the rx queue + 1 (0: none recorded)
        "skb_rx_queue_recorded(skb)": "((skb)->queue_mapping != 0)",
        "skb_get_rx_queue(skb)": "((u16)((skb)->queue_mapping - 1))",
        "skb_get_queue_mapping(skb)": "((skb)->queue_mapping)",
        "READ": "0", "WRITE": "1",                                    # fs.h: an I/O's direction
        "TCP_SKB_CB(__skb)": "((struct tcp_skb_cb *)&((__skb)->cb[0]))",   # net/tcp.h
        # pkt_cls.h: what a tc classifier/action returns
        "TC_ACT_UNSPEC": "(-1)", "TC_ACT_OK": "0", "TC_ACT_RECLASSIFY": "1", "TC_ACT_SHOT": "2",
        "TC_ACT_PIPE": "3", "TC_ACT_STOLEN": "4", "TC_ACT_QUEUED": "5", "TC_ACT_REPEAT": "6",
        "TC_ACT_REDIRECT": "7", "TC_ACT_TRAP": "8",
        # if_ether.h: ethertypes
        "ETH_P_ALL": "0x0003", "ETH_P_IP": "0x0800", "ETH_P_ARP": "0x0806", "ETH_P_8021Q": "0x8100",
        "ETH_P_IPV6": "0x86DD", "ETH_P_8021AD": "0x88A8", "ETH_HLEN": "14", "ETH_ALEN": "6",
        "__always_inline": "", "inline": "", "__inline": "", "volatile": "",
    })
    out.update({n: str(v) for n, v in ERRNO.items()})
    return out


# sock.h's member shorthands: absent when the program defines its own `struct sock` (it did not
# include the kernel's headers then, and its fields may carry these very names)
SOCK_SHORTHANDS = ("sk_family", "sk_state", "sk_daddr", "sk_rcv_saddr", "sk_dport", "sk_num", "sk_v6_daddr",
                   "sk_v6_rcv_saddr", "sk_bound_dev_if", "sk_net", "sk_reuse", "sk_refcnt")


# asm-generic/errno-base.h and errno.h: what error-injecting programs return (-ENOMEM)
ERRNO = {"EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7, "ENOEXEC": 8,
         "EBADF": 9, "ECHILD": 10, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14, "EBUSY": 16,
         "EEXIST": 17, "EXDEV": 18, "ENODEV": 19, "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23,
         "EMFILE": 24, "ENOTTY": 25, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31,
         "EPIPE": 32, "ERANGE": 34, "EDEADLK": 35, "ENAMETOOLONG": 36, "ENOSYS": 38, "ENOTEMPTY": 39,
         "ELOOP": 40, "EOPNOTSUPP": 95, "ENOTSUPP": 524, "ETIMEDOUT": 110, "ECONNREFUSED": 111}
