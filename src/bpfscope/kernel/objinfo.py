"""Decoding of the kernel's object-info structs (bpf_prog_info, bpf_map_info,
bpf_link_info, bpf_btf_info) and walking the id spaces of loaded BPF objects.

Inspection (`bpfscope prog|map|link|btf`) needs the same facts bpftool shows;
this module turns BPF_OBJ_GET_INFO_BY_FD bytes into plain dataclasses so the
formatting layer never touches struct offsets. Offsets follow linux/bpf.h.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import syscall as sc
from . import uapi
from .maps import PERCPU_TYPES, possible_cpus

PROG_INFO_SIZE = 232
MAP_INFO_SIZE = 88
BTF_INFO_SIZE = 32
LINK_INFO_SIZE = 256

_NEXT = {"prog": uapi.BPF_PROG_GET_NEXT_ID, "map": uapi.BPF_MAP_GET_NEXT_ID,
         "link": uapi.BPF_LINK_GET_NEXT_ID, "btf": uapi.BPF_BTF_GET_NEXT_ID}
_BY_ID = {"prog": uapi.BPF_PROG_GET_FD_BY_ID, "map": uapi.BPF_MAP_GET_FD_BY_ID,
          "link": uapi.BPF_LINK_GET_FD_BY_ID, "btf": uapi.BPF_BTF_GET_FD_BY_ID}


def iter_ids(kind: str) -> Iterator[int]:
    """Ids of every loaded object of `kind` ("prog", "map", "link", "btf"), ascending."""
    cur = 0
    cmd = _NEXT[kind]
    while True:
        nxt = sc.get_next_id(cmd, cur)
        if nxt is None:
            return
        yield nxt
        cur = nxt


def fd_by_id(kind: str, obj_id: int) -> int:
    """A new fd for object `obj_id` of `kind`; the caller closes it."""
    return sc.get_fd_by_id(_BY_ID[kind], obj_id)


def fdinfo(fd: int) -> dict[str, str]:
    """/proc/self/fdinfo/FD as a dict (memlock, frozen, owner_prog_type, ...)."""
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace")


def _u64_array(n: int) -> ctypes.Array:  # type: ignore[type-arg]
    return ctypes.create_string_buffer(max(n, 1) * 8)


# ------------------------------------------------------------------ programs
@dataclass
class ProgInfo:
    type: int
    id: int
    tag: bytes
    jited_prog_len: int
    xlated_prog_len: int
    load_time: int
    created_by_uid: int
    nr_map_ids: int
    name: str
    ifindex: int
    gpl_compatible: bool
    netns_dev: int
    netns_ino: int
    nr_jited_ksyms: int
    nr_jited_func_lens: int
    btf_id: int
    func_info_rec_size: int
    nr_func_info: int
    nr_line_info: int
    nr_jited_line_info: int
    line_info_rec_size: int
    jited_line_info_rec_size: int
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    attach_btf_obj_id: int
    attach_btf_id: int
    map_ids: list[int] = field(default_factory=list)
    xlated: bytes = b""
    jited: bytes = b""
    jited_ksyms: list[int] = field(default_factory=list)
    jited_func_lens: list[int] = field(default_factory=list)
    func_info: bytes = b""
    line_info: bytes = b""


def _parse_prog(raw: bytes) -> ProgInfo:
    (ptype, pid, tag, jlen, xlen, _ji, _xi, load_time, uid, nr_maps, _mp, name, ifindex, gpl,
     netns_dev, netns_ino, nr_ksyms, nr_flens, _ks, _fl, btf_id, fi_rec, _fi, nr_fi, nr_li, _li, _jli,
     nr_jli, li_rec, jli_rec, _nr_tags, _tags, run_ns, run_cnt, rec_miss, verified, abtf_obj,
     abtf_id) = struct.unpack_from("=II8sIIQQQIIQ16sIIQQIIQQIIQIIQQIIIIQQQQIII", raw, 0)
    return ProgInfo(ptype, pid, tag, jlen, xlen, load_time, uid, nr_maps, _cstr(name), ifindex,
                    bool(gpl & 1), netns_dev, netns_ino, nr_ksyms, nr_flens, btf_id, fi_rec, nr_fi,
                    nr_li, nr_jli, li_rec, jli_rec, run_ns, run_cnt, rec_miss, verified, abtf_obj,
                    abtf_id)


def prog_info(fd: int, *, detail: bool = False) -> ProgInfo:
    """bpf_prog_info of a program fd; with `detail`, also map ids, xlated and jited
    instructions, jited symbols and func/line info (a second, sized call)."""
    info = _parse_prog(sc.obj_get_info(fd, PROG_INFO_SIZE))
    maps = _u64_array((info.nr_map_ids + 1) // 2)
    if not detail:
        if info.nr_map_ids:
            pre = bytearray(PROG_INFO_SIZE)
            struct.pack_into("=IQ", pre, 52, info.nr_map_ids, ctypes.addressof(maps))
            sc.obj_get_info(fd, PROG_INFO_SIZE, bytes(pre), keep=(maps,))
            info.map_ids = list(struct.unpack_from(f"={info.nr_map_ids}I", maps.raw, 0))
        return info
    xl = ctypes.create_string_buffer(max(info.xlated_prog_len, 1))
    jt = ctypes.create_string_buffer(max(info.jited_prog_len, 1))
    ks = _u64_array(info.nr_jited_ksyms)
    fl = ctypes.create_string_buffer(max(info.nr_jited_func_lens, 1) * 4)
    fi = ctypes.create_string_buffer(max(info.nr_func_info * info.func_info_rec_size, 1))
    li = ctypes.create_string_buffer(max(info.nr_line_info * info.line_info_rec_size, 1))
    pre = bytearray(PROG_INFO_SIZE)
    struct.pack_into("=IIQQ", pre, 16, info.jited_prog_len, info.xlated_prog_len,
                     ctypes.addressof(jt), ctypes.addressof(xl))
    struct.pack_into("=IQ", pre, 52, info.nr_map_ids, ctypes.addressof(maps))
    struct.pack_into("=IIQQ", pre, 104, info.nr_jited_ksyms, info.nr_jited_func_lens,
                     ctypes.addressof(ks), ctypes.addressof(fl))
    struct.pack_into("=IQIIQ", pre, 132, info.func_info_rec_size, ctypes.addressof(fi),
                     info.nr_func_info, info.nr_line_info, ctypes.addressof(li))
    struct.pack_into("=I", pre, 172, info.line_info_rec_size)
    sc.obj_get_info(fd, PROG_INFO_SIZE, bytes(pre), keep=(xl, jt, maps, ks, fl, fi, li))
    info.map_ids = list(struct.unpack_from(f"={info.nr_map_ids}I", maps.raw, 0))
    info.xlated = xl.raw[: info.xlated_prog_len]
    info.jited = jt.raw[: info.jited_prog_len]
    info.jited_ksyms = list(struct.unpack_from(f"={info.nr_jited_ksyms}Q", ks.raw, 0))
    info.jited_func_lens = list(struct.unpack_from(f"={info.nr_jited_func_lens}I", fl.raw, 0))
    info.func_info = fi.raw[: info.nr_func_info * info.func_info_rec_size]
    info.line_info = li.raw[: info.nr_line_info * info.line_info_rec_size]
    return info


# ------------------------------------------------------------------ maps
@dataclass
class MapInfo:
    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str
    ifindex: int
    btf_vmlinux_value_type_id: int
    netns_dev: int
    netns_ino: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_id: int
    map_extra: int


def map_info(fd: int) -> MapInfo:
    raw = sc.obj_get_info(fd, MAP_INFO_SIZE)
    (t, i, ks, vs, me, fl, name, ifi, vmv, nd, ni, bid, bk, bv, bvm, extra) = struct.unpack_from(
        "=IIIIII16sIIQQIIIIQ", raw, 0)
    return MapInfo(t, i, ks, vs, me, fl, _cstr(name), ifi, vmv, nd, ni, bid, bk, bv, bvm, extra)


PERCPU_MAP_TYPES = PERCPU_TYPES


def map_entries(fd: int, info: MapInfo) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a map, walked with get_next_key like bpftool does.

    Per-CPU values come back as one blob of round_up(value_size, 8) * ncpus bytes.
    Entries that vanish between get_next_key and lookup are skipped.
    """
    vsize = info.value_size
    if info.type in PERCPU_MAP_TYPES:
        vsize = (info.value_size + 7) // 8 * 8 * possible_cpus()
    out: list[tuple[bytes, bytes]] = []
    key: bytes | None = None
    while True:
        nxt = sc.map_get_next_key(fd, key, info.key_size)
        if nxt is None:
            return out
        val = sc.map_lookup(fd, nxt, vsize)
        if val is not None:
            out.append((nxt, val))
        key = nxt


# ------------------------------------------------------------------ btf
@dataclass
class BtfInfo:
    id: int
    btf_size: int
    name: str
    kernel_btf: bool
    data: bytes = b""


def btf_info(fd: int, *, with_data: bool = False) -> BtfInfo:
    """bpf_btf_info of a BTF fd (name, size); `with_data` also fetches the raw BTF blob."""
    nameb = ctypes.create_string_buffer(256)
    pre = bytearray(BTF_INFO_SIZE)
    struct.pack_into("=QI", pre, 16, ctypes.addressof(nameb), 256)
    raw = sc.obj_get_info(fd, BTF_INFO_SIZE, bytes(pre), keep=(nameb,))
    _p, size, bid, _n, _nl, kern = struct.unpack_from("=QIIQII", raw, 0)
    info = BtfInfo(bid, size, nameb.value.decode(errors="replace"), bool(kern))
    if with_data:
        data = ctypes.create_string_buffer(max(size, 1))
        pre2 = bytearray(BTF_INFO_SIZE)
        struct.pack_into("=QI", pre2, 0, ctypes.addressof(data), size)
        sc.obj_get_info(fd, BTF_INFO_SIZE, bytes(pre2), keep=(data,))
        info.data = data.raw[:size]
    return info


def btf_data_by_id(btf_id: int) -> bytes:
    """Raw BTF bytes of a loaded BTF object."""
    fd = fd_by_id("btf", btf_id)
    try:
        return btf_info(fd, with_data=True).data
    finally:
        os.close(fd)


# ------------------------------------------------------------------ links
@dataclass
class LinkInfo:
    type: int
    id: int
    prog_id: int
    raw: bytes  # the whole struct, for type-specific fields
    tp_name: str = ""
    attach_type: int = 0
    target_obj_id: int = 0
    target_btf_id: int = 0
    cgroup_id: int = 0
    netns_ino: int = 0
    ifindex: int = 0
    perf_type: int = 0
    name: str = ""  # file/func/tracepoint name of a perf_event link
    offset: int = 0
    addr: int = 0
    cookie: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def link_info(fd: int) -> LinkInfo:
    """bpf_link_info with the union decoded for the link types bpftool prints."""
    raw = sc.obj_get_info(fd, LINK_INFO_SIZE)
    ltype, lid, prog_id = struct.unpack_from("=III", raw, 0)
    li = LinkInfo(ltype, lid, prog_id, raw)
    namebuf = ctypes.create_string_buffer(512)
    if ltype == uapi.BPF_LINK_TYPE_RAW_TRACEPOINT:
        pre = bytearray(LINK_INFO_SIZE)
        struct.pack_into("=QI", pre, 16, ctypes.addressof(namebuf), 512)
        sc.obj_get_info(fd, LINK_INFO_SIZE, bytes(pre), keep=(namebuf,))
        li.tp_name = namebuf.value.decode(errors="replace")
    elif ltype == uapi.BPF_LINK_TYPE_TRACING:
        li.attach_type, li.target_obj_id, li.target_btf_id = struct.unpack_from("=III", raw, 16)
    elif ltype == uapi.BPF_LINK_TYPE_CGROUP:
        li.cgroup_id, li.attach_type = struct.unpack_from("=QI", raw, 16)
    elif ltype == uapi.BPF_LINK_TYPE_NETNS:
        li.netns_ino, li.attach_type = struct.unpack_from("=II", raw, 16)
    elif ltype == uapi.BPF_LINK_TYPE_XDP:
        li.ifindex, = struct.unpack_from("=I", raw, 16)
    elif ltype == uapi.BPF_LINK_TYPE_PERF_EVENT:
        li.perf_type, = struct.unpack_from("=I", raw, 16)
        pre = bytearray(LINK_INFO_SIZE)
        struct.pack_into("=IQI", pre, 16, li.perf_type, ctypes.addressof(namebuf), 512)
        with contextlib.suppress(OSError):
            raw2 = sc.obj_get_info(fd, LINK_INFO_SIZE, bytes(pre), keep=(namebuf,))
            li.name = namebuf.value.decode(errors="replace")
            _p, _n, li.offset = struct.unpack_from("=QII", raw2, 24)
            li.raw = raw2
    return li


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def load_btf(data: bytes, log_size: int = 0) -> int:
    """BPF_BTF_LOAD with the attr fields in linux/bpf.h order (btf, log_buf, size,
    log_size, log_level); returns the BTF fd. On rejection BpfError.log holds the log."""
    a = ctypes.create_string_buffer(sc.ATTR_SIZE)
    db = ctypes.create_string_buffer(data, len(data))
    logb = ctypes.create_string_buffer(log_size) if log_size else None
    struct.pack_into("=QQIII", a, 0, ctypes.addressof(db), ctypes.addressof(logb) if logb else 0,
                     len(data), log_size, 1 if log_size else 0)
    try:
        return sc.bpf(uapi.BPF_BTF_LOAD, a)
    except sc.BpfError as e:
        e.log = logb.value.decode(errors="replace") if logb is not None else ""
        raise
