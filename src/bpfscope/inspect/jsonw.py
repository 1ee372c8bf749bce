"""A JSON writer that lays text out exactly like bpftool's json_writer.

bpftool's `-p` output has a peculiar shape (`"map_ids": [70\n    ]`, `},{`), and
`-j` is compact with no spaces; scripts and tests diff our output against
bpftool's, so we stream values with the same separator/indent state machine
instead of using json.dumps.
"""

from __future__ import annotations

from typing import IO

_ESC = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\\\", '"': '\\"',
        "'": "\\'"}


class Raw(str):
    """A pre-formatted scalar (pointer text, float) written without quotes."""


def quote(s: str) -> str:
    return '"' + "".join(_ESC.get(c, c) for c in s) + '"'


def error_object(message: str) -> dict[str, object]:
    """bpftool's `{"error": ...}`: p_err() prints the message between quotes, unescaped."""
    return {"error": Raw(f'"{message}"')}


class JsonWriter:
    """Streaming writer: start_object/array, name, value calls in bpftool's order."""

    def __init__(self, out: IO[str], pretty: bool = False) -> None:
        self.out = out
        self.pretty = pretty
        self.depth = 0
        self.sep = ""

    def _eol(self) -> None:
        if self.pretty:
            self.out.write("\n" + "    " * self.depth)

    def _eor(self) -> None:
        if self.sep:
            self.out.write(self.sep)
        self.sep = ","

    def _begin(self, c: str) -> None:
        self._eor()
        self.out.write(c)
        self.depth += 1
        self.sep = ""

    def _end(self, c: str) -> None:
        self.depth -= 1
        if self.sep:
            self._eol()
        self.out.write(c)
        self.sep = ","

    def start_object(self) -> None:
        self._begin("{")

    def end_object(self) -> None:
        self._end("}")

    def start_array(self) -> None:
        self._begin("[")

    def end_array(self) -> None:
        self._end("]")

    def name(self, name: str) -> None:
        self._eor()
        self._eol()
        self.sep = ""
        self.out.write(quote(name) + (": " if self.pretty else ":"))

    def raw(self, text: str) -> None:
        """A pre-formatted scalar (number, bool, quoted string)."""
        self._eor()
        self.out.write(text)

    def string(self, s: str) -> None:
        self.raw(quote(s))

    def uint(self, v: int) -> None:
        self.raw(str(v))

    def bool(self, v: bool) -> None:
        self.raw("true" if v else "false")

    def null(self) -> None:
        self.raw("null")

    def field(self, name: str, value: object) -> None:
        self.name(name)
        self.value(value)

    def value(self, v: object) -> None:
        """Write a Python value: dicts as objects, lists as arrays, scalars as JSON."""
        if isinstance(v, dict):
            self.start_object()
            for k, x in v.items():
                self.field(str(k), x)
            self.end_object()
        elif isinstance(v, list | tuple):
            self.start_array()
            for x in v:
                self.value(x)
            self.end_array()
        elif isinstance(v, bool):
            self.bool(v)
        elif isinstance(v, int):
            self.uint(v)
        elif isinstance(v, float):
            self.raw(repr(v))
        elif v is None:
            self.null()
        elif isinstance(v, Raw):
            self.raw(str(v))
        else:
            self.string(str(v))

    def finish(self) -> None:
        """bpftool ends its JSON document with one newline."""
        self.out.write("\n")
