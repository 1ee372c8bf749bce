"""BCC's histogram text (`print_log2_hist` / `print_linear_hist`), byte for byte.

    >>> print(log2_hist({1: 3, 4: 10}, "usecs"), end="")
         usecs               : count     distribution
             0 -> 1          : 3        |************                            |
             2 -> 3          : 0        |                                        |
             4 -> 7          : 10       |****************************************|

Input is BCC's slot list (slot i >= 1 holds [2^(i-1), 2^i - 1], slot 1 also holds 0) or,
through `slots_from_hist`, our `hist()` map value ({bpftrace bucket index: count}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

STARS_MAX = 40


def stars(val: int, val_max: int, width: int) -> str:
    """BCC's bar: floor(width*val/val_max) stars, clamped to width, '+' marking overflow."""
    if val_max <= 0:
        return ""
    n = 0
    while n <= width * val / val_max - 1 and n <= width - 1:
        n += 1
    text = "*" * n
    if val > val_max:
        text = text[:-1] + "+"
    return text


def slots_from_hist(buckets: Mapping[int, int]) -> list[int]:
    """bpftrace hist() buckets (0: negative, 1: value 0, i >= 2: [2^(i-2), 2^(i-1))) as BCC's
    log2 slots (bpf_log2l: 0 and 1 share slot 1, slot i >= 2 is [2^(i-1), 2^i))."""
    slots = [0] * 66
    for idx, c in buckets.items():
        if idx >= 1:
            slots[max(idx - 1, 1)] += c
    return slots


def _as_list(vals: Sequence[int] | Mapping[int, int]) -> list[int]:
    if isinstance(vals, Mapping):
        out = [0] * (max(vals, default=-1) + 1)
        for i, c in vals.items():
            if i >= 0:
                out[i] = c
        return out
    return list(vals)


def _extent(v: list[int]) -> tuple[int, int]:
    """(index of the last non-empty slot or -1, the largest count): what BCC's printers scale by."""
    idx_max = max((i for i, c in enumerate(v) if c > 0), default=-1)
    return idx_max, max([0, *v])


def log2_hist(vals: Sequence[int] | Mapping[int, int], val_type: str = "value",
              strip_leading_zero: bool = False) -> str:
    """BCC's _print_log2_hist output for slot counts `vals` (empty when all are zero)."""
    v = _as_list(vals)
    idx_max, val_max = _extent(v)
    if idx_max <= 32:
        header = f"     {val_type:<19s} : count     distribution"
        width, w = 10, STARS_MAX
    else:
        header = f"               {val_type:<29s} : count     distribution"
        width, w = 20, STARS_MAX // 2
    lines = [header] if idx_max > 0 else []
    strip = strip_leading_zero
    for i in range(1, idx_max + 1):
        low, high = (1 << i) >> 1, (1 << i) - 1
        if low == high:
            low -= 1
        c = v[i] if i < len(v) else 0
        if strip and not c:
            continue
        strip = False
        lines.append(f"{low:{width}d} -> {high:<{width}d} : {c:<8d} |{stars(c, val_max, w):<{w}s}|")
    return "".join(ln + "\n" for ln in lines)


def linear_hist(vals: Sequence[int] | Mapping[int, int], val_type: str = "value",
                strip_leading_zero: bool = False) -> str:
    """BCC's _print_linear_hist output: one line per integer bucket 0..max."""
    v = _as_list(vals)
    idx_max, val_max = _extent(v)
    lines = [f"     {val_type:<13s} : count     distribution"] if idx_max >= 0 else []
    strip = strip_leading_zero
    for i in range(idx_max + 1):
        c = v[i]
        if strip and not c:
            continue
        strip = False
        lines.append(f"        {i:<10d} : {c:<8d} |{stars(c, val_max, STARS_MAX):<{STARS_MAX}s}|")
    return "".join(ln + "\n" for ln in lines)


def section(header: str, bucket: object) -> str:
    """The line BCC prints before each keyed histogram ("\\nBucket ptr = ..." style)."""
    return f"\n{header} = {bucket}\n"
