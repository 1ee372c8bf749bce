"""uprobe/uretprobe: `bin:func`, `bin:func+off`, `bin:0xaddr`, wildcards, libraries by name
(`libc` through ld.so.cache), C++ names matched mangled or demangled, `-p PID`.

Attached through the uprobe PMU (fd-based). One program serves every function a wildcard
matches (one perf event each), unless the body reads `probe`: then each match gets its own
program so `probe` names it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...kernel import uapi
from ...lang.spec import ProbeInfo
from .base import Env, MissingProbe, ProbeError, fail, is_glob, missing

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("uprobe", "uretprobe")


def target_path(ap: AttachPoint, target: str, env: Env) -> str:
    """The file a uprobe/usdt target names (path, $PATH program, or library)."""
    from ...kernel.ldcache import resolve_target

    path = resolve_target(target, env.pid if env.pid > 0 else None)
    if path is None:
        what = "binary" if "/" in target else "binary or library"
        raise fail(ap, f"{ap.provider} target '{target}': no such {what}"
                   + (" (looked in $PATH and ld.so.cache)" if "/" not in target else ""))
    if not path.startswith("/proc/"):
        path = os.path.abspath(path)
    return path


def pid_objects(target: str, pid: int) -> list[tuple[str, str]]:
    """`uprobe:*:fn -p PID` (any glob as the target): the objects mapped executable into PID
    whose path matches, as (path the process sees, path to read)."""
    from fnmatch import fnmatchcase

    from ...kernel.procmaps import ProcessMaps, is_file_backed

    try:
        pm = ProcessMaps.capture(pid)
    except OSError:
        return []
    seen: dict[str, str] = {}
    for e in pm.entries:
        if e.executable and is_file_backed(e.path) and e.open_path and fnmatchcase(e.path, target):
            seen.setdefault(e.path, e.open_path)
    return list(seen.items())


def symbol_lookup(path: str) -> tuple[Any, bool]:
    """(name -> (vaddr, size) | None, is_pie) for uaddr() in the probed object."""
    from ...kernel import elf

    def lookup(name: str) -> tuple[int, int] | None:
        return elf.resolve_symbol(path, name)

    try:
        pie = elf.is_pie(path)
    except (elf.ElfError, OSError):
        pie = False
    return lookup, pie


def _locations(ap: AttachPoint, path: str, spec: str, unsafe: bool = False) -> list[tuple[str, int, int]]:
    """(symbol shown in the probe name, file offset, vaddr) for each location `spec` names."""
    from ...kernel import elf

    try:
        ef = elf.open_elf(path)
    except (elf.ElfError, OSError) as e:
        raise fail(ap, f"{path}: not a readable ELF file ({e})") from None
    off = 0
    if "+" in spec and not spec.startswith("0x"):
        spec, _, o = spec.rpartition("+")
        try:
            off = int(o, 0)
        except ValueError:
            raise fail(ap, f"Invalid offset: {o}") from None
    if spec.startswith("0x") or spec.isdigit():
        vaddr = int(spec, 0)
        funcs = elf.function_symbols(path)
        if funcs and not any(f.value <= vaddr < f.value + max(f.size, 1) for f in funcs):
            raise ProbeError(f"Could not resolve address: {path}:{hex(vaddr)}")   # 0.26: at attach, unlocated
        fo = ef.vaddr_to_offset(vaddr)
        if fo is None:
            raise fail(ap, f"address {spec} is not inside a loadable segment of {path}")
        return [(spec, fo, vaddr)]
    if "*" in spec:
        names = elf.match_functions(path, spec)
        if not names:
            raise missing(ap, f"{path}:{spec}")
    else:
        names = elf.match_functions(path, spec) or [spec]   # a C++ name covers its overloads
    out = []
    syms = {s.name: s for s in elf.function_symbols(path)}
    for n in names:
        s = syms.get(n)
        if s is not None:
            vaddr, size = s.value, s.size
        else:
            hit = elf.resolve_symbol(path, n)
            if hit is None:
                raise missing(ap, f"{path}:{n}")
            vaddr, size = hit
        if off and size and off >= size:
            raise ProbeError(f"Offset outside the function bounds ('{n}' size is {size})")   # unlocated, as 0.26
        if s is not None and not size and not unsafe and "*" not in spec:   # 0.26 (runtime/probe uprobe_zero_size)
            raise ProbeError(f"Could not determine boundary for {n} (symbol has size 0).\nUse --unsafe to force "
                             "attachment. WARNING: This option could lead to data corruption in the target process.")
        fo = ef.vaddr_to_offset(vaddr + off)
        if fo is None:
            raise fail(ap, f"{path}:{n} is not inside a loadable segment")
        out.append((n + (f"+{off}" if off else ""), fo, vaddr + off))
    return out


def _at_entry(shown: str) -> bool:
    """A location named by a bare symbol is a function's first instruction (no frame set up yet)."""
    return "+" not in shown and not shown[:1].isdigit()


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import features

    if len(ap.parts) == 3 and ap.parts[1] in ("cpp", "c"):
        parts = [ap.parts[0], ap.parts[2]]
    elif len(ap.parts) == 2:
        parts = list(ap.parts)
    else:
        raise fail(ap, f"{ap.provider} probe must be {ap.provider}:binary:function")
    if not features.uprobes():
        raise fail(ap, features.explain_missing(ap.provider))
    if is_glob(parts[0]) and env.pid > 0:
        return _resolve_in_process(ap, parts, env)
    return _resolve_in(ap, parts, target_path(ap, parts[0], env), parts[0], env)


def _resolve_in_process(ap: AttachPoint, parts: list[str], env: Env) -> list[ProbeInfo]:
    """Every object of the -p process that the target glob matches and that has the function."""
    out: list[ProbeInfo] = []
    for shown, path in pid_objects(parts[0], env.pid):
        try:
            out += _resolve_in(ap, parts, path, shown, env)
        except MissingProbe:   # not in this object: try the next one
            continue
    if not out:
        raise missing(ap, f"{parts[0]}:{parts[1]}")
    return out


def _resolve_in(ap: AttachPoint, parts: list[str], path: str, target: str, env: Env) -> list[ProbeInfo]:
    ret = ap.provider == "uretprobe"
    locs = _locations(ap, path, parts[1], bool(env.opts.get("unsafe")))
    if ret and any("+" in n for n, _o, _v in locs):
        raise fail(ap, "uretprobe does not take an offset")
    shown = target if "/" in target else path   # bpftrace keeps a path as typed

    lookup, pie = symbol_lookup(path)

    wants_args = ap.provider == "uprobe" and bool(env.opts.get("wants_args"))

    def info(name: str, group: list[tuple[str, int, int]]) -> ProbeInfo:
        args = []
        if wants_args and len(group) == 1 and _at_entry(group[0][0]):   # typed from DWARF
            from .dwarfargs import uprobe_args

            args = uprobe_args(ap, name, path, shown, group[0][0], group[0][2])
        return ProbeInfo(name=name, provider=ap.provider, prog_type=uapi.BPF_PROG_TYPE_KPROBE, ctx="pt_regs",
                         args=args, user_space=True, has_retval=ret, func_helper=ret, user_symbol=lookup, pie=pie,
                         loc_vaddr=group[0][2] if len(group) == 1 else -1,
                         user_entry=not ret and all(_at_entry(n) for n, _o, _v in group),
                         attach={"path": path, "locs": group, "ret": ret}, span=ap.span)

    if len(locs) == 1 or env.opts.get("wants_probe_name") or wants_args:   # args differ per function
        return [info(f"{ap.provider}:{shown}:{n}", [loc]) for loc in locs for n in [loc[0]]]
    return [info(f"{ap.provider}:{shown}:{parts[1]}", locs)]


def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[Any]:
    from ...kernel.uprobes import UprobeError, attach_uprobe

    a = info.attach
    out: list[Any] = []
    try:
        for name, off, _vaddr in a["locs"]:
            out.append(attach_uprobe(prog_fd, a["path"], off, a["ret"], env.pid if env.pid > 0 else -1,
                                     what=f"{info.provider}:{a['path']}:{name}"))
    except UprobeError as e:
        for h in out:
            h.close()
        raise OSError(e.errno, str(e)) from None
    return out


def listing(pattern: str, provider: str = "uprobe", verbose: bool = False, pid: int = -1) -> list[str]:
    """`-l 'uprobe:/bin/bash:read*'`: functions of one binary (or library); with -p PID, a
    glob as the target lists every object of that process it matches."""
    from ...kernel import elf
    from ...kernel.ldcache import resolve_target

    target, _, spec = pattern.rpartition(":")
    if not target:
        target, spec = spec, "*"
    if is_glob(target) and pid > 0:
        from ...kernel.demangle import demangle

        return [f"{provider}:{shown}:{demangle(n) if n.startswith('_Z') else n}"
                for shown, path in pid_objects(target, pid) for n in elf.match_functions(path, spec or "*")]
    path = resolve_target(target, pid if pid > 0 else None)
    if path is None:
        raise OSError(2, f"{provider} target '{target}': no such binary or library")
    shown = target if "/" in target else os.path.abspath(path)
    from ...kernel.demangle import demangle

    names = elf.match_functions(path, spec or "*")
    out = [f"{provider}:{shown}:{demangle(n) if n.startswith('_Z') else n}" for n in names]
    if verbose and provider == "uprobe":   # -lv: each function's parameters from DWARF
        from .dwarfargs import describe

        addrs = {s.name: s.value for s in elf.function_symbols(path)}
        out = [line for n, head in zip(names, out, strict=True) for line in [head, *describe(path, n, addrs.get(n))]]
    return out
