"""What BCC's stack tools share: offcputime, offwaketime and wakeuptime (time blocked, summed
by stack) and profile (samples by stack).

Their options (-U/-K stack spaces, -p/-t/-u/-k threads, -m/-M block-time range, -f, the
`duration` positional), the sched_switch program that times a thread from switch-out to
switch-in, the "Tracing ... Hit Ctrl-C to end." banner (on stderr with -f, so stdout stays
pure folded lines) and BCC's two stack layouts are written once here, so that the tools
cannot drift apart where BCC's do not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .base import Tool, positive_int
from .needs import Need

PF_KTHREAD = 0x00200000
FOREVER = 99999999          # BCC's default duration: no end
U64_MAX = (1 << 64) - 1     # BCC's default -M


def int_list(kind: str) -> Callable[[str], list[int]]:
    """argparse type for BCC's comma-separated positive ids (-p 1,2), with its message."""

    def parse(s: str) -> list[int]:
        try:
            vals = [int(x) for x in s.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind} value: '{s}'") from None
        if any(v <= 0 for v in vals):
            raise argparse.ArgumentTypeError("must be positive")
        return vals

    return parse


def add_thread_args(ap: argparse.ArgumentParser, ids: Callable[[str], object] = positive_int,
                    pid_help: str = "trace this PID only", tid_help: str = "trace this TID only",
                    plural: str = "") -> None:
    """BCC's -p/-t/-u/-k group (dests tgid, pid, user_threads_only, kernel_threads_only)."""
    g = ap.add_mutually_exclusive_group()
    g.add_argument("-p", "--pid", metavar="PID" + plural, dest="tgid", type=ids, help=pid_help)
    g.add_argument("-t", "--tid", metavar="TID" + plural, dest="pid", type=ids, help=tid_help)
    g.add_argument("-u", "--user-threads-only", action="store_true",
                   help="user threads only (no kernel threads)")
    g.add_argument("-k", "--kernel-threads-only", action="store_true",
                   help="kernel threads only (no user threads)")


def add_stack_space_args(ap: argparse.ArgumentParser) -> None:
    """BCC's -U/-K group."""
    s = ap.add_mutually_exclusive_group()
    s.add_argument("-U", "--user-stacks-only", action="store_true",
                   help="show stacks from user space only (no kernel space stacks)")
    s.add_argument("-K", "--kernel-stacks-only", action="store_true",
                   help="show stacks from kernel space only (no user space stacks)")


def add_block_args(ap: argparse.ArgumentParser) -> None:
    """-f, --stack-storage-size, `duration`, -m, -M as BCC's blocked-time tools declare them."""
    ap.add_argument("-f", "--folded", action="store_true", help="output folded format")
    ap.add_argument("--stack-storage-size", default=1024, type=positive_int,
                    help="the number of unique stack traces that can be stored and displayed (default 1024)")
    ap.add_argument("duration", nargs="?", default=FOREVER, type=positive_int,
                    help="duration of trace, in seconds")
    ap.add_argument("-m", "--min-block-time", default=1, type=positive_int,
                    help="the amount of time in microseconds over which we store traces (default 1)")
    ap.add_argument("-M", "--max-block-time", default=U64_MAX, type=positive_int,
                    help="the amount of time in microseconds under which we store traces (default U64_MAX)")


def add_state_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--state", type=int,
                    help="filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE) "
                         "see include/linux/sched.h")


def tp_btf_needs(instead: str) -> list[Need]:
    """The tools hook sched tracepoints through BTF (tp_btf) where BCC uses kprobes."""
    return [Need("btf"), Need("feature", "tp_btf", instead=instead)]


def stack_opts(o: argparse.Namespace, floor: int) -> dict[str, int]:
    """Program options sized by --stack-storage-size (4 stack-map entries per unique stack)."""
    return {"stack_entries": max(o.stack_storage_size * 4, floor), "max_map_keys": 10240}


# ------------------------------------------------------------------ program pieces

def thread_cond(o: argparse.Namespace, task: str) -> str:
    """-p/-t/-u/-k as a condition on `task` (a task_struct); ids may be one or a list."""
    if o.tgid:
        return " || ".join(f"{task}->tgid == {x}" for x in _ids(o.tgid))
    if o.pid:
        return " || ".join(f"{task}->pid == {x}" for x in _ids(o.pid))
    if o.user_threads_only:
        return f"({task}->flags & {PF_KTHREAD}) == 0"
    if o.kernel_threads_only:
        return f"({task}->flags & {PF_KTHREAD}) != 0"
    return ""


def state_cond(o: argparse.Namespace, task: str) -> str:
    """--state: 0 is TASK_RUNNING (preempted), else any of the bits."""
    if o.state == 0:
        return f"{task}->__state == 0"
    if o.state:
        return f"({task}->__state & {o.state}) != 0"
    return ""


def _ids(v: int | list[int]) -> list[int]:
    return v if isinstance(v, list) else [v]


def block_range(o: argparse.Namespace) -> str:
    """-m/-M on the blocked time `$d` (us); the default -M bounds nothing."""
    hi = f" && $d <= {o.max_block_time}" if o.max_block_time < (1 << 63) else ""
    return f"$d >= {o.min_block_time}{hi}"


def guarded(cond: str, body: str) -> str:
    return f"if ({cond}) {{ {body} }}" if cond else body


def switch_probe(o: argparse.Namespace, keep: str, key: list[str], at_wakeup: str = "") -> str:
    """sched_switch: `keep` runs for the thread going off-CPU ($p, its start time in @start);
    the thread coming on ($n) adds its blocked time (us) to @counts[key]; `at_wakeup` lines
    run in between (offwaketime takes its waker there)."""
    return f"""rawtracepoint:sched_switch {{
  $p = args.prev;
  {keep}
  $n = args.next;
  $t = @start[$n->pid];
  if ($t) {{
    delete(@start, $n->pid);
    $d = (nsecs - $t) / 1000;
{at_wakeup}    if ({block_range(o)}) {{
      @counts[{', '.join(key)}] = sum($d);
    }}
  }}
}}
"""


# ------------------------------------------------------------------ output

def folded_line(comm: str, kfr: list[str], ufr: list[str], kstack: bool, ustack: bool, delim: bool) -> list[str]:
    """One folded stack root first: comm, user frames, `-` (with -d), kernel frames."""
    line = [comm] + ufr[::-1] if ustack else [comm]
    if kstack:
        line += (["-"] if delim and kfr and ufr else []) + kfr[::-1]
    return line


def fold(line: list[str]) -> str:
    return ";".join(f.replace(";", ":") for f in line)


def stack_rows(kfr: list[str], ufr: list[str], delim: bool, comm: str, ident: int, n: int) -> str:
    """BCC's multi-line stack: kernel frames, `--` (with -d), user frames, `- comm (id)`, total."""
    rows = [f"    {f}" for f in kfr]
    if delim and kfr and ufr:
        rows.append("    --")
    rows += [f"    {f}" for f in ufr]
    rows.append(f"    {'-':<16s} {comm} ({ident})")
    rows.append(f"        {n}\n")
    return "\n".join(rows)


class StackTool(Tool):
    """A stack tool: which stacks are kept (-U/-K, -d), its banner, its duration."""

    kstack = True
    ustack = True
    delim = False

    def choose_stacks(self) -> None:
        o = self.o
        self.kstack = not o.user_stacks_only
        self.ustack = not o.kernel_stacks_only
        self.delim = o.delimited and self.kstack and self.ustack

    def stack_words(self) -> str:
        return "user + kernel" if self.kstack and self.ustack else ("user" if self.ustack else "kernel")

    def banner(self, h: str) -> str | None:
        """The header line with BCC's duration words; with -f on stderr, stdout being pure
        folded lines (the readiness line still arrives)."""
        h += f" for {self.o.duration} secs." if self.o.duration < FOREVER else "... Hit Ctrl-C to end."
        if self.o.folded:
            sys.stderr.write(h + "\n")
            sys.stderr.flush()
            return None
        return h

    def duration(self) -> float | None:
        return None if self.o.duration >= FOREVER else float(self.o.duration)
