"""Constants that scripts get from kernel headers (`#include <linux/socket.h>` ...).

bpftrace runs the preamble through clang with the kernel headers; we parse no headers, and
macros are not in BTF. Scripts written for bpftrace ≤ 0.17 (Debian's tools: tcpdrop.bt,
runqlat.bt, ...) use a handful of them; those are defined here when a script includes a
kernel header and does not define the name itself. Values are the Linux UAPI/ABI ones.
"""

from __future__ import annotations

WELL_KNOWN: dict[str, str] = {
    # linux/socket.h address families
    "AF_UNSPEC": "0", "AF_UNIX": "1", "AF_LOCAL": "1", "AF_INET": "2", "AF_INET6": "10",
    "AF_NETLINK": "16", "AF_PACKET": "17",
    # linux/sched.h task states
    "TASK_RUNNING": "0", "TASK_INTERRUPTIBLE": "1", "TASK_UNINTERRUPTIBLE": "2",
    "__TASK_STOPPED": "4", "__TASK_TRACED": "8", "EXIT_DEAD": "16", "EXIT_ZOMBIE": "32",
    "TASK_PARKED": "64", "TASK_DEAD": "128", "TASK_WAKEKILL": "256", "TASK_NOLOAD": "1024",
    # fcntl.h open flags (x86-64)
    "O_RDONLY": "0", "O_WRONLY": "1", "O_RDWR": "2", "O_CREAT": "64", "O_EXCL": "128",
    "O_TRUNC": "512", "O_APPEND": "1024", "O_NONBLOCK": "2048", "O_DIRECTORY": "65536",
    "O_CLOEXEC": "524288",
    # linux/in.h protocols
    "IPPROTO_IP": "0", "IPPROTO_ICMP": "1", "IPPROTO_TCP": "6", "IPPROTO_UDP": "17",
    "IPPROTO_IPV6": "41", "IPPROTO_ICMPV6": "58",
}


# headers that bring the syscall numbers (`__NR_name`, glibc's `SYS_name`)
SYSCALL_HEADERS = ("syscall.h", "sys/syscall.h", "asm/unistd.h", "asm/unistd_64.h", "linux/unistd.h",
                   "unistd.h")
ERRNO_HEADERS = ("errno.h", "asm/errno.h", "asm-generic/errno.h", "asm-generic/errno-base.h",
                 "linux/errno.h", "sys/errno.h")
UNISTD_PATHS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")


def syscall_numbers() -> dict[str, str]:
    """__NR_*/SYS_* from the installed UAPI header, as clang would see them (empty without it)."""
    import os
    import re

    for path in UNISTD_PATHS:
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                nums = re.findall(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", f.read(), re.M)
            return {**{f"__NR_{n}": v for n, v in nums}, **{f"SYS_{n}": v for n, v in nums}}
    return {}


def header_defines(includes: list[str], defines: dict[str, str]) -> dict[str, str]:
    """`defines` plus the well-known header constants when the script includes kernel headers."""
    if not includes:
        return defines
    out = dict(WELL_KNOWN)
    if any(i.strip("<>\" ") in SYSCALL_HEADERS for i in includes):
        out.update(syscall_numbers())
    if any(i.strip("<>\" ") in ERRNO_HEADERS for i in includes):
        import errno

        out.update({name: str(num) for num, name in errno.errorcode.items()})
    out.update(defines)
    return out


# Where clang finds `<...>` headers on a Linux system, and what bpftrace always provides.
_INCLUDE_DIRS = ("/usr/local/include", "/usr/include/x86_64-linux-gnu", "/usr/include")
_KERNEL_DIRS = ("include", "arch/x86/include", "arch/x86/include/generated", "include/uapi",
                "arch/x86/include/uapi", "arch/x86/include/generated/uapi")
# clang's resource headers (bpftrace embeds them) and BTF-served names
_BUILTIN = frozenset({"stddef.h", "stdint.h", "stdarg.h", "stdbool.h", "limits.h", "float.h",
                      "stdatomic.h", "__stddef_max_align_t.h", "vmlinux.h"})
# kernel header trees: with BTF, bpftrace does not need them to resolve types, and scripts
# written for older bpftrace include them unconditionally (tools/*.bt): always accepted
_KERNEL_PREFIXES = ("linux/", "asm/", "asm-generic/", "net/", "uapi/", "trace/", "kunit/", "crypto/",
                    "scsi/", "sound/", "xen/", "clocksource/", "keys/", "rdma/", "media/", "acpi/",
                    "drm/", "misc/", "video/", "vdso/", "dt-bindings/", "soc/", "ras/", "pcmcia/")


def header_exists(name: str) -> bool:
    """Whether clang would find `#include <name>` (a missing one is clang's fatal error)."""
    import os

    if name in _BUILTIN or name.startswith(_KERNEL_PREFIXES):
        return True
    dirs = list(_INCLUDE_DIRS)
    build = f"/lib/modules/{os.uname().release}/build"
    dirs += [f"{build}/{d}" for d in _KERNEL_DIRS]
    return any(os.path.exists(os.path.join(d, name)) for d in dirs)
