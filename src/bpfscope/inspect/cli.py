"""Entry point of the bpftool-style inspection commands.

`main(["prog", "show"])` etc. Global flags (-j/--json, -p/--pretty, -f/--bpffs)
may appear anywhere, as with bpftool's getopt parsing. Errors print `Error: ...`
(or `{"error": ...}` in JSON mode) and return 255 like bpftool.
"""

from __future__ import annotations

import sys

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
    from .common import CmdError, Ctx

    if argv and argv[0] in ("bpflist", "reset-trace"):
        if argv[0] == "bpflist":
            from .bpflist import main as bpflist_main

            return bpflist_main(argv[1:])
        from .resettrace import main as reset_main

        return reset_main(argv[1:])
    opts, args = _split_opts(argv)
    ctx = Ctx(json=opts["json"], pretty=opts["pretty"], bpffs=opts["bpffs"])
    if not args or args[0] in ("help", "-h", "--help"):
        print(USAGE)
        return 0 if args else 255
    obj, rest = args[0], args[1:]
    try:
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
    except CmdError as e:
        ctx.out.flush()
        if ctx.json:
            from .jsonw import JsonWriter

            w = JsonWriter(sys.stdout, ctx.pretty)
            w.value({"error": str(e)})
            w.finish()
        else:
            print(f"Error: {e}", file=sys.stderr)
        return 255
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
