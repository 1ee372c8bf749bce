"""BCC's StrcmpRewrite for trace/argdist filters: STRCMP("literal", expr) becomes a call of a
generated static inline function that reads the string at expr (user memory for uprobes
and args marked @user, kernel memory otherwise) and compares it with the literal, whole
string, terminating NUL included."""

from __future__ import annotations

import re
from typing import Any

_STRCMP = re.compile(r'STRCMP\(\s*("(?:[^"\\]|\\.)*")\s*,\s*([^()]*(?:\([^()]*\)[^()]*)*)\)')


def _literal(text: str) -> bytes:
    body = text[1:-1]
    return body.encode().decode("unicode_escape").encode("latin-1")


def _function(n: int, lit: bytes, user: bool) -> str:
    size = len(lit) + 1
    read = "bpf_probe_read_user" if user else "bpf_probe_read_kernel"
    checks = " && ".join([f"s[{i}] == {c}" for i, c in enumerate(lit)] + [f"s[{len(lit)}] == 0"])
    return (f"static inline int streq_{n}(u64 str) {{\n"
            f"    char s[{size}] = {{}};\n"
            f"    {read}(&s, sizeof(s), (void *)str);\n"
            f"    return {checks};\n"
            f"}}\n")


class StrcmpRewrite:
    @staticmethod
    def rewrite_expr(expr: str, bin_cmp: Any, is_user: Any, probe_user_list: Any,
                     streq_functions: str, probeid: int) -> dict[str, Any]:
        """{"expr", "streq_functions", "probeid"}, as trace-bpfcc and argdist-bpfcc use them."""
        def one(m: re.Match[str]) -> str:
            nonlocal streq_functions, probeid
            arg = m.group(2).strip()
            user = bool(is_user) or arg in (probe_user_list or ())
            streq_functions += _function(probeid, _literal(m.group(1)), user)
            out = f"streq_{probeid}((u64)({arg}))"
            probeid += 1
            return out

        expr = _STRCMP.sub(one, expr)
        return {"expr": expr, "streq_functions": streq_functions, "probeid": probeid}
