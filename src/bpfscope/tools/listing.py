"""`bpfscope tools`: every BCC-style tool, its purpose, and whether it runs on this kernel."""

from __future__ import annotations

import sys

from . import registry


def rows() -> list[tuple[str, str, str]]:
    """(name, purpose, "yes" | "no: <what is missing>") for every tool, sorted by name."""
    from .base import ToolError, parser

    out = []
    for name in registry.names():
        try:
            cls = registry.load(name).TOOL
        except (ImportError, AttributeError) as e:
            out.append((name, "(broken module)", f"no: {e}"))
            continue
        try:
            import contextlib
            import io

            with contextlib.redirect_stderr(io.StringIO()):
                opts = parser(cls).parse_args(list(cls.listing_args))
            tool = cls(opts)
            tool.check()
            missing = next((n for n in tool.requires() if not n.ok()), None)
            status = "yes" if missing is None else "no: " + missing.message(name).split(": ", 1)[1]
        except SystemExit:
            status = "no: cannot check without arguments (set listing_args)"
        except (ToolError, OSError) as e:
            status = f"no: {e}"
        out.append((name, cls.purpose, status))
    out += [(n, p, "yes") for n, p in registry.EXTERNAL.items()]
    return sorted(out)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print("usage: bpfscope tools [--json]\n\nList the BCC-style tools, their purpose, and whether "
              "each can run on this kernel.\nRun one with: bpfscope TOOL [options] (TOOL -h for its options)")
        return 0
    if argv and argv[0] != "--json":
        sys.stderr.write(f"usage: bpfscope tools [--json]\nERROR: unrecognized argument '{argv[0]}'\n")
        return 2
    rs = rows()
    if argv:
        import json

        for name, purpose, status in rs:
            print(json.dumps({"name": name, "purpose": purpose, "runs_here": status == "yes",
                              "missing": status[4:] if status != "yes" else ""}))
        return 0
    w = max((len(r[0]) for r in rs), default=4)
    print(f"{'TOOL':<{w}}  {'RUNS':<4}  PURPOSE")
    for name, purpose, status in rs:
        runs = "yes" if status == "yes" else "no"
        line = f"{name:<{w}}  {runs:<4}  {purpose}"
        if status != "yes":
            line += f"  [{status[4:]}]"
        print(line)
    return 0
