"""The interactive part of our SVGs: CSS and JavaScript (zoom, search, details, keys).

The script only relies on the document structure (``#frames`` groups holding a title,
a rect and a text), so it also works on graphs where frames were pruned or reordered.
"""

from __future__ import annotations

_CSS = """<style type="text/css">
\ttext { font-family:@FONT@; font-size:@SIZE@px; fill:rgb(0,0,0); }
\t#search, #ignorecase { opacity:0.1; cursor:pointer; }
\t#search:hover, #search.show, #ignorecase:hover, #ignorecase.show { opacity:1; }
\t#subtitle { text-anchor:middle; font-color:rgb(160,160,160); }
\t#title { text-anchor:middle; font-size:@TITLESIZE@px}
\t#unzoom { cursor:pointer; }
\t#frames > *:hover { stroke:black; stroke-width:0.5; cursor:pointer; }
\t.hide { display:none; }
\t.parent { opacity:0.5; }
</style>
"""

_SCRIPT = r"""<script type="text/ecmascript">
<![CDATA[
"use strict";
var FG = {
	nametype: @NAMETYPE@, fontsize: @FONTSIZE@, fontwidth: @FONTWIDTH@, xpad: @XPAD@,
	inverted: @INVERTED@, searchcolor: "rgb(230,0,230)",
	details: null, searchbtn: null, icbtn: null, unzoombtn: null, matchedtxt: null,
	svg: null, frames: null, searching: false, term: null, ignorecase: false
};
function init(evt) {
	FG.details = document.getElementById("details").firstChild;
	FG.searchbtn = document.getElementById("search");
	FG.icbtn = document.getElementById("ignorecase");
	FG.unzoombtn = document.getElementById("unzoom");
	FG.matchedtxt = document.getElementById("matched");
	FG.svg = document.getElementsByTagName("svg")[0];
	FG.frames = document.getElementById("frames");
	var p = get_params();
	if (p.x && p.y) {
		var r = document.querySelector('#frames rect[x="' + p.x + '"][y="' + p.y + '"]');
		if (r) zoom(r.parentNode);
	}
	if (p.s) search(p.s);
}
function fg_groups() { return FG.frames ? FG.frames.children : []; }
function frame_of(node) {
	while (node && node.parentNode) {
		if (node.parentNode.id == "frames") return node;
		node = node.parentNode;
	}
	return null;
}
function get_params() {
	var out = {}, parts = window.location.search.substr(1).split("&");
	for (var i = 0; i < parts.length; i++) {
		var kv = parts[i].split("=");
		if (kv[0] && kv[1]) out[kv[0]] = decodeURIComponent(kv[1]);
	}
	return out;
}
function set_params(p) {
	var q = [];
	for (var k in p) q.push(k + "=" + encodeURIComponent(p[k]));
	var url = q.length ? "?" + q.join("&") : window.location.href.split("?")[0];
	try { history.replaceState(null, null, url); } catch (e) { /* file: URLs may refuse */ }
}
function g_title(g) { return g.querySelector("title").textContent; }
function g_func(g) {
	var t = g_title(g), i = t.lastIndexOf(" (");
	return i >= 0 ? t.substring(0, i) : t;
}
function num(e, a) {
	var o = e.getAttribute("_orig_" + a);
	return parseFloat(o !== null ? o : e.getAttribute(a));
}
function save(e, a) {
	if (e.getAttribute("_orig_" + a) === null && e.getAttribute(a) !== null)
		e.setAttribute("_orig_" + a, e.getAttribute(a));
}
function restore(e, a) {
	var o = e.getAttribute("_orig_" + a);
	if (o === null) return;
	e.setAttribute(a, o);
	e.removeAttribute("_orig_" + a);
}
function update_text(g) {
	var r = g.querySelector("rect"), t = g.querySelector("text");
	var w = parseFloat(r.getAttribute("width")) - 3;
	var txt = g_func(g);
	t.setAttribute("x", (parseFloat(r.getAttribute("x")) + 3).toFixed(2));
	if (w < 2 * FG.fontsize * FG.fontwidth) { t.textContent = ""; return; }
	t.textContent = txt;
	if (/^ *$/.test(txt) || t.getSubStringLength(0, txt.length) < w) return;
	for (var n = txt.length - 2; n > 0; n--) {
		if (t.getSubStringLength(0, n + 2) <= w) {
			t.textContent = txt.substring(0, n) + "..";
			return;
		}
	}
	t.textContent = "";
}
function zoom(g) {
	if (!g) return;
	var r = g.querySelector("rect");
	var xmin = num(r, "x"), width = num(r, "width"), ymin = parseFloat(r.getAttribute("y"));
	var xmax = xmin + width, fudge = 0.0001;
	var full = parseFloat(FG.svg.getAttribute("width")) - 2 * FG.xpad;
	var ratio = full / width;
	unzoom(false);
	var gs = fg_groups();
	for (var i = 0; i < gs.length; i++) {
		var e = gs[i], er = e.querySelector("rect");
		var ex = num(er, "x"), ew = num(er, "width"), ey = parseFloat(er.getAttribute("y"));
		var ancestor = FG.inverted ? ey < ymin : ey > ymin;
		if (ancestor) {
			if (ex <= xmin + fudge && ex + ew >= xmax - fudge) {
				e.classList.add("parent");
				save(er, "x"); save(er, "width");
				er.setAttribute("x", FG.xpad.toFixed(1));
				er.setAttribute("width", full.toFixed(1));
			} else {
				e.classList.add("hide");
			}
		} else if (ex < xmin - fudge || ex >= xmax - fudge && !(ex == xmin && ew == 0)) {
			e.classList.add("hide");
		} else {
			save(er, "x"); save(er, "width");
			er.setAttribute("x", ((ex - xmin) * ratio + FG.xpad).toFixed(1));
			er.setAttribute("width", (ew * ratio).toFixed(1));
		}
		if (!e.classList.contains("hide")) update_text(e);
	}
	FG.unzoombtn.classList.remove("hide");
	if (FG.searching) search(FG.term);
	var p = get_params();
	p.x = r.getAttribute("_orig_x") || r.getAttribute("x");
	p.y = r.getAttribute("y");
	set_params(p);
}
function unzoom(clear) {
	var gs = fg_groups();
	for (var i = 0; i < gs.length; i++) {
		var e = gs[i], er = e.querySelector("rect");
		var zoomed = er.getAttribute("_orig_x") !== null;
		e.classList.remove("parent");
		e.classList.remove("hide");
		restore(er, "x"); restore(er, "width");
		if (zoomed) update_text(e);
	}
	if (clear) {
		FG.unzoombtn.classList.add("hide");
		var p = get_params();
		delete p.x; delete p.y;
		set_params(p);
		if (FG.searching) search(FG.term);
	}
}
function reset_search() {
	var gs = fg_groups();
	for (var i = 0; i < gs.length; i++) restore(gs[i].querySelector("rect"), "fill");
	FG.searching = false;
	FG.term = null;
	FG.searchbtn.classList.remove("show");
	FG.searchbtn.firstChild.nodeValue = "Search";
	FG.matchedtxt.classList.add("hide");
	FG.matchedtxt.firstChild.nodeValue = " ";
	var p = get_params();
	delete p.s;
	set_params(p);
}
function search(term) {
	if (term === null || term === undefined || term === "") return null;
	var re;
	try { re = new RegExp(term, FG.ignorecase ? "i" : ""); } catch (e) { return null; }
	var gs = fg_groups(), matches = {}, maxwidth = 0;
	for (var i = 0; i < gs.length; i++) {
		var e = gs[i], er = e.querySelector("rect");
		var w = num(er, "width"), x = num(er, "x");
		if (w > maxwidth) maxwidth = w;
		if (re.test(g_func(e))) {
			save(er, "fill");
			er.setAttribute("fill", FG.searchcolor);
			if (matches[x] === undefined || w > matches[x]) matches[x] = w;
		} else {
			restore(er, "fill");
		}
	}
	FG.searching = true;
	FG.term = term;
	FG.searchbtn.classList.add("show");
	FG.searchbtn.firstChild.nodeValue = "Reset Search";
	var xs = Object.keys(matches).map(parseFloat).sort(function (a, b) { return a - b; });
	var count = 0, lastx = -1, lastw = 0, fudge = 0.0001;
	for (var k = 0; k < xs.length; k++) {
		var mw = matches[xs[k]];
		if (xs[k] >= lastx + lastw - fudge) { count += mw; lastx = xs[k]; lastw = mw; }
	}
	var pct = maxwidth > 0 ? 100 * count / maxwidth : 0;
	var shown = pct == 100 ? "100" : pct.toFixed(1);
	FG.matchedtxt.classList.remove("hide");
	FG.matchedtxt.firstChild.nodeValue = "Matched: " + shown + "%";
	var p = get_params();
	p.s = term;
	set_params(p);
	return shown;
}
function search_prompt() {
	if (FG.searching) { reset_search(); return; }
	var term = prompt("Enter a search term (regexp allowed, eg: ^ext4_)"
		+ (FG.ignorecase ? ", ignoring case" : "")
		+ "\nPress Ctrl-i to toggle case sensitivity", "");
	if (term) search(term);
}
function toggle_ignorecase() {
	FG.ignorecase = !FG.ignorecase;
	if (FG.ignorecase) FG.icbtn.classList.add("show"); else FG.icbtn.classList.remove("show");
	if (FG.searching) search(FG.term);
}
window.addEventListener("click", function (e) {
	var g = frame_of(e.target);
	if (g) {
		if (g.nodeName == "a") {
			if (e.ctrlKey === false) return;
			e.preventDefault();
		}
		zoom(g);
		return;
	}
	var id = e.target.id || (e.target.parentNode && e.target.parentNode.id);
	if (id == "unzoom") unzoom(true);
	else if (id == "search") search_prompt();
	else if (id == "ignorecase") toggle_ignorecase();
}, false);
window.addEventListener("mouseover", function (e) {
	var g = frame_of(e.target);
	if (g) FG.details.nodeValue = FG.nametype + " " + g_title(g);
}, false);
window.addEventListener("mouseout", function (e) {
	if (frame_of(e.target)) FG.details.nodeValue = " ";
}, false);
window.addEventListener("keydown", function (e) {
	if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) {
		e.preventDefault();
		search_prompt();
	} else if (e.ctrlKey && e.keyCode === 73) {
		e.preventDefault();
		toggle_ignorecase();
	} else if (e.keyCode === 27) {
		if (FG.searching) reset_search(); else unzoom(true);
	}
}, false);
]]>
</script>
"""


def _js_string(text: str) -> str:
    """Quote text as a JavaScript string literal safe inside CDATA."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ch in "<>]":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def style_and_script(*, fonttype: str, fontsize: str, titlesize: str, nametype: str,
                     fontsize_num: float, fontwidth: float, xpad: int, inverted: bool) -> str:
    """Return the <style> and <script> blocks for one graph."""
    css = (_CSS.replace("@FONT@", fonttype).replace("@TITLESIZE@", titlesize)
           .replace("@SIZE@", fontsize))
    js = (_SCRIPT.replace("@NAMETYPE@", _js_string(nametype))
          .replace("@FONTSIZE@", repr(float(fontsize_num)))
          .replace("@FONTWIDTH@", repr(float(fontwidth)))
          .replace("@XPAD@", str(xpad))
          .replace("@INVERTED@", "true" if inverted else "false"))
    return css + js
