"""User-space side of bpftrace's asynchronous standard library actions: errorf/warnf (located
messages), system() (a shell command's output), cat() (a file's contents), and the load-time
constants the compiler leaves open (kernel struct offsets from BTF, cgroup ids).

Text and JSON follow bpftrace 0.26 (src/output/text.cpp, json.cpp): system() prints the
command's output followed by a newline ({"type": "syscall"} in JSON), cat() the file as is
({"type": "cat"}); errorf/warnf print `file:line:col: ERROR|WARNING: msg` with the source line
on stderr ({"type": "print_error", "msg", "filename", "line", "col"} in JSON).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

from . import output

if TYPE_CHECKING:
    from ..lang.diagnostics import Source
    from ..lang.spec import EventSpec


class Program(Protocol):
    """What these actions use of the running program (program.Program, which imports this module
    lazily): a protocol, so there is no import back."""
    error_count: int

    @property
    def json(self) -> bool: ...
    @property
    def opts(self) -> dict[str, Any]: ...
    @property
    def source(self) -> Source: ...
    def write(self, text: str) -> None: ...

EVENTS = frozenset({"errorf", "warnf", "system", "cat", "helper_error", "runtime_warning"})
MAX_CAT_BYTES = 10240


def handle(prog: Program, ev: EventSpec, args: list[Any]) -> None:
    if ev.kind == "helper_error":
        helper_error(prog, ev, int(args[0]))
        return
    if ev.kind == "runtime_warning":   # e.g. a division by zero: located, on stderr
        if not prog.opts.get("no_warnings"):
            sys.stderr.write(prog.source.render("WARNING", str(ev.extra.get("msg", "")), ev.extra.get("span")))
        return
    from .printf import format_printf

    text = format_printf(ev.fmt, list(zip(args, ev.arg_types, strict=True)))
    k = ev.kind
    if k in ("errorf", "warnf"):
        prog.error_count += k == "errorf"
        if k == "warnf" and prog.opts.get("no_warnings"):
            return
        level = "ERROR" if k == "errorf" else "WARNING"
        span = ev.extra.get("span")
        if prog.json:
            fname, line, col = prog.source.locate(span) if span is not None else (prog.source.filename, 0, 0)
            prog.write('{"type": "print_error", "msg": ' + output.format_value(text, _STR, json=True)
                       + ', "filename": ' + output.format_value(fname, _STR, json=True)
                       + f', "line": {line}, "col": {col}}}\n')
        else:
            sys.stderr.write(prog.source.render(level, text, span))
    elif k == "system":
        out = run_system(text)
        prog.write(output.json_event("syscall", out) if prog.json else out + "\n")
    elif k == "cat":
        content = cat_file(text, int(prog.opts.get("max_cat_bytes", MAX_CAT_BYTES)))
        if content is not None:
            prog.write(output.json_event("cat", content) if prog.json else content)


def _str_type() -> Any:
    from ..lang.ctype.types import string_type

    return string_type(0)


_STR = _str_type()


def run_system(cmd: str) -> str:
    """Run `cmd` with /bin/sh (as popen(3) does) and return what it wrote to stdout."""
    sys.stdout.flush()
    try:
        import subprocess

        res = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE, check=False)
    except OSError as e:
        sys.stderr.write(f"ERROR: system(): {e.strerror}\n")
        return ""
    return res.stdout.decode("utf-8", "surrogateescape")


def cat_file(path: str, limit: int) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError as e:
        sys.stderr.write(f"ERROR: failed to open file '{path}' ({e.strerror})\n")
        return None
    return data.decode("utf-8", "surrogateescape")


class ConstError(Exception):
    """A load-time constant that cannot be resolved (explained to the user)."""


def resolve_const(name: str) -> int:
    """Value of a ProgSpec constant named by the stdlib code generator."""
    kind, _, arg = name.partition(":")
    if kind == "btf_off":
        from ..kernel.btf import Btf, BtfError

        struct_name, _, member = arg.partition(".")
        try:
            btf = Btf.vmlinux()
            sid = btf.find(struct_name, "struct")
            hit = btf.member(sid, member) if sid is not None else None
        except (OSError, BtfError) as e:
            raise ConstError(f"ERROR: kernel BTF is needed for {struct_name}.{member}: {e}") from None
        if hit is None:
            raise ConstError(f"ERROR: struct {struct_name} has no field {member} in kernel BTF")
        return hit[0] // 8
    if kind == "cgroupid":
        try:
            return os.stat(arg).st_ino
        except OSError as e:
            raise ConstError(f"ERROR: cgroupid: failed to get cgroup id for path '{arg}': "
                             f"{e.strerror}") from None
    raise KeyError(name)


HELPER_MESSAGES = {("map_delete_elem", -2): "Can't delete map element because it does not exist."}


def helper_error(prog: Program, ev: EventSpec, rc: int) -> None:
    """-k: a BPF helper failed (text: a located warning on stderr; JSON: a helper_error record)."""
    helper = str(ev.extra.get("helper", ""))
    span = ev.extra.get("span")
    if prog.json:
        line, col = prog.source.position(span.start) if span is not None else (0, 0)
        prog.write('{"type": "helper_error", "msg": ' + output.format_value(os.strerror(-rc), _STR, json=True)
                   + ', "helper": ' + output.format_value(helper, _STR, json=True)
                   + f', "retcode": {rc}, "filename": '
                   + output.format_value(prog.source.filename, _STR, json=True)
                   + f', "line": {line}, "col": {col}}}\n')
        return
    if prog.opts.get("no_warnings"):
        return
    if helper == "map_lookup_elem":
        msg = "Can't lookup map element because it does not exist."
    else:
        msg = HELPER_MESSAGES.get((helper, rc)) or os.strerror(-rc)
    sys.stderr.write(prog.source.render("WARNING", f"{msg}\nAdditional Info - helper: {helper}, retcode: {rc}",
                                        span))
