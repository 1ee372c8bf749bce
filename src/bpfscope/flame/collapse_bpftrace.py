"""stackcollapse for bpftrace map output, line-compatible with stackcollapse-bpftrace.pl.

bpftrace prints a stack-keyed map as ``@[`` / one frame per line (leaf first) /
``]: count``; with several keys (``@[kstack, ustack]``) the stacks are separated by a
blank line and ``, ``. The frames are reversed (root first) and joined with ``;``;
blank separator lines stay as empty frames, as in the Perl script.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_START_RE = re.compile(r"^@\[$")
_ONELINE_RE = re.compile(r"^@\[,\s(.*)\]: (\d+)")
_END_RE = re.compile(r"^,?\s?(.*)\]: (\d+)")
_LEAD_WS_RE = re.compile(r"^\s+")


def collapse_bpftrace(lines: Iterable[str]) -> list[str]:
    """Fold bpftrace map output lines into ``stack count`` lines (in input order)."""
    out: list[str] = []
    stack: list[str] = []
    in_stack = False
    for raw in lines:
        line = raw[:-1] if raw.endswith("\n") else raw
        if not in_stack:
            if _START_RE.match(line):
                in_stack = True
            else:
                m = _ONELINE_RE.match(line)
                if m:
                    out.append(f"{m.group(1)} {m.group(2)}")
            continue
        m = _END_RE.match(line)
        if m:
            if m.group(1):
                stack.append(m.group(1))
            out.append(";".join(reversed(stack)) + f" {m.group(2)}")
            in_stack = False
            stack = []
        else:
            stack.append(_LEAD_WS_RE.sub("", line))
    return out


_ENTRY_START_RE = re.compile(r"^@\w*\[(.*)$")
_ENTRY_END_RE = re.compile(r"^(.*)\]: (\d+)$")


def fold_bpftrace_map_text(text: str) -> list[str]:
    """Fold bpftrace's printed stack maps completely (the tracer's one-pipe path).

    Unlike the Perl-compatible ``collapse_bpftrace`` this keeps entries whose first stack
    is empty (``@[, ...``), accepts named maps, drops empty separator frames and sums
    equal stacks. Key parts are joined last-to-first, so ``@[kstack, ustack, comm]``
    folds to ``comm;user frames;kernel frames``.
    """
    counts: dict[str, int] = {}
    parts: list[list[str]] | None = None
    for line in text.splitlines():
        if parts is None:
            m = _ENTRY_START_RE.match(line)
            if not m:
                continue
            parts = [[]]
            line = m.group(1)
        end = _ENTRY_END_RE.match(line)
        body = end.group(1) if end else line
        while body.lstrip().startswith(","):
            parts.append([])
            body = body.lstrip()[1:]
        for piece in body.split(", ") if end and not body.startswith(" ") else [body]:
            piece = piece.strip()
            if piece:
                parts[-1].append(piece)
        if end:
            frames = [f for part in reversed(parts) for f in reversed(part)]
            if frames:
                key = ";".join(frames)
                counts[key] = counts.get(key, 0) + int(end.group(2))
            parts = None
    return [f"{k} {v}" for k, v in counts.items()]
