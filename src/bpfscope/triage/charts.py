"""Histograms as small inline SVG bar charts for the HTML report (no scripts, no fonts beyond
the page's): one bar per log2 bucket, labelled with its range and count."""

from __future__ import annotations

from html import escape
from typing import Any


def _label(v: float, unit: str) -> str:
    if unit == "us":
        if v >= 1_000_000:
            return f"{v / 1e6:.0f}s"
        if v >= 1000:
            return f"{v / 1000:.0f}ms"
        return f"{v:.0f}µs"
    return f"{v:.0f}"


def hist_svg(hist: dict[str, Any], title: str, unit: str = "us", mark: float | None = None) -> str:
    """Horizontal bars, one per bucket, low to high; `mark` (a threshold) colours the buckets past it."""
    bs = hist.get("buckets") or []
    if not bs:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="420" height="30" role="img"><text x="4" y="20">' \
               f'{escape(title)}: no samples</text></svg>'
    bar_h, lw, bw = 16, 120, 260
    h = 26 + bar_h * len(bs) + 6
    top = max(b["count"] for b in bs) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="hist" width="{lw + bw + 90}" height="{h}" role="img">',
           f'<title>{escape(title)}</title><text x="4" y="16" font-weight="bold">{escape(title)}</text>']
    for i, b in enumerate(bs):
        y = 24 + i * bar_h
        w = max(1.0, bw * b["count"] / top) if b["count"] else 0
        hot = mark is not None and b["high"] > mark
        fill = "#d9534f" if hot else "#4a7fb5"
        rng = f"{_label(b['low'], unit)}–{_label(b['high'] + 1, unit)}"
        out.append(f'<text x="{lw - 4}" y="{y + 12}" text-anchor="end" font-size="11">{escape(rng)}</text>'
                   f'<rect x="{lw}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="{fill}">'
                   f'<title>{escape(rng)}: {b["count"]}</title></rect>'
                   f'<text x="{lw + w + 4:.1f}" y="{y + 12}" font-size="11">{b["count"]}</text>')
    out.append("</svg>")
    return "".join(out)


def text_hist(hist: dict[str, Any], unit: str = "usecs", width: int = 30) -> list[str]:
    """BCC's log2 histogram lines for the terminal."""
    bs = hist.get("buckets") or []
    if not bs:
        return ["  (no samples)"]
    top = max(b["count"] for b in bs) or 1
    lines = [f"  {unit:>19s} : count     distribution"]
    for b in bs:
        stars = "*" * round(width * b["count"] / top)
        lines.append(f"  {int(b['low']):>8d} -> {int(b['high']):<8d} : {b['count']:<8d} |{stars:<{width}s}|")
    return lines
