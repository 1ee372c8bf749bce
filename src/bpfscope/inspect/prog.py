"""`bpfscope prog ...`: list/show, dump xlated|jited, pin, run, load (bpftool's layout)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..kernel import objinfo
from ..kernel import syscall as sc
from . import disasm
from .common import PROG_TYPES, CmdError, Ctx, boot_time_wall, bpffs_pins, format_boot_time, open_pinned, parse_id
from .disasm import prog_annotations as _annotations

OBJ_NAME_LEN = 16


# ------------------------------------------------------------------ selecting programs
def select_fds(args: list[str], *, allow_many: bool = True) -> tuple[list[int], list[str]]:
    """Open the programs a bpftool-style selector names: id N | name X | tag T | pinned P."""
    if len(args) < 2:
        raise CmdError("expected 'id', 'name', 'tag' or 'pinned', got: " + " ".join(args))
    how, what, rest = args[0], args[1], args[2:]
    if how == "id":
        try:
            return [objinfo.fd_by_id("prog", parse_id(what))], rest
        except OSError as e:
            raise CmdError(f"get by id ({what}): {os.strerror(e.errno or 0)}") from None
    if how == "pinned":
        return [open_pinned(what, "prog")], rest
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
def cmd_dump(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] not in ("xlated", "jited"):
        raise CmdError("expected 'xlated' or 'jited', got: " + (args[0] if args else "nothing"))
    kind = args[0]
    fds, rest = select_fds(args[1:], allow_many=False)
    fd = fds[0]
    opts = set(rest)
    file_out = None
    if "file" in rest:
        file_out = rest[rest.index("file") + 1]
    try:
        info = objinfo.prog_info(fd, detail=True)
        if kind == "jited":
            if file_out:
                if not info.jited:
                    raise CmdError("no instructions returned")
                with open(file_out, "wb") as f:
                    f.write(info.jited)
                return 0
            from .jited import dump_jited

            return dump_jited(ctx, info, "opcodes" in opts, "linum" in opts, fd)
    finally:
        os.close(fd)
    if not info.xlated:
        raise CmdError("no instructions returned")
    if file_out:
        with open(file_out, "wb") as f:
            f.write(info.xlated)
        return 0
    dctx = disasm.DumpContext(disasm.KernelSyms(), info.jited_ksyms)
    ann = _annotations(info)
    if "visual" in opts:  # DOT graph (bpftool prints `null` for it under -j)
        if ctx.json:
            ctx.p("null")
            return 0
        from .visual import render

        ctx.p(render(info.xlated, disasm.DumpContext(dctx.ksyms), ann, "opcodes" in opts, "linum" in opts),
              end="")
        return 0
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


_RUN_WORDS = ("data_in", "data_out", "data_size_out", "ctx_in", "ctx_out", "ctx_size_out", "repeat")


def _run_input(name: str | None) -> bytes:
    if name is None:
        return b""
    if name == "-":
        import sys

        return sys.stdin.buffer.read()
    try:
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        raise CmdError(f"failed to open {name}: {e.strerror}") from None


def hex_print(data: bytes) -> list[str]:
    """bpftool's run-output dump: offset, 8 byte pairs, then the printable characters."""
    out = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        line = f"{i:07x}\t"
        for j in range(16):
            if j < len(row):
                line += f"{row[j]:02x}" + (" " if j % 2 else "")
            else:
                line += "  " + (" " if j % 2 else "")
        line += "| "
        for j, b in enumerate(row):
            line += (chr(b) if 32 <= b <= 126 else ".") + (" " if j == 7 else "")
        out.append(line)
    return out


def cmd_run(ctx: Ctx, args: list[str]) -> int:
    """prog run PROG [data_in F] [data_out F] [data_size_out N] [ctx_in F] [ctx_out F]
    [ctx_size_out N] [repeat N]: BPF_PROG_TEST_RUN, printed as bpftool does."""
    if len(args) < 4:
        raise CmdError("'prog run' needs PROG and at least one of data_in/ctx_in")
    fds, rest = select_fds(args, allow_many=False)
    try:
        opt: dict[str, str] = {}
        while rest:
            word = rest.pop(0)
            if word not in _RUN_WORDS:
                raise CmdError("expected no more arguments, 'data_in', 'data_out', 'data_size_out', 'ctx_in', "
                               f"'ctx_out', 'ctx_size_out' or 'repeat', got: '{word}'?")
            if not rest:
                raise CmdError(f"'{word}' needs a value")
            opt[word] = rest.pop(0)
        if opt.get("data_in") == "-" and opt.get("ctx_in") == "-":
            raise CmdError("cannot use standard input for both data_in and ctx_in")
        nums = {}
        for k, what in (("data_size_out", "output data size"), ("ctx_size_out", "output context size"),
                        ("repeat", "repeat number")):
            try:
                nums[k] = int(opt[k], 0) if k in opt else (1 if k == "repeat" else 0)
            except ValueError:
                raise CmdError(f"can't parse {opt[k]} as {what}") from None
        data_in, ctx_in = _run_input(opt.get("data_in")), _run_input(opt.get("ctx_in"))
        dsize = nums["data_size_out"] or (32768 if data_in else 0)
        csize = nums["ctx_size_out"] or (32768 if ctx_in else 0)
        try:
            retval, duration, dout, cout = sc.prog_test_run_io(fds[0], data_in, dsize, ctx_in, csize,
                                                               nums["repeat"])
        except OSError as e:
            raise CmdError(f"failed to run program: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fds[0])
    w = ctx.writer() if ctx.json else None
    if w:
        w.start_object()
    for data, key in ((dout, "data_out"), (cout, "ctx_out")):
        dest = opt.get(key)
        if not data or dest is None:
            continue
        if dest != "-":
            with open(dest, "wb") as f:
                f.write(data)
        elif w:
            w.field(key, list(data))
        else:
            for line in hex_print(data):
                ctx.p(line)
    if w:
        w.field("retval", retval)
        w.field("duration", duration)
        w.end_object()
        w.finish()
    else:
        ctx.p(f"Return value: {retval}, duration{' (average)' if nums['repeat'] > 1 else ''}: {duration}ns")
    return 0


def cmd_load(ctx: Ctx, args: list[str], first_only: bool = True) -> int:
    """prog load|loadall OBJ PATH ...: see inspect.progload."""
    from .progload import cmd_load as load

    return load(ctx, args, first_only)


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
        return cmd_load(ctx, rest, cmd == "load")
    if cmd == "help":
        ctx.p("Usage: bpfscope prog { show | list } [PROG]\n"
              "       bpfscope prog dump xlated PROG [{ file FILE | opcodes | visual | linum }]\n"
              "       bpfscope prog dump jited  PROG [{ file FILE | opcodes | linum }]\n"
              "       bpfscope prog pin   PROG FILE\n"
              "       bpfscope prog run   PROG [data_in FILE] [ctx_in FILE] [repeat N]\n"
              "       bpfscope prog { load | loadall } OBJ  PATH \\\n"
              "                         [type TYPE] [map {idx IDX | name NAME} MAP]\\\n"
              "                         [pinmaps MAP_DIR] [autoattach]\n"
              "       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }")
        return 0
    raise CmdError(f"unknown command '{cmd}'")
