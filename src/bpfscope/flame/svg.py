"""Render merged stacks as flamegraph.pl-compatible interactive SVG.

Geometry, number formatting, titles, text truncation and colours follow flamegraph.pl's
documented layout so the frames (rect + title + label) are the same for the same input
and options; the style/script are our own (see js.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from bpfscope.flame.colors import FLAT_PALETTES, PALETTES, Colorer, color_scale
from bpfscope.flame.folded import format_count
from bpfscope.flame.js import style_and_script
from bpfscope.flame.layout import merge, prune

XPAD = 10
FRAMEPAD = 1
_ANNOT_RE = re.compile(r"_\[[kwij]\]$")
_MINWIDTH_RE = re.compile(r"^([0-9.]+)%?$")
BGCOLORS = {
    "yellow": ("#eeeeee", "#eeeeb0"),
    "blue": ("#eeeeee", "#e0e0ff"),
    "green": ("#eef2ee", "#e0ffe0"),
    "grey": ("#f8f8f8", "#e8e8e8"),
}


@dataclass
class FlameOptions:
    """flamegraph.pl's options (same names and defaults)."""

    title: str = ""
    subtitle: str = ""
    width: int = 1200
    height: int = 16
    minwidth: str = "0.1"
    fonttype: str = "Verdana"
    fontsize: float = 12
    fontwidth: float = 0.59
    countname: str = "samples"
    nametype: str = "Function:"
    colors: str = "hot"
    bgcolors: str = ""
    hash: bool = False
    random: bool = False
    cp: bool = False
    reverse: bool = False
    inverted: bool = False
    flamechart: bool = False
    negate: bool = False
    notes: str = ""
    total: float | None = None
    factor: float = 1
    encoding: str | None = None
    palette_file: str = "palette.map"


class FlameError(ValueError):
    """Bad options (reported like flamegraph.pl's usage errors)."""


def pnum(value: float) -> str:
    """Stringify a number as Perl does (%.15g)."""
    return f"{value:.15g}"


def _esc(text: str, quote: bool = True) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def _commas(samples: str) -> str:
    neg = samples.startswith("-")
    digits = samples[1:] if neg else samples
    out = f"{int(digits):,}" if digits.isdigit() else digits
    return "-" + out if neg else out


def _background(opts: FlameOptions) -> tuple[str, str]:
    bg = opts.bgcolors
    if bg == "":
        if opts.colors == "mem":
            bg = "green"
        elif opts.colors in ("io", "wakeup", "chain"):
            bg = "blue"
        elif opts.colors in FLAT_PALETTES:
            bg = "grey"
        else:
            bg = "yellow"
    if bg == "gray":
        bg = "grey"
    if bg in BGCOLORS:
        return BGCOLORS[bg]
    if re.fullmatch(r"#......", bg):
        return bg, bg
    raise FlameError(f'Unrecognized bgcolor option "{opts.bgcolors}"')


def _text(out: list[str], ident: str | None, x: float, y: float, s: str, extra: str = "") -> None:
    idattr = f'id="{ident}"' if ident is not None else ""
    out.append(f'<text {idattr} x="{x:0.2f}" y="{pnum(y)}" {extra}>{s}</text>\n')


def _header(out: list[str], opts: FlameOptions, w: int, h: float) -> None:
    enc = f' encoding="{opts.encoding}"' if opts.encoding else ""
    out.append(
        f'<?xml version="1.0"{enc} standalone="no"?>\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        f'<svg version="1.1" width="{w}" height="{pnum(h)}" onload="init(evt)" '
        f'viewBox="0 0 {w} {pnum(h)}" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink">\n'
        "<!-- Flame graph stack visualization drawn by bpfscope "
        "(layout compatible with FlameGraph's flamegraph.pl). -->\n"
        f"<!-- NOTES: {opts.notes} -->\n"
    )


def _to_lines(folded: Iterable[object]) -> Iterable[str]:
    for item in folded:
        if isinstance(item, str):
            yield item
        elif isinstance(item, tuple):
            if len(item) == 2:
                yield f"{item[0]} {format_count(item[1])}"
            elif len(item) == 3:
                yield f"{item[0]} {format_count(item[1])} {format_count(item[2])}"
            else:
                raise TypeError(f"folded tuple must have 2 or 3 items: {item!r}")
        else:
            raise TypeError(f"folded item must be a line or a tuple: {item!r}")


def error_svg(opts: FlameOptions) -> str:
    """The small SVG flamegraph.pl prints when there is nothing to draw."""
    out: list[str] = []
    _header(out, opts, opts.width, opts.fontsize * 5)
    _text(out, None, int(opts.width / 2), opts.fontsize * 2,
          "ERROR: No valid input provided to flamegraph.")
    out.append("</svg>\n")
    return "".join(out)


def render_svg(folded: Iterable[object], options: FlameOptions | None = None,
               *, warn: bool = False) -> str:
    """Draw folded stacks as an SVG flame graph.

    ``folded`` holds lines (``"a;b 3"``, ``"a;b 3 5"``) or tuples ``(stack, count)`` /
    ``(stack, before, after)`` for a differential graph. Raises ValueError when the
    input has no counts (callers wanting flamegraph.pl's error SVG use ``error_svg``).
    """
    opts = options or FlameOptions()
    if opts.colors not in PALETTES:
        raise FlameError(f"unknown palette {opts.colors!r}")
    if re.search(r"[<>]", opts.notes):
        raise FlameError("Notes string can't contain < or >")
    mw = _MINWIDTH_RE.match(str(opts.minwidth))
    if mw is None:
        raise FlameError(f"Value '{opts.minwidth}' is invalid for minwidth, expected a float.")
    try:
        minwidth_f = float(mw.group(1))
    except ValueError as exc:
        raise FlameError(f"Value '{opts.minwidth}' is invalid for minwidth") from exc
    bg1, bg2 = _background(opts)
    title = opts.title or ("Flame Chart" if opts.flamechart else
                           "Icicle Graph" if opts.inverted else "Flame Graph")

    merged = merge(_to_lines(folded), reverse=opts.reverse, flamechart=opts.flamechart,
                   chain=opts.colors == "chain")
    time = merged.total
    if warn:
        if opts.countname == "samples" and time < 100:
            sys.stderr.write(f"Stack count is low ({format_count(time)}). Did something go wrong?\n")
        if merged.ignored:
            sys.stderr.write(f"Ignored {merged.ignored} lines with invalid format\n")
    if not time:
        raise ValueError("No stack counts found")
    timemax: float = time
    if opts.total and opts.total >= time:
        timemax = opts.total
    elif opts.total and warn and opts.total / time > 0.02:
        sys.stderr.write(f"Specified --total {format_count(opts.total)} is less than actual "
                         f"total {format_count(time)}, so ignored\n")

    fontsize = opts.fontsize
    ypad1 = fontsize * 3
    ypad2 = fontsize * 2 + 10
    ypad3 = fontsize * 2
    width = opts.width
    wpt = (width - 2 * XPAD) / timemax
    if str(opts.minwidth).endswith("%"):
        minwidth_time = timemax * minwidth_f / 100
    else:
        minwidth_time = minwidth_f / wpt
    frames, depthmax = prune(merged, minwidth_time)

    frameheight = opts.height
    imageheight = (depthmax + 1) * frameheight + ypad1 + ypad2
    if opts.subtitle:
        imageheight += ypad3
    out: list[str] = []
    _header(out, opts, width, imageheight)
    out.append(
        "<defs>\n"
        '\t<linearGradient id="background" y1="0" y2="1" x1="0" x2="0" >\n'
        f'\t\t<stop stop-color="{bg1}" offset="5%" />\n'
        f'\t\t<stop stop-color="{bg2}" offset="95%" />\n'
        "\t</linearGradient>\n"
        "</defs>\n"
    )
    out.append(style_and_script(
        fonttype=opts.fonttype, fontsize=pnum(fontsize), titlesize=pnum(fontsize + 5),
        nametype=opts.nametype, fontsize_num=fontsize, fontwidth=opts.fontwidth, xpad=XPAD,
        inverted=opts.inverted))
    out.append(f'<rect x="0.0" y="0" width="{width:0.1f}" height="{imageheight:0.1f}" '
               'fill="url(#background)"  />\n')
    half = int(width / 2)
    _text(out, "title", half, fontsize * 2, _esc(title, quote=False))
    if opts.subtitle:
        _text(out, "subtitle", half, fontsize * 4, _esc(opts.subtitle, quote=False))
    _text(out, "details", XPAD, imageheight - ypad2 / 2, " ")
    _text(out, "unzoom", XPAD, fontsize * 2, "Reset Zoom", 'class="hide"')
    _text(out, "search", width - XPAD - 100, fontsize * 2, "Search")
    _text(out, "ignorecase", width - XPAD - 16, fontsize * 2, "ic")
    _text(out, "matched", width - XPAD - 100, imageheight - ypad2 / 2, " ")

    colorer = Colorer(opts.colors, opts.hash, opts.random, opts.cp)
    if opts.cp:
        from bpfscope.flame.colors import read_palette_map
        colorer.palette_map = read_palette_map(opts.palette_file)
    factor = opts.factor
    total_f = timemax * factor
    charw = fontsize * opts.fontwidth
    countname = opts.countname
    maxdelta = merged.maxdelta
    negate = opts.negate
    base = imageheight - ypad2
    append = out.append
    ycache: dict[int, tuple[str, str, str]] = {}
    append('<g id="frames">\n')
    for fr in frames:
        func = fr.name
        depth = fr.depth
        stime = fr.start
        etime = timemax if (depth == 0 and func == "") else fr.end
        x1 = XPAD + stime * wpt
        x2 = XPAD + etime * wpt
        ys = ycache.get(depth)
        if ys is None:
            if opts.inverted:
                y1 = ypad1 + depth * frameheight
                y2 = ypad1 + (depth + 1) * frameheight - FRAMEPAD
            else:
                y1 = base - (depth + 1) * frameheight + FRAMEPAD
                y2 = base - depth * frameheight
            ys = ycache[depth] = (pnum(y1), f"{y2 - y1:0.1f}", pnum(3 + (y1 + y2) / 2))
        y1s, hs, tys = ys
        samples = f"{(etime - stime) * factor:.0f}"
        samples_txt = samples if len(samples) < 4 else _commas(samples)
        delta = fr.delta
        if func == "" and depth == 0:
            info = f"all ({samples_txt} {countname}, 100%)"
        else:
            pct = f"{(100 * float(samples)) / total_f:.2f}"
            escaped = _ANNOT_RE.sub("", _esc(func))
            if delta is None:
                info = f"{escaped} ({samples_txt} {countname}, {pct}%)"
            else:
                d = -delta if negate else delta
                dpct = f"{(100 * d) / total_f:.2f}"
                if d > 0:
                    dpct = "+" + dpct
                info = f"{escaped} ({samples_txt} {countname}, {pct}%; {dpct}%)"
        if func == "--":
            color = "rgb(160,160,160)"
        elif func == "-":
            color = "rgb(200,200,200)"
        elif delta is not None:
            color = color_scale(delta, maxdelta, negate)
        else:
            color = colorer.color(func)
        x1s = f"{x1:0.1f}"
        x2s = f"{x2:0.1f}"
        ws = f"{float(x2s) - float(x1s):0.1f}"
        chars = int((x2 - x1) / charw)
        text = ""
        if chars >= 3:
            name = _ANNOT_RE.sub("", func)
            text = name[:chars]
            if chars < len(name):
                text = text[:-2] + ".."
            text = _esc(text, quote=False)
        append(f'<g >\n<title>{info}</title><rect x="{x1s}" y="{y1s}" width="{ws}" '
               f'height="{hs}" fill="{color}" rx="2" ry="2" />\n'
               f'<text  x="{x1 + 3:0.2f}" y="{tys}" >{text}</text>\n</g>\n')
    append("</g>\n</svg>\n")
    if opts.cp:
        from bpfscope.flame.colors import write_palette_map
        write_palette_map(opts.palette_file, colorer.palette_map)
    return "".join(out)
