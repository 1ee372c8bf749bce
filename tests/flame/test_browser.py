"""Our SVG's JavaScript in headless Chromium: zoom, reset, search highlight and %, pixels."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from bpfscope.flame.svg import render_svg

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="needs Debian packages chromium and chromium-driver"),
]


def _png_distinct_colors(png: bytes) -> int:
    """Count distinct RGB(A) pixels of a PNG screenshot (enough to tell 'not blank')."""
    pos, chunks = 8, b""
    width = height = 0
    ctype = 6
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, _, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(chunks)
    stride = width * bpp
    prev = bytearray(stride)
    colors = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        for x in range(0, stride, bpp * 7):
            colors.add(bytes(line[x:x + 3]))
    return len(colors)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from .webdriver import Browser

    svg = render_svg(["main;parse;lex 30", "main;parse;tokenize 10", "main;eval;lex_helper 20",
                      "main;eval;compute 40"])
    path: Path = tmp_path_factory.mktemp("svg") / "graph.svg"
    path.write_text(svg)
    assert CHROMIUM and DRIVER
    with Browser(DRIVER, CHROMIUM) as b:
        b.get(path.as_uri())
        yield b


def _rect(b, title_prefix: str) -> dict:  # type: ignore[no-untyped-def]
    return b.js("""
        for (const g of document.querySelectorAll('#frames > g')) {
            if (g.querySelector('title').textContent.startsWith(arguments[0])) {
                const r = g.querySelector('rect');
                return {x: parseFloat(r.getAttribute('x')), w: parseFloat(r.getAttribute('width')),
                        fill: r.getAttribute('fill'), hidden: g.classList.contains('hide'),
                        parent: g.classList.contains('parent'),
                        text: g.querySelector('text').textContent};
            }
        }
        return null;""", title_prefix)


def test_zoom_and_reset(page) -> None:  # type: ignore[no-untyped-def]
    b = page
    assert _rect(b, "parse ")["w"] == pytest.approx(472.0)
    b.click(_find_frame(b, "parse "))
    parse = _rect(b, "parse ")
    assert parse["x"] == pytest.approx(10.0) and parse["w"] == pytest.approx(1180.0)
    assert _rect(b, "lex (")["w"] == pytest.approx(1180.0 * 30 / 40)
    assert _rect(b, "compute ")["hidden"] and _rect(b, "main ")["parent"]
    assert b.js("return document.getElementById('unzoom').classList.contains('hide')") is False
    assert _rect(b, "lex (")["text"] == "lex"
    b.click(b.find("#unzoom"))
    assert _rect(b, "parse ")["w"] == pytest.approx(472.0)
    assert not _rect(b, "compute ")["hidden"]
    assert b.js("return document.getElementById('unzoom').classList.contains('hide')") is True


def _find_frame(b, title_prefix: str) -> str:  # type: ignore[no-untyped-def]
    idx = b.js("""
        const gs = [...document.querySelectorAll('#frames > g')];
        return gs.findIndex(g => g.querySelector('title').textContent.startsWith(arguments[0])) + 1;""",
               title_prefix)
    return b.find(f"#frames > g:nth-child({idx}) rect")


def test_search_highlight_and_matched_percent(page) -> None:  # type: ignore[no-untyped-def]
    b = page
    shown = b.js("return search('^lex');")
    assert shown == "50.0"  # lex (30) + lex_helper (20) of 100 samples
    assert b.js("return document.getElementById('matched').textContent") == "Matched: 50.0%"
    assert _rect(b, "lex (")["fill"] == "rgb(230,0,230)"
    assert _rect(b, "lex_helper ")["fill"] == "rgb(230,0,230)"
    assert _rect(b, "compute ")["fill"] != "rgb(230,0,230)"
    b.js("reset_search();")
    assert _rect(b, "lex (")["fill"] != "rgb(230,0,230)"
    b.js("toggle_ignorecase();")
    assert b.js("return search('MAIN');") == "100"
    b.js("reset_search(); toggle_ignorecase();")
    assert b.js("return search('MAIN');") == "0.0"
    b.js("reset_search();")


def test_details_on_hover_and_screenshot_not_blank(page) -> None:  # type: ignore[no-untyped-def]
    b = page
    b.js("""const g = [...document.querySelectorAll('#frames > g')]
              .find(g => g.querySelector('title').textContent.startsWith('compute'));
            g.querySelector('rect').dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));""")
    assert b.js("return document.getElementById('details').textContent") == \
        "Function: compute (40 samples, 40.00%)"
    assert _png_distinct_colors(b.screenshot()) > 5
