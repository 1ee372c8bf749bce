"""delete()/has_key() on keyed hist/lhist maps: one user key is many (key, bucket) entries
in our layout, so both touch every bucket of the key. Expected output is bpftrace's
(0.17 prints the same for the delete case)."""

from __future__ import annotations

import pytest

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

HIST_LEFT = "@h[2]: \n[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"


@pytest.mark.parametrize("prog, expected", [
    ("BEGIN { @h[1] = hist(5); @h[2] = hist(7); delete(@h[1]); exit(); }", HIST_LEFT),
    ("BEGIN { @h[1] = hist(5); @h[1] = hist(900); @h[2] = hist(7); delete(@h, 1); exit(); }", HIST_LEFT),
    ('BEGIN { @h[1] = lhist(5, 0, 100, 10); @h[2] = lhist(70, 0, 100, 10); $x = delete(@h[2]); '
     '$y = delete(@h[9]); printf("%d %d %d %d\\n", $x, $y, has_key(@h, 1), has_key(@h, 2)); exit(); }',
     "1 0 1 0\n@h[1]:\n[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"),
    ('BEGIN { @h[1, "a"] = hist(5, 2); @h[2, "b"] = hist(7000, 2); '
     'if (has_key(@h, (2, "b"))) { delete(@h, (2, "b")); } exit(); }',
     "@h[1, a]: \n[5]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"),
])
def test_delete_and_has_key_of_histogram_keys(prog: str, expected: str) -> None:
    r = bpfscope("-q", "-e", prog)
    assert r.returncode == 0, r.stderr
    def lines(t: str) -> list[str]:   # 0.17 ends the map line with a space, 0.26 does not
        return [x.rstrip() for x in t.splitlines() if x.strip()]

    assert lines(r.stdout) == lines(expected), r.stdout
    assert "WARNING" not in r.stderr, r.stderr


def test_division_signedness_follows_c_and_needs_no_sdiv() -> None:
    """Signed only when both operands are (nsecs / 1000 is unsigned, as C converts), and
    built from unsigned instructions: BPF's sdiv/smod need kernel 6.6, the VM lane runs 6.1.
    Expected values are C's (truncation toward zero), which bpftrace 0.26 prints."""
    r = bpfscope("-q", "-e", 'BEGIN { $a = -10; $b = 3; $c = -3; printf("%d %d %d %d %d %d %d\\n", '
                 '$a / $b, $a % $b, 10 / $c, 10 % $c, $a / $c, $a % $c, $b / $a); exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "-3 -1 -3 1 3 -1 0"
    d = bpfscope("-d", "-e", "BEGIN { $a = -10; $c = -3; printf(\"%d %d\\n\", nsecs / 1000, $a / $c); exit(); }")
    assert d.returncode == 0, d.stderr
    dump = d.stdout + d.stderr
    assert " s/= " not in dump and " s%= " not in dump
    assert dump.count(" /= ") == 2          # the unsigned one, and the magnitudes of the signed one
