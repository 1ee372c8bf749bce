"""lang.aggmaps picks the keyless aggregation maps that can live in a per-CPU array: only those
that are aggregated and printed/cleared, never read or deleted some other way."""

from __future__ import annotations

import pytest

from bpfscope.lang.bpftrace.aggmaps import array_aggregates
from bpfscope.lang.bpftrace.codegen import array_slots
from bpfscope.lang.bpftrace.parser import parse
from bpfscope.lang.ctype.types import Kind, Type

TP = "tracepoint:syscalls:sys_enter_read"


@pytest.mark.parametrize("body,expected", [
    ("@ = count();", {"@"}),
    ("@h = hist(args->count); @l = lhist(args->count, 0, 100, 10);", {"@h", "@l"}),
    ("@ = count(); } END { print(@); clear(@);", {"@"}),
    ("@h = hist(1); } END { zero(@h); print(@h, 3);", {"@h"}),
    ("@k[pid] = count();", set()),                          # keyed: stays a hash
    ("@s = sum(args->count);", set()),                     # a zero sum is a real value
    ("@ = count(); } END { zero(@);", set()),              # a zeroed count still prints
    ("@ = count(); } END { delete(@);", set()),
    ("@ = count(); } END { $x = @; print($x);", set()),    # read in an expression
    ("@ = count(); if (@ > 3) { exit(); }", set()),
    ("@ = count(); } END { print((@, 1));", set()),
    ("@ = count(); @++;", set()),
    ("@h = hist(@n); @n = count();", {"@h"}),              # @n is read as hist's argument
    ("@x = count(); @x = hist(1);", set()),                # two kinds (a type error later)
])
def test_array_aggregates(body: str, expected: set[str]) -> None:
    assert array_aggregates(parse(f"{TP} {{ {body} }}", "t.bt")) == expected


def test_macro_argument_and_declaration_keep_the_hash() -> None:
    src = f"macro bump(@m) {{ @m = count(); }} {TP} {{ bump(@a); @b = count(); }}"
    assert "@a" not in array_aggregates(parse(src, "t.bt"))
    src = f"let @c = lruhash(10); {TP} {{ @c = count(); @d = count(); }}"
    assert array_aggregates(parse(src, "t.bt")) == {"@d"}


def test_array_slots_cover_every_bucket_index() -> None:
    from bpfscope.runtime.output import hist_bucket_index, lhist_bucket_index

    assert array_slots(Type(Kind.COUNT, size=8)) == 1
    for bits in range(6):
        n = array_slots(Type(Kind.HIST, size=8, params=(bits,)))
        top = max(hist_bucket_index(v, bits) for v in (2**63 - 1, 2**62, 2**62 + 2**61 + 12345))
        assert top == n - 1
    n = array_slots(Type(Kind.LHIST, size=8, params=(0, 100, 10)))
    assert max(lhist_bucket_index(v, 0, 100, 10) for v in (-5, 0, 99, 100, 10**9)) == n - 1
    assert array_slots(Type(Kind.LHIST, size=8, params=(0, 10**6, 1))) == 0   # too big: hash
    assert array_slots(Type(Kind.SUM, size=8)) == 0
