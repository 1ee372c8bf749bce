"""Frame fill colours: flamegraph.pl's palettes, name hashing and differential scale.

Keeping the same formulas means a graph of the same input looks the same as the Perl
tool's, and colours stay stable across graphs for the same function name.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from bpfscope.flame.perlrand import name_rand

PALETTES = (
    "hot", "mem", "io", "wakeup", "chain", "java", "js", "perl",
    "red", "green", "blue", "aqua", "yellow", "purple", "orange",
)
FLAT_PALETTES = ("red", "green", "blue", "aqua", "yellow", "purple", "orange")

_MODULE_RE = re.compile(r".(.*?)`")
_JAVA_RE = re.compile(r"^L?(java|javax|jdk|net|org|com|io|sun)/")


def namehash(name: str) -> float:
    """Weighted hash of a name's first characters (module prefix ``lib`` + backtick cut)."""
    name = _MODULE_RE.sub("", name, count=1)
    vector = 0.0
    weight = 1.0
    top = 1.0
    mod = 10
    for ch in name:
        i = ord(ch) % mod
        vector += (i / (mod - 1)) * weight
        mod += 1
        top += weight
        weight *= 0.70
        if mod > 12:
            break
    return 1 - vector / top


def _resolve(kind: str, name: str) -> str:
    """Map the multi-palettes (java, js, perl, wakeup, chain) to a flat palette."""
    if kind == "java":
        if name.endswith("_[j]"):
            return "green"
        if name.endswith("_[i]"):
            return "aqua"
        if _JAVA_RE.search(name) or ":::" in name:
            return "green"
        if "::" in name:
            return "yellow"
        if name.endswith("_[k]"):
            return "orange"
        return "red"
    if kind == "perl":
        if "::" in name:
            return "yellow"
        if "Perl" in name or re.search(r"\.pl", name):
            return "green"
        if name.endswith("_[k]"):
            return "orange"
        return "red"
    if kind == "js":
        if name.endswith("_[j]"):
            return "green" if "/" in name else "aqua"
        if "::" in name:
            return "yellow"
        if re.search(r"/.*\.js", name):
            return "green"
        if ":" in name:
            return "aqua"
        if name == " ":
            return "green"
        if "_[k]" in name:
            return "orange"
        return "red"
    if kind == "wakeup":
        return "aqua"
    if kind == "chain":
        return "aqua" if "_[w]" in name else "blue"
    return kind


def palette_color(kind: str, v1: float, v2: float, v3: float, name: str) -> str:
    """Compute ``rgb(r,g,b)`` for a palette from the three random/hash values."""
    if kind == "hot":
        return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"
    if kind == "mem":
        return f"rgb(0,{190 + int(50 * v2)},{int(210 * v1)})"
    if kind == "io":
        r = 80 + int(60 * v1)
        return f"rgb({r},{r},{190 + int(55 * v2)})"
    kind = _resolve(kind, name)
    if kind == "red":
        x = 50 + int(80 * v1)
        return f"rgb({200 + int(55 * v1)},{x},{x})"
    if kind == "green":
        x = 50 + int(60 * v1)
        return f"rgb({x},{200 + int(55 * v1)},{x})"
    if kind == "blue":
        x = 80 + int(60 * v1)
        return f"rgb({x},{x},{205 + int(50 * v1)})"
    if kind == "yellow":
        x = 175 + int(55 * v1)
        return f"rgb({x},{x},{50 + int(20 * v1)})"
    if kind == "purple":
        x = 190 + int(65 * v1)
        return f"rgb({x},{80 + int(60 * v1)},{x})"
    if kind == "aqua":
        return f"rgb({50 + int(60 * v1)},{165 + int(55 * v1)},{165 + int(55 * v1)})"
    if kind == "orange":
        return f"rgb({190 + int(65 * v1)},{90 + int(65 * v1)},0)"
    return "rgb(0,0,0)"


def color_scale(value: float, maximum: float, negate: bool) -> str:
    """Differential colour: red for growth, blue for shrinkage, white for no change."""
    r = g = b = 255
    if negate:
        value = -value
    if value > 0:
        g = b = int(210 * (maximum - value) / maximum)
    elif value < 0:
        r = g = int(210 * (maximum + value) / maximum)
    return f"rgb({r},{g},{b})"


@dataclass
class Colorer:
    """Chooses frame colours for one graph (holds the --cp palette map and RNG)."""

    palette: str = "hot"
    use_hash: bool = False
    use_random: bool = False
    consistent: bool = False
    palette_map: dict[str, str] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    _cache: dict[str, str] = field(default_factory=dict)

    def color(self, name: str) -> str:
        """Colour for a function name under the configured scheme."""
        if self.consistent:
            got = self.palette_map.get(name)
            if got is None:
                got = self._compute(name)
                self.palette_map[name] = got
            return got
        if self.use_random:
            return self._compute(name)
        got = self._cache.get(name)
        if got is None:
            got = self._compute(name)
            self._cache[name] = got
        return got

    def _compute(self, name: str) -> str:
        if self.use_hash:
            v1 = namehash(name)
            v2 = v3 = namehash(name[::-1])
        elif self.use_random:
            v1, v2, v3 = self.rng.random(), self.rng.random(), self.rng.random()
        else:
            v1 = v2 = v3 = name_rand(name)
        return palette_color(self.palette, v1, v2, v3, name)


def read_palette_map(path: str) -> dict[str, str]:
    """Read a ``name->rgb(...)`` palette file (missing file: empty map)."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                key, _, value = line.rstrip("\n").partition("->")
                out[key] = value
    except FileNotFoundError:
        pass
    return out


def write_palette_map(path: str, mapping: dict[str, str]) -> None:
    """Write the palette map sorted by name, as flamegraph.pl's --cp does."""
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        for key in sorted(mapping):
            fh.write(f"{key}->{mapping[key]}\n")
