"""`bpfscope net { show | list } [dev NAME]`, `net attach ATTACH_TYPE PROG dev NAME [overwrite]`,
`net detach ATTACH_TYPE dev NAME` — bpftool 7.1's output, through rtnetlink (kernel.netlink).

ATTACH_TYPE is xdp, xdpgeneric, xdpdrv or xdpoffload (the mode flag sent with IFLA_XDP);
without `overwrite` an attach refuses to replace a program already there (EBUSY).
"""

from __future__ import annotations

import os

from ..kernel import netlink as nl
from .common import CmdError, Ctx

ATTACH_TYPES = {"xdp": 0, "xdpgeneric": nl.XDP_FLAGS_SKB_MODE, "xdpdrv": nl.XDP_FLAGS_DRV_MODE,
                "xdpoffload": nl.XDP_FLAGS_HW_MODE}
_MODES = {nl.XDP_ATTACHED_DRV: "driver", nl.XDP_ATTACHED_SKB: "generic", nl.XDP_ATTACHED_HW: "offload"}

USAGE = """Usage: bpfscope net { show | list } [dev <devname>]
       bpfscope net attach ATTACH_TYPE PROG dev <devname> [ overwrite ]
       bpfscope net detach ATTACH_TYPE dev <devname>
       bpfscope net help

       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       ATTACH_TYPE := { xdp | xdpgeneric | xdpdrv | xdpoffload }

Note: Only xdp and tc attachments are supported now."""


def _attach_type(word: str) -> str:
    for name in ATTACH_TYPES:
        if name.startswith(word) and word:
            return name
    raise CmdError(f"invalid net attach/detach type: {word}")


def _dev(args: list[str]) -> tuple[int, list[str]]:
    if not args or args[0] != "dev":
        raise CmdError(f"expected 'dev', got: '{args[0] if args else ''}'?")
    if len(args) < 2:
        raise CmdError("expected a device name after 'dev'")
    idx = nl.ifindex_of(args[1])
    if not idx:
        raise CmdError(f"invalid devname {args[1]}")
    return idx, args[2:]


def _flow_dissector_id() -> int:
    from ..kernel import syscall as sc
    from ..kernel import uapi

    try:
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    except OSError as e:
        raise CmdError(f"can't open /proc/self/ns/net: {e.strerror}") from None
    try:
        ids, _, _ = sc.prog_query(fd, uapi.BPF_FLOW_DISSECTOR, 1)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return ids[0] if ids else 0


def _xdp_entries(link: nl.Link) -> list[tuple[str, int]]:
    x = link.xdp
    if x.mode == nl.XDP_ATTACHED_MULTI:
        return [(m, i) for m, i in (("generic", x.skb_id), ("driver", x.drv_id), ("offload", x.hw_id)) if i]
    if x.mode in _MODES:
        return [(_MODES[x.mode], x.prog_id)]
    return []


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    only = 0
    if args:
        only, rest = _dev(args)
        if rest:
            raise CmdError(f"unexpected argument '{rest[0]}'")
    fd_id = _flow_dissector_id()
    try:
        sock = nl.Netlink()
    except OSError as e:
        raise CmdError(f"failed to open netlink sock: {e.strerror}") from None
    with sock:
        try:
            devs = [d for d in nl.links(sock) if not only or d.ifindex == only]
            tcs = [(d, f) for d in devs for f in nl.tc_filters(sock, d.ifindex)]
        except nl.NlError as e:
            raise CmdError(str(e)) from None
    if ctx.json:
        xdp: list[object] = []
        for d in devs:
            ents = _xdp_entries(d)
            if not ents:
                continue
            o: dict[str, object] = {"devname": d.name, "ifindex": d.ifindex}
            if d.xdp.mode == nl.XDP_ATTACHED_MULTI:
                o["multi_attachments"] = [{"mode": m, "id": i} for m, i in ents]
            else:
                o.update({"mode": ents[0][0], "id": ents[0][1]})
            xdp.append(o)
        tc: list[object] = []
        for d, f in tcs:
            t: dict[str, object] = {"devname": d.name, "ifindex": d.ifindex, "kind": f.kind}
            if f.name:
                t["name"] = f.name
            if f.prog_id:
                t["id"] = f.prog_id
            if f.actions:
                t["act"] = [{"name": n, "id": i} for n, i in f.actions]
            tc.append(t)
        w = ctx.writer()
        w.value([{"xdp": xdp, "tc": tc, "flow_dissector": [{"id": fd_id}] if fd_id else []}])
        w.finish()
        return 0
    ctx.p("xdp:")
    for d in devs:
        ents = _xdp_entries(d)
        if ents:
            ctx.p(f"{d.name}({d.ifindex})" + "".join(f" {m} id {i}" for m, i in ents))
    ctx.p()
    ctx.p("tc:")
    for d, f in tcs:
        line = f"{d.name}({d.ifindex}) {f.kind}"
        if f.name:
            line += f" {f.name}"
        if f.prog_id:
            line += f" id {f.prog_id}"
        if f.actions:
            line += " act [" + "".join(f"{{{n} id {i}}}" for n, i in f.actions) + "] "
        ctx.p(line)
    ctx.p()
    ctx.p("flow_dissector:")
    ctx.p(f"id {fd_id}" if fd_id else "")
    return 0


def cmd_attach(ctx: Ctx, args: list[str]) -> int:
    from .prog import select_fds

    if len(args) < 5:
        raise CmdError("too few parameters for net attach")
    atype = _attach_type(args[0])
    fds, rest = select_fds(args[1:], allow_many=False)
    try:
        ifindex, rest = _dev(rest)
        overwrite = False
        if rest:
            if rest[0] != "overwrite":
                raise CmdError(f"expected 'overwrite', got: '{rest[0]}'?")
            overwrite = True
        flags = ATTACH_TYPES[atype] | (0 if overwrite else nl.XDP_FLAGS_UPDATE_IF_NOEXIST)
        try:
            with nl.Netlink() as sock:
                nl.set_xdp(sock, ifindex, fds[0], flags)
        except OSError as e:
            raise CmdError(f"interface {atype} attach failed: {e.strerror or e}") from None
    finally:
        os.close(fds[0])
    if ctx.json:
        ctx.p("null")
    return 0


def cmd_detach(ctx: Ctx, args: list[str]) -> int:
    if len(args) < 3:
        raise CmdError("too few parameters for net detach")
    atype = _attach_type(args[0])
    ifindex, _rest = _dev(args[1:])
    try:
        with nl.Netlink() as sock:
            nl.set_xdp(sock, ifindex, -1, ATTACH_TYPES[atype] | nl.XDP_FLAGS_UPDATE_IF_NOEXIST)
    except OSError as e:
        raise CmdError(f"interface {atype} detach failed: {e.strerror or e}") from None
    if ctx.json:
        ctx.p("null")
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] in ("show", "list"):
        return cmd_show(ctx, args[1:])
    if args[0] == "attach":
        return cmd_attach(ctx, args[1:])
    if args[0] == "detach":
        return cmd_detach(ctx, args[1:])
    if args[0] == "help":
        ctx.p(USAGE)
        return 0
    raise CmdError(f"unknown command '{args[0]}'")
