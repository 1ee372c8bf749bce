"""`bpfscope bpflist [-v|-vv]`: which processes hold BPF programs, maps (and probes).

BCC's bpflist: every /proc/PID/fd link named `anon_inode:bpf-<kind>` counts one `<kind>`
(prog, map, ...) for PID; with -v, kprobe/uprobe events whose name carries their creator's
pid (BCC's `_bcc_PID`, bpfscope's `bpfscope_PID_`) count as `kprobe`/`uprobe`; with -vv
the event lines are listed first. Output columns as BCC prints them.
"""

from __future__ import annotations

import os
import re
import sys

USAGE = """usage: bpfscope bpflist [-h] [-v]

Display processes currently using BPF programs and maps

options:
  -h, --help       show this help message and exit
  -v, --verbosity  count and display kprobes/uprobes as well

examples:
    bpflist     # display all processes currently using BPF
    bpflist -v  # also count kprobes/uprobes
    bpflist -vv # display kprobes/uprobes and count them"""

_FD_RE = re.compile(r"anon_inode:bpf-([\w-]+)")
_OWNER_RE = re.compile(r"_bcc_(\d+)\s|bpfscope_(\d+)_")


def comm_for_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "[unknown]"


def probe_counts(kind: str, counts: dict[tuple[int, str], int], listing: list[str] | None) -> None:
    """Count `kind` ("kprobe"/"uprobe") events per creator pid; append lines to `listing`."""
    from ..kernel.tracefs import ensure_mounted

    try:
        with open(os.path.join(ensure_mounted(), f"{kind}_events")) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    if listing is not None:
        listing.append(f"open {kind}s:")
    for line in lines:
        m = _OWNER_RE.search(line + "\n")
        if m:
            pid = int(m.group(1) or m.group(2))
            counts[(pid, kind)] = counts.get((pid, kind), 0) + 1
        if listing is not None:
            listing.append(line.strip())
    if listing is not None:
        listing.append("")


def fd_counts(counts: dict[tuple[int, str], int], proc: str = "/proc") -> None:
    """Count BPF object fds of every process."""
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        root = os.path.join(proc, entry, "fd")
        try:
            fds = os.listdir(root)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(os.path.join(root, fd))
            except OSError:
                continue
            m = _FD_RE.match(link)
            if m:
                key = (int(entry), m.group(1))
                counts[key] = counts.get(key, 0) + 1


def render(counts: dict[tuple[int, str], int]) -> list[str]:
    width = max((len(t) for _p, t in counts), default=0) + 1
    out = [f"{'PID':<6} {'COMM':<16} {'TYPE':<{width}} COUNT"]
    for (pid, typ), n in sorted(counts.items(), key=lambda kv: kv[0][0]):
        out.append(f"{pid:<6} {comm_for_pid(pid):<16} {typ:<{width}} {n}")
    return out


def main(argv: list[str]) -> int:
    verbosity = 0
    for a in argv:
        if a in ("-h", "--help", "help"):
            print(USAGE)
            return 0
        if a == "--verbosity" or (a.startswith("-") and len(a) > 1 and set(a[1:]) == {"v"}):
            verbosity += 1 if a == "--verbosity" else len(a) - 1
        else:
            print(USAGE.split("\n\n")[0], file=sys.stderr)
            print(f"bpflist: error: unrecognized arguments: {a}", file=sys.stderr)
            return 2
    from ..privilege import denied_message, privileged

    if not privileged():  # other processes' fds are invisible to us: the table would be empty
        print(f"ERROR: {denied_message()}", file=sys.stderr)
        return 1
    counts: dict[tuple[int, str], int] = {}
    listing: list[str] | None = [] if verbosity > 1 else None
    if verbosity > 0:
        probe_counts("kprobe", counts, listing)
        probe_counts("uprobe", counts, listing)
    fd_counts(counts)
    try:
        if listing:
            print("\n".join(listing))
        print("\n".join(render(counts)))
    except BrokenPipeError:
        pass
    return 0
