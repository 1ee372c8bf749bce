"""BTF reader and C dumper, checked against the running kernel's BTF, bpftool and gcc."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from bpfscope.kernel.btf import VMLINUX_PATH, Btf, BtfError, Member
from bpfscope.kernel.btf_dump import dump_c

HAVE_VMLINUX = os.path.exists(VMLINUX_PATH)
needs_vmlinux = pytest.mark.skipif(not HAVE_VMLINUX, reason="kernel has no /sys/kernel/btf/vmlinux")
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

_RAW_HEAD = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_RAW_ATTR = re.compile(r"(\w+)=([^\s,]+)")


@cache
def bpftool_raw() -> dict[int, tuple[str, str, dict[str, str], list[str]]]:
    """bpftool's raw dump of vmlinux: id -> (KIND, name, attrs, member lines)."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX_PATH],
                         check=True, capture_output=True, text=True).stdout
    types: dict[int, tuple[str, str, dict[str, str], list[str]]] = {}
    cur: list[str] = []
    for line in out.splitlines():
        m = _RAW_HEAD.match(line)
        if m:
            cur = []
            types[int(m[1])] = (m[2], m[3], dict(_RAW_ATTR.findall(m[4])), cur)
        elif line.startswith("\t"):
            cur.append(line.strip())
    return types


@pytest.fixture(scope="module")
def btf() -> Btf:
    if not HAVE_VMLINUX:
        pytest.skip("kernel has no /sys/kernel/btf/vmlinux")
    return Btf.vmlinux()


# -- a tiny BTF writer for split-BTF and edge-case tests ----------------------------


class _Blob:
    """Builds BTF blobs by hand (pure logic: no kernel involved)."""

    def __init__(self, str_base: int = 0) -> None:
        self.strs = bytearray(b"\0")
        self.types = bytearray()
        self.str_base = str_base

    def s(self, text: str) -> int:
        if not text:
            return 0
        off = len(self.strs)
        self.strs += text.encode() + b"\0"
        return self.str_base + off

    def add(self, kind: int, name: str, vlen: int, size_or_type: int, extra: bytes = b"",
            kflag: int = 0) -> None:
        info = (kflag << 31) | (kind << 24) | vlen
        self.types += struct.pack("<III", self.s(name), info, size_or_type) + extra

    def bytes(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types),
                          len(self.strs))
        return hdr + bytes(self.types) + bytes(self.strs)


def _int(blob: _Blob, name: str, size: int, signed: bool) -> None:
    blob.add(1, name, 0, size, struct.pack("<I", (int(signed) << 24) | size * 8))


def _standalone() -> Btf:
    """ids: 1 int, 2 char, 3 const char, 4 ptr->3, 5 const ptr->2, 6 array int[4],
    7 ptr->6, 8 func_proto int(int, ...), 9 ptr->8, 10 struct outer {int a; union {int b;
    char c;}; int bf:3;}, 11 anon union, 12 enum64 big, 13 typedef fnptr_t -> 9."""
    b = _Blob()
    _int(b, "int", 4, True)                                   # 1
    _int(b, "char", 1, True)                                  # 2
    b.add(10, "", 0, 2)                                       # 3 const char
    b.add(2, "", 0, 3)                                        # 4 const char *
    b.add(2, "", 0, 2)                                        # 5 char * (wrapped below)
    b.add(3, "", 0, 0, struct.pack("<III", 1, 1, 4))          # 6 int[4]
    b.add(2, "", 0, 6)                                        # 7 int (*)[4]
    b.add(13, "", 2, 1, struct.pack("<IIII", b.s("x"), 1, 0, 0))  # 8 int (int x, ...)
    b.add(2, "", 0, 8)                                        # 9 int (*)(int, ...)
    members = struct.pack("<III", b.s("a"), 1, 0) + struct.pack("<III", 0, 11, 32)
    members += struct.pack("<III", b.s("bf"), 1, (3 << 24) | 64)
    b.add(4, "outer", 3, 12, members, kflag=1)                # 10
    members = struct.pack("<III", b.s("b"), 1, 0) + struct.pack("<III", b.s("c"), 2, 0)
    b.add(5, "", 2, 4, members)                               # 11
    vals = struct.pack("<III", b.s("BIG"), 0, 1) + struct.pack("<III", b.s("NEG"), 0xFFFFFFFF, 0xFFFFFFFF)
    b.add(19, "big", 2, 8, vals, kflag=1)                     # 12
    b.add(8, "fnptr_t", 0, 9)                                 # 13
    b.add(10, "", 0, 5)                                       # 14 char *const
    return Btf.from_bytes(b.bytes())


# -- lookup and decoding against the real kernel -----------------------------------


@needs_vmlinux
def test_construction_is_lazy_and_find_decodes_one_type(btf: Btf) -> None:
    fresh = Btf.from_file(VMLINUX_PATH)
    assert len(fresh._cache) == 0
    tid = fresh.find("task_struct", "struct")
    assert tid is not None and fresh.kind_of(tid) == "struct"
    assert len(fresh._cache) == 0  # find() itself decodes nothing
    fresh.get(tid)
    assert list(fresh._cache) == [tid]


@needs_vmlinux
@needs_bpftool
def test_type_count_and_sampled_types_match_bpftool(btf: Btf) -> None:
    raw = bpftool_raw()
    assert btf.start_id == 1 and btf.end_id - 1 == max(raw)
    assert len(btf) == len(raw)
    first_of_kind: dict[str, int] = {}
    for tid, (kind, *_rest) in raw.items():
        first_of_kind.setdefault(kind, tid)
    assert {"STRUCT", "ENUM64", "VAR", "DATASEC", "DECL_TAG", "FUNC_PROTO"} <= set(first_of_kind)
    linkages = {"static": 0, "global": 1, "extern": 2}
    for tid in list(raw)[::97] + list(first_of_kind.values()):
        kind, name, attrs, lines = raw[tid]
        t = btf.get(tid)
        assert t.kind == kind.lower(), tid
        assert (t.name or "(anon)") == name, tid
        assert t.kind == btf.kind_of(tid) and t.name == btf.name_of(tid)
        for attr, want in attrs.items():
            got = {"size": t.size, "type_id": t.type, "vlen": t.vlen, "nr_bits": t.bits,
                   "bits_offset": t.int_offset, "nr_elems": t.nelems, "ret_type_id": t.type,
                   "index_type_id": t.index_type, "linkage": t.linkage,
                   "component_idx": t.component_idx}.get(attr)
            if attr == "linkage":
                want = str(linkages[want])
            if got is not None:
                assert str(got) == want, (tid, attr)
        if kind in ("STRUCT", "UNION"):
            got_lines = [f"'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.bit_offset}"
                         + (f" bitfield_size={m.bitfield_size}" if m.bitfield_size else "")
                         for m in t.members]
            assert got_lines == lines, tid
        elif kind == "ENUM":
            assert [f"'{n}' val={v}" for n, v in t.values] == lines, tid
        elif kind == "ENUM64":
            assert [f"'{n}' val={v}ULL" for n, v in t.values] == lines, tid
        elif kind == "FUNC_PROTO":
            assert [f"'{n or '(anon)'}' type_id={p}" for n, p in t.params] == lines, tid
        elif kind == "DATASEC":
            assert [f"type_id={v} offset={o} size={z} (VAR '{btf.name_of(v)}')"
                    for v, o, z in t.secinfo] == lines, tid


@needs_vmlinux
@needs_bpftool
def test_task_struct_layout_matches_bpftool(btf: Btf) -> None:
    tid = btf.find("task_struct", "struct")
    assert tid is not None
    kind, name, attrs, lines = bpftool_raw()[tid]
    assert (kind, name) == ("STRUCT", "task_struct")
    assert btf.sizeof(tid) == int(attrs["size"])
    for field in ("pid", "comm", "tgid", "real_parent"):
        line = next(x for x in lines if x.startswith(f"'{field}' "))
        bits = int(re.search(r"bits_offset=(\d+)", line)[1])  # type: ignore[index]
        off, member = btf.member(tid, field)  # type: ignore[misc]
        assert off == bits and member.name == field
    assert btf.type_name(btf.member(tid, "comm")[1].type) == "char[16]"  # type: ignore[index]
    assert btf.sizeof(btf.member(tid, "comm")[1].type) == 16  # type: ignore[index]
    assert btf.member(tid, "no_such_member") is None


@needs_vmlinux
def test_find_variants(btf: Btf) -> None:
    assert btf.find("this_type_does_not_exist_42") is None
    assert btf.find("task_struct", "union") is None
    assert btf.find("") is None
    sid = btf.find("task_struct")
    assert sid is not None and btf.name_of(sid) == "task_struct"
    # A very common short name exercises the full-index fallback path.
    ints = btf.find_all("int")
    assert ints and all(btf.get(i).name == "int" for i in ints)
    assert btf.find("int", "int") == ints[0]
    with pytest.raises(KeyError):
        btf.find("int", "no_such_kind")


@needs_vmlinux
@needs_bpftool
def test_enum_values(btf: Btf) -> None:
    eid = btf.find("bpf_map_type", "enum")
    assert eid is not None
    values = dict(btf.get(eid).values)
    assert values["BPF_MAP_TYPE_RINGBUF"] == 27
    assert values["BPF_MAP_TYPE_HASH"] == 1
    assert f"'BPF_MAP_TYPE_RINGBUF' val={values['BPF_MAP_TYPE_RINGBUF']}" in bpftool_raw()[eid][3]


@needs_vmlinux
def test_func_proto_of_vfs_read(btf: Btf) -> None:
    sig = btf.func_proto_of("vfs_read")
    assert sig is not None
    assert [(n, btf.type_name(t)) for n, t in sig.params] == [
        ("file", "struct file *"), ("buf", "char *"), ("count", "size_t"), ("pos", "loff_t *")]
    assert btf.type_name(sig.ret_type) == "ssize_t"
    assert btf.func_proto_of("no_such_function_xyz") is None
    fid = btf.find("vfs_read", "func")
    assert fid is not None
    assert btf.type_name(fid) == "ssize_t vfs_read(struct file *, char *, size_t, loff_t *)"


@needs_vmlinux
def test_tracepoint_args_sched_switch(btf: Btf) -> None:
    args = btf.tracepoint_args("sched_switch")
    assert args is not None
    assert [(n, btf.type_name(t)) for n, t in args] == [
        ("preempt", "bool"), ("prev", "struct task_struct *"), ("next", "struct task_struct *"),
        ("prev_state", "unsigned int")]
    assert btf.tracepoint_args("no_such_tracepoint") is None


@needs_vmlinux
def test_type_name_spellings_real(btf: Btf) -> None:
    sig = btf.func_proto_of("strlen")
    assert sig is not None and btf.type_name(sig.params[0][1]) == "const char *"
    td = btf.find("btf_trace_sched_switch", "typedef")
    assert td is not None
    assert btf.type_name(td) == "btf_trace_sched_switch"
    assert btf.type_name(btf.resolve(td)) == (
        "void (*)(void *, bool, struct task_struct *, struct task_struct *, unsigned int)")
    tid = btf.find("task_struct", "struct")
    assert tid is not None
    ptr = next(m.type for m in btf.get(tid).members if m.name == "real_parent")
    assert btf.type_name(ptr) == "struct task_struct *"
    assert btf.type_name(0) == "void"


@needs_vmlinux
def test_member_through_anonymous_unions(btf: Btf) -> None:
    sk = btf.find("sk_buff", "struct")
    assert sk is not None
    assert all(m.name != "dev" for m in btf.get(sk).members)  # only nested in anonymous members
    found = btf.member(sk, "dev")
    assert found is not None
    off, member = found
    assert member.name == "dev" and btf.type_name(member.type) == "struct net_device *"
    assert off > member.bit_offset  # absolute offset includes the anonymous containers


# -- pure-logic checks on hand-made blobs --------------------------------------------


def test_type_name_spellings_synthetic() -> None:
    b = _standalone()
    assert b.type_name(4) == "const char *"
    assert b.type_name(14) == "char *const"
    assert b.type_name(6) == "int[4]"
    assert b.type_name(7) == "int (*)[4]"
    assert b.type_name(9) == "int (*)(int, ...)"
    assert b.type_name(9, "f") == "int (*f)(int, ...)"
    assert b.type_name(11) == "union (anon)"
    assert b.type_name(12) == "enum big"
    assert b.sizeof(6) == 16 and b.alignof(6) == 4
    assert b.sizeof(13) == 8 and b.resolve(13) == 9


def test_decoding_synthetic() -> None:
    b = _standalone()
    outer = b.get(10)
    assert outer.members[2] == Member("bf", 1, 64, 3)
    assert b.member(10, "c") == (32, Member("c", 2, 0, 0))
    assert b.get(12).values == [("BIG", 1 << 32), ("NEG", -1)]
    assert b.get(8).params == [("x", 1), ("", 0)]
    assert b.get(1).signed and b.get(1).bits == 32
    assert list(b.ids("ptr")) == [4, 5, 7, 9]
    assert b.find_all("outer", "struct") == [10]
    with pytest.raises(BtfError):
        b.sizeof(0)
    with pytest.raises(BtfError):
        b.get(99)


def test_malformed_blobs_are_rejected() -> None:
    good = _Blob()
    _int(good, "int", 4, True)
    data = good.bytes()
    with pytest.raises(BtfError):
        Btf.from_bytes(b"\x00" * 8)
    with pytest.raises(BtfError):
        Btf.from_bytes(b"\x00\x00" + data[2:])
    with pytest.raises(BtfError):
        Btf.from_bytes(data[:-3])  # string section cut short
    bad = bytearray(data)
    bad[24 + 7] = 25  # kind 25 does not exist
    with pytest.raises(BtfError):
        Btf.from_bytes(bytes(bad))


@needs_vmlinux
def test_split_btf_on_vmlinux(btf: Btf, tmp_path: Path) -> None:
    """Ids and string offsets of split BTF continue the base's, as module BTF does."""
    task = btf.find("task_struct", "struct")
    int_id = btf.find("int", "int")
    assert task is not None and int_id is not None
    base_str_len = btf._str_end
    blob = _Blob(str_base=base_str_len)
    first = btf.end_id
    blob.add(2, "", 0, task)                                   # first: struct task_struct *
    members = struct.pack("<III", blob.s("owner"), first, 0)
    # Reuse a base string for a member name (offset below the split's own strings).
    pid_off = btf._string_offsets(b"pid")[0]
    members += struct.pack("<III", pid_off, int_id, 64)
    blob.add(4, "bpfscope_mod_thing", 2, 16, members)          # first + 1
    split = Btf.from_bytes(blob.bytes(), base=btf)
    assert split.start_id == first and len(split) == 2 and list(split) == [first, first + 1]
    mine = split.find("bpfscope_mod_thing", "struct")
    assert mine == first + 1
    assert split.find("task_struct", "struct") == task  # base types are visible
    assert split.type_name(first) == "struct task_struct *"
    assert split.member(mine, "pid") == (64, Member("pid", int_id, 64, 0))
    assert split.sizeof(mine) == 16
    assert btf.find("bpfscope_mod_thing") is None
    header = dump_c(split)
    assert "struct bpfscope_mod_thing {\n\tstruct task_struct *owner;\n\tint pid;\n};" in header
    assert "struct task_struct;" in header and "struct task_struct {" not in header
    if shutil.which("gcc"):
        src = tmp_path / "m.c"
        src.write_text(header + "int g(struct bpfscope_mod_thing *m) { return m->pid; }\n"
                       "_Static_assert(sizeof(struct bpfscope_mod_thing) == 16, \"size\");\n")
        res = subprocess.run(["gcc", "-c", "-o", str(tmp_path / "m.o"), str(src)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[:2000]


def test_module_btf_if_any() -> None:
    mods = [p.name for p in Path("/sys/kernel/btf").glob("*") if p.name != "vmlinux"] \
        if Path("/sys/kernel/btf").is_dir() else []
    if not mods:
        pytest.skip("no kernel module exposes BTF on this machine (all built in)")
    mod = Btf.module(mods[0])
    base = Btf.vmlinux()
    assert mod.base is base and mod.start_id == base.end_id and len(mod) > 0
    for tid in list(mod)[:200]:
        t = mod.get(tid)
        if t.name:
            assert tid in mod.find_all(t.name, t.kind)


# -- speed: the cold import + load + find time is a figure of bench/run.py --only checks ------


# -- C dump --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vmlinux_h(btf: Btf) -> str:
    return dump_c(btf)


@needs_vmlinux
@needs_gcc
def test_dump_c_compiles_with_real_layouts(btf: Btf, vmlinux_h: str, tmp_path: Path) -> None:
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    task = btf.find("task_struct", "struct")
    sk = btf.find("sk_buff", "struct")
    assert task is not None and sk is not None
    pid_off = btf.member(task, "pid")[0] // 8  # type: ignore[index]
    dev_off = btf.member(sk, "dev")[0] // 8  # type: ignore[index]
    lines = [
        '#include "vmlinux.h"',
        "int f(struct task_struct *t) { return t->pid; }",
        f"_Static_assert(__builtin_offsetof(struct task_struct, pid) == {pid_off}, \"pid\");",
        f"_Static_assert(__builtin_offsetof(struct sk_buff, dev) == {dev_off}, \"dev\");",
        f"_Static_assert(_Alignof(struct task_struct) == {btf.alignof(task)}, \"align\");",
    ]
    # Every uniquely named struct: size and non-bitfield member offsets must match BTF.
    tags = Counter(btf.name_of(i) for k in ("struct", "union", "enum", "enum64") for i in btf.ids(k))
    checked = 0
    for sid in btf.ids("struct"):
        t = btf.get(sid)
        if not t.name or tags[t.name] != 1:
            continue
        lines.append(f'_Static_assert(sizeof(struct {t.name}) == {t.size}, "{t.name}");')
        lines += [f"_Static_assert(__builtin_offsetof(struct {t.name}, {m.name}) == {m.bit_offset // 8}, "
                  f'"{t.name}.{m.name}");' for m in t.members if m.name and not m.bitfield_size]
        checked += 1
    assert checked > 1000
    (tmp_path / "t.c").write_text("\n".join(lines) + "\n")
    res = subprocess.run(["gcc", "-c", "-o", str(tmp_path / "t.o"), str(tmp_path / "t.c")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[:3000]


@needs_vmlinux
@needs_bpftool
def test_dump_c_matches_bpftool_text(vmlinux_h: str) -> None:
    ref = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX_PATH, "format", "c"],
                         check=True, capture_output=True, text=True).stdout
    ours = vmlinux_h.splitlines()
    theirs = ref.splitlines()
    assert len(ours) == len(theirs)
    # Only known difference: like newer libbpf, we size 1-byte enums with mode(byte),
    # which the installed bpftool (libbpf 1.1) omits.
    diffs = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
    assert all(a == "} __attribute__((mode(byte)));" and b == "};" for a, b in diffs), diffs[:5]
    assert ours[0] == "#ifndef __VMLINUX_H__" and ours[-1] == "#endif /* __VMLINUX_H__ */"


@needs_vmlinux
@needs_gcc
def test_dump_c_of_selected_ids_compiles(btf: Btf, tmp_path: Path) -> None:
    task = btf.find("task_struct", "struct")
    assert task is not None
    text = dump_c(btf, [task])
    assert "struct task_struct {" in text and "struct sk_buff {" not in text
    (tmp_path / "t.c").write_text(text + "int f(struct task_struct *t) { return t->pid; }\n")
    res = subprocess.run(["gcc", "-c", "-o", str(tmp_path / "t.o"), str(tmp_path / "t.c")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[:3000]
