"""`bpfscope btf ...`: list, dump id N | file F | map MAP | prog PROG [format raw|c].

The raw format is bpftool's one-line-per-type listing (`[1] INT 'long unsigned int'
size=8 bits_offset=0 nr_bits=64 encoding=(none)`); `format c` writes a vmlinux.h
style header through the BTF module's C dumper.
"""

from __future__ import annotations

import os
from typing import Any

from ..kernel import objinfo
from .btffmt import btf_by_id
from .common import CmdError, Ctx, parse_id

_LINKAGE_FUNC = {0: "static", 1: "global", 2: "extern"}
_LINKAGE_VAR = {0: "static", 1: "global", 2: "extern"}
_REF_KINDS = ("ptr", "const", "volatile", "restrict", "typedef", "type_tag")


def _int_enc(t: Any) -> str:
    if t.signed and not t.is_char and not t.is_bool:
        return "SIGNED"
    if t.is_char and not t.signed and not t.is_bool:
        return "CHAR"
    if t.is_bool and not t.signed and not t.is_char:
        return "BOOL"
    if not (t.signed or t.is_char or t.is_bool):
        return "(none)"
    return "UNKN"


def raw_line(btf: Any, tid: int) -> str:
    """One type in bpftool's raw dump format (may span several lines)."""
    t = btf.get(tid)
    k = t.kind
    head = f"[{tid}] {k.upper()} '{t.name or '(anon)'}'"
    if k == "int":
        return head + f" size={t.size} bits_offset={t.int_offset} nr_bits={t.bits} encoding={_int_enc(t)}"
    if k in _REF_KINDS:
        return head + f" type_id={t.type}"
    if k == "array":
        return head + f" type_id={t.elem_type} index_type_id={t.index_type} nr_elems={t.nelems}"
    if k in ("struct", "union"):
        s = head + f" size={t.size} vlen={t.vlen}"
        for m in t.members:
            s += f"\n\t'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.bit_offset}"
            if m.bitfield_size:
                s += f" bitfield_size={m.bitfield_size}"
        return s
    if k in ("enum", "enum64"):
        s = head + f" encoding={'SIGNED' if t.kflag else 'UNSIGNED'} size={t.size} vlen={t.vlen}"
        for name, v in t.values:
            if not t.kflag:
                v &= (1 << (64 if k == "enum64" else 32)) - 1
            s += f"\n\t'{name}' val={v}" + (('LL' if t.kflag else 'ULL') if k == 'enum64' else '')
        return s
    if k == "fwd":
        return head + f" fwd_kind={'union' if t.kflag else 'struct'}"
    if k == "func":
        return head + f" type_id={t.type} linkage={_LINKAGE_FUNC.get(t.linkage, 'UNKN')}"
    if k == "func_proto":
        s = head + f" ret_type_id={t.type} vlen={t.vlen}"
        for name, pt in t.params:
            s += f"\n\t'{name or '(anon)'}' type_id={pt}"
        return s
    if k == "var":
        return head + f" type_id={t.type}, linkage={_LINKAGE_VAR.get(t.linkage, 'UNKN')}"
    if k == "datasec":
        s = head + f" size={t.size} vlen={t.vlen}"
        for vt, off, sz in t.secinfo:
            vtt = btf.get(vt)
            s += f"\n\ttype_id={vt} offset={off} size={sz} ({vtt.kind.upper()} '{vtt.name}')"
        return s
    if k == "float":
        return head + f" size={t.size}"
    if k == "decl_tag":
        return head + f" type_id={t.type} component_idx={t.component_idx}"
    return head


_MAX_FILE = 256 << 20


def _load_file(path: str) -> Any:
    from ..kernel.btf import BtfError

    try:
        return _parse_file(path)
    except BtfError as e:
        raise CmdError(f"failed to load BTF from {path}: Invalid argument ({e})") from None
    except OSError as e:
        raise CmdError(f"failed to load BTF from {path}: {e.strerror or e}") from None
    except (ValueError, IndexError, KeyError, UnicodeError) as e:  # not BTF (or a broken ELF)
        raise CmdError(f"failed to load BTF from {path}: Invalid argument ({e})") from None


def _parse_file(path: str) -> Any:
    from ..kernel.btf import Btf

    with open(path, "rb") as f:
        data = f.read(_MAX_FILE + 1)
    if len(data) > _MAX_FILE:  # /dev/zero and friends: not BTF, and never-ending
        raise CmdError(f"failed to load BTF from {path}: File too large")
    if data[:4] == b"\x7fELF":
        from elftools.elf.elffile import ELFFile

        with open(path, "rb") as f:
            sec = ELFFile(f).get_section_by_name(".BTF")
            if sec is None:
                raise CmdError(f"failed to load BTF from {path}: No data available")
            data = sec.data()
    base = None
    if path.startswith("/sys/kernel/btf/") and os.path.basename(path) != "vmlinux":
        base = Btf.vmlinux()
    return Btf.from_bytes(data, base=base)


def dump_raw(ctx: Ctx, btf: Any, root_ids: list[int] | None = None) -> None:
    ids = root_ids if root_ids is not None else list(btf.ids())
    if ctx.json:
        w = ctx.writer()
        w.start_object()
        w.name("types")
        w.start_array()
        for tid in ids:
            w.value(_raw_json(btf, tid))
        w.end_array()
        w.end_object()
        w.finish()
        return
    write = ctx.out.write
    for tid in ids:
        write(raw_line(btf, tid) + "\n")


def _raw_json(btf: Any, tid: int) -> dict[str, object]:
    t = btf.get(tid)
    d: dict[str, object] = {"id": tid, "kind": t.kind.upper(), "name": t.name or "(anon)"}
    k = t.kind
    if k == "int":
        d.update(size=t.size, bits_offset=t.int_offset, nr_bits=t.bits, encoding=_int_enc(t))
    elif k in _REF_KINDS:
        d["type_id"] = t.type
    elif k == "array":
        d.update(type_id=t.elem_type, index_type_id=t.index_type, nr_elems=t.nelems)
    elif k in ("struct", "union"):
        d.update(size=t.size, vlen=t.vlen)
        d["members"] = [{"name": m.name or "(anon)", "type_id": m.type, "bits_offset": m.bit_offset,
                         **({"bitfield_size": m.bitfield_size} if m.bitfield_size else {})}
                        for m in t.members]
    elif k in ("enum", "enum64"):
        d.update(encoding="SIGNED" if t.kflag else "UNSIGNED", size=t.size, vlen=t.vlen)
        d["values"] = [{"name": n, "val": v} for n, v in t.values]
    elif k == "fwd":
        d["fwd_kind"] = "union" if t.kflag else "struct"
    elif k == "func":
        d.update(type_id=t.type, linkage=_LINKAGE_FUNC.get(t.linkage, "UNKN"))
    elif k == "func_proto":
        d.update(ret_type_id=t.type, vlen=t.vlen)
        d["params"] = [{"name": n or "(anon)", "type_id": p} for n, p in t.params]
    elif k == "var":
        d.update(type_id=t.type, linkage=_LINKAGE_VAR.get(t.linkage, "UNKN"))
    elif k == "datasec":
        d.update(size=t.size, vlen=t.vlen)
        d["vars"] = [{"type_id": a, "offset": b, "size": c} for a, b, c in t.secinfo]
    elif k == "float":
        d["size"] = t.size
    elif k == "decl_tag":
        d.update(type_id=t.type, component_idx=t.component_idx)
    return d


def dump_c(ctx: Ctx, btf: Any) -> None:
    try:
        from ..kernel.btf_dump import dump_c as _dump_c
    except ImportError:
        raise CmdError("format c needs kernel.btf.dump_c, which is not available") from None
    ctx.out.write(_dump_c(btf))


def cmd_dump(ctx: Ctx, args: list[str]) -> int:
    if len(args) < 2:
        raise CmdError("expected 'id', 'file', 'map' or 'prog'")
    src, what, rest = args[0], args[1], args[2:]
    root_ids: list[int] | None = None
    if src == "file":
        btf = _load_file(what)
    elif src == "id":
        try:
            btf = btf_by_id(parse_id(what))
        except OSError as e:
            raise CmdError(f"get btf by id ({what}): {os.strerror(e.errno or 0)}") from None
    elif src == "map":
        from .mapcmd import select_fds

        fds, rest = select_fds(args[1:], allow_many=False)
        try:
            info = objinfo.map_info(fds[0])
        finally:
            os.close(fds[0])
        if not info.btf_id:
            raise CmdError("no BTF object for this map")
        btf = btf_by_id(info.btf_id)
        which = rest[0] if rest and rest[0] in ("key", "value", "kv", "all") else "kv"
        rest = rest[1:] if rest and rest[0] in ("key", "value", "kv", "all") else rest
        if which != "all":
            root_ids = []
            if which in ("key", "kv") and info.btf_key_type_id:
                root_ids.append(info.btf_key_type_id)
            if which in ("value", "kv") and info.btf_value_type_id:
                root_ids.append(info.btf_value_type_id)
    elif src == "prog":
        from .prog import select_fds as prog_fds

        fds, rest = prog_fds(args[1:], allow_many=False)
        try:
            pinfo = objinfo.prog_info(fds[0])
        finally:
            os.close(fds[0])
        if not pinfo.btf_id:
            raise CmdError("can't get prog info: no BTF")
        btf = btf_by_id(pinfo.btf_id)
    else:
        raise CmdError(f"unrecognized BTF source specifier: '{src}'")
    fmt = "raw"
    if rest and rest[0] == "format":
        if len(rest) < 2 or rest[1] not in ("raw", "c"):
            raise CmdError("unrecognized format specifier, expected 'raw' or 'c'")
        fmt = rest[1]
    if fmt == "c":
        dump_c(ctx, btf)
    else:
        dump_raw(ctx, btf, root_ids)
    return 0


def _refs() -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    progs: dict[int, list[int]] = {}
    maps: dict[int, list[int]] = {}
    for pid in objinfo.iter_ids("prog"):
        try:
            fd = objinfo.fd_by_id("prog", pid)
        except OSError:
            continue
        try:
            info = objinfo.prog_info(fd)
            if info.btf_id:
                progs.setdefault(info.btf_id, []).insert(0, pid)
        finally:
            os.close(fd)
    for mid in objinfo.iter_ids("map"):
        try:
            fd = objinfo.fd_by_id("map", mid)
        except OSError:
            continue
        try:
            minfo = objinfo.map_info(fd)
            if minfo.btf_id:
                maps.setdefault(minfo.btf_id, []).insert(0, mid)
        finally:
            os.close(fd)
    return progs, maps


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    if args and args[0] == "id" and len(args) > 1:
        ids = [parse_id(args[1])]
    else:
        ids = list(objinfo.iter_ids("btf"))
    progs, maps = _refs()
    w = ctx.writer() if ctx.json else None
    many = not args
    if w and many:
        w.start_array()
    for bid in ids:
        try:
            fd = objinfo.fd_by_id("btf", bid)
        except OSError as e:
            if not many:
                raise CmdError(f"get btf by id ({bid}): {os.strerror(e.errno or 0)}") from None
            continue
        try:
            info = objinfo.btf_info(fd)
        finally:
            os.close(fd)
        if w:
            w.start_object()
            w.field("id", info.id)
            w.field("size", info.btf_size)
            w.field("prog_ids", progs.get(bid, []))
            w.field("map_ids", maps.get(bid, []))
            w.field("kernel", info.kernel_btf)
            if info.name:
                w.field("name", info.name)
            w.end_object()
            continue
        line = f"{info.id}: "
        if info.kernel_btf:
            line += f"name [{info.name}]  "
        elif info.name:
            line += f"name {info.name}  "
        else:
            line += "name <anon>  "
        line += f"size {info.btf_size}B"
        if bid in progs:
            line += "  prog_ids " + ",".join(map(str, progs[bid]))
        if bid in maps:
            line += "  map_ids " + ",".join(map(str, maps[bid]))
        ctx.p(line)
    if w:
        if many:
            w.end_array()
        w.finish()
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] in ("show", "list"):
        return cmd_show(ctx, args[1:])
    if args[0] == "dump":
        return cmd_dump(ctx, args[1:])
    raise CmdError(f"unknown command '{args[0]}'")
