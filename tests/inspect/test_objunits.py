"""Pure-logic tests of the object loader, CO-RE, netlink attributes and the BCC-style tools."""

from __future__ import annotations

import struct

import pytest

from bpfscope.inspect import bpflist, resettrace
from bpfscope.inspect.prog import hex_print
from bpfscope.kernel import bpfsec, btfext, corereloc, netlink, uapi
from bpfscope.kernel.bpfobj import data_map_name, object_name
from bpfscope.kernel.btf import Btf


class BtfBuilder:
    """Just enough of a BTF writer for tests: ints, structs, vars, datasecs."""

    def __init__(self) -> None:
        self.strs = b"\0"
        self.types = b""
        self.n = 0

    def s(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strs)
        self.strs += name.encode() + b"\0"
        return off

    def add(self, raw: bytes) -> int:
        self.types += raw
        self.n += 1
        return self.n

    def int_(self, name: str, size: int, signed: bool = True) -> int:
        return self.add(struct.pack("<IIII", self.s(name), 1 << 24, size, (int(signed) << 24) | size * 8))

    def struct_(self, name: str, size: int, members: list[tuple[str, int, int]]) -> int:
        raw = struct.pack("<III", self.s(name), (4 << 24) | len(members), size)
        for mname, tid, bit in members:
            raw += struct.pack("<III", self.s(mname), tid, bit)
        return self.add(raw)

    def var(self, name: str, tid: int) -> int:
        return self.add(struct.pack("<IIII", self.s(name), 14 << 24, tid, 1))

    def datasec(self, name: str, entries: list[tuple[int, int, int]]) -> int:
        raw = struct.pack("<III", self.s(name), (15 << 24) | len(entries), 0)
        for tid, off, size in entries:
            raw += struct.pack("<III", tid, off, size)
        return self.add(raw)

    def blob(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strs))
        return hdr + self.types + self.strs


def test_section_names_as_libbpf() -> None:
    d = bpfsec.find("tracepoint/syscalls/sys_enter_read")
    assert d is not None and d.prog_type == uapi.BPF_PROG_TYPE_TRACEPOINT and d.attach == "tp"
    assert bpfsec.target("tracepoint/syscalls/sys_enter_read", d) == "syscalls/sys_enter_read"
    assert bpfsec.find("tp/sched/sched_switch").prog_type == uapi.BPF_PROG_TYPE_TRACEPOINT  # type: ignore[union-attr]
    assert bpfsec.find("raw_tp/sys_enter").prog_type == uapi.BPF_PROG_TYPE_RAW_TRACEPOINT  # type: ignore[union-attr]
    tb = bpfsec.find("tp_btf/sched_switch")
    assert tb is not None and tb.prog_type == uapi.BPF_PROG_TYPE_TRACING and tb.attach_type == uapi.BPF_TRACE_RAW_TP
    assert bpfsec.find("xdp").attach_type == uapi.BPF_XDP  # type: ignore[union-attr]
    assert bpfsec.find("xdp/devmap").attach_type == uapi.BPF_XDP_DEVMAP  # type: ignore[union-attr]
    assert bpfsec.find("uprobe//bin/bash:readline").attach == "uprobe"  # type: ignore[union-attr]
    assert bpfsec.find("fentry/do_unlinkat").attach_type == uapi.BPF_TRACE_FENTRY  # type: ignore[union-attr]
    assert bpfsec.find("kprobe.multi/x") is None  # not a libbpf 1.1 name we know
    assert bpfsec.find("xdpfoo") is None and bpfsec.find("socketx") is None
    assert bpfsec.find("tracepointx/a/b") is None
    assert bpfsec.by_type_name("kprobe").prog_type == uapi.BPF_PROG_TYPE_KPROBE  # type: ignore[union-attr]
    assert bpfsec.by_type_name("cgroup/sysctl").prog_type == uapi.BPF_PROG_TYPE_CGROUP_SYSCTL  # type: ignore[union-attr]


def test_object_and_data_map_names() -> None:
    assert object_name("/x/count.bpf.o") == "count"
    assert data_map_name("count", ".bss") == "count.bss"
    assert data_map_name("averyveryverylongname", ".rodata") == "averyver.rodata"  # 15 chars at most
    assert data_map_name("obj-1", ".data") == "obj_1.data"
    assert len(data_map_name("x", ".rodata.str1.1")) <= 15


def test_datasec_fixup() -> None:
    b = BtfBuilder()
    i = b.int_("int", 4)
    v1, v2 = b.var("a", i), b.var("b", i)
    b.datasec(".data", [(v1, 0, 4), (v2, 0, 4)])
    fixed = btfext.fixup_datasecs(b.blob(), {".data": 8}, {(".data", "a"): 0, (".data", "b"): 4})
    t = Btf.from_bytes(fixed).get(4)
    assert t.kind == "datasec" and t.size == 8 and t.secinfo == [(v1, 0, 4), (v2, 4, 4)]


def test_core_field_relocations_by_name() -> None:
    local = BtfBuilder()
    li = local.int_("int", 4)
    lts = local.struct_("task_struct", 12, [("pid", li, 0), ("tgid", li, 32), ("gone", li, 64)])
    tgt = BtfBuilder()
    ti = tgt.int_("int", 4)
    tl = tgt.int_("long", 8)
    anon = tgt.struct_("", 8, [("x", ti, 0), ("pid", ti, 32)])
    tgt.struct_("task_struct", 40, [("state", tl, 0), ("tgid", ti, 64), ("inner", anon, 128), ("", anon, 192)])
    L, T = Btf.from_bytes(local.blob()), Btf.from_bytes(tgt.blob())
    # pid is found inside the anonymous member at bit 192 + 32
    assert corereloc.compute(L, T, lts, "0:0", corereloc.FIELD_BYTE_OFFSET) == (0, 28)
    assert corereloc.compute(L, T, lts, "0:1", corereloc.FIELD_BYTE_OFFSET) == (4, 8)
    assert corereloc.compute(L, T, lts, "0:1", corereloc.FIELD_BYTE_SIZE) == (4, 4)
    assert corereloc.compute(L, T, lts, "0:1", corereloc.FIELD_EXISTS) == (1, 1)
    assert corereloc.compute(L, T, lts, "0:2", corereloc.FIELD_EXISTS) == (1, 0)
    assert corereloc.compute(L, T, lts, "0:2", corereloc.FIELD_BYTE_OFFSET) is None  # -> poisoned
    assert corereloc.compute(L, T, lts, "0", corereloc.TYPE_SIZE) == (12, 40)
    assert corereloc.compute(L, T, lts, "0:0", corereloc.FIELD_SIGNED) == (1, 1)


def test_core_patching() -> None:
    insns = bytearray(struct.pack("<BBhi", 0xB7, 1, 0, 0) + struct.pack("<BBhi", 0x61, 0x12, 0, 0)
                      + struct.pack("<BBhi", 0x18, 1, 0, 0) + struct.pack("<BBhi", 0, 0, 0, 0))
    corereloc.patch(insns, 0, 0, 1264, corereloc.FIELD_BYTE_OFFSET)
    assert struct.unpack_from("<i", insns, 4)[0] == 1264
    corereloc.patch(insns, 1, 0, 24, corereloc.FIELD_BYTE_OFFSET, new_size=8)
    assert struct.unpack_from("<h", insns, 10)[0] == 24 and insns[8] == 0x79  # ldx u32 -> u64
    corereloc.patch(insns, 2, 0, 0x1_0000_0002, corereloc.TYPE_SIZE)
    assert struct.unpack_from("<I", insns, 20)[0] == 2 and struct.unpack_from("<I", insns, 28)[0] == 1
    corereloc.patch(insns, 0, 0, None, corereloc.FIELD_BYTE_OFFSET)
    assert insns[0] == 0x85 and struct.unpack_from("<i", insns, 4)[0] == corereloc.POISON_HELPER
    with pytest.raises(corereloc.CoreError):
        corereloc.patch(insns, 1, 0, 1 << 20, corereloc.FIELD_BYTE_OFFSET)


def test_netlink_attributes_roundtrip() -> None:
    raw = netlink.attr(3, b"veth0\0") + netlink.attr(netlink.IFLA_XDP | netlink.NLA_F_NESTED,
                                                     netlink.attr(2, b"\x01") + netlink.attr(4, b"\x2a\0\0\0"))
    a = netlink.parse_attrs(raw)
    assert netlink.cstr(a[3]) == "veth0"
    x = netlink._xdp_state(a[netlink.IFLA_XDP])
    assert (x.mode, x.prog_id) == (netlink.XDP_ATTACHED_DRV, 42)


def test_probe_event_parsing() -> None:
    text = ("p:uprobes/bpfscope_123_0 /bin/true:0x0000000000001000\n"
            "r:kprobes/p_do_sys_open_bcc_4567 do_sys_open\n"
            "p:uprobes/mine /bin/ls:0x10\n")
    e = resettrace.parse_probe_events(text)
    assert [(x.name, x.owner) for x in e] == [("uprobes/bpfscope_123_0", 123),
                                             ("kprobes/p_do_sys_open_bcc_4567", 4567), ("uprobes/mine", None)]


def test_bpflist_layout() -> None:
    lines = bpflist.render({(1, "map"): 3, (1, "prog"): 1})
    assert lines[0] == "PID    COMM             TYPE  COUNT"
    assert lines[1].startswith("1      ") and lines[1].endswith(" map   3")


def test_run_output_hex_dump() -> None:
    assert hex_print(bytes(range(0x41, 0x53))) == [
        "0000000\t4142 4344 4546 4748 494a 4b4c 4d4e 4f50 | ABCDEFGH IJKLMNOP",
        "0000010\t5152                                    | QR"]


def test_jited_text_as_llvm_prints_it() -> None:
    pytest.importorskip("capstone", reason="capstone is not installed")
    from bpfscope.inspect import jited

    code = bytes.fromhex("0f1f440000" "4881ec08000000" "48bf008840048188ffff" "f048017800")
    rows = jited.decode(code, 0xFFFFFFFFC0000000)
    texts = [jited._with_comment(t, c) for _pc, _n, t, c in rows]
    assert texts[0] == "\tnopl\t(%rax,%rax)"
    assert texts[1] == "\tsubq\t$8, %rsp"
    assert texts[2] == "\tmovabsq\t$-131387273213952, %rdi # imm = 0xFFFF888104408800"
    assert texts[3] == "\tlock" and texts[4] == "\taddq\t%rdi, (%rax)"
    assert [pc for pc, *_ in rows] == [0, 5, 12, 22, 23]
