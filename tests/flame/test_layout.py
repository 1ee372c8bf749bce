"""Frames of our SVG against flamegraph.pl's layout rules, worked out by hand.

Rules used (flamegraph.pl): width per sample = (width - 2*10) / total; x = 10 + start *
that; rect numbers printed %.1f, label x %.2f; image height = (maxdepth+1)*frameheight
+ 3*fontsize + 2*fontsize+10; frame y = height - (2*fontsize+10) - (depth+1)*frameheight
+ 1; labels fit int(width / (fontsize*0.59)) chars with ".." when cut; stacks are sorted
as lines and merged on equal prefixes; frames narrower than --minwidth are dropped.
"""

from __future__ import annotations

import re

import pytest

from bpfscope.flame.colors import namehash
from bpfscope.flame.perlrand import name_rand, srand_rand
from bpfscope.flame.svg import FlameOptions, render_svg

from .svgframes import by_title, frames

BASIC = ["a;b;c 10", "a;b;d 5", "a;e 3", "f 2"]


def test_basic_geometry_and_titles() -> None:
    svg = render_svg(BASIC)
    got = {t: (f.x, f.y, f.width, f.height, f.text_x, f.text_y, f.text)
           for t, f in by_title(svg).items()}
    # 20 samples over 1180 px: 59 px per sample; 4 levels -> height 4*16+36+34 = 134.
    assert got == {
        "all (20 samples, 100%)": ("10.0", "85", "1180.0", "15.0", "13.00", "95.5", ""),
        "a (18 samples, 90.00%)": ("10.0", "69", "1062.0", "15.0", "13.00", "79.5", "a"),
        "f (2 samples, 10.00%)": ("1072.0", "69", "118.0", "15.0", "1075.00", "79.5", "f"),
        "b (15 samples, 75.00%)": ("10.0", "53", "885.0", "15.0", "13.00", "63.5", "b"),
        "e (3 samples, 15.00%)": ("895.0", "53", "177.0", "15.0", "898.00", "63.5", "e"),
        "c (10 samples, 50.00%)": ("10.0", "37", "590.0", "15.0", "13.00", "47.5", "c"),
        "d (5 samples, 25.00%)": ("600.0", "37", "295.0", "15.0", "603.00", "47.5", "d"),
    }
    assert 'width="1200" height="134"' in svg
    assert '<text id="title" x="600.00" y="24" >Flame Graph</text>' in svg


def test_merging_is_order_independent_and_sums_duplicates() -> None:
    shuffled = ["f 1", "a;e 3", "a;b;d 5", "a;b;c 4", "f 1", "a;b;c 6"]
    assert frames(render_svg(shuffled)) == frames(render_svg(BASIC))


def test_alphabetical_order_and_flamechart_input_order() -> None:
    svg = render_svg(["z 1", "y 1", "z 1"])
    t = by_title(svg)
    # sorted: "y 1" first, then the two "z 1" lines merge into one frame of 2.
    assert t["y (1 samples, 33.33%)"].x == "10.0"
    assert t["z (2 samples, 66.67%)"].x == "403.3"
    chart = frames(render_svg(["z 1", "y 1", "z 1"], FlameOptions(flamechart=True)))
    assert "Flame Chart" in render_svg(["z 1"], FlameOptions(flamechart=True))
    # flame chart: input order, adjacent-only merging -> z, y, z.
    zs = sorted(f.x for f in chart if f.title.startswith("z "))
    ys = [f.x for f in chart if f.title.startswith("y ")]
    assert zs == ["10.0", "796.7"] and ys == ["403.3"]


def test_minwidth_pixels_and_percent() -> None:
    pruned = by_title(render_svg(BASIC, FlameOptions(minwidth="200")))
    assert not any(t.startswith(("e ", "f ")) for t in pruned)
    assert "d (5 samples, 25.00%)" in pruned
    pct = by_title(render_svg(BASIC, FlameOptions(minwidth="15%")))
    assert "e (3 samples, 15.00%)" in pct and not any(t.startswith("f ") for t in pct)
    # pruning the deepest level shrinks the image: only depth <= 2 remains.
    deep = render_svg(BASIC, FlameOptions(minwidth="600"))
    assert 'height="118"' in deep  # (2+1)*16 + 36 + 34 ... root+a+b levels
    assert [f.title for f in frames(deep)] == ["a (18 samples, 90.00%)", "all (20 samples, 100%)",
                                               "b (15 samples, 75.00%)"]


def test_label_truncation() -> None:
    name = "averyveryverylongfunctionname_that_will_not_fit"
    t = by_title(render_svg([f"{name} 1", "other 9"]))
    f = t[f"{name} (1 samples, 10.00%)"]
    # 118 px / 7.08 px per char -> 16 chars, the last two replaced by "..".
    assert f.text == name[:14] + ".."
    tiny = by_title(render_svg(["x 1", "y 99"]))["x (1 samples, 1.00%)"]
    assert tiny.text == ""  # 11.8 px: fewer than 3 chars fit


def test_escaping_and_annotations() -> None:
    t = by_title(render_svg(['a<b>&"c"_[k];d_[j] 3']))
    assert 'a&lt;b&gt;&amp;&quot;c&quot; (3 samples, 100.00%)' in t
    assert t["d (3 samples, 100.00%)"].text == "d"


def test_reverse_and_inverted() -> None:
    rev = by_title(render_svg(["a;b 2", "c;b 1"], FlameOptions(reverse=True)))
    assert rev["b (3 samples, 100.00%)"].y == "53"
    inv = by_title(render_svg(BASIC, FlameOptions(inverted=True)))
    # icicle: root at top, y = 3*fontsize + depth*16
    assert inv["all (20 samples, 100%)"].y == "36" and inv["c (10 samples, 50.00%)"].y == "84"
    assert "Icicle Graph" in render_svg(BASIC, FlameOptions(inverted=True))


def test_differential_titles_and_colors() -> None:
    t = by_title(render_svg(["a;b 5 10", "a;c 5 2"]))
    assert t["b (10 samples, 83.33%; +41.67%)"].fill == "rgb(255,0,0)"
    assert t["c (2 samples, 16.67%; -25.00%)"].fill == "rgb(84,84,255)"
    assert t["a (12 samples, 100.00%; 0.00%)"].fill == "rgb(255,255,255)"
    neg = by_title(render_svg(["a;b 5 10", "a;c 5 2"], FlameOptions(negate=True)))
    assert neg["b (10 samples, 83.33%; -41.67%)"].fill == "rgb(0,0,255)"


def test_default_colors_follow_perl_rand_by_name() -> None:
    assert srand_rand(1234) == pytest.approx(0.740876929442496, abs=1e-15)
    v = name_rand("a")  # srand(97)
    assert v == pytest.approx(0.638651976668374, abs=1e-15)
    t = by_title(render_svg(["a 1"]))
    assert t["a (1 samples, 100.00%)"].fill == f"rgb({205 + int(50 * v)},{int(230 * v)},{int(55 * v)})"
    h = by_title(render_svg(["a 1"], FlameOptions(hash=True, colors="blue")))
    v1 = namehash("a")
    x = 80 + int(60 * v1)
    assert h["a (1 samples, 100.00%)"].fill == f"rgb({x},{x},{205 + int(50 * v1)})"
    seps = by_title(render_svg(["x;-;-- 1"]))
    assert seps["- (1 samples, 100.00%)"].fill == "rgb(200,200,200)"
    assert seps["-- (1 samples, 100.00%)"].fill == "rgb(160,160,160)"


@pytest.mark.parametrize("palette", ["hot", "mem", "io", "wakeup", "chain", "java", "js", "perl", "red",
                                     "green", "blue", "aqua", "yellow", "purple", "orange"])
def test_every_palette_renders(palette: str) -> None:
    svg = render_svg(["java/lang/Thread:::run;foo::bar_[k] 2"], FlameOptions(colors=palette))
    fills = [f.fill for f in frames(svg)]
    assert all(re.fullmatch(r"rgb\(\d+,\d+,\d+\)", f) for f in fills) and "rgb(0,0,0)" not in fills


def test_options_text_and_sizes() -> None:
    svg = render_svg(BASIC, FlameOptions(title="T", subtitle="S", width=600, height=20, fontsize=10,
                                         countname="bytes", nametype="Fn:", notes="hi",
                                         bgcolors="#123456", total=40))
    assert '<text id="subtitle" x="300.00" y="40" >S</text>' in svg
    assert "<!-- NOTES: hi -->" in svg and 'stop-color="#123456"' in svg
    t = by_title(svg)
    # --total 40: half the width; 580 px / 40 samples = 14.5 px per sample
    assert t["all (40 bytes, 100%)"].width == "580.0"
    assert t["a (18 bytes, 45.00%)"].width == "261.0"
    # (3+1)*20 + 30 + 30 + subtitle 20
    assert 'height="160"' in svg


def test_no_input_raises() -> None:
    with pytest.raises(ValueError):
        render_svg(["not a stack line"])
