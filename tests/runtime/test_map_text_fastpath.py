"""format_map's integer-map fast path (big `@[k] = count()` maps) prints exactly what the
general per-entry path prints, for every input it accepts; and the column-wise map reader
sums per-CPU counters like the per-entry one."""

from __future__ import annotations

import random

import pytest

from bpfscope.lang.ctype.types import Kind, Type, int_type, string_type
from bpfscope.runtime import output

COUNT = Type(Kind.COUNT, size=8, signed=True)
SUM_S = Type(Kind.SUM, size=8, signed=True)
SUM_U = Type(Kind.SUM, size=8, signed=False)
MAXV = Type(Kind.MAX, size=8, signed=True)
INT_K = int_type(8, True)
KSYM_K = Type(Kind.KSYM, size=8)


def _general(monkeypatch: pytest.MonkeyPatch, *args: object, **kw: object) -> str:
    with monkeypatch.context() as m:
        m.setattr(output, "_int_map_text", lambda *a, **k: None)
        return output.format_map(*args, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("vt", [COUNT, SUM_S, SUM_U, MAXV])
@pytest.mark.parametrize("top,div", [(0, 1), (3, 1), (0, 7), (5, 2)])
def test_fast_path_matches_general(monkeypatch: pytest.MonkeyPatch, vt: Type, top: int, div: int) -> None:
    rnd = random.Random(7)
    for neg in (False, True):
        entries = [(rnd.randrange(-10**12, 10**12), rnd.randrange(-50 if neg else 0, 1000)) for _ in range(300)]
        entries += [(5, 3), (6, 3), (7, 3)]   # ties keep map order
        fast = output.format_map("@m", INT_K, vt, entries, top=top, div=div)
        assert fast == _general(monkeypatch, "@m", INT_K, vt, entries, top=top, div=div)


# What bpftrace 0.17 prints for @m[5] x3, @m[-7] x2, @m[1 << 40] x1 count()s and two sum()s:
# `exit()` (whole map), `print(@m, 2)` (top 2) and `print(@m, 0, 2)` (values divided by 2).
BPFTRACE_017 = [
    ("@m", COUNT, [(5, 3), (-7, 2), (2**40, 1)], 0, 1, "@m[1099511627776]: 1\n@m[-7]: 2\n@m[5]: 3\n"),
    ("@m", COUNT, [(5, 3), (-7, 2), (2**40, 1)], 2, 1, "@m[-7]: 2\n@m[5]: 3\n"),
    ("@m", COUNT, [(5, 3), (-7, 2), (2**40, 1)], 0, 2, "@m[1099511627776]: 0\n@m[-7]: 1\n@m[5]: 1\n"),
    ("@s", SUM_S, [(-7, -9), (3, 4)], 0, 1, "@s[-7]: -9\n@s[3]: 4\n"),
]


@pytest.mark.parametrize("name,vt,entries,top,div,want", BPFTRACE_017)
def test_both_paths_print_what_bpftrace_prints(monkeypatch: pytest.MonkeyPatch, name: str, vt: Type,
                                               entries: list[tuple[int, int]], top: int, div: int,
                                               want: str) -> None:
    assert output.format_map(name, INT_K, vt, entries, top=top, div=div) == want
    assert _general(monkeypatch, name, INT_K, vt, entries, top=top, div=div) == want


def test_keys_that_look_like_tuples_are_stripped_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [("(weird)", 2), ("plain", 1), ("(", 3)]
    assert output.format_map("@s", KSYM_K, COUNT, entries) == _general(monkeypatch, "@s", KSYM_K, COUNT, entries)


def test_declines_what_it_does_not_cover() -> None:
    assert output._int_map_text("@x", string_type(8), COUNT, [("a", 1)], 0, 1) is None   # string keys
    assert output._int_map_text("@x", INT_K, COUNT, [(1, 1.5)], 0, 1) is None            # not ints
    assert output._int_map_text("@x", INT_K, Type(Kind.AVG, size=8), [(1, (1, 2))], 0, 1) is None


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root to create BPF maps")
def test_counter_columns_sum_every_cpu() -> None:
    import struct

    from bpfscope.kernel import uapi
    from bpfscope.kernel.maps import Map, possible_cpus
    from bpfscope.runtime.program import Program

    ncpu = possible_cpus()
    prog = Program("BEGIN { exit(); }")
    with Map.create(uapi.BPF_MAP_TYPE_PERCPU_HASH, 8, 8, 64) as m:
        want = {}
        for k in (-3, 0, 7, 2**40):
            per_cpu = [(k % 97) + 10 * c for c in range(ncpu)]
            m.update(struct.pack("<q", k), b"".join(struct.pack("<q", v) for v in per_cpu))
            want[k] = sum(per_cpu)
        assert dict(prog._counter_entries(m, INT_K)) == want
    with Map.create(uapi.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1) as m:
        assert prog._counter_entries(m, None) == []   # an array slot never counted: absent
        m.update(bytes(4), b"".join(struct.pack("<q", 2) for _ in range(ncpu)))
        assert prog._counter_entries(m, None) == [(None, 2 * ncpu)]
