"""C-compiler style diagnostics for BCC programs: `<text>:LINE:COL: error: message`, the
line, a caret under the column — what clang printed for BCC, without a traceback."""

from __future__ import annotations

from ..diagnostics import CompileError, Source, Span


def render_warning(span: Span, message: str, text: str, filename: str = "<text>") -> str:
    """A warning, in the same form as an error (the program still compiles)."""
    src = Source(text, filename)
    line, col = src.position(span.start)
    return f"{filename}:{line}:{col}: warning: {message}\n{src.line_text(line)}\n{' ' * (col - 1)}^\n"


def render(err: CompileError, text: str, filename: str = "<text>") -> str:
    src = Source(text, filename)
    if err.span is None:
        return f"{filename}: error: {err.message}\n"
    line, col = src.position(err.span.start)
    out = f"{filename}:{line}:{col}: error: {err.message}\n{src.line_text(line)}\n{' ' * (col - 1)}^\n"
    if err.hint:
        out += f"note: {err.hint}\n"
    return out
