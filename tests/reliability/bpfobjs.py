"""What the kernel holds, seen from outside bpfscope (bpftool, /proc, tracefs), for leak checks
that must tolerate other processes loading programs at the same time.

Attribution: a trial's programs all use a map whose name carries a nonce (`@k9<hex>` is
created as `AT_k9<hex>`), so that map outliving the killed process means something of the
trial leaked (a leaked prog, link or perf event holds its maps). For programs without such a
map (BCC-style tools), a prog created during the trial that is still loaded after the process
died and that no live process holds (no prog/link fd in /proc/*/fdinfo, no perf event in
`bpftool perf`) is an orphan: nothing can ever release it.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from dataclasses import dataclass, field

TRACING_TYPES = {"tracepoint", "kprobe", "perf_event", "raw_tracepoint", "tracing", "raw_tracepoint_writable"}
TRACEFS = next((d for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
                if os.path.exists(f"{d}/uprobe_events")), None)


def bpftool(*args: str) -> list[dict]:
    r = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or not r.stdout.strip():
        return []
    out = json.loads(r.stdout)
    return out if isinstance(out, list) else []


def fd_holders() -> dict[str, set[int]]:
    """Ids of BPF objects some live process has an fd to: {"prog_id": {...}, "map_id": ..., "link_id": ...}."""
    held: dict[str, set[int]] = {"prog_id": set(), "map_id": set(), "link_id": set()}
    for path in glob.glob("/proc/[0-9]*/fdinfo/*"):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            k, _, v = line.partition(":")
            if k in held:
                held[k].add(int(v))
    return held


def tracefs_lines() -> set[str]:
    """Lines of uprobe_events/kprobe_events (probes created through tracefs, which outlive processes)."""
    out: set[str] = set()
    if TRACEFS is None:
        return out
    for name in ("uprobe_events", "kprobe_events"):
        try:
            with open(f"{TRACEFS}/{name}") as f:
                out |= {f"{name}: {ln.strip()}" for ln in f if ln.strip()}
        except OSError:
            pass
    return out


@dataclass
class Snapshot:
    progs: set[int]
    tracefs: set[str]

    @classmethod
    def take(cls) -> Snapshot:
        return cls({p["id"] for p in bpftool("prog", "show")}, tracefs_lines())


@dataclass
class Leaks:
    nonce_maps: list[str] = field(default_factory=list)
    orphan_progs: list[str] = field(default_factory=list)
    orphan_links: list[str] = field(default_factory=list)
    tracefs: list[str] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)

    def any(self) -> bool:
        return bool(self.nonce_maps or self.orphan_progs or self.orphan_links or self.tracefs or self.survivors)


def new_progs(before: Snapshot) -> list[dict]:
    """Tracing programs loaded since `before`."""
    return [p for p in bpftool("prog", "show") if p["id"] not in before.progs and p.get("type") in TRACING_TYPES]


def check(before: Snapshot, nonce: str | None, prog_prefix: str | None = None) -> Leaks:
    """Leaks of a trial whose process is gone: the nonce's map; with `prog_prefix` (trials without
    a nonce map), orphan progs of that name prefix created since `before` and the links to them;
    tracefs probe lines added since `before`."""
    leaks = Leaks()
    if nonce is not None:
        leaks.nonce_maps = [f"map {m['id']} {m.get('name')}" for m in bpftool("map", "show")
                            if m.get("name") == f"AT_{nonce}"]
    if prog_prefix is not None:
        progs = [p for p in bpftool("-f", "prog", "show") if p["id"] not in before.progs
                 and p.get("type") in TRACING_TYPES and p.get("name", "").startswith(prog_prefix)]
        if progs:
            held = fd_holders()
            perf = {e.get("prog_id") for e in bpftool("perf")}
            links = bpftool("-f", "link", "show")
            link_progs = {li.get("prog_id") for li in links if li["id"] in held["link_id"] or li.get("pinned")}
            live = held["prog_id"] | perf | link_progs
            orphans = [p for p in progs if p["id"] not in live and not p.get("pinned")]
            leaks.orphan_progs = [f"prog {p['id']} {p.get('type')} {p.get('name')}" for p in orphans]
            ids = {p["id"] for p in orphans}
            leaks.orphan_links = [f"link {li['id']} {li.get('type')}" for li in links if li.get("prog_id") in ids]
    leaks.tracefs = sorted(tracefs_lines() - before.tracefs)
    return leaks


def settle(before: Snapshot, nonce: str | None, prog_prefix: str | None = None, grace: float = 3.0) -> Leaks:
    """check() until clean or `grace` seconds passed (the kernel frees some objects asynchronously,
    and another process's objects may be between its fd close and its perf event release)."""
    deadline = time.monotonic() + grace
    while True:
        leaks = check(before, nonce, prog_prefix)
        if not leaks.any() or time.monotonic() >= deadline:
            return leaks
        time.sleep(0.2)
