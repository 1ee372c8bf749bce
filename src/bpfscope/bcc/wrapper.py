"""Debian's language tools (javastat-bpfcc, pythoncalls-bpfcc, cobjnew-bpfcc...) are two-line
bash wrappers around a Python tool beside them:

    lib=$(dirname $0)
    $lib/ustat -l java "$@"

`bpfscope bcc` reads such a wrapper instead of running bash, and serves the wrapped tool with
its arguments in this process (so privilege checks, signals and exit codes are the tool's own).
A shell script of any other form ends with a plain message: it is not a BCC tool."""

from __future__ import annotations

import os
import re
import shlex

# lib=$(dirname $0), lib=$(dirname "$0"), lib=`dirname $0`
_DIRNAME = re.compile(r"""^(\w+)=(?:\$\(\s*dirname\s+"?\$0"?\s*\)|`\s*dirname\s+"?\$0"?\s*`)$""")


class NotAWrapper(Exception):
    """A shell script that does not just run a Python tool beside it."""


def is_shell_script(path: str) -> bool:
    """A `#!` line naming something other than Python (a BCC tool is a Python script; one
    without a `#!` line is taken as Python)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" not in first


def unwrap(path: str) -> tuple[str, list[str]]:
    """The wrapped tool's path and the arguments the wrapper puts before the user's ("$@")."""
    with open(path, errors="replace") as fh:
        lines = [ln.strip() for ln in fh.read(65536).splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    here = os.path.dirname(os.path.abspath(path))
    dirvars: set[str] = set()
    for ln in body[:-1]:
        m = _DIRNAME.match(ln)
        if m is None:
            raise NotAWrapper(ln)
        dirvars.add(m.group(1))
    if not body:
        raise NotAWrapper("empty script")
    try:
        words = shlex.split(body[-1])
    except ValueError as e:
        raise NotAWrapper(str(e)) from None
    if words and words[0] == "exec":
        words = words[1:]
    if len(words) < 2 or words[-1] != "$@" or "$@" in words[:-1]:
        raise NotAWrapper(body[-1])
    tool = words[0]
    for v in dirvars:
        for form in (f"${v}/", f"${{{v}}}/"):
            if tool.startswith(form):
                tool = os.path.join(here, tool[len(form):])
    extra = words[1:-1]
    if "$" in tool or "/" not in tool or any("$" in w or "`" in w for w in extra):
        raise NotAWrapper(body[-1])
    return tool, extra
