"""Command-line front ends: ``flamegraph``, ``stackcollapse`` and ``difffolded``.

Each ``main_*`` takes the arguments after the subcommand and returns an exit status;
bpfscope's cli.py dispatches to them. Heavy modules are imported inside the functions so
``bpfscope --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
from collections.abc import Iterator

# a tracer's printed map entry (``@[`` or ``@name[``), as opposed to a folded line
_MAP_DUMP_RE = re.compile(r"^@\w*\[")


def _read_lines(files: list[str]) -> Iterator[str]:
    """Lines of the named files (or stdin), decoded leniently as UTF-8."""
    if not files or files == ["-"]:
        if not sys.stdin.isatty():
            # At the end of a pipe (`bpfscope -f folded ... | bpfscope flamegraph`), Ctrl-C
            # reaches the whole pipeline: let the tracer stop and flush, and draw what it sent.
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
        yield from _split(sys.stdin.buffer.read())
        return
    for name in files:
        with open(name, "rb") as fh:
            if stat.S_ISCHR(os.fstat(fh.fileno()).st_mode) and not os.isatty(fh.fileno()):
                # /dev/zero and the like never end; a terminal (/dev/stdin) does
                raise OSError(errno.EINVAL, "not a regular file, pipe or terminal", name)
            yield from _split(fh.read())


def _split(data: bytes) -> list[str]:
    """Split on newlines only (as Perl's readline does), without the final empty piece."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _write(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()


def main_flamegraph(argv: list[str]) -> int:
    """``bpfscope flamegraph [options] [FILE...]``: folded stacks in, SVG out."""
    from bpfscope.flame.colors import PALETTES
    from bpfscope.flame.svg import FlameError, FlameOptions, error_svg, render_svg

    ap = argparse.ArgumentParser(prog="bpfscope flamegraph",
                                 description="Draw folded stacks as an interactive SVG flame graph.")
    ap.add_argument("files", nargs="*", metavar="FILE")
    ap.add_argument("--title", default="")
    ap.add_argument("--subtitle", default="")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=16, help="frame height")
    ap.add_argument("--minwidth", default="0.1", help="pixels, or N%% of the total")
    ap.add_argument("--fonttype", default="Verdana")
    ap.add_argument("--fontsize", type=float, default=12)
    ap.add_argument("--fontwidth", type=float, default=0.59)
    ap.add_argument("--countname", default="samples")
    ap.add_argument("--nametype", default="Function:")
    ap.add_argument("--colors", "--color", default="hot", choices=PALETTES)
    ap.add_argument("--bgcolors", default="", help="yellow, blue, green, grey or #rrggbb")
    ap.add_argument("--hash", action="store_true", help="colour by function-name hash")
    ap.add_argument("--random", action="store_true", help="random colours")
    ap.add_argument("--cp", action="store_true", help="consistent palette (palette.map)")
    ap.add_argument("--reverse", action="store_true", help="stack-reversed graph")
    ap.add_argument("--inverted", action="store_true", help="icicle graph")
    ap.add_argument("--flamechart", action="store_true", help="keep input order (time)")
    ap.add_argument("--negate", action="store_true", help="swap differential hues")
    ap.add_argument("--notes", default="")
    ap.add_argument("--total", type=float, default=None)
    ap.add_argument("--factor", type=float, default=1)
    ap.add_argument("--encoding", default=None)
    args = ap.parse_args(argv)
    opts = FlameOptions(
        title=args.title, subtitle=args.subtitle, width=args.width, height=args.height,
        minwidth=args.minwidth, fonttype=args.fonttype, fontsize=args.fontsize,
        fontwidth=args.fontwidth, countname=args.countname, nametype=args.nametype,
        colors=args.colors, bgcolors=args.bgcolors, hash=args.hash, random=args.random,
        cp=args.cp, reverse=args.reverse, inverted=args.inverted, flamechart=args.flamechart,
        negate=args.negate, notes=args.notes, total=args.total, factor=args.factor,
        encoding=args.encoding)
    try:
        lines = list(_read_lines(args.files))
    except OSError as exc:
        print(f"ERROR: can't open {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    if any(_MAP_DUMP_RE.match(ln) for ln in lines[:50]):
        # a tracer's stack-map dump piped straight in: fold it first (one-pipe flow)
        from .collapse_bpftrace import fold_bpftrace_map_text

        lines = fold_bpftrace_map_text("".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines))
    try:
        svg = render_svg(lines, opts, warn=True)
    except FlameError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print("ERROR: No stack counts found", file=sys.stderr)
        _write(error_svg(opts))
        return 2
    _write(svg)
    return 0


def main_stackcollapse(argv: list[str]) -> int:
    """``bpfscope stackcollapse {perf,bpftrace} [options] [FILE...]``: fold stacks."""
    ap = argparse.ArgumentParser(prog="bpfscope stackcollapse",
                                 description="Collapse multi-line stacks into folded lines.")
    sub = ap.add_subparsers(dest="kind", required=True)
    perf = sub.add_parser("perf", help="`perf script` output")
    perf.add_argument("files", nargs="*", metavar="FILE")
    perf.add_argument("--pid", action="store_true", help="include PID with process names")
    perf.add_argument("--tid", action="store_true", help="include TID and PID with process names")
    perf.add_argument("--kernel", action="store_true", help="annotate kernel functions with _[k]")
    perf.add_argument("--jit", action="store_true", help="annotate JIT functions with _[j]")
    perf.add_argument("--all", action="store_true", help="all annotations (--kernel --jit)")
    perf.add_argument("--addrs", action="store_true",
                      help="include raw addresses where symbols can't be found")
    perf.add_argument("--inline", action="store_true", help="un-inline using addr2line")
    perf.add_argument("--context", action="store_true", help="add source context to --inline")
    perf.add_argument("--srcline", action="store_true", help="input has perf script -F+srcline lines")
    perf.add_argument("--event-filter", default="", help="only this event type")
    bt = sub.add_parser("bpftrace", help="bpftrace map output (@[kstack, ustack]: count)")
    bt.add_argument("files", nargs="*", metavar="FILE")
    args = ap.parse_args(argv)
    try:
        lines = _read_lines(args.files)
        if args.kind == "perf":
            from bpfscope.flame.collapse_perf import PerfCollapseOptions, collapse_perf
            popts = PerfCollapseOptions(
                pid=args.pid, tid=args.tid, kernel=args.kernel or args.all,
                jit=args.jit or args.all, addrs=args.addrs, inline=args.inline,
                context=args.context, srcline=args.srcline, event_filter=args.event_filter)
            out = collapse_perf(lines, popts)
        else:
            from bpfscope.flame.collapse_bpftrace import collapse_bpftrace
            out = collapse_bpftrace(lines)
    except OSError as exc:
        print(f"ERROR: can't open {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    _write("".join(line + "\n" for line in out))
    return 0


def main_difffolded(argv: list[str]) -> int:
    """``bpfscope difffolded [-n] [-s] A B``: two folded profiles -> ``stack a b`` lines."""
    from bpfscope.flame.diff import difffolded

    ap = argparse.ArgumentParser(prog="bpfscope difffolded",
                                 description="Join two folded profiles for a differential flame graph.")
    ap.add_argument("-n", action="store_true", help="normalize sample counts")
    ap.add_argument("-s", action="store_true", help="strip hex numbers (addresses)")
    ap.add_argument("before")
    ap.add_argument("after")
    args = ap.parse_args(argv)
    try:
        a = list(_read_lines([args.before]))
        b = list(_read_lines([args.after]))
    except OSError as exc:
        print(f"ERROR: Can't read: {exc}", file=sys.stderr)
        return 2
    _write("".join(line + "\n" for line in difffolded(a, b, normalize=args.n, strip_hex=args.s)))
    return 0


def _module_main() -> int:
    """``python -m bpfscope.flame.cli {flamegraph,stackcollapse,difffolded} ...``."""
    table = {"flamegraph": main_flamegraph, "stackcollapse": main_stackcollapse,
             "difffolded": main_difffolded}
    if len(sys.argv) < 2 or sys.argv[1] not in table:
        print("usage: python -m bpfscope.flame.cli {flamegraph,stackcollapse,difffolded} ...",
              file=sys.stderr)
        return 2
    return table[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(_module_main())
