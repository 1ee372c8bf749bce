"""Complete writes of text to a stream's file descriptor.

With PYTHONUNBUFFERED=1 (or `python -u`, common in containers) sys.stdout is a TextIOWrapper
straight over the raw file, and it ignores a short write: when Ctrl-C interrupts a write to a
full pipe after part of it went through, the rest is dropped without an error. Output that
matters (events, maps at exit) therefore goes out through os.write in a loop, which resumes
after a short write whatever the interpreter's buffering mode.
"""

from __future__ import annotations

import os
from typing import IO


def write_all(stream: IO[str], text: str) -> None:
    """Write all of `text` to `stream`, in order with what the stream already buffered."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):   # StringIO and friends: no descriptor
        stream.write(text)
        return
    stream.flush()
    data = memoryview(text.encode(getattr(stream, "encoding", None) or "utf-8",
                                  getattr(stream, "errors", None) or "strict"))
    while data:
        n = os.write(fd, data)
        data = data[n:]
