"""The printf hot path (compile_printf + record_unpacker) must render exactly what the general
path (Decoder.decode + format_printf) renders, for every format and record it accepts."""

from __future__ import annotations

import io
import struct

import pytest

from bpfscope.lang.ctype.types import BOOL, INT32, INT64, UINT32, UINT64, Kind, Type, int_type, string_type, tuple_type
from bpfscope.runtime.decode import Decoder, record_unpacker
from bpfscope.runtime.printf import compile_printf, format_printf
from tests.conftest import needs_root

STR16 = string_type(16)
STR4 = string_type(4)

CASES = [
    ("%d %s\n", [INT64, STR16]),
    ("%d|%u|%x|%X|%o|%i\n", [INT64, INT64, INT64, INT64, INT64, INT64]),
    ("%lld %llu %lx %hhd %hu %jx %zd\n", [INT64, INT64, INT64, INT64, INT64, INT64, INT64]),
    ("100%% %s %s!", [STR4, STR16]),
    ("%d %d %u", [int_type(1, True), int_type(2, False), UINT32]),
    ("%s %d", [INT64, BOOL]),
    ("%5d %-3s %05x\n", [INT64, STR16, INT64]),  # flags/width: falls back, must still agree
    ("%c %p", [INT64, INT64]),
    ("no args\n", []),
]

VALUES = [0, 1, -1, 42, 0x1FFFFFFFF, -(2**63), 2**63 - 1, 0x12345678ABCDEF, 300, -300]
STRINGS = [b"", b"a", b"abc", b"abcd", b"bash", b"exactly16bytes!!", b"caf\xc3\xa9", b"\xff\xfe", b"with%pct"]


def _record(types: list[Type], picks: list[int]) -> tuple[bytes, list[int], tuple[Type, ...]]:
    """A record as the compiler lays it out: u64 event id first, then the fields."""
    layout = tuple_type([UINT64, *types])
    buf = bytearray(layout.size)
    struct.pack_into("<Q", buf, 0, 7)
    for i, (t, off) in enumerate(zip(layout.elems[1:], layout.offsets[1:], strict=True)):
        p = picks[i]
        if t.kind is Kind.STRING:
            s = STRINGS[p % len(STRINGS)][:t.size]
            buf[off:off + len(s)] = s
        else:
            v = VALUES[p % len(VALUES)] & ((1 << (8 * t.size)) - 1)
            buf[off:off + t.size] = v.to_bytes(t.size, "little")
    return bytes(buf), list(layout.offsets[1:]), layout.elems[1:]


@pytest.mark.parametrize("fmt,types", CASES)
def test_fast_printf_matches_general(fmt: str, types: list[Type]) -> None:
    render = compile_printf(fmt, types)
    plain = not any(c in fmt for c in ("%5", "%-", "%0", "%c", "%p"))
    assert (render.__name__ != "slow") == plain  # plain formats must take the fast path
    dec = Decoder()
    checked = 0
    for seed in range(40):
        picks = [(seed * 7 + i * 3) for i in range(len(types))]
        data, offsets, elems = _record(types, picks)
        unpack = record_unpacker(elems, offsets)
        assert unpack is not None
        general = [dec.decode(data, o, t) for t, o in zip(elems, offsets, strict=True)]
        assert list(unpack(data)) == general
        want = format_printf(fmt, list(zip(general, types, strict=True)))
        assert render(unpack(data)) == want
        checked += 1
    assert checked == 40


# What bpftrace 0.17 prints for the same values (its printf run here with `$m = (int64)-1`,
# 42, "bash", (int8)300, (uint16)300, (uint32)300, "abc", 0x12345678ABCDEF); picks index
# VALUES / STRINGS above.
BPFTRACE_017 = [
    ("%d|%u|%x|%X|%o\n", [INT64] * 5, [2] * 5, "-1|4294967295|ffffffff|FFFFFFFF|37777777777\n"),
    ("%d %s\n", [INT64, STR16], [3, 4], "42 bash\n"),
    ("%d %d %u\n", [int_type(1, True), int_type(2, False), UINT32], [8, 8, 8], "44 300 300\n"),
    ("100%% %s %s!\n", [STR4, STR16], [2, 4], "100% abc bash!\n"),
    ("%lld %llu %lx %hhd %hu\n", [INT64] * 5, [7] * 5, "5124095577148911 5124095577148911 12345678abcdef -17 52719\n"),
]


@pytest.mark.parametrize("fmt,types,picks,want", BPFTRACE_017)
def test_both_paths_print_what_bpftrace_prints(fmt: str, types: list[Type], picks: list[int], want: str) -> None:
    data, offsets, elems = _record(types, picks)
    unpack = record_unpacker(elems, offsets)
    assert unpack is not None
    assert compile_printf(fmt, types)(unpack(data)) == want
    general = [Decoder().decode(data, o, t) for t, o in zip(elems, offsets, strict=True)]
    assert format_printf(fmt, list(zip(general, types, strict=True))) == want


def test_full_string_gets_truncation_trailer() -> None:
    data, offsets, elems = _record([STR4], [3])  # b"abcd" fills the 4-byte buffer
    unpack = record_unpacker(elems, offsets)
    assert unpack is not None
    assert compile_printf("%s\n", [STR4])(unpack(data)) == "abcd..\n"


def test_unpacker_declines_complex_fields() -> None:
    pair = tuple_type([INT64, INT32])
    assert record_unpacker([pair], [8]) is None
    assert record_unpacker([Type(Kind.USERNAME, size=8)], [8]) is None


LOOP = 'BEGIN { $i = 0; while ($i < 100) { printf("%d %s\\n", $i, "x"); $i++; } }'


@needs_root
def test_drain_limit_keeps_order_and_rest() -> None:
    """A limited drain hands over the first records and leaves the rest, in order, for the next."""
    from bpfscope.kernel import syscall as sc
    from bpfscope.runtime.program import Program

    with Program(LOOP, out=io.StringIO()) as p:
        p.load()
        sc.prog_test_run(p.prog_fds[0], ctx_in=bytes(8), repeat=0)
        got: list[bytes] = []
        assert p.ring.drain(got.append, limit=30) == 30
        assert p.ring.drain(got.append) == 70
        assert p.ring.drain(got.append) == 0
        assert [struct.unpack_from("<q", r, 8)[0] for r in got] == list(range(100))


@needs_root
def test_batched_printf_keeps_order_with_other_events() -> None:
    """printf lines are batched per drain; any other event flushes them first."""
    from bpfscope.kernel import syscall as sc
    from bpfscope.runtime.program import Program

    src = 'BEGIN { printf("a %d\\n", 1); printf("b\\n"); print(7); printf("c %s\\n", "x"); }'
    out = io.StringIO()
    with Program(src, out=out) as p:
        p.load()
        sc.prog_test_run(p.prog_fds[0], ctx_in=bytes(8), repeat=0)
        assert p.drain() == 4
    assert out.getvalue() == "a 1\nb\n7\nc x\n"
    out = io.StringIO()
    with Program(LOOP, out=out) as p:
        p.load()
        sc.prog_test_run(p.prog_fds[0], ctx_in=bytes(8), repeat=0)
        assert p.drain() == 100
    assert out.getvalue() == "".join(f"{i} x\n" for i in range(100))
