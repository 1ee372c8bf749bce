"""bpftrace-style diagnostics: `stdin:1:20-47: ERROR: message`, the line, a `~~~` underline.

Every user-facing compile problem is a `CompileError` carrying a span; the CLI turns it
into text with `Source.render`, so no input ever reaches the user as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import record


@record(frozen=True)
class Span:
    """Byte offsets into the source: every diagnostic, from parsing to a verifier rejection, points
    at the exact text. Front-end neutral, so the back end and the C types can carry one too."""
    start: int = 0
    end: int = 0
    expanded: Span | None = field(default=None, compare=False)   # the macro call this text came from

    def to(self, other: Span) -> Span:
        return Span(self.start, other.end, self.expanded)


class CompileError(Exception):
    """A located error in the user's program (exit status 1)."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


class HeaderNotFound(CompileError):
    """`#include` of a header that exists nowhere: clang's fatal error, in clang's own form
    (bpftrace passes the preamble to clang as `definitions.h`, one line below the program's)."""

    def __init__(self, header: str, span: Span | None) -> None:
        super().__init__(f"'{header}' file not found", span)
        self.header = header


@dataclass
class Warning_:
    message: str
    span: Span | None = None


@dataclass
class Source:
    """The program text and the name bpftrace shows for it ('stdin' for -e, else the path)."""

    text: str
    filename: str = "stdin"

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a byte offset."""
        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return line, col

    def locate(self, span: Span) -> tuple[str, int, int]:
        """(file name, line, column) of a span's start: JSON's print_error fields."""
        line, col = self.position(span.start)
        return self.filename, line, col

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def render(self, level: str, message: str, span: Span | None, hint: str | None = None) -> str:
        if not message and hint:   # a report that is only a hint (0.26: `-- --help`)
            return f"HINT: {hint}\n"
        if span is None or (span.start == 0 and span.end == 0 and not self.text):
            out = f"{self.filename}: {level}: {message}\n" if span is not None else f"{level}: {message}\n"
            return out + (f"HINT: {hint}\n" if hint else "")
        line, col = self.position(span.start)
        end = max(span.end, span.start + 1)
        eline, ecol = self.position(end)
        text = self.line_text(line)
        if eline != line:  # underline to the end of the first line
            ecol = len(text) + 1
        out = f"{self.filename}:{line}:{col}-{ecol}: {level}: {message}\n{text}\n"
        out += " " * (col - 1) + "~" * max(1, ecol - col) + "\n"
        if span.expanded is not None:    # inside a macro: 0.26 shows each call it came through
            out += self.render(level, "expanded from", span.expanded)
        if hint:
            out += f"HINT: {hint}\n"
        return out

    def error(self, err: CompileError) -> str:
        if isinstance(err, HeaderNotFound) and err.span is not None:
            line, col = self.position(err.span.start)
            return f"definitions.h:{line + 1}:{col}: fatal error: {err.message}\n"
        return self.render("ERROR", err.message, err.span, err.hint)

    def warning(self, message: str, span: Span | None) -> str:
        return self.render("WARNING", message, span)
