"""Entry point of the bpftool-style inspection commands.

`main(["prog", "show"])` etc. Global flags (-j/--json, -p/--pretty, -f/--bpffs)
may appear anywhere, as with bpftool's getopt parsing. Errors print `Error: ...`
(or `{"error": ...}` in JSON mode) and return 255 like bpftool.
"""

from __future__ import annotations

import errno
import sys

from .common import Ctx
from .usage import HELP_WORDS, usage

OBJECTS = ("prog", "map", "btf", "link", "net", "cgroup")

USAGE = """Usage: bpfscope OBJECT { COMMAND | help }
       OBJECT := { prog | map | btf | link | net | cgroup }
       bpfscope bpflist [-v|-vv]
       bpfscope reset-trace [-v] [-F|--force] [-q]
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-f|--bpffs} }"""


def _split_opts(argv: list[str]) -> tuple[dict[str, bool], list[str]]:
    opts = {"json": False, "pretty": False, "bpffs": False}
    rest: list[str] = []
    for a in argv:
        if a in ("-j", "--json"):
            opts["json"] = True
        elif a in ("-p", "--pretty"):
            opts["json"] = opts["pretty"] = True
        elif a in ("-f", "--bpffs"):
            opts["bpffs"] = True
        elif a.startswith("-") and len(a) > 1 and set(a[1:]) <= set("jpf") and not a[1:].isdigit():
            for c in a[1:]:
                opts[{"j": "json", "p": "pretty", "f": "bpffs"}[c]] = True
            if opts["pretty"]:
                opts["json"] = True
        else:
            rest.append(a)
    return opts, rest


def main(argv: list[str]) -> int:
    """Run one inspection command; returns the process exit status."""
    from .common import CmdError

    if argv and argv[0] in ("bpflist", "reset-trace"):
        if argv[0] == "bpflist":
            from .bpflist import main as bpflist_main

            return bpflist_main(argv[1:])
        from .resettrace import main as reset_main

        return reset_main(argv[1:])
    opts, args = _split_opts(argv)
    ctx = Ctx(json=opts["json"], pretty=opts["pretty"], bpffs=opts["bpffs"])
    if not args or args[0] in HELP_WORDS:
        print(USAGE)
        return 0 if args else 255
    obj, rest = args[0], args[1:]
    if obj in OBJECTS and (rest[:1] == ["help"] or "-h" in rest or "--help" in rest):
        print(usage(obj))
        return 0
    # bpftool's net attach/detach fail with -EINVAL (exit 234), everything else with 255
    fail = 234 if obj == "net" and rest[:1] in (["attach"], ["detach"]) else 255
    try:
        if obj in OBJECTS and not _needs_no_privilege(obj, rest):
            from ..privilege import privileged

            if not privileged():
                raise PermissionError(errno.EPERM, "")
        return _dispatch(ctx, obj, rest)
    except CmdError as e:
        _report(ctx, str(e))
        return fail
    except BrokenPipeError:
        return 0
    except OSError as e:  # bpf(2)/netlink refusing an unprivileged user: one plain message
        from ..privilege import denied_message, is_denied

        if not is_denied(e):
            raise
        _report(ctx, denied_message(e))
        return 1


def _needs_no_privilege(obj: str, rest: list[str]) -> bool:
    """`btf dump file F` reads a file; everything else asks the kernel about BPF objects."""
    return obj == "btf" and rest[:2] == ["dump", "file"]


def _dispatch(ctx: Ctx, obj: str, rest: list[str]) -> int:
    from .common import CmdError

    if obj == "prog":
        from . import prog

        return prog.main(ctx, rest)
    if obj == "map":
        from . import mapcmd

        return mapcmd.main(ctx, rest)
    if obj == "btf":
        from . import btfcmd

        return btfcmd.main(ctx, rest)
    if obj == "link":
        from . import linkcmd

        return linkcmd.main(ctx, rest)
    if obj == "net":
        from . import netcmd

        return netcmd.main(ctx, rest)
    if obj == "cgroup":
        from . import cgroupcmd

        return cgroupcmd.main(ctx, rest)
    raise CmdError(f"unrecognized object '{obj}'")


def _report(ctx: Ctx, message: str) -> None:
    """`Error: ...` on stderr, or bpftool's `{"error": ...}` object under -j."""
    ctx.out.flush()
    if ctx.json:
        from .jsonw import JsonWriter, error_object

        w = JsonWriter(sys.stdout, ctx.pretty)
        w.value(error_object(message))
        w.finish()
    else:
        print(f"Error: {message}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
