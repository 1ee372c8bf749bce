"""`bpfscope cgroup { show | list } CGROUP [effective]`, `cgroup tree [ROOT] [effective]`,
`cgroup attach CGROUP ATTACH_TYPE PROG [multi|override]`, `cgroup detach CGROUP ATTACH_TYPE PROG`.

bpftool 7.1's layout: a `%-8s %-15s %-15s %-15s` table (ID, AttachType, AttachFlags, Name);
`tree` walks the cgroup v2 hierarchy (pre-order, one file system) and prints each cgroup
that has programs, its rows indented by four blanks below the root.
"""

from __future__ import annotations

import errno
import os

from ..kernel import objinfo, uapi
from ..kernel import syscall as sc
from .common import ATTACH_TYPES, CmdError, Ctx
from .jsonw import error_object

BPF_F_ALLOW_OVERRIDE, BPF_F_ALLOW_MULTI, BPF_F_QUERY_EFFECTIVE = 1, 2, 1
MAX_ATTACH_TYPE = max(v for k, v in vars(uapi).items()
                      if isinstance(v, int) and k.startswith("BPF_") and v in ATTACH_TYPES) + 1
HEADER = f"{'ID':<8} {'AttachType':<15} {'AttachFlags':<15} {'Name':<15}"


def _flags_str(flags: int) -> str:
    return {BPF_F_ALLOW_MULTI: "multi", BPF_F_ALLOW_OVERRIDE: "override", 0: ""}.get(flags, f"unknown({flags:x})")


def _attached(fd: int, query: int, path: str) -> list[tuple[int, int, str]]:
    """(attach type, prog id, flags string) of every program on the cgroup fd.

    EINVAL only says an attach type cannot be queried; any other error (EBADF: the path is not a
    cgroup) fails as bpftool's does, which also stops `cgroup tree /` walking a whole file system."""
    out = []
    for t in range(MAX_ATTACH_TYPE):
        try:
            ids, flags, pflags = sc.prog_query(fd, t, 1024, query)
        except OSError as e:
            if e.errno == errno.EINVAL:
                continue
            raise CmdError(f"can't query bpf programs attached to {path}: {os.strerror(e.errno or 0)}") from None
        out += [(t, pid, _flags_str(pf or flags)) for pid, pf in zip(ids, pflags, strict=True)]
    return out


_vmlinux: list[object] = []


def _attach_btf_name(type_id: int) -> str | None:
    """What bpftool 7.1 shows after the name: the vmlinux type of attach_btf_id ("" for 0)."""
    if not _vmlinux:
        try:
            from ..kernel.btf import Btf

            _vmlinux.append(Btf.vmlinux())
        except Exception:
            _vmlinux.append(None)
    vm = _vmlinux[0]
    if vm is None:
        return None
    from ..kernel.btf import Btf

    assert isinstance(vm, Btf)
    if type_id >= vm.end_id:
        return None
    return vm.get(type_id).name if type_id else ""


def _rows(ctx: Ctx, progs: list[tuple[int, int, str]], level: int, effective: bool) -> list[dict[str, object]]:
    js = []
    for t, pid, flags in progs:
        try:
            fd = objinfo.fd_by_id("prog", pid)
        except OSError:
            continue
        try:
            info = objinfo.prog_info(fd)
            from .prog import full_name

            name = full_name(info, fd)
        finally:
            os.close(fd)
        tname = ATTACH_TYPES.get(t)
        btf_name = _attach_btf_name(info.attach_btf_id)
        if ctx.json:
            row: dict[str, object] = {"id": info.id, "attach_type": tname if tname else t}
            if not effective:
                row["attach_flags"] = flags
            row["name"] = name
            if btf_name is not None:
                row["attach_btf_name"] = btf_name
            row["attach_btf_obj_id"] = info.attach_btf_obj_id
            row["attach_btf_id"] = info.attach_btf_id
            js.append(row)
            continue
        line = f"{'    ' if level else ''}{info.id:<8} " + (f"{tname:<15}" if tname else f"type {t:<10}")
        line += f" {name:<15}" if effective else f" {flags:<15} {name:<15}"
        if btf_name is not None:
            line += f" {btf_name:<15}"
        elif info.attach_btf_id:
            line += f" attach_btf_obj_id={info.attach_btf_obj_id} attach_btf_id={info.attach_btf_id}"
        ctx.p(line)
    return js


def _header(effective: bool) -> str:
    if effective:
        return f"{'ID':<8} {'AttachType':<15} {'Name':<15}"
    return HEADER


def _query_flags(words: list[str]) -> int:
    q = 0
    for w in words:
        if w != "effective":
            raise CmdError(f"expected no more arguments, 'effective', got: '{w}'?")
        if q:
            raise CmdError(f"duplicated argument: {w}")
        q = BPF_F_QUERY_EFFECTIVE
    return q


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        raise CmdError(f"can't open cgroup {path}") from None


def cmd_show(ctx: Ctx, args: list[str]) -> int:
    if not args:
        raise CmdError("'cgroup show' needs a CGROUP path")
    q = _query_flags(args[1:])
    fd = _open(args[0])
    try:
        progs = _attached(fd, q, args[0])
    finally:
        os.close(fd)
    if not progs:
        return 0
    if ctx.json:
        w = ctx.writer()
        w.value(_rows(ctx, progs, 0, bool(q)))
        w.finish()
        return 0
    ctx.p(_header(bool(q)))
    _rows(ctx, progs, 0, bool(q))
    return 0


def find_cgroup_root() -> str | None:
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1].replace("\\040", " ")
    except OSError:
        pass
    return None


def _on_dev(path: str, dev: int) -> bool:
    """Below the same mount (bpftool does not cross into other file systems); False if gone."""
    try:
        return os.lstat(path).st_dev == dev
    except OSError:
        return False


def cmd_tree(ctx: Ctx, args: list[str]) -> int:
    if args:
        root, q = args[0], _query_flags(args[1:])
    else:
        found = find_cgroup_root()
        if found is None:
            raise CmdError("cgroup v2 isn't mounted")
        root, q = found, 0
    if not os.path.isdir(root):
        raise CmdError(f"can't iterate over {root}: {os.strerror(2)}")
    dev = os.stat(root).st_dev
    tree: list[object] = []
    if not ctx.json:
        ctx.p("CgroupPath")
        ctx.p(_header(bool(q)))
    for dirpath, dirs, _files in os.walk(root):
        dirs[:] = [d for d in dirs if _on_dev(os.path.join(dirpath, d), dev)]
        level = 0 if dirpath == root else dirpath[len(root):].strip("/").count("/") + 1
        try:
            fd = os.open(dirpath, os.O_RDONLY)
        except FileNotFoundError:  # removed while we walked (a cgroup of a process that ended)
            continue
        except OSError as e:
            raise CmdError(f"can't open cgroup {dirpath}: {e.strerror}") from None
        try:
            progs = _attached(fd, q, dirpath)
        except CmdError as e:
            if not ctx.json:
                raise
            tree.append(error_object(str(e)))   # bpftool has opened the array: the error is its element
            _write_json(ctx, tree)
            return 255
        finally:
            os.close(fd)
        if not progs:
            continue
        if ctx.json:
            tree.append({"cgroup": dirpath, "programs": _rows(ctx, progs, level, bool(q))})
        else:
            ctx.p(dirpath)
            _rows(ctx, progs, level, bool(q))
    if ctx.json:
        _write_json(ctx, tree)
    return 0


def _write_json(ctx: Ctx, value: object) -> None:
    w = ctx.writer()
    w.value(value)
    w.finish()


# bpftool's traditional short spellings, matched by prefix after the exact libbpf names
LEGACY_NAMES = {"ingress": 0, "egress": 1, "sock_create": 2, "sock_ops": 3, "device": 6, "bind4": 8,
                "bind6": 9, "connect4": 10, "connect6": 11, "post_bind4": 12, "post_bind6": 13,
                "sendmsg4": 14, "sendmsg6": 15, "sysctl": 18, "recvmsg4": 19, "recvmsg6": 20,
                "getsockopt": 21, "setsockopt": 22, "getpeername4": 29, "getpeername6": 30,
                "getsockname4": 31, "getsockname6": 32, "sock_release": 34}


def _attach_type(word: str) -> int:
    for t, name in ATTACH_TYPES.items():
        if name == word:
            return t
    for name, t in LEGACY_NAMES.items():
        if word and name.startswith(word):
            return t
    raise CmdError("invalid attach type")


def cmd_attach(ctx: Ctx, args: list[str], detach: bool = False) -> int:
    from .prog import select_fds

    if len(args) < 4:
        raise CmdError(f"too few parameters for cgroup {'detach' if detach else 'attach'}")
    cg = _open(args[0])
    try:
        atype = _attach_type(args[1])
        fds, rest = select_fds(args[2:], allow_many=False)
        try:
            flags = 0
            for w in rest:
                if detach:
                    raise CmdError(f"unexpected argument '{w}'")
                if "multi".startswith(w):
                    flags |= BPF_F_ALLOW_MULTI
                elif "override".startswith(w):
                    flags |= BPF_F_ALLOW_OVERRIDE
                else:
                    raise CmdError(f"unknown option: {w}")
            try:
                if detach:
                    sc.prog_detach(fds[0], cg, atype)
                else:
                    sc.prog_attach(fds[0], cg, atype, flags)
            except OSError as e:
                raise CmdError(f"failed to {'detach' if detach else 'attach'} program: "
                               f"{os.strerror(e.errno or 0)}") from None
        finally:
            os.close(fds[0])
    finally:
        os.close(cg)
    if ctx.json:
        ctx.p("null")
    return 0


def main(ctx: Ctx, args: list[str]) -> int:
    if not args or args[0] == "help":
        ctx.p("Usage: bpfscope cgroup { show | list } CGROUP [effective]\n"
              "       bpfscope cgroup tree [CGROUP_ROOT] [effective]\n"
              "       bpfscope cgroup attach CGROUP ATTACH_TYPE PROG [ATTACH_FLAGS]\n"
              "       bpfscope cgroup detach CGROUP ATTACH_TYPE PROG\n"
              "       ATTACH_FLAGS := { multi | override }")
        return 0 if args else 255
    cmd, rest = args[0], args[1:]
    if cmd in ("show", "list"):
        return cmd_show(ctx, rest)
    if cmd == "tree":
        return cmd_tree(ctx, rest)
    if cmd in ("attach", "detach"):
        return cmd_attach(ctx, rest, cmd == "detach")
    raise CmdError(f"unknown command '{cmd}'")
