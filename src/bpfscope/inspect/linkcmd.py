"""`bpfscope link ...`: list/show, pin, detach (bpftool 7.1's layout)."""

from __future__ import annotations

import os

from ..kernel import objinfo, uapi
from ..kernel import syscall as sc
from .common import ATTACH_TYPES, LINK_TYPES, PROG_TYPES, CmdError, Ctx, bpffs_pins, open_pinned, parse_id
from .jsonw import JsonWriter


def select_fd(args: list[str]) -> tuple[int, list[str]]:
    if len(args) < 2 or args[0] not in ("id", "pinned"):
        raise CmdError("expected 'id' or 'pinned', got: " + " ".join(args[:1]))
    if args[0] == "pinned":
        return open_pinned(args[1], "link"), args[2:]
    try:
        return objinfo.fd_by_id("link", parse_id(args[1])), args[2:]
    except OSError as e:
        raise CmdError(f"failed to get link ({args[1]}): {os.strerror(e.errno or 0)}") from None


def _prog_type(prog_id: int) -> int | None:
    try:
        fd = objinfo.fd_by_id("prog", prog_id)
    except OSError:
        return None
    try:
        return objinfo.prog_info(fd).type
    finally:
        os.close(fd)


def _attach(t: int) -> str:
    name = ATTACH_TYPES.get(t)
    return f"attach_type {name}  " if name else f"attach_type {t}  "


def _plain(ctx: Ctx, li: objinfo.LinkInfo, pins: dict[int, list[str]]) -> None:
    t = LINK_TYPES.get(li.type)
    s = f"{li.id}: " + (f"{t}  " if t else f"type {li.type}  ") + f"prog {li.prog_id}  "
    if li.type == uapi.BPF_LINK_TYPE_RAW_TRACEPOINT:
        s += f"\n\ttp '{li.tp_name}'  "
    elif li.type == uapi.BPF_LINK_TYPE_TRACING:
        pt = _prog_type(li.prog_id)
        if pt is not None:
            name = PROG_TYPES.get(pt)
            s += f"\n\tprog_type {name}  " if name else f"\n\tprog_type {pt}  "
            s += _attach(li.attach_type)
    elif li.type == uapi.BPF_LINK_TYPE_CGROUP:
        s += f"\n\tcgroup_id {li.cgroup_id}  " + _attach(li.attach_type)
    elif li.type == uapi.BPF_LINK_TYPE_NETNS:
        s += f"\n\tnetns_ino {li.netns_ino}  " + _attach(li.attach_type)
    for p in pins.get(li.id, []):
        s += f"\n\tpinned {p}"
    ctx.p(s)


def _json(w: JsonWriter, li: objinfo.LinkInfo, pins: dict[int, list[str]]) -> None:
    w.start_object()
    w.field("id", li.id)
    t = LINK_TYPES.get(li.type)
    w.field("type", t if t else li.type)
    w.field("prog_id", li.prog_id)
    if li.type == uapi.BPF_LINK_TYPE_RAW_TRACEPOINT:
        w.field("tp_name", li.tp_name)
    elif li.type == uapi.BPF_LINK_TYPE_TRACING:
        pt = _prog_type(li.prog_id)
        if pt is not None:
            w.field("prog_type", PROG_TYPES.get(pt, pt))
            w.field("attach_type", ATTACH_TYPES.get(li.attach_type, li.attach_type))
    elif li.type == uapi.BPF_LINK_TYPE_CGROUP:
        w.field("cgroup_id", li.cgroup_id)
        w.field("attach_type", ATTACH_TYPES.get(li.attach_type, li.attach_type))
    elif li.type == uapi.BPF_LINK_TYPE_NETNS:
        w.field("netns_ino", li.netns_ino)
        w.field("attach_type", ATTACH_TYPES.get(li.attach_type, li.attach_type))
    if li.id in pins:
        w.field("pinned", pins[li.id])
    w.end_object()


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    fds: list[int] = []
    if args:
        fds.append(select_fd(args)[0])
    else:
        for lid in objinfo.iter_ids("link"):
            try:
                fds.append(objinfo.fd_by_id("link", lid))
            except OSError:
                continue
    pins = bpffs_pins("link") if ctx.bpffs else {}
    w = ctx.writer() if ctx.json else None
    if w and not args:
        w.start_array()
    try:
        for fd in fds:
            li = objinfo.link_info(fd)
            if w:
                _json(w, li, pins)
            else:
                _plain(ctx, li, pins)
    finally:
        for fd in fds:
            os.close(fd)
    if w:
        if not args:
            w.end_array()
        w.finish()
    return 0


def cmd_pin(ctx: Ctx, args: list[str]) -> int:
    fd, rest = select_fd(args)
    try:
        if not rest:
            raise CmdError("expected path")
        sc.obj_pin(fd, rest[0])
    except OSError as e:
        raise CmdError(f"can't pin the object ({rest[0]}): {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_detach(ctx: Ctx, args: list[str]) -> int:
    fd, _ = select_fd(args)
    try:
        sc.link_detach(fd)
    except OSError as e:
        raise CmdError(f"failed link detach: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] in ("show", "list"):
        return cmd_show(ctx, args[1:])
    fns = {"pin": cmd_pin, "detach": cmd_detach}
    if args[0] not in fns:
        raise CmdError(f"unknown command '{args[0]}'")
    return fns[args[0]](ctx, args[1:])
