"""The HTML report in headless Chromium: every section renders, histograms are pictures, the
flame graph (its own document inside the page) zooms on a click, the screenshot is not blank."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..flame.test_browser import CHROMIUM, DRIVER, _png_distinct_colors
from .conftest import needs_root

pytestmark = [pytest.mark.root, pytest.mark.browser, needs_root,
              pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                 reason="needs Debian packages chromium and chromium-driver")]


def test_report_renders_and_flame_graph_clicks(triage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ..flame.webdriver import ELEMENT, Browser

    html = tmp_path / "report.html"
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        t = triage("--html", str(html), duration=3)
        t.window_started()
        rep, _text = t.report()
    finally:
        os.killpg(hog.pid, signal.SIGKILL)
        hog.wait()
    assert CHROMIUM and DRIVER
    with Browser(DRIVER, CHROMIUM) as b:
        b.get(html.as_uri())
        for sec in ("glance", "checklist", "use", "next", "raw"):
            h = b.js("const e = document.getElementById(arguments[0]); "
                     "return e ? e.getBoundingClientRect().height : -1", sec)
            assert h > 20, (sec, h)
        rows = b.js("return document.querySelectorAll('#use tr').length")
        assert rows == len(rep["use"]) + 1
        assert b.js("return document.querySelectorAll('#hist-runqlat svg rect').length") >= 1
        assert b.js("return document.querySelector('#hist-runqlat svg').getBoundingClientRect().width") > 100
        assert b.js("return document.getElementById('overhead').textContent").startswith("Overhead:")
        # the flame graph: enter its frame, click the widest frame under the root, see the zoom
        frame = b.find("#flamegraph")
        b.cmd("POST", "/frame", {"id": {ELEMENT: frame}})
        assert b.js("return document.querySelectorAll('#frames > g').length") > 3
        assert b.js("return document.getElementById('unzoom').classList.contains('hide')") is True
        idx = b.js("""
            const gs = [...document.querySelectorAll('#frames > g')];
            let best = -1, w = 0;
            gs.forEach((g, i) => { const t = g.querySelector('title').textContent;
                const r = parseFloat(g.querySelector('rect').getAttribute('width'));
                if (!t.startsWith('all ') && r > w && r < 1100) { w = r; best = i; } });
            gs.forEach((g, i) => g.id = 'fg' + i);
            return best;""")
        assert idx >= 0
        b.click(b.find(f"#fg{idx}"))
        assert b.js("return document.getElementById('unzoom').classList.contains('hide')") is False
        w = b.js(f"return parseFloat(document.querySelector('#fg{idx} rect').getAttribute('width'))")
        assert w == pytest.approx(1180.0, abs=1.0)
        b.cmd("POST", "/frame/parent", {})
        assert _png_distinct_colors(b.screenshot()) > 8
