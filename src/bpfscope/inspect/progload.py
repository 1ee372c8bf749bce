"""`bpfscope prog load|loadall OBJ PATH [type T] [map {idx I|name N} MAP] [pinmaps DIR] [autoattach]`.

bpftool's semantics: every program of the object is loaded; `load` pins the first one at
PATH (with `autoattach`: attaches it and pins the *link* there instead), `loadall` pins
each program (or link) at PATH/<program name>; `pinmaps` pins every map at DIR/<name>
with dots turned into underscores. A program whose section names no attach point falls
back to pinning the program, with bpftool's notice on stderr. Success prints nothing
(`null` with -j).
"""

from __future__ import annotations

import os
import sys

from ..kernel import syscall as sc
from .common import CmdError, Ctx

BPF_FS_MAGIC = 0xCAFE4A11


def _on_bpffs(path: str) -> bool:
    try:
        import ctypes

        class _Statfs(ctypes.Structure):
            _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 120)]

        libc = ctypes.CDLL(None, use_errno=True)
        st = _Statfs()
        if libc.statfs(os.fsencode(path), ctypes.byref(st)) != 0:
            return False
        return (st.f_type & 0xFFFFFFFF) == BPF_FS_MAGIC
    except OSError:
        return False


def _check_dir(path: str, create: bool) -> None:
    """The pin directory must be on bpffs (created first for loadall/pinmaps)."""
    if create and not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not _on_bpffs(parent):
            raise CmdError(f"can't create directory {path}: parent is not on a BPF file system (bpffs)")
        try:
            os.mkdir(path)
        except OSError as e:
            raise CmdError(f"can't create directory {path}: {e.strerror}") from None
    if not os.path.isdir(path):
        raise CmdError(f"can't pin under {path}: no such directory")
    if not _on_bpffs(path):
        raise CmdError(f"{path} is not on a BPF file system (bpffs); mount one with "
                       f"'mount -t bpf bpf {path}'")


def _parse(args: list[str]) -> tuple[str, str, dict[str, object]]:
    from ..kernel import bpfsec
    from . import mapcmd

    if len(args) < 2:
        raise CmdError("expected OBJ and PATH")
    opts: dict[str, object] = {"type": None, "maps": [], "pinmaps": None, "autoattach": False}
    rest = args[2:]
    while rest:
        word = rest.pop(0)
        if word == "type":
            if opts["type"] is not None:
                raise CmdError("program type already specified")
            if not rest:
                raise CmdError("'type' needs a program type")
            d = bpfsec.by_type_name(rest[0])
            if d is None:
                raise CmdError(f"failed to guess program type from ELF section '{rest[0]}'")
            opts["type"] = d
            rest.pop(0)
        elif word == "map":
            if len(rest) < 4:
                raise CmdError("'map' needs {idx IDX | name NAME} MAP")
            how, what = rest[0], rest[1]
            if how == "idx":
                try:
                    which: int | str = int(what, 0)
                except ValueError:
                    raise CmdError(f"can't parse {what} as IDX") from None
            elif how == "name":
                which = what
            else:
                raise CmdError(f"expected 'idx' or 'name', got: '{how}'?")
            fds, rest = mapcmd.select_fds(rest[2:], allow_many=False)
            opts["maps"].append((which, fds[0]))  # type: ignore[attr-defined]
        elif word == "pinmaps":
            if not rest:
                raise CmdError("'pinmaps' needs a directory")
            opts["pinmaps"] = rest.pop(0)
        elif word == "autoattach":
            opts["autoattach"] = True
        else:
            raise CmdError(f"expected no more arguments, 'type', 'map' or 'dev', got: '{word}'?")
    return args[0], args[1], opts


def _pin_one(obj: object, prog: object, path: str, autoattach: bool) -> None:
    from ..kernel.bpfobj import BpfObject, BpfProgram

    assert isinstance(obj, BpfObject) and isinstance(prog, BpfProgram)
    if autoattach:
        try:
            link = obj.attach(prog)
        except OSError as e:
            raise CmdError(f"failed to attach program {prog.name}: {e.strerror or e}") from None
        if link is not None:
            try:
                sc.obj_pin(link, path)
            finally:
                os.close(link)
            return
        print(f"Program {prog.name} does not support autoattach, falling back to pinning", file=sys.stderr)
    sc.obj_pin(prog.fd, path)


def cmd_load(ctx: Ctx, args: list[str], first_only: bool) -> int:
    from ..kernel.bpfobj import BpfObject, ObjError

    obj_path, pin_path, opts = _parse(args)
    reuse = opts["maps"]
    assert isinstance(reuse, list)
    try:
        try:
            obj = BpfObject.open(obj_path)
        except ObjError as e:
            raise CmdError(f"failed to open object file: {e}") from None
        try:
            _load_and_pin(ctx, obj, pin_path, opts, first_only)
        finally:
            obj.close()
    finally:
        for _, fd in reuse:
            os.close(fd)
    if ctx.json:
        ctx.p("null")
    return 0


def _load_and_pin(ctx: Ctx, obj: object, pin_path: str, opts: dict[str, object], first_only: bool) -> None:
    from ..kernel.bpfobj import BpfObject, ObjError

    assert isinstance(obj, BpfObject)
    try:
        if opts["type"] is not None:
            for p in obj.programs:
                obj.set_type(p, opts["type"])  # type: ignore[arg-type]
        for which, fd in opts["maps"]:  # type: ignore[attr-defined]
            obj.reuse_map(which, fd)
        obj.load()
    except ObjError as e:
        if e.log:
            sys.stderr.write(e.log.rstrip("\n") + "\n")
        sys.stderr.write(f"{e}\n")
        raise CmdError("failed to load object file") from None
    if not obj.programs:
        raise CmdError("object file doesn't contain any bpf program")
    pinned: list[str] = []
    try:
        if first_only:
            _check_dir(os.path.dirname(os.path.abspath(pin_path)), create=False)
            prog = obj.programs[0]
            try:
                _pin_one(obj, prog, pin_path, bool(opts["autoattach"]))
            except OSError as e:
                raise CmdError(f"failed to pin program {prog.sec_name}: {os.strerror(e.errno or 0)}") from None
            pinned.append(pin_path)
        else:
            _check_dir(pin_path, create=True)
            for prog in obj.programs:
                path = os.path.join(pin_path, prog.name)
                try:
                    _pin_one(obj, prog, path, bool(opts["autoattach"]))
                except OSError as e:
                    raise CmdError(f"failed to pin all programs: {prog.name}: "
                                   f"{os.strerror(e.errno or 0)}") from None
                pinned.append(path)
        mapdir = opts["pinmaps"]
        if mapdir:
            assert isinstance(mapdir, str)
            _check_dir(mapdir, create=True)
            for m in obj.maps:
                try:
                    sc.obj_pin(m.fd, os.path.join(mapdir, m.pin_name))
                except OSError as e:
                    raise CmdError(f"failed to pin all maps: {m.name}: {os.strerror(e.errno or 0)}") from None
                pinned.append(os.path.join(mapdir, m.pin_name))
    except BaseException:
        for pin in pinned:  # as bpftool: no half-pinned object is left behind
            try:
                os.unlink(pin)
            except OSError:
                pass
        raise
