"""What a VM test may leave in the kernel: nothing. Read by the autouse fixture in conftest.py.

Inside the lane's VM nothing but the tests loads BPF or creates probes, so a global view is
right there: every BPF program/map/link not present at session start, every kprobe in
debugfs' list, every kprobe/uprobe event in tracefs counts as a leftover of the test that
just ran. A canary (a PMU kprobe on getppid counting exact hits) also proves kprobes still
fire after each test: issue 17 saw every later kprobe stay silent after one test.
"""

from __future__ import annotations

import os
import subprocess

from bpfscope.kernel import kprobes, syscall, uapi

KPROBE_LIST = "/sys/kernel/debug/kprobes/list"
TRACEFS = "/sys/kernel/tracing"
_KINDS = {  # kind: (GET_NEXT_ID, GET_FD_BY_ID, info size, name slice)
    "prog": (uapi.BPF_PROG_GET_NEXT_ID, uapi.BPF_PROG_GET_FD_BY_ID, 80, slice(64, 80)),
    "map": (uapi.BPF_MAP_GET_NEXT_ID, uapi.BPF_MAP_GET_FD_BY_ID, 40, slice(24, 40)),
    "link": (uapi.BPF_LINK_GET_NEXT_ID, uapi.BPF_LINK_GET_FD_BY_ID, 12, None),
}


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"<{e.strerror}>"


def objects(kind: str) -> dict[int, str]:
    """id -> name (links: "prog <id>") of every loaded BPF object of a kind."""
    nxt_cmd, fd_cmd, size, name = _KINDS[kind]
    out: dict[int, str] = {}
    oid = 0
    while (nxt := syscall.get_next_id(nxt_cmd, oid)) is not None:
        oid = nxt
        try:
            fd = syscall.get_fd_by_id(fd_cmd, oid)
        except syscall.BpfError:
            continue   # freed meanwhile
        try:
            info = syscall.obj_get_info(fd, size)
        except syscall.BpfError:
            info = b""
        finally:
            os.close(fd)
        if name is not None:
            out[oid] = info[name].split(b"\0", 1)[0].decode(errors="replace")
        else:
            out[oid] = f"prog {int.from_bytes(info[8:12], 'little')}" if len(info) >= 12 else "?"
    return out


def snapshot() -> dict[str, dict[int, str]]:
    return {k: objects(k) for k in _KINDS}


def leftovers(baseline: dict[str, dict[int, str]]) -> list[str]:
    """Plain lines naming what is in the kernel now and was not at session start."""
    out = []
    for kind in _KINDS:
        new = {i: n for i, n in objects(kind).items() if i not in baseline.get(kind, {})}
        if new:
            out.append(f"BPF {kind}s still loaded: " + ", ".join(f"{i} {n!r}" for i, n in sorted(new.items())))
    kl = read(KPROBE_LIST)
    if kl.strip() and not kl.startswith("<"):
        out.append("kprobes registered (" + KPROBE_LIST + "): " + "; ".join(kl.splitlines()[:8]))
    for ev in ("kprobe_events", "uprobe_events"):
        text = read(os.path.join(TRACEFS, ev))
        if text.strip() and not text.startswith("<"):
            out.append(f"tracefs {ev}: " + "; ".join(text.splitlines()[:8]))
    return out


def sweep_events() -> None:
    """Remove leftover tracefs probe events so one leak does not fail every later test."""
    for ev in ("kprobe_events", "uprobe_events"):
        path = os.path.join(TRACEFS, ev)
        for line in read(path).splitlines():
            head = line.split(" ", 1)[0]               # p:group/name
            if ":" in head:
                try:
                    with open(path, "a") as f:
                        f.write(f"-:{head.split(':', 1)[1]}\n")
                except OSError:
                    pass


def canary(n: int = 20) -> str | None:
    """None when a PMU kprobe on getppid counts exactly n calls of ours; else a diagnosis."""
    from progs import Counter, count_and_sum, load_kprobe

    c = Counter()
    fd = load_kprobe(count_and_sum(c.fd, os.getpid(), None), name="vmcanary")
    try:
        with kprobes.attach_kprobe(fd, "__x64_sys_getppid"):
            for _ in range(n):
                os.getppid()
        got = c.read()[0]
        if got == n:
            return None
        return f"canary kprobe on __x64_sys_getppid counted {got} of {n} calls\n" + diagnose(fd)
    finally:
        os.close(fd)
        c.close()


def diagnose(prog_fd: int) -> str:
    """Why kprobes are silent: does the kprobe handler run (tracefs nhit/nmissed)? Kernel state."""
    lines = []
    try:
        with kprobes.attach_kprobe(prog_fd, "__x64_sys_getppid", method="tracefs") as att:
            for _ in range(20):
                os.getppid()
            prof = [ln for ln in read(os.path.join(TRACEFS, "kprobe_profile")).splitlines()
                    if att.events[0] in ln]
        lines.append("tracefs kprobe, 20 calls: kprobe_profile (event nhit nmissed): " + " | ".join(prof))
    except kprobes.KprobeError as e:
        lines.append(f"tracefs kprobe: {e}")
    lines.append("kprobes/enabled: " + read("/sys/kernel/debug/kprobes/enabled").strip())
    lines.append("kprobes/list:\n" + read(KPROBE_LIST))
    ef = read(os.path.join(TRACEFS, "enabled_functions")).splitlines()
    lines.append(f"enabled_functions ({len(ef)}):\n" + "\n".join(ef[:20]))
    for cmd in (["bpftool", "prog", "show"], ["bpftool", "link", "show"], ["dmesg"]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            lines.append(" ".join(cmd) + ":\n" + (r.stdout + r.stderr)[-3000:])
        except (OSError, subprocess.TimeoutExpired) as e:
            lines.append(f"{' '.join(cmd)}: {e}")
    return "\n".join(lines)
