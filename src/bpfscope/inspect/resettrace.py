"""`bpfscope reset-trace [-F|--force] [-v] [-q]`: find tracing state left behind, and reset it.

BCC's reset-trace checks the tracefs files a crashed tracer leaves set: kprobe/uprobe
events, the trace buffer, current_tracer, ftrace filters, events/enable, tracing_thresh,
tracing_on. Here nothing is written without -F: every deviation is reported ("Noticed
...") and, for probe events, each leftover entry is listed with its owner when its name
tells one (`bpfscope_PID_...`, BCC's `..._bcc_PID`); entries of a live owner are left
alone. With -F each leftover probe is removed one by one (`-:group/name`, so one busy
probe does not block the others) and each other file is written back to its default,
printing BCC's "Needed to reset FILE". -v narrates, -q prints nothing.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

USAGE = """USAGE: reset-trace [-Fhqv]
                 -F             # force: reset all tracing files
                 -v             # verbose: print details while working
                 -h             # this usage message
                 -q             # quiet: no output
  eg,
       reset-trace              # list left-over tracing state
       reset-trace -F           # and reset it"""

# (file, value written to reset it, expected contents)
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("current_tracer", "nop", "nop"),
    ("set_ftrace_filter", "", ""),
    ("set_graph_function", "", ""),
    ("set_ftrace_pid", "", "no pid"),
    ("events/enable", "0", "0"),
    ("tracing_thresh", "0", "0"),
    ("tracing_on", "1", "1"),
)
_OWNER_RE = re.compile(r"_bcc_(\d+)\b|bpfscope_(\d+)_")


@dataclass
class Opts:
    force: bool = False
    verbose: bool = False
    quiet: bool = False


@dataclass
class ProbeEntry:
    line: str
    name: str            # "group/event"
    owner: int | None    # creator pid when the name says it

    @property
    def owner_alive(self) -> bool:
        return self.owner is not None and os.path.exists(f"/proc/{self.owner}")


def parse_probe_events(text: str) -> list[ProbeEntry]:
    """Lines of kprobe_events/uprobe_events -> entries ("p:uprobes/x /bin/true:0x10")."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split(None, 1)[0]
        name = head.split(":", 1)[1] if ":" in head else head
        m = _OWNER_RE.search(name)
        owner = int(m.group(1) or m.group(2)) if m else None
        out.append(ProbeEntry(line, name, owner))
    return out


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _contents(text: str) -> str:
    """What BCC compares: the file minus comment lines, trailing newline dropped."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))


def _write(path: str, value: str, append: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        os.write(fd, (value + "\n").encode())
    finally:
        os.close(fd)


class ResetTrace:
    def __init__(self, root: str, opts: Opts) -> None:
        self.root = root
        self.o = opts
        self.out: list[str] = []
        self.err: list[str] = []
        self.found = 0

    def say(self, text: str = "") -> None:
        if not self.o.quiet:
            self.out.append(text)

    def vsay(self, text: str = "") -> None:
        if self.o.verbose:
            self.say(text)

    def missing(self, path: str) -> None:
        """Kernels without kprobes/ftrace lack some files: say so only when asked (-v)."""
        if self.o.verbose:
            self.err.append(f"WARNING: file {path} doesn't exist. Skipping.")

    def enumerated(self, text: str) -> None:
        if self.o.verbose:
            for i, ln in enumerate(text.splitlines(), 1):
                self.say(f"{i:6d}\t{ln}")

    def probes(self, fname: str) -> None:
        path = os.path.join(self.root, fname)
        text = _read(path)
        if text is None:
            self.missing(path)
            return
        self.vsay(f"Checking {path}")
        entries = parse_probe_events(text)
        for e in entries:
            if e.owner_alive:
                self.vsay(f"{fname}: {e.name} belongs to running PID {e.owner}, left alone")
        stale = [e for e in entries if not e.owner_alive]
        if not stale:
            return
        self.found += len(stale)
        if not self.o.force:
            self.say(f"Found {len(stale)} left-over entr{'y' if len(stale) == 1 else 'ies'} in {path} "
                     "(-F to remove):")
            for e in stale:
                owner = f"  (created by PID {e.owner}, gone)" if e.owner is not None else ""
                self.say(f"    {e.line}{owner}")
            return
        self.say(f"Needed to reset {path}")
        self.vsay(f"{fname}, before (line enumerated):")
        self.enumerated(text)
        for e in stale:
            try:
                _write(path, f"-:{e.name}", append=True)
            except OSError as err:
                self.err.append(f"WARNING: could not remove {e.name} from {path}: {err.strerror}. "
                                "Still in use? Continuing.")
        self.vsay(f"{fname}, after (line enumerated):")
        self.enumerated(_read(path) or "")
        self.vsay()

    def trace_buffer(self) -> None:
        path = os.path.join(self.root, "trace")
        text = _read(path)
        if text is None:
            self.missing(path)
            return
        self.vsay(f"Checking {path}")
        if not _contents(text).strip():
            return
        self.found += 1
        if self.o.force:
            self.say(f"Needed to reset {path}")
            try:
                _write(path, "")
            except OSError as err:
                self.err.append(f"WARNING: command failed \"echo > {path}\": {err.strerror}. Continuing.")
        else:
            self.say(f"Noticed tracing file {path} isn't empty. Not resetting (-F to force, -v for verbose).")

    def setting(self, fname: str, value: str, expected: str) -> None:
        path = os.path.join(self.root, fname)
        text = _read(path)
        if text is None:
            self.missing(path)
            return
        self.vsay(f"Checking {path}")
        if _contents(text) == expected:
            return
        self.found += 1
        if not self.o.force:
            self.say(f"Noticed unrelated tracing file {path} isn't set as expected. "
                     "Not reseting (-F to force, -v for verbose).")
            self.vsay(f"Contents of {fname} is (line enumerated):")
            self.enumerated(text)
            self.vsay(f'Expected "{expected}".')
            return
        self.say(f"Needed to reset {path}")
        self.vsay(f"{fname}, before (line enumerated):")
        self.enumerated(text)
        try:
            _write(path, value)
        except OSError as err:
            self.err.append(f"WARNING: command failed \"echo {value} > {path}\": {err.strerror}. Continuing.")
        self.vsay(f"{fname}, after (line enumerated):")
        self.enumerated(_read(path) or "")
        self.vsay()

    def run(self) -> None:
        self.vsay("Reseting tracing state..." if self.o.force else "Checking tracing state...")
        self.vsay()
        self.probes("kprobe_events")
        self.probes("uprobe_events")
        self.trace_buffer()
        for fname, value, expected in SETTINGS:
            self.setting(fname, value, expected)
        self.vsay()
        self.vsay("Done.")


def main(argv: list[str]) -> int:
    o = Opts()
    for a in argv:
        if a in ("--help", "help"):
            print(USAGE)
            return 0
        if a == "--force":
            o.force = True
        elif a in ("--verbose",):
            o.verbose = True
        elif a in ("--quiet",):
            o.quiet = True
        elif a.startswith("-") and len(a) > 1 and set(a[1:]) <= set("Fvqh"):
            if "h" in a:
                print(USAGE)
                return 0
            o.force |= "F" in a
            o.verbose |= "v" in a
            o.quiet |= "q" in a
        else:
            print(f"ERROR: unknown option '{a}'", file=sys.stderr)
            print(USAGE, file=sys.stderr)
            return 1
    if o.quiet:
        o.verbose = False
    from ..privilege import denied_message, privileged

    if not privileged():
        print(f"ERROR: {denied_message()}", file=sys.stderr)
        return 1
    from ..kernel.tracefs import TracefsError, ensure_mounted

    try:
        root = ensure_mounted()
    except (TracefsError, OSError) as e:
        print(f"ERROR: accessing tracing ({e}). Root user? tracefs mounted?", file=sys.stderr)
        return 1
    if not os.access(os.path.join(root, "tracing_on"), os.W_OK):
        print("ERROR: accessing tracing. Root user?", file=sys.stderr)
        return 1
    rt = ResetTrace(root, o)
    rt.run()
    try:
        if rt.out:
            print("\n".join(rt.out))
        for line in rt.err:
            print(line, file=sys.stderr)
    except BrokenPipeError:
        pass
    return 0
