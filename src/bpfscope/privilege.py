"""Whether this process may use bpf(2), perf events and tracefs, and the one message for when not.

Front ends ask before work whose failure would otherwise be silent or misleading as an
unprivileged user (an empty bpflist table, "cannot mount tracefs", "no uprobe support"),
and turn any EPERM/EACCES that bpf(2) still raises into the same plain message.
"""

from __future__ import annotations

import errno

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

MESSAGE = "bpfscope needs to run as root (or with CAP_BPF and CAP_PERFMON)"


def effective_caps() -> int:
    """The CapEff mask of this process (0 when /proc cannot tell)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def privileged() -> bool:
    """CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON: what loading tracing programs needs."""
    caps = effective_caps()
    if caps >> CAP_SYS_ADMIN & 1:
        return True
    return bool(caps >> CAP_BPF & 1 and caps >> CAP_PERFMON & 1)


def is_denied(exc: BaseException) -> bool:
    """An OSError saying the kernel refused us for lack of privilege."""
    return isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES)


def denied_message(exc: BaseException | None = None) -> str:
    """MESSAGE with the refused operation (e.g. `BPF_PROG_GET_NEXT_ID: Operation not permitted`);
    a privileged process refused anyway (lockdown, an LSM, file modes) gets just the refusal."""
    detail = ""
    if isinstance(exc, OSError):
        detail = exc.strerror or ""
        if exc.filename and detail:
            detail = f"{exc.filename}: {detail}"
    if privileged() and detail:
        return detail
    return f"{MESSAGE}: {detail}" if detail else MESSAGE
