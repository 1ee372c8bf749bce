"""Pure-logic tests: instruction text, bpftool's JSON layout, hex formatting, BTF rendering."""

from __future__ import annotations

import io
import struct

from bpfscope.inspect import disasm
from bpfscope.inspect.common import hex_bytes, parse_bytes
from bpfscope.inspect.jsonw import JsonWriter
from bpfscope.kernel import insn as I


def fmt(ins: I.Insn, nxt: I.Insn | None = None) -> str:
    return disasm.format_insn(ins, nxt, disasm.DumpContext())


def test_alu_and_memory_syntax() -> None:
    assert fmt(I.mov64_reg(6, 1)) == "(bf) r6 = r1"
    assert fmt(I.alu64_imm(I.ADD, 6, -24)) == "(07) r6 += -24"
    assert fmt(I.alu32_imm(I.AND, 2, 255)) == "(54) w2 &= 255"
    assert fmt(I.neg64(3)) == "(87) r3 = -r3"
    assert fmt(I.stx(8, 10, 1, -16)) == "(7b) *(u64 *)(r10 -16) = r1"
    assert fmt(I.ldx(4, 0, 1, 8)) == "(61) r0 = *(u32 *)(r1 +8)"
    assert fmt(I.st_imm(2, 10, -2, 5)) == "(6a) *(u16 *)(r10 -2) = 5"
    assert fmt(I.atomic_add(8, 0, 1, 0)) == "(db) lock *(u64 *)(r0 +0) += r1"
    assert fmt(I.Insn(0xdc, 1, 0, 0, 16)) == "(dc) r1 = be16 r1"


def test_jumps_calls_and_ld_imm64() -> None:
    assert fmt(I.jmp_imm(I.JEQ, 0, 0, 3)) == "(15) if r0 == 0x0 goto pc+3"
    assert fmt(I.jmp_imm(I.JSGT, 1, -1, -2)) == "(65) if r1 s> 0xffffffff goto pc-2"
    assert fmt(I.jmp_reg(I.JGT, 1, 2, 1)) == "(2d) if r1 > r2 goto pc+1"
    assert fmt(I.Insn(I.JMP32 | I.JNE | I.K, 3, 0, 4, 7)) == "(56) if w3 != 0x7 goto pc+4"
    assert fmt(I.ja(-5)) == "(05) goto pc-5"
    assert fmt(I.exit_()) == "(95) exit"
    assert fmt(I.call(1)) == "(85) call bpf_map_lookup_elem#1"
    lo, hi = I.ld_imm64(2, 0x1122334455667788)
    assert fmt(lo, hi) == "(18) r2 = 0x1122334455667788"
    lo, hi = I.ld_map_fd(1, 70)
    assert fmt(lo, hi) == "(18) r1 = map[id:70]"
    lo, hi = I.ld_map_value(3, 9, 8)
    assert fmt(lo, hi) == "(18) r3 = map[id:9][0]+8"


def test_dump_plain_numbers_double_slots_and_opcodes() -> None:
    prog = I.encode([*I.ld_map_fd(1, 5), I.mov64_imm(0, 0), I.exit_()])
    lines = disasm.dump_plain(prog, disasm.DumpContext(), opcodes=True)
    assert lines == ["   0: (18) r1 = map[id:5]",
                     "       18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00",
                     "   2: (b7) r0 = 0",
                     "       b7 00 00 00 00 00 00 00",
                     "   3: (95) exit",
                     "       95 00 00 00 00 00 00 00"]


def test_helper_call_resolved_through_call_base() -> None:
    ks = disasm.KernelSyms("/nonexistent")
    ks.call_base = 0xFFFFFFFF81000000
    ks.by_addr = {0xFFFFFFFF81000100: "bpf_get_current_comm"}
    ctx = disasm.DumpContext(ks)
    assert disasm.format_insn(I.Insn(0x85, 0, 0, 0, 0x100), None, ctx) == \
        "(85) call bpf_get_current_comm#256"
    assert disasm.format_insn(I.Insn(0x85, 0, 0, 0, 0x200), None, ctx) == \
        "(85) call 0xffffffff81000200#512"


def test_line_info_lookup_like_libbpf() -> None:
    recs = [disasm.LineInfo(0, 0, 0, 0), disasm.LineInfo(3, 0, 0, 0), disasm.LineInfo(5, 0, 0, 0)]
    assert disasm.lfind(recs, 0, 0) is recs[0]
    assert disasm.lfind(recs, 2, 1) is None
    assert disasm.lfind(recs, 4, 1) is recs[1]


def test_json_writer_matches_bpftool_pretty_layout() -> None:
    out = io.StringIO()
    w = JsonWriter(out, pretty=True)
    w.start_array()
    w.value({"id": 70, "map_ids": [70], "name": 'a"b'})
    w.value({"id": 71})
    w.end_array()
    w.finish()
    assert out.getvalue() == ('[{\n        "id": 70,\n        "map_ids": [70\n        ],\n'
                              '        "name": "a\\"b"\n    },{\n        "id": 71\n    }\n]\n')
    out = io.StringIO()
    w = JsonWriter(out)
    w.value([{"a": [1, 2], "b": True}])
    assert out.getvalue() == '[{"a":[1,2],"b":true}]'


def test_hex_bytes_groups_like_fprint_hex() -> None:
    assert hex_bytes(bytes(range(18))) == ("00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n"
                                          "10 11")
    data, rest = parse_bytes(["0x01", "2", "hex", "x"], 2, "key")
    assert data == b"\x01\x02" and rest == ["hex", "x"]
    assert parse_bytes(["hex", "ff", "10"], 2, "key")[0] == b"\xff\x10"


def test_btf_value_rendering() -> None:

    from bpfscope.inspect.btffmt import value
    from bpfscope.kernel.btf import Btf
    from tests.inspect.conftest import build_btf

    btf = Btf.from_bytes(build_btf())
    assert value(btf, 1, struct.pack("<i", -5)) == -5
    assert value(btf, 2, struct.pack("<Q8s", 42, b"bash")) == {"cnt": 42, "comm": "bash"}
