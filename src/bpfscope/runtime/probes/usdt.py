"""usdt:BIN:[PROVIDER:]NAME — statically defined probes from `.note.stapsdt`.

Each location is a uprobe at the note's pc (fd-based, uprobe PMU) with the semaphore's file
offset as `ref_ctr_offset`, so the kernel raises the semaphore while we are attached and
lowers it when our fd goes, even if we are killed. argN are read from the locations the note
describes (registers, memory operands, constants); locations whose argument specs differ
get their own programs. With -p PID the probes of every object mapped in PID are searched.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ...kernel import uapi
from ...lang.spec import LocArg, ProbeInfo
from .base import Env, fail, is_glob
from .uprobe import symbol_lookup, target_path

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("usdt",)


def _loc_args(ap: AttachPoint, probe: Any) -> list[LocArg]:
    out = []
    for a in probe.args:
        if a.is_float:
            raise fail(ap, f"usdt:{probe.full_name}: floating-point argument {a.text!r} is not supported")
        if a.segment is not None:
            raise fail(ap, f"usdt:{probe.full_name}: segment-relative argument {a.text!r} is not supported")
        if a.kind == "const":
            out.append(LocArg("const", a.size, a.signed, value=a.value))
        elif a.kind == "reg":
            out.append(LocArg("reg", a.size, a.signed, reg=a.reg_offset, width=a.reg_width))
        else:
            disp = a.displacement
            ip_rel = a.rip_relative
            if a.symbol is not None:
                if a.symbol_vaddr is None:
                    raise fail(ap, f"usdt:{probe.full_name}: symbol {a.symbol} of argument {a.text!r} not found")
                disp += a.symbol_vaddr - (probe.pc if ip_rel else 0)
            elif ip_rel:
                disp -= 0  # plain rip-relative displacement (rare): relative to the probe pc
            out.append(LocArg("mem", a.size, a.signed, base=-1 if ip_rel or a.base_offset is None else a.base_offset,
                              index=a.index_offset if a.index_offset is not None else -1, scale=a.scale,
                              disp=disp, ip_relative=ip_rel))
    return out


def _objects(ap: AttachPoint, target: str, env: Env) -> list[str]:
    """Files to search: one target, or with -p every file-backed object mapped in the process."""
    if target in ("", "*") or (is_glob(target) and env.pid > 0):
        if env.pid <= 0:
            raise fail(ap, "usdt probes without a binary need -p PID")
        from ...kernel.procmaps import ProcessMaps

        try:
            snap = ProcessMaps.capture(env.pid)
        except OSError:
            raise fail(ap, f"no such process: {env.pid}") from None
        from ...kernel.tracefs import glob_match

        return [p for p in snap.paths() if target in ("", "*") or glob_match(p, target)]
    return [target_path(ap, target, env)]


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import features, usdt_notes

    parts = list(ap.parts)
    if len(parts) == 3:
        target, prov, name = parts
    elif len(parts) == 2:
        target, prov, name = parts[0], "*", parts[1]
        if env.pid > 0 and "/" not in target and not os.path.exists(target):
            try:
                target_path(ap, target, env)
            except Exception:  # noqa: BLE001 - not a file: read as provider:name in -p's process
                target, prov = "", parts[0]
    else:
        raise fail(ap, "usdt probe must be usdt:binary:[provider:]name")
    if not features.uprobes():
        raise fail(ap, features.explain_missing("usdt"))
    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    for path in _objects(ap, target, env):
        try:
            found = usdt_notes.find_usdt(path, prov, name)
        except (OSError, ValueError) as e:
            if target:
                raise fail(ap, f"{path}: cannot read USDT notes ({e})") from None
            continue
        for p in found:
            groups[(path, p.provider, p.name, p.arg_string)].append(p)
    if not groups:
        raise fail(ap, f"No probes matched usdt:{':'.join(parts)}")
    out = []
    for (path, pv, nm, _args), locs in sorted(groups.items()):
        if any(p.pc_offset is None for p in locs):
            raise fail(ap, f"usdt:{path}:{pv}:{nm}: probe address outside the loadable segments")
        shown = target if target and "/" in target and not is_glob(target) else (
            path[len(f"/proc/{env.pid}/root"):] if path.startswith("/proc/") else path)
        lookup, pie = symbol_lookup(path)
        out.append(ProbeInfo(
            name=f"usdt:{shown}:{pv}:{nm}", provider="usdt", prog_type=uapi.BPF_PROG_TYPE_KPROBE,
            ctx="pt_regs", user_space=True, loc_args=_loc_args(ap, locs[0]), user_symbol=lookup, pie=pie,
            loc_vaddr=locs[0].pc if len(locs) == 1 else -1,
            attach={"path": path, "locs": [(p.pc_offset, p.semaphore_offset or 0) for p in locs]},
            span=ap.span))
    return out


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[Any]:
    from ...kernel.uprobes import UprobeError, attach_uprobe

    a = info.attach
    out: list[Any] = []
    try:
        for off, sem in a["locs"]:
            out.append(attach_uprobe(prog_fd, a["path"], off, False, env.pid if env.pid > 0 else -1,
                                     ref_ctr_offset=sem, what=info.name))
    except UprobeError as e:
        for h in out:
            h.close()
        raise OSError(e.errno, str(e)) from None
    return out


def listing(pattern: str, provider: str = "usdt", verbose: bool = False) -> list[str]:
    """`-l 'usdt:BIN:*'` → usdt:/abs/path:provider:name, one line per probe."""
    from ...kernel import usdt_notes
    from ...kernel.ldcache import resolve_target

    parts = pattern.split(":")
    path = resolve_target(parts[0]) if parts and parts[0] else None
    if path is None:
        raise OSError(2, f"usdt target '{parts[0] if parts else ''}': no such binary or library")
    shown = parts[0] if "/" in parts[0] else os.path.abspath(path)
    seen: dict[str, None] = {}
    for p in usdt_notes.list_usdt(path):
        seen.setdefault(f"usdt:{shown}:{p.provider}:{p.name}", None)
    return list(seen)
