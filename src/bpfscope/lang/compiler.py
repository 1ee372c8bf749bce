"""The compiler driver: AST + probe resolver → CompiledProgram.

Resolution of attach points is injected (`resolve`) so this layer stays free of
syscalls: the runtime's probe providers read tracefs/BTF and hand back ProbeInfo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .bpftrace import ast as A
from .bpftrace.ast import walk
from .bpftrace.codegen import ProgGen, Shared
from .bpftrace.typecheck import MapTable, ProbeTypes
from .diagnostics import CompileError
from .spec import CompiledProgram, ProbeInfo

Resolver = Callable[[A.AttachPoint], list[ProbeInfo]]


def assigned_maps(program: A.Program) -> dict[str, A.Span]:
    out: dict[str, A.Span] = {}
    for n in walk(program.probes):
        tgt = None
        if isinstance(n, A.Assign):
            tgt = n.target
        elif isinstance(n, A.IncDec):
            tgt = n.target
        if isinstance(tgt, A.Map):
            out.setdefault(tgt.name, tgt.span)
    return out


def check_iter_mix(program: A.Program) -> None:
    """iter probes walk their objects once and the program ends: one iter probe per program, with
    one attach point, sharing the program only with begin/end probes (nothing else would fire).
    Wording from bpftrace 0.26's docs ("Iterator probe can't be mixed with any other probe, not
    even another iterator") and its parser ("iter probe only supports one attach point.")."""
    aps = [ap for p in program.probes for ap in p.attach_points]
    if not any(ap.provider == "iter" for ap in aps):
        return
    for probe in program.probes:
        if len(probe.attach_points) > 1 and any(ap.provider == "iter" for ap in probe.attach_points):
            raise CompileError("iter probe only supports one attach point.", probe.attach_points[1].span)
    iters = [ap for ap in aps if ap.provider == "iter"]
    if len(iters) > 1:
        raise CompileError("Iterator probe can't be mixed with any other probe, not even another iterator",
                           iters[1].span)
    for ap in aps:
        if ap.provider not in ("iter", "begin", "end"):
            raise CompileError(f"Iterator probe can't be mixed with any other probe, except begin and end "
                               f"({ap.provider} used here)", ap.span)


def compile_program(program: A.Program, resolve: Resolver, opts: dict[str, Any]) -> CompiledProgram:
    units: list[tuple[int, A.Probe, ProbeInfo]] = []
    for i, probe in enumerate(program.probes):
        for ap in probe.attach_points:
            for info in resolve(ap):
                units.append((i, probe, info))
    if not units:
        raise CompileError("No probes to attach", program.span)
    check_iter_mix(program)
    if "typedb" not in opts:
        from .ctype.typedb import typedb_for

        opts["typedb"] = typedb_for(program, opts)
        from .bpftrace.desugar import desugar
        from .ctype.header_consts import header_defines

        c = opts["typedb"].c
        includes = list(c.includes) + [f"<{h}>" for h in opts.get("includes", ())]   # --include
        opts["scope_warnings"] = desugar(program, header_defines(includes, c.macros))
    from .bpftrace.namedparams import apply_named_params

    apply_named_params(program, dict(opts.get("named_params") or {}))
    from .bpftrace.config import check_map_decls, unstable_features

    opts["map_decls"] = decls = check_map_decls(program)
    maps = MapTable()
    for name, span in assigned_maps(program).items():
        maps.get(name, span)
    warnings: list[tuple[str, A.Span | None]] = [(f"Unused map: {name}", d[2]) for name, d in decls.items()
                                                 if name not in maps.maps]
    warnings += unstable_features(program, opts)
    warnings += opts.pop("scope_warnings", [])
    typed: list[ProbeTypes] = []
    for _ in range(2):  # second pass sees every map's final type
        prior = typed
        typed = []
        for k, (_i, probe, info) in enumerate(units):
            pt = ProbeTypes(info, maps, opts)
            if prior:  # variables declared with a bare `let` take the type of a later assignment
                pt.prior_vars = prior[k].vars
            if probe.predicate is not None:
                pt.expr(probe.predicate)
            pt.block(probe.body)
            typed.append(pt)
    if opts.get("probe_filter"):   # after type checking: filtered probes' errors still count
        units, typed = _filter_probes(units, typed, opts["probe_filter"])
    shared = Shared(maps, opts)
    progs = [_generate(probe, info, pt, shared, i) for (i, probe, info), pt in zip(units, typed, strict=True)]
    warnings += [w for w in dict.fromkeys(opts.pop("codegen_warnings", []))]  # e.g. debugf's advice
    return CompiledProgram(shared.specs, progs, shared.events, shared.ringbuf, shared.lost,
                           warnings=warnings, config=dict(program.config),
                           var_types=[(info.name, dict(pt.vars)) for (_i, _p, info), pt in zip(units, typed,
                                                                                               strict=True)],
                           expr_types={k: v for pt in reversed(typed) for k, v in pt.types.items()})


def _filter_probes(units: list[tuple[int, A.Probe, ProbeInfo]], typed: list[ProbeTypes],
                   pattern: str) -> tuple[list[tuple[int, A.Probe, ProbeInfo]], list[ProbeTypes]]:
    """0.26's --probe-filter: keep the probes whose full names the regex matches; begin and end
    always run."""
    import re

    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise CompileError(f"Invalid probe filter regex '{pattern}': {e}") from None
    keep = [k for k, (_i, _p, info) in enumerate(units)
            if info.provider in ("begin", "end") or rx.search(info.name)]
    if not keep:
        raise CompileError("No probes to attach")
    return [units[k] for k in keep], [typed[k] for k in keep]


def _generate(probe: A.Probe, info: ProbeInfo, pt: ProbeTypes, shared: Shared, index: int) -> Any:
    """One program; one that outgrows the 512-byte BPF stack is generated again with its frame
    in a per-CPU scratch map (big structs, long strings)."""
    from .ebpf.emitter import StackLimitError

    try:
        return ProgGen(probe, info, pt, shared, index).generate()
    except StackLimitError:
        return ProgGen(probe, info, pt, shared, index, big_frame=True).generate()
