"""Grammar-based generator of bpftrace programs, and a fuzz driver for the compiler (issue 17).

Programs are built from a random.Random: a few probes of different kinds (BEGIN/END,
syscall and sched tracepoints with their fields, BTF raw tracepoints, uprobes/uretprobes on
bash, profile, interval, a kprobe this host lacks), each with statements that keep a type
environment (variables, maps with their key and value kinds) so most programs are well
typed and reach code generation. About one in five is then damaged on purpose: a type
error, an unknown name, a wrong argument count, or text-level damage (a token dropped,
duplicated or swapped), so the diagnostics are driven as hard as the code generator.

Outcome classes (`classify`):
  ok          compiled (parse + types + codegen; no load)
  located     CompileError carrying a span (rendered as `stdin:L:C: ERROR: ...`)
  unlocated   CompileError without a span            -> a defect
  traceback   any other exception                     -> a defect
With `load`, programs that compiled are also loaded into the kernel (verifier; nothing is
attached): `loaded`, `rejected-located` (a verifier rejection mapped to a source span) or
`rejected-unlocated` / `load-traceback` (defects).

    python3 -m tests.reliability.gen_programs --count 100000 --load 500 --seed 1 --jobs 2
    python3 -m tests.reliability.gen_programs --show 5          # print a few programs
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- probe kinds


@dataclass(frozen=True)
class Kind:
    name: str
    heads: tuple[str, ...]          # attach points
    ints: tuple[str, ...] = ()      # extra integer expressions valid here
    strs: tuple[str, ...] = ()      # extra string expressions valid here
    stacks: bool = False            # kstack/ustack meaningful (as map keys)
    weight: int = 1


COMMON_INTS = ("pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "rand", "curtask->pid",
               "curtask->real_parent->tgid", "cgroup", "numaid", "jiffies")
COMMON_STRS = ("comm", '"abc"', '"x"', 'curtask->comm', '""')

KINDS = (
    Kind("special", ("begin", "end", "BEGIN", "END"), weight=12),
    Kind("tp-openat", ("tracepoint:syscalls:sys_enter_openat",),
         ("args.dfd", "args.flags", "args.mode", "args->flags"), ("str(args.filename)", "str(args->filename, 8)"),
         stacks=True, weight=9),
    Kind("tp-exit-read", ("tracepoint:syscalls:sys_exit_read", "t:syscalls:sys_exit_read"), ("args.ret",),
         stacks=True, weight=6),
    Kind("tp-sched", ("tracepoint:sched:sched_switch",), ("args.prev_pid", "args.next_pid", "args.prev_state"),
         ("args.prev_comm", "args.next_comm"), stacks=True, weight=6),
    Kind("rawtp", ("rawtracepoint:sched_switch",), ("args.prev->pid", "args.next->tgid", "args.preempt"),
         ("args.prev->comm",), stacks=True, weight=3),
    Kind("uprobe", ("uprobe:/bin/bash:readline", "u:/bin/bash:readline"), ("arg0", "reg(\"ip\")", "reg(\"sp\")"),
         ("str(arg0)",), stacks=True, weight=6),
    Kind("uretprobe", ("uretprobe:/bin/bash:readline", "ur:/bin/bash:readline"), ("retval",), ("str(retval)",),
         stacks=True, weight=6),
    Kind("profile", ("profile:hz:99", "profile:ms:10"), (), (), stacks=True, weight=6),
    Kind("interval", ("interval:s:1", "interval:ms:100"), weight=6),
    Kind("kprobe", ("kprobe:vfs_read",), ("arg0", "arg1"), stacks=True, weight=1),   # absent here: a diagnostic
)

AGGS = ("count()", "sum({i})", "avg({i})", "min({i})", "max({i})", "stats({i})", "hist({i})",
        "lhist({i}, 0, 100, 10)", "hist({i}, 2)")
CASTS = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")
BINOPS = ("+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "&&", "||", "==", "!=", "<", "<=", ">", ">=")
INT_FMTS = ("%d", "%u", "%x", "%lu", "%ld", "%5d", "%-5d", "%05d", "%X", "%llu", "%hhd", "%o")
STR_FMTS = ("%s", "%10s", "%-4s", "%.2s")
STACKS = ("kstack", "ustack", "kstack(3)", "ustack(2)", "kstack(perf)", "ustack(raw, 4)", "kstack(1)")


@dataclass
class MapInfo:
    keys: tuple[str, ...]   # "i" int, "s" string, or a stack expression; () for a scalar map
    value: str              # "i", "s", or an aggregation template from AGGS


@dataclass
class Env:
    rng: random.Random
    kind: Kind
    maps: dict[str, MapInfo]
    ints: list[str] = field(default_factory=list)
    strs: list[str] = field(default_factory=list)
    n: int = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


def int_expr(env: Env, depth: int = 0) -> str:
    r = env.rng
    c = r.random()
    if depth >= 3 or c < 0.35:
        pool = list(COMMON_INTS) + list(env.kind.ints) * 3 + env.ints * 3
        if r.random() < 0.3:
            return r.choice(["0", "1", "-1", "42", "0x10", "1000000", "18446744073709551615", "-9223372036854775808",
                             "1_000", "10ms", "true", "false", "sizeof(int)", "sizeof(struct task_struct)"])
        return r.choice(pool)
    if c < 0.65:
        return f"({int_expr(env, depth + 1)} {r.choice(BINOPS)} {int_expr(env, depth + 1)})"
    if c < 0.72:
        return f"{r.choice(['-', '!', '~'])}({int_expr(env, depth + 1)})"
    if c < 0.78:
        return f"({int_expr(env, depth + 1)} ? {int_expr(env, depth + 1)} : {int_expr(env, depth + 1)})"
    if c < 0.85:
        return f"({r.choice(CASTS)}){int_expr(env, depth + 1)}"
    if c < 0.90:
        return f"({str_expr(env)} {r.choice(['==', '!='])} {str_expr(env)})"
    ints = [m for m, i in env.maps.items() if i.value == "i" and all(k == "i" for k in i.keys)]
    if ints:
        m = r.choice(ints)
        keys = env.maps[m].keys
        return m if not keys else f"{m}[{', '.join(int_expr(env, 3) for _ in keys)}]"
    return r.choice(COMMON_INTS)


def str_expr(env: Env) -> str:
    pool = list(COMMON_STRS) + list(env.kind.strs) * 2 + env.strs * 2
    return env.rng.choice(pool)


def key_expr(env: Env, k: str) -> str:
    if k == "s":
        return str_expr(env)
    if k in STACKS:
        return k
    return int_expr(env, 2)


def new_map(env: Env) -> str:
    r = env.rng
    name = r.choice(["@", "@m", "@x", "@counts", "@h", "@s"])
    if name != "@":
        name += str(r.randrange(4))
    if name in env.maps:
        return name
    arity = r.choice([0, 1, 1, 1, 2, 3])
    kinds = "iis" + ("k" if env.kind.stacks else "")
    keys = tuple(r.choice(kinds) for _ in range(arity))
    keys = tuple(k if k != "k" else r.choice(STACKS) for k in keys)   # one stack kind per key slot
    value = r.choice(["i", "i", "s", "agg", "agg", "agg"])
    if value == "agg":
        value = r.choice(AGGS)
    env.maps[name] = MapInfo(keys, value)
    return name


def map_ref(env: Env, name: str) -> str:
    keys = env.maps[name].keys
    return name if not keys else f"{name}[{', '.join(key_expr(env, k) for k in keys)}]"


def stmt(env: Env, depth: int = 0) -> str:
    r = env.rng
    c = r.random()
    if c < 0.18:
        old = env.ints and r.random() < 0.4
        v = r.choice(env.ints) if old else env.fresh("$i")
        op = r.choice(["=", "=", "=", "+=", "-=", "<<=", "|="]) if old else "="
        text = f"{v} {op} {int_expr(env)};"   # the value first: it must not see the new variable
        if not old:
            env.ints.append(v)
        return text
    if c < 0.24:
        v = env.fresh("$s")
        text = f"{v} = {str_expr(env)};"
        env.strs.append(v)
        return text
    if c < 0.48:
        name = new_map(env) if not env.maps or r.random() < 0.4 else r.choice(list(env.maps))
        info = env.maps[name]
        if info.value == "i":
            return f"{map_ref(env, name)} = {int_expr(env)};"
        if info.value == "s":
            return f"{map_ref(env, name)} = {str_expr(env)};"
        return f"{map_ref(env, name)} = {info.value.format(i=int_expr(env, 1))};"
    if c < 0.60:
        n = r.randrange(0, 4)
        spec, args = [], []
        for _ in range(n):
            if r.random() < 0.7:
                spec.append(r.choice(INT_FMTS))
                args.append(int_expr(env, 1))
            else:
                spec.append(r.choice(STR_FMTS))
                args.append(str_expr(env))
        return f'printf("{" ".join(spec)}\\n"{"".join(", " + a for a in args)});'
    if c < 0.66 and env.maps:
        name = r.choice(list(env.maps))
        op = r.choice(["print({m});", "clear({m});", "zero({m});", "print({m}, 3);", "print({m}, 2, 1000);"])
        if env.maps[name].keys and r.random() < 0.5:
            return f"delete({map_ref(env, name)});"
        return op.format(m=name)
    if c < 0.70:
        return f"print({int_expr(env) if r.random() < 0.6 else str_expr(env)});"
    if c < 0.74:
        v = env.fresh("$t")
        return f"{v} = ({int_expr(env, 2)}, {str_expr(env)}); print({v}.{r.choice(['0', '1', '0'])});"
    if c < 0.77:
        return r.choice(["exit();", "@ = count();", "@n++;", "print(\"x\");", "time(\"%H:%M:%S\\n\");",
                         "printf(\"%s\\n\", strftime(\"%H\", nsecs));", "cat(\"/proc/loadavg\");",
                         "printf(\"%r\\n\", buf(comm, 4));", "print(ksym(0));", "print(usym(0));"])
    if depth >= 2:
        return f"{env.fresh('$d')} = {int_expr(env, 1)};"
    saved = (list(env.ints), list(env.strs))
    if c < 0.88:
        a = block(env, depth + 1)
        env.ints, env.strs = list(saved[0]), list(saved[1])
        text = f"if ({int_expr(env, 1)}) {a}"
        if r.random() < 0.5:
            text += f" else {block(env, depth + 1)}"
    elif c < 0.93:
        text = f"unroll({r.randrange(1, 6)}) {block(env, depth + 1)}"
    elif c < 0.97:
        v = env.fresh("$k")
        env.ints.append(v)
        text = f"for ({v} : {r.randrange(-2, 3)}..{r.randrange(0, 6)}) {block(env, depth + 1)}"
    else:
        v = env.fresh("$w")
        text = f"{v} = 0; while ({v} < {r.randrange(0, 5)}) {{ {v}++; {stmt(env, depth + 1)} }}"
        saved = (saved[0] + [v], saved[1])
    env.ints, env.strs = saved
    return text


def block(env: Env, depth: int) -> str:
    return "{ " + " ".join(stmt(env, depth) for _ in range(env.rng.randrange(1, 4))) + " }"


def probe(rng: random.Random, maps: dict[str, MapInfo]) -> str:
    kind = rng.choices(KINDS, weights=[k.weight for k in KINDS])[0]
    env = Env(rng, kind, maps)
    head = rng.choice(kind.heads)
    pred = f" /{int_expr(env, 1)}/" if rng.random() < 0.25 else ""
    body = " ".join(stmt(env) for _ in range(rng.randrange(1, 6)))
    return f"{head}{pred} {{ {body} }}"


# --------------------------------------------------------------------------- damage

BAD_SNIPPETS = ('"a" + 1', "curtask->nosuchfield", "nosuchbuiltin", "$undefined", "@never[1, 2, 3]",
                "count(1, 2)", "hist()", "lhist(1, 2)", "str()", "(struct nosuch *)0", "sizeof(struct nosuch)",
                "args.nosuch", "retval", "arg9", "kstack(0)", "kstack(foo)", "printf(1)", 'printf("%d %d", 1)',
                "(int8[3])1", "comm[0]", "*0", "-\"s\"", "1 ? 2 : \"x\"", "@m0 = 1; @m0 = \"s\"",
                "delete(@zz)", "exit(1, 2)", "pid = 3", "$t.9", "'c'", "0x", "1e5", "@[1] = 1; @[\"a\"] = 2")


def damage(src: str, rng: random.Random) -> str:
    """A deliberately wrong variant: semantic (a bad snippet) or textual (token surgery)."""
    c = rng.random()
    if c < 0.5:
        bad = rng.choice(BAD_SNIPPETS)
        at = src.rfind("}")
        stmt_text = f" print({bad});" if rng.random() < 0.5 else f" {bad};"
        return src[:at] + stmt_text + " " + src[at:]
    toks = src.split(" ")
    i = rng.randrange(len(toks))
    if c < 0.7:
        del toks[i]
    elif c < 0.85:
        toks.insert(i, toks[rng.randrange(len(toks))])
    else:
        j = rng.randrange(len(toks))
        toks[i], toks[j] = toks[j], toks[i]
    if rng.random() < 0.3:   # and sometimes a character cut in the middle
        s = " ".join(toks)
        k = rng.randrange(len(s))
        return s[:k] + s[k + 1:]
    return " ".join(toks)


def generate(rng: random.Random) -> str:
    """One program: 1-3 probes sharing maps; one in five damaged."""
    maps: dict[str, MapInfo] = {}
    pre = rng.choice(["", "", "", "#define K 3\n", "struct P { int x; char s[4]; }\n",
                      "config = { max_map_keys = 64 }\n", "macro twice(x) { x * 2 }\n"])
    src = pre + " ".join(probe(rng, maps) for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.2:
        src = damage(src, rng)
    return src


# --------------------------------------------------------------------------- driver


@dataclass
class Stats:
    outcomes: Counter[str] = field(default_factory=Counter)
    defects: dict[str, list[str]] = field(default_factory=dict)   # signature -> example programs
    notes: dict[str, list[str]] = field(default_factory=dict)     # not defects by the rule, worth a look
    seconds: float = 0.0

    def defect(self, sig: str, src: str) -> None:
        ex = self.defects.setdefault(sig, [])
        if len(ex) < 3:
            ex.append(src)

    def note(self, sig: str, src: str) -> None:
        ex = self.notes.setdefault(sig, [])
        if len(ex) < 3:
            ex.append(src)

    def summary(self) -> str:
        total = sum(v for k, v in self.outcomes.items() if not k.startswith(("loaded", "rejected", "load-")))
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        lines = [f"{total} programs in {self.seconds:.0f}s: {parts}"]
        for sig, ex in sorted(self.defects.items()):
            lines.append(f"  DEFECT {sig}\n      e.g. {ex[0]!r}")
        for sig, ex in sorted(self.notes.items()):
            lines.append(f"  NOTE {sig}\n      e.g. {ex[0]!r}")
        return "\n".join(lines)


def _sig(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    last = tb[-1] if tb else None
    where = f"{last.filename.rsplit('/src/', 1)[-1]}:{last.lineno}" if last else "?"
    return f"{type(e).__name__} at {where}: {str(e)[:80]}"


def classify(src: str, stats: Stats, load: bool) -> None:
    import bpfscope
    from bpfscope.lang.diagnostics import CompileError

    p = bpfscope.Program(src)
    try:
        try:
            p.compile()
        except CompileError as e:
            if e.span is None:
                stats.outcomes["unlocated"] += 1
                stats.defect(f"unlocated CompileError: {e.message[:80]}", src)
            else:
                stats.outcomes["located"] += 1
            return
        except RecursionError as e:
            stats.outcomes["traceback"] += 1
            stats.defect(_sig(e), src)
            return
        except Exception as e:   # noqa: BLE001 - every other exception is what we hunt
            stats.outcomes["traceback"] += 1
            stats.defect(_sig(e), src)
            return
        stats.outcomes["ok"] += 1
        if not load:
            return
        try:
            p.load()
        except CompileError as e:
            # a verifier rejection (or a map/BTF refusal) must point at the source
            if e.span is None:
                stats.outcomes["rejected-unlocated"] += 1
                stats.defect(f"load error without a source span: {e.message[:80]}", src)
            else:
                stats.outcomes["rejected-located"] += 1
                stats.note(f"rejected at load (located): {e.message[:100]}", src)
            return
        except Exception as e:   # noqa: BLE001
            stats.outcomes["load-traceback"] += 1
            stats.defect("load: " + _sig(e), src)
            return
        stats.outcomes["loaded"] += 1
    finally:
        p.close()


def fuzz(count: int, seed: int, loads: int = 0, progress: bool = False) -> Stats:
    """`count` generated programs through the compiler; `loads` of those that compile (spread
    over the run) also loaded into the kernel."""
    rng = random.Random(seed)
    stats = Stats()
    t0 = time.monotonic()
    every = max(1, count // max(loads, 1)) if loads else 0
    loaded = 0
    pending = False   # a load is due: the next program that compiles is loaded
    for i in range(count):
        src = generate(rng)
        pending = pending or (bool(loads) and loaded < loads and i % every == 0)
        before = stats.outcomes["ok"]
        classify(src, stats, load=False)
        if pending and stats.outcomes["ok"] > before:
            pending = False
            sub = Stats()
            classify(src, sub, load=True)
            for k in ("loaded", "rejected-located", "rejected-unlocated", "load-traceback"):
                stats.outcomes[k] += sub.outcomes[k]
            for sig, ex in sub.defects.items():
                stats.defect(sig, ex[0])
            for sig, ex in sub.notes.items():
                stats.note(sig, ex[0])
            loaded += 1
        if progress and i and i % 1000 == 0:   # figures so far, defects included (a cut-short run still tells)
            print(f"  {i} programs, {time.monotonic() - t0:.0f}s, {dict(stats.outcomes)}, "
                  f"defects {sorted(stats.defects)}", file=sys.stderr, flush=True)
    stats.seconds = time.monotonic() - t0
    return stats


def _worker(args: tuple[int, int, int]) -> Stats:
    count, seed, loads = args
    return fuzz(count, seed, loads, progress=seed % 1000 == 0)


def fuzz_parallel(count: int, seed: int, loads: int = 0, jobs: int = 1) -> Stats:
    """fuzz() split over `jobs` processes (worker w uses seed `seed * 1000 + w`); stats merged."""
    if jobs <= 1:
        return fuzz(count, seed, loads, progress=True)
    import multiprocessing

    parts = [(count // jobs + (w < count % jobs), seed * 1000 + w, loads // jobs + (w < loads % jobs))
             for w in range(jobs)]
    t0 = time.monotonic()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        results = pool.map(_worker, parts)
    total = Stats()
    for r in results:
        total.outcomes.update(r.outcomes)
        for sig, ex in r.defects.items():
            for src in ex:
                total.defect(sig, src)
        for sig, ex in r.notes.items():
            for src in ex:
                total.note(sig, src)
    total.seconds = time.monotonic() - t0
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fuzz bpfscope's compiler with generated bpftrace programs.")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--load", type=int, default=0, help="how many compiled programs to load into the kernel")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--show", type=int, default=0, help="print N generated programs and exit")
    a = ap.parse_args(argv)
    if a.show:
        rng = random.Random(a.seed)
        for _ in range(a.show):
            print(generate(rng))
        return 0
    stats = fuzz_parallel(a.count, a.seed, a.load, a.jobs)
    print(stats.summary())
    return 1 if stats.defects else 0


if __name__ == "__main__":
    sys.exit(main())
