"""Golden and differential tests for runtime/output.py and runtime/printf.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfscope.lang.ctype.types import BOOL, INT64, UINT64, Kind, Type, stack_type, string_type, tuple_type
from bpfscope.runtime.output import (
    attached_banner,
    format_map,
    format_print_value,
    format_value,
    hist_bucket_index,
    json_event,
    lhist_bucket_index,
    lost_events,
)
from bpfscope.runtime.printf import check_printf_args, format_printf, printf_specifiers

HIST = Type(Kind.HIST, params=(0,))
COUNT = Type(Kind.COUNT, size=8)
STATS = Type(Kind.STATS, signed=True)
AVG = Type(Kind.AVG, signed=True)
STR = string_type(64)


def hist_of(*values: int, bits: int = 0) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values:
        i = hist_bucket_index(v, bits)
        out[i] = out.get(i, 0) + 1
    return out


def test_acceptance_hist() -> None:
    # tests/runtime/outputs/hist.txt (data); header "@:" without the 0.17 trailing
    # space per tests/runtime/outputs/hist_2_values.txt and src/output/text.cpp.
    expected = (
        "@:\n"
        "(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
        "[0]                    0 |                                                    |\n"
        "[1]                    0 |                                                    |\n"
        "[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
        "[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
        "[8, 16)                0 |                                                    |\n"
        "[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
        "\n"
    )
    assert format_map("@", None, HIST, [(None, hist_of(-1, 2, 3, 7, 20))]) == expected


def test_hist_2_values() -> None:
    # tests/runtime/outputs/hist_2_values.txt
    expected = (
        "@:\n"
        "[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
        "[4, 8)                 0 |                                                    |\n"
        "[8, 16)                0 |                                                    |\n"
        "[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
        "\n"
    )
    assert format_map("@", None, HIST, [(None, hist_of(2, 20))]) == expected


def test_lhist_golden() -> None:
    # tests/runtime/outputs/lhist.txt: lhist(x, 0, 10, 2) of -1, 2, 3, 6, 10.
    lh = Type(Kind.LHIST, params=(0, 10, 2))
    b: dict[int, int] = {}
    for v in (-1, 2, 3, 6, 10):
        i = lhist_bucket_index(v, 0, 10, 2)
        b[i] = b.get(i, 0) + 1
    text = format_map("@", None, lh, [(None, b)])
    assert text.splitlines()[0] == "@:"
    assert text.splitlines()[1].startswith("(..., 0)               1 |")
    assert text.splitlines()[-1] == ""
    assert "[10, ...)              1 |" in text
    assert "[8, 10)                0 |" in text


def test_hist_labels_k_suffix_and_bits() -> None:
    text = format_map("@", None, HIST, [(None, hist_of(600, 1500))])
    assert "[512, 1K)" in text and "[1K, 2K)" in text
    # hist(n, 3): indices 1..16 are single values, then 8 slices per power of two.
    assert hist_bucket_index(15, 3) == 16 and hist_bucket_index(16, 3) == 17
    h3 = Type(Kind.HIST, params=(3,))
    t = format_map("@", None, h3, [(None, hist_of(16, 18, bits=3))])
    assert "[16, 18)" in t and "[18, 20)" in t


def test_hist_json_matches_top_test() -> None:
    # tests/runtime/json-output print_hist_with_top_arg
    entries = [(1, hist_of(10)), (2, hist_of(20)), (3, hist_of(30))]
    got = format_map("@", INT64, HIST, entries, json=True, top=2)
    assert got == ('{"type": "hist", "data": {"@": {"2": [{"min": 16, "max": 31, "count": 1}], '
                   '"3": [{"min": 16, "max": 31, "count": 1}]}}}\n')


def test_json_map_stats_avg() -> None:
    # tests/runtime/json-output "map", "print_avg_map_args", outputs/stats_multiple.json (compact)
    assert format_map("@m", STR, INT64, [("a", 2), ("b", 3)], json=True) == \
        '{"type": "map", "data": {"@m": {"a": 2, "b": 3}}}\n'
    avg = [("a", (1, 10)), ("b", (1, 20)), ("c", (1, 30)), ("d", (1, 40))]
    assert format_map("@", STR, AVG, avg, json=True, top=2, div=10) == \
        '{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}\n'
    assert format_map("@stats", None, STATS, [(None, (2, 12))], json=True) == \
        '{"type": "stats", "data": {"@stats": {"count": 2, "average": 6, "total": 12}}}\n'
    assert format_map("@e", STR, INT64, [], json=True) == ""


def test_text_avg_top_div_and_stats() -> None:
    avg = [("a", (1, 10)), ("b", (1, 20)), ("c", (1, 30)), ("d", (1, 40))]
    assert format_map("@", STR, AVG, avg, top=2, div=10) == "@[c]: 3\n@[d]: 4\n"
    assert format_map("@s", None, STATS, [(None, (2, 12))]) == \
        "@s: { .count = 2, .average = 6, .total = 12 }\n"
    assert format_map("@a", None, AVG, [(None, (2, -7))]) == "@a: -3\n"


def test_json_values_and_events() -> None:
    # tests/runtime/json-output: tuple, print_non_map_tuple, printf_escaping, print bool type
    t = tuple_type([INT64, INT64, STR, tuple_type([INT64, INT64])])
    assert format_map("@", None, t, [(None, (1, 2, "string", (4, 5)))], json=True) == \
        '{"type": "map", "data": {"@": [1,2,"string",[4,5]]}}\n'
    assert format_print_value((1, 2, "string"), tuple_type([INT64, INT64, STR]), json=True) == \
        '{"type": "value", "data": [1,2,"string"]}\n'
    assert format_print_value((True, False), tuple_type([BOOL, BOOL]), json=True) == \
        '{"type": "value", "data": [true,false]}\n'
    assert json_event("printf", 'test \r \n \t \\ " bar') == \
        '{"type": "printf", "data": "test \\r \\n \\t \\\\ \\" bar"}\n'
    assert attached_banner(1, json=True) == '{"type": "attached_probes", "count": 1, "data": {"probes": 1}}\n'
    assert attached_banner(1) == "Attached 1 probe\n" and attached_banner(3) == "Attached 3 probes\n"
    assert lost_events(4) == "Lost 4 events\n"
    assert format_value(2**63 - 1, INT64, json=True) == '"9223372036854775807"'


def test_record_and_tuple_text() -> None:
    # tests/runtime/record "record printing"
    inner = tuple_type([INT64, INT64], names=("x", "y"))
    rec = tuple_type([INT64, INT64, STR, tuple_type([INT64, INT64]), inner], names=("a", "b", "c", "d", "e"))
    assert format_print_value((0, 1, "str", (5, 6), (1, 2)), rec) == \
        "{ .a = 0, .b = 1, .c = str, .d = (5, 6), .e = { .x = 1, .y = 2 } }\n"
    # tests/runtime/call print_non_map_tuple
    assert format_print_value((1, 2, "string"), tuple_type([INT64, INT64, STR])) == "(1, 2, string)\n"


def test_stack_layout() -> None:
    ks = stack_type(Kind.KSTACK)
    assert format_value(["a+1", "b+2"], ks) == "\n        a+1\n        b+2\n"
    text = format_map("@", ks, COUNT, [(["f+1"], 3)])
    assert text == "@[\n        f+1\n]: 3\n"


def test_printf() -> None:
    args = [(0x1FFFFFFFF, INT64), (-1, INT64), (-1, INT64), (300, INT64), (42, INT64), (42, INT64),
            (42, INT64), (65, INT64), ("str", STR), ("ab", STR), ("ab", STR), ("abcd", STR), (255, INT64)]
    fmt = "%d|%x|%u|%hhd|%5d|%-5d|%05d|%c|%s|%10s|%-4s|%.2s|%X\n"
    # bpftrace 0.17 output of the same printf (see test_printf_differential)
    want = "-1|ffffffff|4294967295|44|   42|42   |00042|A|str|        ab|ab  |ab|FF\n"
    assert format_printf(fmt, args) == want
    # tests/runtime/call printf_length_modifiers
    x = 0x12345678ABCDEF
    assert format_printf("%hhx %hx %x %jx", [(x, INT64)] * 4) == "ef cdef 78abcdef 12345678abcdef"
    buf = Type(Kind.BUFFER, size=10)
    assert format_printf("%rx", [(b"Hello\0", buf)]) == "\\x48\\x65\\x6c\\x6c\\x6f\\x00"
    assert format_printf("%rh", [(b"Hello\0", buf)]) == "48 65 6c 6c 6f 00"
    assert format_printf("%r", [(b"ok_key\0\0", buf)]) == "ok_key\\x00\\x00"
    assert format_printf("100%% %s", [((1, "a"), tuple_type([INT64, STR]))]) == "100% (1, a)"
    assert printf_specifiers("%d %llu %% %s %rx") == ["d", "llu", "s", "rx"]
    with pytest.raises(ValueError, match="unsupported format specifier: f"):
        printf_specifiers("%f")
    with pytest.raises(ValueError, match=r"not enough arguments for format string \(1 supplied, 2 exp"):
        check_printf_args("%d %d", [INT64])
    with pytest.raises(ValueError, match="unsupported format specifier for type"):
        check_printf_args("%d", [STR])


# ---------------------------------------------------------------------------
# differential tests against the installed bpftrace 0.17 where 0.26 agrees
# ---------------------------------------------------------------------------

BPFTRACE = shutil.which("bpftrace")
needs_peer = pytest.mark.skipif(BPFTRACE is None, reason="bpftrace 0.17 not installed")


def run_peer(prog: str, *extra: str) -> str:
    import os

    if os.geteuid() != 0:
        pytest.skip("bpftrace needs root")
    r = subprocess.run([BPFTRACE or "bpftrace", "-q", *extra, "-e", prog],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _strip_legacy(text: str) -> str:
    # 0.17 prints "@h: " (trailing space) for hist headers; 0.26 prints "@h:".
    return "\n".join(line.rstrip(" ") if line.endswith(": ") else line for line in text.split("\n"))


@needs_peer
def test_differential_hist_acceptance() -> None:
    out = run_peer("BEGIN { @ = hist(-1); @ = hist(2); @ = hist(3); @ = hist(7); @ = hist(20); exit(); }")
    ours = "\n\n" + format_map("@", None, HIST, [(None, hist_of(-1, 2, 3, 7, 20))])
    assert _strip_legacy(out) == ours


@needs_peer
def test_differential_keyed_maps() -> None:
    out = run_peer('BEGIN { @b[1, "x"] = count(); @b[2, "a"] = count(); @b[2, "a"] = count(); '
                   '@c[-5] = 7; @c[3] = 1; @c[9] = 100; @d["k"] = 4; exit(); }')
    kt = tuple_type([INT64, STR])
    ours = ("\n\n" + format_map("@b", kt, COUNT, [((2, "a"), 2), ((1, "x"), 1)])
            + format_map("@c", INT64, INT64, [(9, 100), (-5, 7), (3, 1)])
            + format_map("@d", STR, INT64, [("k", 4)]))
    assert out == ours


@needs_peer
def test_differential_json() -> None:
    out = run_peer('BEGIN { @m["a"] = 2; @m["b"] = 3; @h = hist(5); @s = stats(3); @t = (1, "a"); exit(); }',
                   "-f", "json")
    lines = [ln for ln in out.splitlines() if ln]
    assert lines == [
        format_map("@h", None, HIST, [(None, hist_of(5))], json=True).rstrip("\n"),
        format_map("@m", STR, INT64, [("a", 2), ("b", 3)], json=True).rstrip("\n"),
        format_map("@s", None, STATS, [(None, (1, 3))], json=True).rstrip("\n"),
        format_map("@t", None, tuple_type([INT64, STR]), [(None, (1, "a"))], json=True).rstrip("\n"),
    ]


@needs_peer
def test_printf_differential() -> None:
    fmt = "%d|%x|%u|%hhd|%5d|%-5d|%05d|%c|%s|%10s|%-4s|%.2s|%X\\n"
    out = run_peer(f'BEGIN {{ printf("{fmt}", 0x1ffffffff, -1, -1, 300, 42, 42, 42, 65, "str", "ab", '
                   f'"ab", "abcd", 255); exit(); }}')
    args = [(0x1FFFFFFFF, INT64), (-1, INT64), (-1, INT64), (300, INT64), (42, INT64), (42, INT64),
            (42, INT64), (65, INT64), ("str", STR), ("ab", STR), ("ab", STR), ("abcd", STR), (255, UINT64)]
    assert out.split("\n")[0] + "\n" == format_printf(fmt.replace("\\n", "\n"), args)


def test_sort_by_key_for_non_numeric_values() -> None:
    # types_format.cpp sort_by_key: tuple keys order by field 0, then field 1, ...
    kt = tuple_type([INT64, STR])
    entries = [((2, "a"), "v1"), ((1, "z"), "v2"), ((1, "b"), "v3"), ((-3, "q"), "v4")]
    assert format_map("@", kt, STR, entries) == "@[-3, q]: v4\n@[1, b]: v3\n@[1, z]: v2\n@[2, a]: v1\n"
