"""The CLI's ``-f folded`` / ``-f pprof``: replace the exit-time map dump with an export.

``prepare(opts)`` checks the options and puts an ``ExitDump`` on ``opts.exit_dump``; the
run loop calls it instead of printing the maps. For pprof the ``-o`` file receives the
binary profile (so -o is required) and the script's text output (printf) stays on stdout.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

FORMATS = ("folded", "pprof")


class ExitDump:
    """Callable ``(prog, out)`` that writes the Program's stack maps in one format."""

    def __init__(self, fmt: str, path: str | None, warnings: bool = True) -> None:
        self.fmt = fmt
        self.path = path
        self.warnings = warnings
        self.start_ns = time.time_ns()
        self.start_mono = time.monotonic_ns()

    def __call__(self, prog: Any, out: IO[str]) -> None:
        if self.fmt == "folded":
            from .folded import folded_lines

            lines, skipped = folded_lines(prog)
            self._warn(skipped, bool(lines))
            out.write("".join(line + "\n" for line in lines))
            return
        from ..flame.pprof import encode, gzip_bytes
        from .pprof import build_profile

        profile, skipped = build_profile(prog, time_nanos=self.start_ns,
                                         duration_nanos=time.monotonic_ns() - self.start_mono)
        self._warn(skipped, bool(profile.samples))
        data = gzip_bytes(encode(profile))
        out.flush()
        try:
            with open(str(self.path), "wb") as fh:
                fh.write(data)
        except OSError as e:
            sys.stderr.write(f"ERROR: failed to write profile '{self.path}': {e.strerror or e}\n")
            prog.exit_code = prog.exit_code or 1

    def _warn(self, skipped: list[str], wrote: bool) -> None:
        if not self.warnings:
            return
        if skipped:
            sys.stderr.write(f"WARNING: -f {self.fmt}: maps left out (not integer-valued, or not keyed by "
                             f"stacks while others are): {', '.join(skipped)}\n")
        if not wrote:
            sys.stderr.write(f"WARNING: -f {self.fmt}: no stack samples to export\n")


def prepare(opts: Any) -> str | None:
    """Set ``opts.exit_dump`` for ``-f folded``/``-f pprof``; an error message or None."""
    path = None
    if opts.fmt == "pprof":
        path = opts.out
        if path is None:
            return "-f pprof writes a binary profile: give it a file with -o FILE"
        try:  # fail now, not after a long trace
            with open(path, "ab"):
                pass
        except OSError as e:
            return f"failed to open output file '{path}': {e.strerror or e}"
        opts.out = None  # the script's text output stays on stdout
    opts.exit_dump = ExitDump(opts.fmt, path, warnings=not getattr(opts, "no_warnings", False))
    return None
