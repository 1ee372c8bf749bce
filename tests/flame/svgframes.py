"""Test helper: pull the frame groups (title, rect, label) out of a flame graph SVG."""

from __future__ import annotations

import re
from typing import NamedTuple

_FRAME_RE = re.compile(
    r'<title>(.*?)</title><rect x="([^"]*)" y="([^"]*)" width="([^"]*)" height="([^"]*)" '
    r'fill="([^"]*)"[^\n]*\n<text[^>]* x="([^"]*)" y="([^"]*)"[^>]*>(.*?)</text>')


class SvgFrame(NamedTuple):
    title: str
    x: str
    y: str
    width: str
    height: str
    fill: str
    text_x: str
    text_y: str
    text: str


def frames(svg: str) -> list[SvgFrame]:
    """All frames, sorted so that drawings can be compared regardless of order."""
    return sorted(SvgFrame(*m.groups()) for m in _FRAME_RE.finditer(svg))


def by_title(svg: str) -> dict[str, SvgFrame]:
    return {f.title: f for f in frames(svg)}
