"""kprobe/kretprobe and fentry/fexit (kfunc/kretfunc): kernel function probes.

What the kernel offers is detected at run time: fentry/fexit use BPF trampolines
(BTF-typed `args`, cheap); where the kernel refuses them, fentry falls back to a kprobe
with the same argument names mapped onto registers. Where neither exists one plain
message says what is missing and which tracepoints could serve instead.

kprobes attach fd-based (kprobe PMU) so nothing remains in tracefs when we die; a
wildcard becomes one program on a kprobe_multi link where the kernel has it, else the
same program on one perf event per function. If the program uses the `probe` builtin
each function gets its own program, so `probe` names the function that fired.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ...kernel import uapi
from ...lang.ctype.types import int_type
from ...lang.spec import ArgField, ProbeInfo
from .base import Env, fail, is_glob, missing

if TYPE_CHECKING:
    from ...lang.bpftrace.ast import AttachPoint

NAMES = ("kprobe", "kretprobe", "fentry", "fexit")


def _split(ap: AttachPoint) -> tuple[str | None, str, int]:
    """(module, function or pattern, offset) from kprobe:[mod:]fn[+off]."""
    if not ap.parts or not ap.parts[-1]:
        raise fail(ap, f"{ap.provider} probe needs a function name, e.g. {ap.provider}:vfs_read")
    if len(ap.parts) > 2:
        raise fail(ap, f"{ap.provider} probe must be {ap.provider}:[module:]function")
    module = ap.parts[0] if len(ap.parts) == 2 else None
    if module in ("", "vmlinux"):
        module = None
    spec = ap.parts[-1]
    off = 0
    if "+" in spec:
        spec, _, o = spec.partition("+")
        try:
            off = int(o, 0)
        except ValueError:
            raise fail(ap, f"Invalid offset: {o}") from None
        if ap.provider != "kprobe":
            raise fail(ap, f"Offsets are only supported for kprobe, not {ap.provider}")
    return module, spec, off


def _functions(ap: AttachPoint, module: str | None, pattern: str, env: Env) -> list[str]:
    """Concrete functions (spelled `mod:fn` for modules) a pattern names."""
    from ...kernel import kprobes

    full = f"{module}:{pattern}" if module else pattern
    if not is_glob(full):
        return [full]
    funcs = kprobes.list_kernel_functions(full)
    if not funcs:
        raise fail(ap, f"No probes matched {ap.provider}:{full}")
    return funcs


def resolve(ap: AttachPoint, env: Env) -> list[ProbeInfo]:
    from ...kernel import features

    p = ap.provider
    module, pattern, off = _split(ap)
    ret = p in ("kretprobe", "fexit")
    if not _exists(pattern):   # missing_probes decides (0.26: warn, skip, or error)
        raise missing(ap)
    if p in ("fentry", "fexit"):
        if (features.fexit() if ret else features.fentry()):
            return _fentry(ap, module, pattern, ret, env)
        if features.kretprobes() if ret else features.kprobes():
            return _kprobe(ap, module, pattern, 0, ret, env, btf_args=True)
        raise fail(ap, features.explain_missing(p, pattern))
    if not (features.kretprobes() if ret else features.kprobes()):
        raise fail(ap, features.explain_missing(p, pattern))
    return _kprobe(ap, module, pattern, off, ret, env)


def _exists(pattern: str) -> bool:
    """False only for a plain function name that the kernel's symbol table does not have
    (patterns, addresses and an unreadable table give the benefit of the doubt)."""
    from ...kernel.ksyms import kernel_symbols

    if is_glob(pattern) or not pattern or pattern[0].isdigit():
        return True
    syms = kernel_symbols()
    return bool(syms.kaddr(pattern)) or not syms.kaddr("_stext")


# ------------------------------------------------------------------ kprobes
def _func_addr(func: str) -> int:
    from ...kernel.ksyms import kaddr

    return kaddr(func.split(":")[-1]) or 0


def _kprobe(ap: AttachPoint, module: str | None, pattern: str, off: int, ret: bool, env: Env,
            btf_args: bool = False) -> list[ProbeInfo]:
    from ...kernel import features

    p = "kretprobe" if ret else "kprobe"
    funcs = _functions(ap, module, pattern, env)
    shown = ap.provider

    def info(name: str, targets: list[str], multi: bool) -> ProbeInfo:
        args: list[ArgField] = []
        if btf_args and len(targets) == 1 and not ret:
            args = _register_args(targets[0])
        one = len(targets) == 1
        return ProbeInfo(
            name=name, provider=ap.provider, prog_type=uapi.BPF_PROG_TYPE_KPROBE, ctx="pt_regs",
            args=args, has_retval=ret,
            expected_attach_type=uapi.BPF_TRACE_KPROBE_MULTI if multi else 0,
            func_addr=_func_addr(targets[0]) + off if one and not off else 0,
            func_helper=not one and features.get_func_ip(),
            attach={"kind": p, "funcs": targets, "offset": off, "multi": multi}, span=ap.span)

    if len(funcs) == 1 or env.opts.get("wants_probe_name"):
        return [info(f"{shown}:{f}" + (f"+{off}" if off else ""), [f], False) for f in funcs]
    multi = features.kprobe_multi() and not any(":" in f for f in funcs)
    full = f"{module}:{pattern}" if module else pattern
    return [info(f"{shown}:{full}", funcs, multi)]


def _register_args(func: str) -> list[ArgField]:
    from ...kernel import fentry, kprobes
    from ...kernel.btf import Btf
    from .btfargs import register_fields

    module, _, fn = func.rpartition(":")
    try:
        params = fentry.fentry_args(fn, module or None)
        btf = Btf.module(module) if module else Btf.vmlinux()
    except (fentry.FentryError, OSError):
        return []
    return register_fields(btf, params, kprobes.arg_offset)


# ------------------------------------------------------------------ fentry/fexit
def _fentry(ap: AttachPoint, module: str | None, pattern: str, ret: bool, env: Env) -> list[ProbeInfo]:
    from ...kernel import fentry
    from ...kernel.btf import Btf
    from .btfargs import array_fields

    full = f"{module}:{pattern}" if module else pattern
    funcs = [full] if not is_glob(full) else _btf_functions(module, pattern)
    if not funcs:
        raise fail(ap, f"No probes matched {ap.provider}:{full}")
    out = []
    for f in funcs:
        mod, _, fn = f.rpartition(":")
        try:
            btf = Btf.module(mod) if mod else Btf.vmlinux()
            tid = fentry.func_btf_id(fn, mod or None)
            sig = btf.func_proto_of(fn)
        except fentry.FentryError as e:
            if len(funcs) == 1:
                raise fail(ap, f"{ap.provider}:{f}: {e}") from None
            continue
        except OSError as e:
            raise fail(ap, f"{ap.provider}:{f}: no BTF ({e.strerror})") from None
        params = list(sig.params) if sig else []
        args = array_fields(btf, params)
        if ret:
            rt = int(sig.ret_type) if sig else 0
            from .btfargs import value_type

            args.append(ArgField("$retval", value_type(btf, rt) if rt else int_type(8, True), 8 * len(params)))
        shown = f"{ap.provider}:{mod + ':' if mod else ''}{fn}"
        out.append(ProbeInfo(
            name=shown, provider=ap.provider, prog_type=uapi.BPF_PROG_TYPE_TRACING, ctx="args_array",
            args=args, has_retval=ret,
            expected_attach_type=uapi.BPF_TRACE_FEXIT if ret else uapi.BPF_TRACE_FENTRY,
            attach_btf_id=tid, func_helper=True,
            attach={"kind": "fexit" if ret else "fentry", "module": mod or None, "func": fn}, span=ap.span))
    if not out:
        raise fail(ap, f"No probes matched {ap.provider}:{full}")
    return out


def _btf_functions(module: str | None, pattern: str) -> list[str]:
    """Traceable functions that also have BTF FUNC entries (what a trampoline needs)."""
    from ...kernel import kprobes
    from ...kernel.btf import Btf

    names = kprobes.list_kernel_functions(f"{module}:{pattern}" if module else pattern)
    btf = Btf.vmlinux()
    return [n for n in names if ":" in n or btf.find(n, "func") is not None]


def load_attrs(info: ProbeInfo) -> dict[str, Any]:
    """Extra prog_load attributes: module functions need the module's BTF object fd."""
    a = info.attach or {}
    if info.prog_type == uapi.BPF_PROG_TYPE_TRACING and a.get("module"):
        from ...kernel import fentry

        return {"attach_btf_obj_fd": fentry.module_btf_fd(a["module"])}
    return {}


# ------------------------------------------------------------------ attach
def attach(info: ProbeInfo, prog_fd: int, env: Env) -> list[Any]:
    from ...kernel import fentry, kprobes

    a = info.attach
    try:
        if a["kind"] in ("fentry", "fexit"):
            target = f"{a['module'] + ':' if a['module'] else ''}{a['func']}"
            return [fentry.attach_tracing(prog_fd, a["kind"] == "fexit", target)]
        ret = a["kind"] == "kretprobe"
        funcs: list[str] = a["funcs"]
        if a["multi"]:
            return [kprobes.attach_kprobe_multi(prog_fd, symbols=funcs, retprobe=ret)]
        if len(funcs) == 1:
            mod, _, fn = funcs[0].rpartition(":")
            return [kprobes.attach_kprobe(prog_fd, fn, a["offset"], ret, mod or None)]
        att, failed = kprobes.attach_kprobes(prog_fd, funcs, ret)
        if failed and not env.opts.get("no_warnings"):
            sys.stderr.write(f"WARNING: {len(failed)} of {len(funcs)} functions of {info.name} could not "
                             f"be probed (first: {failed[0][0]}: {failed[0][1]})\n")
        if not att.fds:
            raise OSError(failed[0][1].errno if failed else 2, f"no function of {info.name} could be probed")
        return [att]
    except (kprobes.KprobeError, fentry.FentryError) as e:
        raise OSError(e.errno or 0, str(e)) from None


def listing(pattern: str, provider: str = "kprobe", verbose: bool = False) -> list[str]:
    """`-l 'kprobe:vfs_*'` (names as kprobe:fn / kprobe:mod:fn), `-l 'fentry:tcp_*'`
    (fentry:vmlinux:fn as bpftrace 0.26 spells it); -v adds fentry argument lines."""
    from ...kernel import features, kprobes

    if provider in ("kprobe", "kretprobe"):
        if not features.kprobes():
            raise OSError(0, features.explain_missing(provider))
        return [f"{provider}:{f}" for f in kprobes.list_kernel_functions(pattern or "*")]
    mod, _, pat = pattern.rpartition(":")
    if mod == "vmlinux":
        mod = ""
    out = []
    from ...kernel.btf import Btf

    btf = Btf.vmlinux()
    for f in _btf_functions(mod or None, pat or "*"):
        m, _, fn = f.rpartition(":")
        out.append(f"{provider}:{m or 'vmlinux'}:{fn}")
        if verbose and not m:
            from .btfargs import describe

            sig = btf.func_proto_of(fn)
            if sig is not None:
                out.extend(describe(btf, list(sig.params), int(sig.ret_type) if provider == "fexit" else None))
    return out

