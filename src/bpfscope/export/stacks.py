"""A Program's stack-keyed maps as root-first frame lists: what folded and pprof export.

A key such as ``@[kstack, ustack, comm]`` becomes frames the way stackcollapse-bpftrace.pl
joins bpftrace's printed keys: key parts last to first, each stack reversed (root first),
so ``comm;user root..user leaf;kernel root..kernel leaf``. Non-stack parts (comm, pid,
probe, ...) are one frame each. Only maps with integer values (count, sum, min, max, plain
integers) can be exported; when any of those is keyed by a stack, only those are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..lang.ctype.types import Kind, Type

INTEGER_VALUES = (Kind.COUNT, Kind.SUM, Kind.MIN, Kind.MAX, Kind.INT)
STACKS = (Kind.KSTACK, Kind.USTACK)
EMPTY_FRAME = "[unknown]"  # a key whose every part is empty (e.g. kstack of a user-mode sample)


@dataclass
class StackMap:
    """One exportable map: its name, value kind and (root-first frames, value) entries."""
    name: str
    value_kind: Kind
    entries: list[tuple[list[str], int]] = field(default_factory=list)
    has_stack: bool = False
    kernel_frames: set[str] = field(default_factory=set)  # frame texts that came from kstacks


def _has_stack(t: Type | None) -> bool:
    if t is None:
        return False
    if t.kind in STACKS:
        return True
    return any(_has_stack(e) for e in t.elems)


def _frame_text(value: Any) -> str:
    """One frame's text: no ';' (the folded separator) and no line breaks."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.replace(";", ":").replace("\n", " ").replace("\r", " ")


def _part_frames(value: Any, t: Type, kernel: set[str] | None) -> list[str]:
    if t.kind in STACKS:
        frames = [_frame_text(f) for f in reversed(list(value))]
        if kernel is not None and t.kind is Kind.KSTACK:
            kernel.update(frames)
        return frames
    if t.kind in (Kind.TUPLE, Kind.RECORD) and isinstance(value, tuple):
        out: list[str] = []
        for v, et in reversed(list(zip(value, t.elems, strict=False))):
            out += _part_frames(v, et, kernel)
        return out
    return [_frame_text(value)]


def key_frames(key: Any, key_type: Type, kernel: set[str] | None = None) -> list[str]:
    """Root-first frames of one decoded map key (kernel-stack frames also added to ``kernel``)."""
    frames = [f for f in _part_frames(key, key_type, kernel) if f]
    return frames or [EMPTY_FRAME]


def stack_maps(prog: Any) -> tuple[list[StackMap], list[str]]:
    """The Program's exportable maps (sorted by name) and the names of maps left out."""
    cp = prog.compile()
    found: list[StackMap] = []
    skipped: list[str] = []
    # frames are functions here (pprof keeps lines apart; folded merges by name): no `@file:line`
    saved = prog.opts.get("show_debug_info")
    prog.opts["show_debug_info"] = False
    try:
        _read_maps(prog, cp, found, skipped)
    finally:
        if saved is None:
            prog.opts.pop("show_debug_info", None)
        else:
            prog.opts["show_debug_info"] = saved
    if any(m.has_stack for m in found):
        skipped += [m.name for m in found if not m.has_stack]
        found = [m for m in found if m.has_stack]
    return found, sorted(skipped)


def _read_maps(prog: Any, cp: Any, found: list[StackMap], skipped: list[str]) -> None:
    for spec in sorted((s for s in cp.maps if not s.internal), key=lambda s: s.name):
        if spec.key_type is None or spec.value_type.kind not in INTEGER_VALUES:
            skipped.append(spec.name)
            continue
        sm = StackMap(spec.name, spec.value_type.kind, has_stack=_has_stack(spec.key_type))
        for key, value in prog.map_entries(spec.name):
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            sm.entries.append((key_frames(key, spec.key_type, sm.kernel_frames), value))
        found.append(sm)


def merged_stacks(maps: list[StackMap]) -> dict[tuple[str, ...], int]:
    """All entries as {root-first frames: summed value}; with several maps the map name
    is the root frame, so each map stays its own tower."""
    out: dict[tuple[str, ...], int] = {}
    prefix = len(maps) > 1
    for m in maps:
        for frames, value in m.entries:
            key = tuple([m.name, *frames] if prefix else frames)
            out[key] = out.get(key, 0) + value
    return out
