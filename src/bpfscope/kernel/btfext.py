"""`.BTF.ext` records of a clang-built object, and the `.BTF` fix-ups a loader must make.

clang writes per-section func_info / line_info / CO-RE relocation records whose
instruction offsets are byte offsets inside the ELF section; a loader re-bases them onto
each program it assembles. clang also leaves DATASEC sizes and variable offsets at zero
(only the linker knows them); the kernel rejects such BTF, so `fixup_datasecs` fills them
in from the ELF section sizes and symbol values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

BTF_MAGIC = 0xEB9F
KIND_VAR = 14
KIND_DATASEC = 15

# Words after the 3-word header: fixed extra + per-vlen entry (same rules as kernel.btf).
_EXTRA_WORDS = {1: 1, 3: 3, 14: 1, 17: 1}
_VLEN_WORDS = {4: 3, 5: 3, 6: 2, 13: 2, 15: 3, 19: 3}


class BtfExtError(Exception):
    """Malformed .BTF / .BTF.ext data."""


@dataclass
class ExtInfo:
    """Records of one kind for every section: {section name: [(byte insn_off, rest...)]}."""

    rec_size: int = 0
    by_sec: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)


@dataclass
class BtfExt:
    func_info: ExtInfo
    line_info: ExtInfo
    core_relo: ExtInfo


def _strings(btf: bytes) -> tuple[int, int]:
    hdr_len, _to, _tl, str_off, str_len = struct.unpack_from("<IIIII", btf, 4)
    return hdr_len + str_off, str_len


def btf_string(btf: bytes, off: int) -> str:
    start, size = _strings(btf)
    if off >= size:
        raise BtfExtError(f"string offset {off} outside the BTF string table")
    end = btf.index(b"\0", start + off)
    return btf[start + off:end].decode(errors="replace")


def _parse_info(data: bytes, btf: bytes, off: int, length: int, nfields: int) -> ExtInfo:
    out = ExtInfo()
    if length == 0:
        return out
    end = off + length
    (rec_size,) = struct.unpack_from("<I", data, off)
    if rec_size < nfields * 4:
        raise BtfExtError(f"record size {rec_size} too small")
    out.rec_size = rec_size
    p = off + 4
    while p < end:
        sec_off, num = struct.unpack_from("<II", data, p)
        p += 8
        name = btf_string(btf, sec_off)
        recs = out.by_sec.setdefault(name, [])
        for _ in range(num):
            recs.append(struct.unpack_from("<" + "I" * nfields, data, p))
            p += rec_size
    return out


def parse_btf_ext(data: bytes, btf: bytes) -> BtfExt:
    """Parse .BTF.ext (little-endian objects only); strings live in `btf`."""
    if len(data) < 24:
        raise BtfExtError(".BTF.ext too short")
    magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
    if magic != BTF_MAGIC or version != 1:
        raise BtfExtError("bad .BTF.ext header")
    fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32:
        cr_off, cr_len = struct.unpack_from("<II", data, 24)
    return BtfExt(
        func_info=_parse_info(data, btf, hdr_len + fi_off, fi_len, 2),
        line_info=_parse_info(data, btf, hdr_len + li_off, li_len, 4),
        core_relo=_parse_info(data, btf, hdr_len + cr_off, cr_len, 4),
    )


def iter_type_offsets(btf: bytes) -> list[int]:
    """Byte offset of each type record (index i is type id i + 1)."""
    magic, = struct.unpack_from("<H", btf)
    if magic != BTF_MAGIC:
        raise BtfExtError("bad BTF magic (only little-endian objects are supported)")
    hdr_len, type_off, type_len = struct.unpack_from("<III", btf, 4)
    p = hdr_len + type_off
    end = p + type_len
    out: list[int] = []
    while p < end:
        info, = struct.unpack_from("<I", btf, p + 4)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        if not 1 <= kind <= 19:
            raise BtfExtError(f"unknown BTF kind {kind}")
        out.append(p)
        p += 4 * (3 + _EXTRA_WORDS.get(kind, 0) + vlen * _VLEN_WORDS.get(kind, 0))
    return out


def fixup_datasecs(btf: bytes, sec_sizes: dict[str, int],
                   sym_values: dict[tuple[str, str], int]) -> bytes:
    """Fill DATASEC sizes and VAR offsets; `sym_values[(section, var name)]` = st_value."""
    out = bytearray(btf)
    offs = iter_type_offsets(btf)
    for p in offs:
        name_off, info, _size = struct.unpack_from("<III", out, p)
        if (info >> 24) & 0x1F != KIND_DATASEC:
            continue
        sec = btf_string(btf, name_off)
        if sec not in sec_sizes:
            continue  # .kconfig / .ksyms: externs, left as they are
        struct.pack_into("<I", out, p + 8, sec_sizes[sec])
        for i in range(info & 0xFFFF):
            at = p + 12 + 12 * i
            var_id, _off, vsize = struct.unpack_from("<III", out, at)
            if not 1 <= var_id <= len(offs):
                continue
            vp = offs[var_id - 1]
            vname_off, vinfo = struct.unpack_from("<II", out, vp)
            if (vinfo >> 24) & 0x1F != KIND_VAR:
                continue
            vname = btf_string(btf, vname_off)
            if (sec, vname) in sym_values:
                struct.pack_into("<I", out, at + 4, sym_values[(sec, vname)])
    return bytes(out)
