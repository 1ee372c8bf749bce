"""`bpfscope map ...`: list/show/dump/lookup/update/delete/getnext/pin/create/freeze.

Text and JSON layouts are bpftool 7.1's; keys and values go through the map's
BTF (bpftool's btf_dumper rendering) when the map has one.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from ..kernel import objinfo
from ..kernel import syscall as sc
from .common import (
    MAP_TYPE_BY_NAME,
    MAP_TYPES,
    CmdError,
    Ctx,
    bpffs_pins,
    hex_bytes,
    hex_json,
    open_pinned,
    parse_bytes,
    parse_id,
    parse_uint,
)
from .jsonw import JsonWriter

_MAP_OF_MAPS = {12, 13}
_PROG_ARRAY = 3


def select_fds(args: list[str], *, allow_many: bool = True) -> tuple[list[int], list[str]]:
    """Open maps named by id N | pinned P | name X."""
    if len(args) < 2:
        raise CmdError("expected 'id', 'name' or 'pinned', got: " + " ".join(args))
    how, what, rest = args[0], args[1], args[2:]
    if how == "id":
        try:
            return [objinfo.fd_by_id("map", parse_id(what))], rest
        except OSError as e:
            raise CmdError(f"get map by id ({what}): {os.strerror(e.errno or 0)}") from None
    if how == "pinned":
        return [open_pinned(what, "map")], rest
    if how != "name":
        raise CmdError(f"expected 'id', 'name' or 'pinned', got: '{how}'?")
    fds = []
    for mid in objinfo.iter_ids("map"):
        try:
            fd = objinfo.fd_by_id("map", mid)
        except OSError:
            continue
        if objinfo.map_info(fd).name == what[:15]:
            fds.append(fd)
        else:
            os.close(fd)
    if not fds:
        raise CmdError(f"can't find map with name '{what}'")
    if not allow_many and len(fds) > 1:
        for fd in fds:
            os.close(fd)
        raise CmdError(f"several maps match this handle ({how} {what})")
    return fds, rest


# ------------------------------------------------------------------ show
def _show_plain(ctx: Ctx, fd: int, info: objinfo.MapInfo, pins: dict[int, list[str]]) -> None:
    fdi = objinfo.fdinfo(fd)
    t = MAP_TYPES.get(info.type)
    head = f"{info.id}: " + (f"{t}  " if t else f"type {info.type}  ")
    if info.name:
        head += f"name {info.name}  "
    head += f"flags {info.map_flags:#x}" if info.map_flags else "flags 0x0"
    ctx.p(head)
    line = f"\tkey {info.key_size}B  value {info.value_size}B  max_entries {info.max_entries}"
    if "memlock" in fdi:
        line += f"  memlock {fdi['memlock']}B"
    if info.type == _PROG_ARRAY:
        opt, oj = fdi.get("owner_prog_type"), fdi.get("owner_jited")
        if opt is not None and oj is not None:
            line += "\n\t"
        if opt is not None:
            from .common import PROG_TYPES

            pt = PROG_TYPES.get(int(opt))
            line += f"owner_prog_type {pt}  " if pt else f"owner_prog_type {opt}  "
        if oj is not None:
            line += "owner jited" if int(oj) else "owner not jited"
    for path in pins.get(info.id, []):
        line += f"\n\tpinned {path}"
    frozen = int(fdi.get("frozen", "0") or 0)
    if info.btf_id or frozen:
        line += "\n\t"
    if info.btf_id:
        line += f"btf_id {info.btf_id}"
    if frozen:
        line += ("  " if info.btf_id else "") + "frozen"
    ctx.p(line)


def _header_json(w: JsonWriter, fd: int, info: objinfo.MapInfo, pins: dict[int, list[str]]) -> None:
    fdi = objinfo.fdinfo(fd)
    w.field("id", info.id)
    t = MAP_TYPES.get(info.type)
    w.field("type", t if t else info.type)
    if info.name:
        w.field("name", info.name)
    w.field("flags", info.map_flags)
    w.field("bytes_key", info.key_size)
    w.field("bytes_value", info.value_size)
    w.field("max_entries", info.max_entries)
    if "memlock" in fdi:
        w.field("bytes_memlock", int(fdi["memlock"]))
    if info.type == _PROG_ARRAY:
        from .common import PROG_TYPES

        if "owner_prog_type" in fdi:
            pt = int(fdi["owner_prog_type"])
            w.field("owner_prog_type", PROG_TYPES.get(pt, pt))
        if "owner_jited" in fdi:
            w.field("owner_jited", bool(int(fdi["owner_jited"])))
    if "frozen" in fdi:
        w.field("frozen", int(fdi["frozen"]))
    if info.btf_id:
        w.field("btf_id", info.btf_id)
    if info.id in pins:
        w.field("pinned", pins[info.id])


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    if args:
        fds = select_fds(args)[0]
    else:
        fds = []
        for mid in objinfo.iter_ids("map"):
            try:
                fds.append(objinfo.fd_by_id("map", mid))
            except OSError:
                continue
    pins = bpffs_pins("map") if ctx.bpffs else {}
    w = ctx.writer() if ctx.json else None
    many = not args or len(fds) > 1
    if w and many:
        w.start_array()
    try:
        for fd in fds:
            info = objinfo.map_info(fd)
            if w:
                w.start_object()
                _header_json(w, fd, info, pins)
                w.end_object()
            else:
                _show_plain(ctx, fd, info, pins)
    finally:
        for fd in fds:
            os.close(fd)
    if w:
        if many:
            w.end_array()
        w.finish()
    return 0


# ------------------------------------------------------------------ entries
def _is_percpu(info: objinfo.MapInfo) -> bool:
    return info.type in objinfo.PERCPU_MAP_TYPES


def _full_value_size(info: objinfo.MapInfo) -> int:
    if _is_percpu(info):
        return (info.value_size + 7) // 8 * 8 * objinfo.possible_cpus()
    return info.value_size


def _kv_btf(info: objinfo.MapInfo) -> Any:
    ids = (info.btf_key_type_id, info.btf_value_type_id, info.btf_vmlinux_value_type_id)
    if not info.btf_id or not any(ids):
        return None
    try:
        from ..kernel.btf import Btf

        if info.btf_vmlinux_value_type_id:
            return Btf.vmlinux()
        from .btffmt import btf_by_id

        return btf_by_id(info.btf_id)
    except Exception:
        return None


def _btf_formatted(btf: Any, info: objinfo.MapInfo, key: bytes, val: bytes, plain: bool) -> dict[str, object]:
    from .btffmt import value

    out: dict[str, object] = {}
    if info.btf_key_type_id:
        out["key"] = value(btf, info.btf_key_type_id, key, plain)
    vid = info.btf_vmlinux_value_type_id or info.btf_value_type_id
    if not _is_percpu(info):
        out["value"] = value(btf, vid, val, plain)
    else:
        step = (info.value_size + 7) // 8 * 8
        vs = info.value_size
        out["values"] = [{"cpu": i, "value": value(btf, vid, val[i * step: i * step + vs], plain)}
                         for i in range(objinfo.possible_cpus())]
    return out


def _entry_plain(ctx: Ctx, info: objinfo.MapInfo, key: bytes, val: bytes) -> None:
    if not _is_percpu(info):
        brk = info.key_size > 16 or info.value_size > 16
        single = info.key_size + info.value_size <= 24 and not brk
        text = ""
        if info.key_size:
            text += f"key:{chr(10) if brk else ' '}{hex_bytes(key)}" + ("  " if single else "\n")
        if info.value_size:
            if info.type in _MAP_OF_MAPS:
                text += f"inner_map_id:{chr(10) if brk else ' '}{int.from_bytes(val[:4], 'little')} "
            else:
                text += f"value:{chr(10) if brk else ' '}{hex_bytes(val[: info.value_size])}"
        ctx.p(text)
        return
    if info.key_size:
        ctx.p("key:\n" + hex_bytes(key))
    step = (info.value_size + 7) // 8 * 8
    if info.value_size:
        for i in range(objinfo.possible_cpus()):
            sep = "\n" if info.value_size > 16 else " "
            ctx.p(f"value (CPU {i:02d}):{sep}{hex_bytes(val[i * step: i * step + info.value_size])}")


def _entry_json(w: JsonWriter, info: objinfo.MapInfo, key: bytes, val: bytes, btf: Any) -> None:
    w.start_object()
    w.field("key", hex_json(key))
    if not _is_percpu(info):
        if info.type in _MAP_OF_MAPS:
            w.field("inner_map_id", int.from_bytes(val[:4], "little"))
        else:
            w.field("value", hex_json(val[: info.value_size]))
    else:
        step = (info.value_size + 7) // 8 * 8
        w.field("values", [{"cpu": i, "value": hex_json(val[i * step: i * step + info.value_size])}
                           for i in range(objinfo.possible_cpus())])
    if btf is not None:
        w.field("formatted", _btf_formatted(btf, info, key, val, plain=False))
    w.end_object()


def _entry_error(ctx: Ctx, w: JsonWriter | None, info: objinfo.MapInfo, key: bytes, err: int) -> None:
    if (info.type in _MAP_OF_MAPS or info.type == _PROG_ARRAY) and err == errno.ENOENT:
        return
    if w is not None and ctx.json:
        w.value({"key": hex_json(key), "value": {"error": os.strerror(err)}})
        return
    msg = "<no entry>" if err == errno.ENOENT else os.strerror(err)
    brk = info.key_size > 16 or len(msg) > 16
    single = info.key_size + len(msg) <= 24 and not brk
    ctx.p(f"key:{chr(10) if brk else ' '}{hex_bytes(key)}" + ("  " if single else "\n")
          + f"value:{chr(10) if brk else ' '}{msg}")


def _dump_one(ctx: Ctx, fd: int, info: objinfo.MapInfo, w: JsonWriter | None, header: bool) -> None:
    btf = _kv_btf(info)
    if w is None and btf is not None:
        w = JsonWriter(ctx.out, pretty=True)
        btf_plain = True
    else:
        btf_plain = False
    if w is not None:
        if header:
            w.start_object()
            _header_json(w, fd, info, {})
            w.name("elements")
        w.start_array()
    n = 0
    key: bytes | None = None
    vsize = _full_value_size(info)
    while True:
        nxt = sc.map_get_next_key(fd, key, info.key_size)
        if nxt is None:
            break
        key = nxt
        try:
            val = sc.map_lookup(fd, nxt, vsize)
        except OSError as e:
            _entry_error(ctx, w, info, nxt, e.errno or 0)
            continue
        if val is None:
            _entry_error(ctx, w, info, nxt, errno.ENOENT)
            continue
        n += 1
        if ctx.json:
            assert w is not None
            _entry_json(w, info, nxt, val, btf)
        elif btf_plain:
            assert w is not None
            w.value(_btf_formatted(btf, info, nxt, val, plain=True))
        else:
            _entry_plain(ctx, info, nxt, val)
    if w is not None:
        w.end_array()
        if header:
            w.end_object()
        if btf_plain:
            w.finish()
    else:
        ctx.p(f"Found {n} element{'' if n == 1 else 's'}")


def cmd_dump(ctx: Ctx, args: list[str]) -> int:
    fds, _ = select_fds(args)
    w = ctx.writer() if ctx.json else None
    many = len(fds) > 1
    try:
        if w and many:
            w.start_array()
        for i, fd in enumerate(fds):
            info = objinfo.map_info(fd)
            if not ctx.json and many:
                _show_plain(ctx, fd, info, {})
            _dump_one(ctx, fd, info, w, many)
            if not ctx.json and many and i != len(fds) - 1:
                ctx.p()
        if w:
            if many:
                w.end_array()
            w.finish()
    finally:
        for fd in fds:
            os.close(fd)
    return 0


def _parse_kv(info: objinfo.MapInfo, words: list[str], want_value: bool
              ) -> tuple[bytes | None, bytes | None, list[str]]:
    key: bytes | None = None
    val: bytes | None = None
    while words:
        if words[0] == "key":
            key, words = parse_bytes(words[1:], info.key_size, "key")
        elif words[0] == "value" and want_value:
            vs = info.value_size
            if _is_percpu(info):
                vs = info.value_size  # bpftool replicates one CPU's value to all CPUs
            val, words = parse_bytes(words[1:], vs, "value")
        else:
            break
    return key, val, words


def cmd_lookup(ctx: Ctx, args: list[str]) -> int:
    fds, rest = select_fds(args, allow_many=False)
    fd = fds[0]
    try:
        info = objinfo.map_info(fd)
        key, _v, _rest = _parse_kv(info, rest, False)
        if key is None:
            key = b""
        val = sc.map_lookup(fd, key, _full_value_size(info))
        if val is None:
            if ctx.json:
                ctx.p("null")
            else:
                ctx.p(f"key:\n{hex_bytes(key)}\n\nNot found")
            return 254
        btf = _kv_btf(info)
        if ctx.json:
            w = ctx.writer()
            _entry_json(w, info, key, val, btf)
            w.finish()
        elif btf is not None:
            w = JsonWriter(ctx.out, pretty=True)
            w.value(_btf_formatted(btf, info, key, val, plain=True))
            w.finish()
        else:
            _entry_plain(ctx, info, key, val)
    except OSError as e:
        raise CmdError(f"lookup failed: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    return 0


_UPDATE_FLAGS = {"any": 0, "noexist": 1, "exist": 2}


def cmd_update(ctx: Ctx, args: list[str]) -> int:
    fds, rest = select_fds(args, allow_many=False)
    fd = fds[0]
    try:
        info = objinfo.map_info(fd)
        key, val, rest = _parse_kv(info, rest, True)
        if val is None:
            raise CmdError("did not find value")
        flags = _UPDATE_FLAGS.get(rest[0], 0) if rest else 0
        if _is_percpu(info):
            step = (info.value_size + 7) // 8 * 8
            val = b"".join(val.ljust(step, b"\0") for _ in range(objinfo.possible_cpus()))
        try:
            sc.map_update(fd, key or b"", val, flags)
        except OSError as e:
            raise CmdError(f"update failed: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_delete(ctx: Ctx, args: list[str]) -> int:
    fds, rest = select_fds(args, allow_many=False)
    fd = fds[0]
    try:
        info = objinfo.map_info(fd)
        key, _v, _r = _parse_kv(info, rest, False)
        try:
            if not sc.map_delete(fd, key or b""):
                raise CmdError("delete failed: No such file or directory")
        except OSError as e:
            raise CmdError(f"delete failed: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_getnext(ctx: Ctx, args: list[str]) -> int:
    fds, rest = select_fds(args, allow_many=False)
    fd = fds[0]
    try:
        info = objinfo.map_info(fd)
        key, _v, _r = _parse_kv(info, rest, False)
        nxt = sc.map_get_next_key(fd, key, info.key_size)
        if nxt is None:
            raise CmdError("can't get next key: No such file or directory")
    finally:
        os.close(fd)
    if ctx.json:
        w = ctx.writer()
        w.value({"key": hex_json(key) if key is not None else None, "next_key": hex_json(nxt)})
        w.finish()
    else:
        ctx.p("key:\n" + hex_bytes(key) if key is not None else "key: None")
        ctx.p("next key:\n" + hex_bytes(nxt))
    return 0


def cmd_pin(ctx: Ctx, args: list[str]) -> int:
    fds, rest = select_fds(args, allow_many=False)
    if not rest:
        raise CmdError("expected path")
    try:
        sc.obj_pin(fds[0], rest[0])
    except OSError as e:
        raise CmdError(f"can't pin the object ({rest[0]}): {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fds[0])
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_freeze(ctx: Ctx, args: list[str]) -> int:
    fds, _ = select_fds(args, allow_many=False)
    try:
        sc.map_freeze(fds[0])
    except OSError as e:
        raise CmdError(f"failed to freeze map: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fds[0])
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_create(ctx: Ctx, args: list[str]) -> int:
    """map create FILE type TYPE key SIZE value SIZE entries N name NAME [flags F]."""
    if not args:
        raise CmdError("too few parameters for map create")
    path, words = args[0], args[1:]
    kw: dict[str, str] = {}
    it = iter(words)
    for w in it:
        v = next(it, None)
        if v is None:
            raise CmdError(f"missing value for {w}")
        kw[w] = v
    for need in ("type", "key", "value", "entries", "name"):
        if need not in kw:
            raise CmdError(f"map {need} not specified" if need != "entries" else "map entries not specified")
    mtype = MAP_TYPE_BY_NAME.get(kw["type"])
    if mtype is None:
        raise CmdError(f"unrecognized map type: {kw['type']}")
    sizes: list[int] = []
    for word, what in (("key", "key size"), ("value", "value size"), ("entries", "max entries"),
                       ("flags", "flags")):
        size = parse_uint(kw.get(word, "0"))
        if size is None:
            raise CmdError(f"can't parse {kw[word]} as {what}")
        sizes.append(size)
    try:
        fd = sc.map_create(mtype, sizes[0], sizes[1], sizes[2], sizes[3], kw["name"])
    except OSError as e:
        raise CmdError(f"map create failed: {os.strerror(e.errno or 0)}") from None
    try:
        sc.obj_pin(fd, path)
    except OSError as e:
        raise CmdError(f"can't pin the object ({path}): {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] in ("show", "list"):
        return cmd_show(ctx, args[1:])
    cmds = {"dump": cmd_dump, "lookup": cmd_lookup, "update": cmd_update, "delete": cmd_delete,
            "getnext": cmd_getnext, "pin": cmd_pin, "create": cmd_create, "freeze": cmd_freeze}
    fn = cmds.get(args[0])
    if fn is None:
        raise CmdError(f"unknown command '{args[0]}'")
    return fn(ctx, args[1:])
