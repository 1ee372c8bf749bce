"""bpf_trace_printk's output as BCC's Python API reads it: lines of tracefs's trace_pipe
(`  comm-pid  [cpu] flags  ts: bpf_trace_printk: message`), raw or split into BCC's six
fields (task, pid, cpu, flags, ts, msg). trace_pipe is one system-wide stream: each line
is consumed by whichever reader gets it, as with BCC."""

from __future__ import annotations

import errno
import os
import re

# task-pid, an optional (tgid) column, [cpu], flags, timestamp, then "<function>: message"
_LINE = re.compile(rb"^\s*(.*?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(\S+)\s+(\d+\.\d+):\s+(.*)$")

Fields = tuple[bytes, int, int, bytes, float, bytes]


def parse_line(line: bytes) -> Fields | None:
    """BCC's fields of one trace_pipe line; None for lines that are not events (lost-event notes)."""
    if line.startswith(b"CPU:"):
        return None
    m = _LINE.match(line)
    if m is None:
        return None
    rest = m.group(6)
    # the producer's name ("bpf_trace_printk", or a raw address on some kernels), then the text
    colon = rest.find(b": ")
    msg = rest[colon + 2:] if colon >= 0 else rest
    return (m.group(1).strip(), int(m.group(2)), int(m.group(3)), m.group(4), float(m.group(5)), msg)


class TracePipe:
    """trace_pipe opened once per BPF object (blocking or not, as each read asks)."""

    def __init__(self) -> None:
        from ..kernel import tracefs

        self.path = os.path.join(tracefs.ensure_mounted(), "trace_pipe")
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.buf = b""

    def readline(self, nonblocking: bool = False) -> bytes | None:
        """One line without its newline; None when nonblocking and nothing is there."""
        os.set_blocking(self.fd, not nonblocking)
        while b"\n" not in self.buf:
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                return None
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            if not chunk:
                if nonblocking:
                    return None
                continue
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
