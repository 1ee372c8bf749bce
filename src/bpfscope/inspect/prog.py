"""`bpfscope prog ...`: list/show, dump xlated|jited, pin, run, load (bpftool's layout)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..kernel import objinfo
from ..kernel import syscall as sc
from . import disasm
from .common import PROG_TYPE_BY_NAME, PROG_TYPES, CmdError, Ctx, boot_time_wall, bpffs_pins, format_boot_time

OBJ_NAME_LEN = 16


# ------------------------------------------------------------------ selecting programs
def select_fds(args: list[str], *, allow_many: bool = True) -> tuple[list[int], list[str]]:
    """Open the programs a bpftool-style selector names: id N | name X | tag T | pinned P."""
    if len(args) < 2:
        raise CmdError("expected 'id', 'name', 'tag' or 'pinned', got: " + " ".join(args))
    how, what, rest = args[0], args[1], args[2:]
    if how == "id":
        try:
            return [objinfo.fd_by_id("prog", int(what, 0))], rest
        except OSError as e:
            raise CmdError(f"get by id ({what}): {os.strerror(e.errno or 0)}") from None
    if how == "pinned":
        try:
            return [sc.obj_get(what)], rest
        except OSError as e:
            raise CmdError(f"bpf obj get ({what}): {os.strerror(e.errno or 0)}") from None
    if how not in ("name", "tag"):
        raise CmdError(f"expected 'id', 'name', 'tag' or 'pinned', got: '{how}'?")
    fds: list[int] = []
    for pid in objinfo.iter_ids("prog"):
        try:
            fd = objinfo.fd_by_id("prog", pid)
        except OSError:
            continue
        info = objinfo.prog_info(fd)
        hit = info.tag.hex() == what.lower() if how == "tag" else info.name == what[: OBJ_NAME_LEN - 1]
        if hit:
            fds.append(fd)
        else:
            os.close(fd)
    if not fds:
        raise CmdError(f"can't find prog with {how} '{what}'" if how == "name" else
                       f"can't find prog with tag {what}")
    if not allow_many and len(fds) > 1:
        for fd in fds:
            os.close(fd)
        raise CmdError(f"several programs match this handle ({how} {what})")
    return fds, rest


def _all_fds() -> Iterator[int]:
    for pid in objinfo.iter_ids("prog"):
        try:
            yield objinfo.fd_by_id("prog", pid)
        except OSError:
            continue


def full_name(info: objinfo.ProgInfo, fd: int) -> str:
    """A 15-char truncated name is replaced by the BTF function name, as bpftool does."""
    if len(info.name) < OBJ_NAME_LEN - 1 or not info.btf_id or not info.nr_func_info:
        return info.name
    try:
        det = objinfo.prog_info(fd, detail=True)
        funcs = disasm.parse_func_info(det.func_info, det.func_info_rec_size)
        if not funcs:
            return info.name
        from ..kernel.btf import Btf

        btf = Btf.from_bytes(objinfo.btf_data_by_id(info.btf_id))
        t = btf.get(funcs[0][1])
        return t.name if t.kind == "func" and t.name else info.name
    except (OSError, Exception):
        return info.name


# ------------------------------------------------------------------ show
def _show_plain(ctx: Ctx, fd: int, info: objinfo.ProgInfo, pins: dict[int, list[str]]) -> None:
    fdi = objinfo.fdinfo(fd)
    tname = PROG_TYPES.get(info.type)
    head = f"{info.id}: " + (f"{tname}  " if tname else f"type {info.type}  ")
    if info.name:
        head += f"name {full_name(info, fd)}  "
    head += f"tag {info.tag.hex()}"
    if info.gpl_compatible:
        head += "  gpl"
    if info.run_time_ns:
        head += f" run_time_ns {info.run_time_ns} run_cnt {info.run_cnt}"
    if info.recursion_misses:
        head += f" recursion_misses {info.recursion_misses}"
    ctx.p(head)
    if info.load_time:
        ctx.p(f"\tloaded_at {format_boot_time(info.load_time)}  uid {info.created_by_uid}")
    line = f"\txlated {info.xlated_prog_len}B"
    line += f"  jited {info.jited_prog_len}B" if info.jited_prog_len else "  not jited"
    if "memlock" in fdi:
        line += f"  memlock {fdi['memlock']}B"
    if info.map_ids:
        line += "  map_ids " + ",".join(str(m) for m in info.map_ids)
    for path in pins.get(info.id, []):
        line += f"\n\tpinned {path}"
    if info.btf_id:
        line += f"\n\tbtf_id {info.btf_id}"
    ctx.p(line)


def _show_json(ctx: Ctx, w: object, fd: int, info: objinfo.ProgInfo, pins: dict[int, list[str]]) -> None:
    from .jsonw import JsonWriter

    assert isinstance(w, JsonWriter)
    fdi = objinfo.fdinfo(fd)
    w.start_object()
    w.field("id", info.id)
    tname = PROG_TYPES.get(info.type)
    w.field("type", tname if tname else info.type)
    if info.name:
        w.field("name", full_name(info, fd))
    w.field("tag", info.tag.hex())
    w.field("gpl_compatible", info.gpl_compatible)
    if info.run_time_ns:
        w.field("run_time_ns", info.run_time_ns)
        w.field("run_cnt", info.run_cnt)
    if info.recursion_misses:
        w.field("recursion_misses", info.recursion_misses)
    if info.load_time:
        w.field("loaded_at", boot_time_wall(info.load_time))
        w.field("uid", info.created_by_uid)
    w.field("bytes_xlated", info.xlated_prog_len)
    w.field("jited", bool(info.jited_prog_len))
    if info.jited_prog_len:
        w.field("bytes_jited", info.jited_prog_len)
    if "memlock" in fdi:
        w.field("bytes_memlock", int(fdi["memlock"]))
    if info.map_ids:
        w.field("map_ids", info.map_ids)
    if info.btf_id:
        w.field("btf_id", info.btf_id)
    if info.id in pins:
        w.field("pinned", pins[info.id])
    w.end_object()


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    fds = select_fds(args)[0] if args else list(_all_fds())
    pins = bpffs_pins("prog") if ctx.bpffs else {}
    w = ctx.writer() if ctx.json else None
    many = not args or len(fds) > 1
    if w and many:
        w.start_array()
    try:
        for fd in fds:
            info = objinfo.prog_info(fd)
            if w:
                _show_json(ctx, w, fd, info, pins)
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


# ------------------------------------------------------------------ dump
def _annotations(info: objinfo.ProgInfo) -> disasm.Annotations | None:
    if not info.btf_id or not (info.func_info or info.line_info):
        return None
    try:
        from ..kernel.btf import Btf

        btf = Btf.from_bytes(objinfo.btf_data_by_id(info.btf_id))
    except Exception:
        return None
    from .btffmt import func_signature

    return disasm.Annotations(strings=btf.string, func_proto=lambda tid: func_signature(btf, tid),
                              funcs=disasm.parse_func_info(info.func_info, info.func_info_rec_size),
                              lines=disasm.parse_line_info(info.line_info, info.line_info_rec_size))


def cmd_dump(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] not in ("xlated", "jited"):
        raise CmdError("expected 'xlated' or 'jited', got: " + (args[0] if args else "nothing"))
    kind = args[0]
    fds, rest = select_fds(args[1:], allow_many=False)
    fd = fds[0]
    try:
        info = objinfo.prog_info(fd, detail=True)
    finally:
        os.close(fd)
    opts = set(rest)
    file_out = None
    if "file" in rest:
        file_out = rest[rest.index("file") + 1]
    if kind == "jited":
        from .jited import dump_jited

        return dump_jited(ctx, info, "opcodes" in opts, "linum" in opts)
    if not info.xlated:
        raise CmdError("no instructions returned")
    if file_out:
        with open(file_out, "wb") as f:
            f.write(info.xlated)
        return 0
    dctx = disasm.DumpContext(disasm.KernelSyms(), info.jited_ksyms)
    ann = _annotations(info)
    if "visual" in opts:
        raise CmdError("'visual' (DOT control-flow graph) output is not implemented yet")
    if ctx.json:
        w = ctx.writer()
        w.value(disasm.dump_json(info.xlated, dctx, "opcodes" in opts, "linum" in opts, ann))
        w.finish()
    else:
        for line in disasm.dump_plain(info.xlated, dctx, "opcodes" in opts, "linum" in opts, ann):
            ctx.p(line)
    return 0


# ------------------------------------------------------------------ pin / run / load
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


def cmd_run(ctx: Ctx, args: list[str]) -> int:
    """prog run PROG [data_in FILE] [ctx_in FILE] [repeat N]: BPF_PROG_TEST_RUN."""
    fds, rest = select_fds(args, allow_many=False)
    data_in = b""
    ctx_in = b""
    repeat = 1
    it = iter(rest)
    for word in it:
        val = next(it, None)
        if val is None:
            raise CmdError(f"missing value for {word}")
        if word == "data_in":
            data_in = open(val, "rb").read() if val != "-" else os.read(0, 1 << 20)
        elif word == "ctx_in":
            ctx_in = open(val, "rb").read()
        elif word == "repeat":
            repeat = int(val, 0)
        else:
            raise CmdError(f"unknown keyword {word}")
    try:
        retval, duration = sc.prog_test_run(fds[0], ctx_in=ctx_in, data_in=data_in, repeat=repeat)
    except OSError as e:
        raise CmdError(f"failed to run program: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fds[0])
    if ctx.json:
        w = ctx.writer()
        w.value({"retval": retval, "duration": duration})
        w.finish()
    else:
        ctx.p(f"Return value: {retval}, duration{' (average)' if repeat > 1 else ''}: {duration}ns")
    return 0


def cmd_load(ctx: Ctx, args: list[str], autoattach_default: bool = False) -> int:
    """prog load OBJ PATH [type T] [pinmaps DIR] [autoattach]: load a clang-built object."""
    if len(args) < 2:
        raise CmdError("expected OBJ and PATH")
    obj_path, pin_path, rest = args[0], args[1], args[2:]
    prog_type: int | None = None
    pinmaps: str | None = None
    autoattach = autoattach_default
    it = iter(rest)
    for word in it:
        if word == "type":
            t = next(it, "")
            if t not in PROG_TYPE_BY_NAME:
                raise CmdError(f"unrecognized program type: {t}")
            prog_type = PROG_TYPE_BY_NAME[t]
        elif word == "pinmaps":
            pinmaps = next(it, None)
        elif word == "autoattach":
            autoattach = True
        else:
            raise CmdError(f"expected no more arguments, 'type', 'pinmaps' or 'autoattach', got: '{word}'?")
    try:
        from ..kernel.bpfobj import BpfObject  # type: ignore[import-not-found]
    except ImportError:
        raise CmdError("loading object files is not supported yet") from None

    obj = BpfObject.open(obj_path)
    if prog_type is not None:
        for p in obj.programs:
            p.prog_type = prog_type
    try:
        obj.load()
    except OSError as e:
        log = getattr(e, "log", "")
        raise CmdError(f"failed to load object file: {e}\n{log}".rstrip()) from None
    try:
        if autoattach:
            os.makedirs(pin_path, exist_ok=True)
            for p in obj.programs:
                link_fd = obj.attach(p)
                sc.obj_pin(link_fd, os.path.join(pin_path, p.name))
        else:
            first = obj.programs[0]
            sc.obj_pin(first.fd, pin_path)
        if pinmaps:
            os.makedirs(pinmaps, exist_ok=True)
            for m in obj.maps:
                sc.obj_pin(m.fd, os.path.join(pinmaps, m.name))
    except OSError as e:
        raise CmdError(f"failed to pin: {e}") from None
    finally:
        obj.close()
    if ctx.json:
        ctx.p("null")
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] in ("show", "list"):
        return cmd_show(ctx, args[1:])
    cmd, rest = args[0], args[1:]
    if cmd == "dump":
        return cmd_dump(ctx, rest)
    if cmd == "pin":
        return cmd_pin(ctx, rest)
    if cmd == "run":
        return cmd_run(ctx, rest)
    if cmd in ("load", "loadall"):
        return cmd_load(ctx, rest)
    if cmd == "help":
        ctx.p("Usage: bpfscope prog { show | list } [PROG]\n"
              "       bpfscope prog dump xlated PROG [{ file FILE | opcodes | visual | linum }]\n"
              "       bpfscope prog dump jited  PROG [{ file FILE | opcodes | linum }]\n"
              "       bpfscope prog pin   PROG FILE\n"
              "       bpfscope prog run   PROG [data_in FILE] [ctx_in FILE] [repeat N]\n"
              "       bpfscope prog load  OBJ  PATH [type TYPE] [pinmaps DIR] [autoattach]\n"
              "       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }")
        return 0
    raise CmdError(f"unknown command '{cmd}'")
