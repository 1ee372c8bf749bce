"""`bpfscope triage`: the 60-second analysis, the BCC checklist and the USE method in one run.

Progress goes to stderr; the text report to stdout; --html/--json write the same report as
files. Exit status 0 on a report, 1 on a plain error (privilege, bad pid), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys

EXAMPLES = """examples:
    bpfscope triage                          # 60 s window, report on the terminal
    bpfscope triage -d 10 --html report.html --json report.json
    bpfscope triage --pid 1234               # the same, centred on one process
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bpfscope triage", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Linux 60-second analysis + BCC checklist + USE method, one report",
                                 epilog=EXAMPLES)
    ap.add_argument("-d", "--duration", type=float, default=60.0, help="window in seconds (default 60)")
    ap.add_argument("-p", "--pid", type=int, help="centre the report on this process")
    ap.add_argument("--html", metavar="FILE", help="also write a single-file HTML report")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON ('-' for stdout, no text)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the text report")
    return ap


def main(argv: list[str]) -> int:
    o = _parser().parse_args(argv)
    if not 1 <= o.duration <= 86400:
        sys.stderr.write("ERROR: --duration must be between 1 and 86400 seconds\n")
        return 1
    if o.pid is not None and (o.pid <= 0 or not os.path.exists(f"/proc/{o.pid}")):
        sys.stderr.write(f"ERROR: no process with PID {o.pid}\n")
        return 1
    from ..privilege import denied_message, privileged

    if not privileged():
        sys.stderr.write(f"ERROR: {denied_message()}\n")
        return 1

    def progress(msg: str) -> None:
        if not o.quiet:
            sys.stderr.write(f"triage: {msg}\n")
            sys.stderr.flush()

    from ..runtime.runner import Signals
    from . import report, window

    sigs = Signals()   # SIGINT/SIGTERM: the window ends early, the report is still written
    try:
        data = window.run(o.duration, o.pid, progress, stop=lambda: sigs.stop)
    except OSError as e:
        sys.stderr.write(f"ERROR: {e.strerror or e}\n")
        return 1
    finally:
        sigs.restore()
    rep = report.build(data)
    try:
        if o.json:
            from .jsonout import write_json

            write_json(rep, o.json)
        if o.html:
            from .html import write_html

            write_html(rep, o.html)
    except OSError as e:
        sys.stderr.write(f"ERROR: {e.filename}: {e.strerror}\n")
        return 1
    if o.json != "-":
        from .text import render

        render(rep, colour={"always": True, "never": False}.get(o.color))
    return 0
