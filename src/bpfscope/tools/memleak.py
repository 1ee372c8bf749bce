"""memleak: outstanding (not yet freed) allocations by stack (BCC's options and report).

User mode (-p PID / -c CMD): uprobes on the allocator functions of libc (or -O OBJ), scoped to
the process: the entry keeps the requested size by thread, the return records the address with
its size, time and user stack; free/munmap forget it. Kernel mode (no -p/-c): the kmem
tracepoints give pointer and size in one event, so no entry/return pairing is needed.
Every interval the allocations older than -o ms are grouped by stack and the top -T printed.
"""

# ruff: noqa: UP031  (BCC's %-format strings are its output spec)
from __future__ import annotations

import argparse
import os
import re
import resource
import sys
from datetime import datetime
from typing import Any

from . import _multi, bccspec
from .base import Tool, ToolError
from .needs import Need

# allocator -> the size expression at its entry (BCC's gen_alloc_enter arguments)
ALLOCATORS = {"malloc": "arg0", "calloc": "arg0 * arg1", "realloc": "arg1", "mmap": "arg1",
              "posix_memalign": "arg2", "valloc": "arg0", "memalign": "arg1", "pvalloc": "arg0",
              "aligned_alloc": "arg1"}
OPTIONAL = {"valloc", "pvalloc", "aligned_alloc"}   # BCC's can_fail ones
_PERF_FRAME = re.compile(r"^([0-9a-f]+) (.*?)(?:\+(\d+))?(?: \((.*)\))?$")


def bcc_frame(raw: str, kernel: bool) -> str:
    """`ADDR sym+off (module)` (perf-mode frame) as BCC's memleak prints a frame:
    `0x%016x\\tsym+0xoff [module]`."""
    m = _PERF_FRAME.match(raw)
    if not m:
        return raw
    addr, sym, off, mod = m.groups()
    a = int(addr, 16)
    if sym.startswith("0x") or not sym:
        return f"0x{a:016x}\t[unknown]"
    modname = "kernel" if kernel else os.path.basename(mod or "") or "unknown"
    return f"0x{a:016x}\t{sym}+0x{int(off or 0):x} [{modname}]"


class MemLeak(Tool):
    name = "memleak"
    purpose = "Trace outstanding memory allocations that weren't freed"
    description = """
Trace outstanding memory allocations that weren't freed.
Supports both user-mode allocations made with libc functions and kernel-mode
allocations made with kmalloc/kmem_cache_alloc/get_free_pages and corresponding
memory release functions.
"""
    examples = """
EXAMPLES:

./memleak -p $(pidof allocs)
        Trace allocations and display a summary of "leaked" (outstanding)
        allocations every 5 seconds
./memleak -p $(pidof allocs) -t
        Trace allocations and display each individual allocator function call
./memleak -ap $(pidof allocs) 10
        Trace allocations and display allocated addresses, sizes, and stacks
        every 10 seconds for outstanding allocations
./memleak -c "./allocs"
        Run the specified command and trace its allocations
./memleak
        Trace allocations in kernel mode and display a summary of outstanding
        allocations every 5 seconds
./memleak -o 60000
        Trace allocations in kernel mode and display a summary of outstanding
        allocations that are at least one minute (60 seconds) old
./memleak -s 5
        Trace roughly every 5th allocation, to reduce overhead
"""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("-p", "--pid", type=int, default=-1,
                        help="the PID to trace; if not specified, trace kernel allocs")
        ap.add_argument("-t", "--trace", action="store_true", help="print trace messages for each alloc/free call")
        ap.add_argument("interval", nargs="?", default=5, type=int,
                        help="interval in seconds to print outstanding allocations")
        ap.add_argument("count", nargs="?", type=int, help="number of times to print the report before exiting")
        ap.add_argument("-a", "--show-allocs", default=False, action="store_true",
                        help="show allocation addresses and sizes as well as call stacks")
        ap.add_argument("-o", "--older", default=500, type=int,
                        help="prune allocations younger than this age in milliseconds")
        ap.add_argument("-c", "--command", help="execute and trace the specified command")
        ap.add_argument("--combined-only", default=False, action="store_true",
                        help="show combined allocation statistics only")
        ap.add_argument("--wa-missing-free", default=False, action="store_true",
                        help="Workaround to alleviate misjudgments when free is missing")
        ap.add_argument("-s", "--sample-rate", default=1, type=int,
                        help="sample every N-th allocation to decrease the overhead")
        ap.add_argument("-T", "--top", type=int, default=10,
                        help="display only this many top allocating stacks (by size)")
        ap.add_argument("-z", "--min-size", type=int, help="capture only allocations larger than this size")
        ap.add_argument("-Z", "--max-size", type=int, help="capture only allocations smaller than this size")
        ap.add_argument("-O", "--obj", type=str, default="c",
                        help="attach to allocator functions in the specified object")
        ap.add_argument("--percpu", default=False, action="store_true", help="trace percpu allocations")

    def check(self) -> None:
        o = self.o
        if o.min_size is not None and o.max_size is not None and o.min_size > o.max_size:
            raise ToolError("min_size (-z) can't be greater than max_size (-Z)")
        if o.interval <= 0:
            raise ToolError("memleak: interval must be positive")
        if o.count is not None and o.count <= 0:
            raise ToolError("memleak: count must be positive")
        if o.sample_rate <= 0:
            raise ToolError("memleak: sample rate must be positive")
        if o.command is not None and o.pid != -1:
            raise ToolError("memleak: -p and -c are mutually exclusive")
        if o.command is not None and not o.command.split():
            raise ToolError("memleak: empty command")
        self.kernel = o.pid == -1 and o.command is None
        self.target_pid = -1 if self.kernel else o.pid
        self.child: Any = None
        self.printed = 0
        if not self.kernel and o.pid != -1 and not os.path.exists(f"/proc/{o.pid}"):
            raise ToolError(f"memleak: no process with PID {o.pid}")
        self.program_opts = {"max_map_keys": 65536 if not self.kernel else 262144, "stack_entries": 16384}

    def requires(self) -> list[Need]:
        if self.kernel:
            tps = ["kmem:kmalloc", "kmem:kfree"] if not self.o.percpu else ["percpu:percpu_alloc_percpu"]
            return [Need("tracepoint", t) for t in tps]
        return [Need("feature", "uprobe")]

    # ------------------------------------------------------------ program
    def _size_ok(self, size: str) -> str:
        o = self.o
        conds = []
        if o.min_size is not None:
            conds.append(f"{size} >= {o.min_size}")
        if o.max_size is not None:
            conds.append(f"{size} <= {o.max_size}")
        if o.sample_rate > 1:
            conds.append(f"nsecs % {o.sample_rate} == 0")
        return " && ".join(conds)

    def _record(self, addr: str, size: str, stack: str, what: str) -> str:
        """Keep one allocation (and its combined per-stack totals); -t prints it."""
        out = [f"@allocs[{addr}] = ({size}, nsecs, {stack});"]
        if self.o.combined_only:
            out.append(f"@csize[{stack}] = sum({size}); @ccount[{stack}] = sum(1);")
        if self.o.trace:
            out.append(f'printf("{what} %d %d %u %u\\n", pid, cpu, {size}, {addr});')
        return " ".join(out)

    def _forget(self, addr: str) -> str:
        out = [f"$i = @allocs[{addr}];"]
        if self.o.combined_only:
            out.append("@csize[$i.2] = sum(-$i.0); @ccount[$i.2] = sum(-1);")
        if self.o.trace:
            out.append(f'printf("free %d %d %u %u\\n", pid, cpu, $i.0, {addr});')
        out.append(f"delete(@allocs, {addr});")
        return f"if (has_key(@allocs, {addr})) {{ {' '.join(out)} }}"

    def program(self) -> str:
        text = self._kernel_program() if self.kernel else self._user_program()
        return text

    def _kernel_program(self) -> str:
        st = "kstack(perf)"
        if self.o.percpu:
            pairs = [("percpu:percpu_alloc_percpu", "args.size", "args.ptr", "percpu:percpu_free_percpu", "args.ptr")]
        else:
            page = resource.getpagesize()
            pairs = [("kmem:kmalloc", "args.bytes_alloc", "args.ptr", "kmem:kfree", "args.ptr"),
                     ("kmem:kmem_cache_alloc", "args.bytes_alloc", "args.ptr", "kmem:kmem_cache_free", "args.ptr"),
                     ("kmem:mm_page_alloc", f"({page} << args.order)", "args.pfn", "kmem:mm_page_free", "args.pfn")]
        out = []
        for alloc, size, addr, free, faddr in pairs:
            cond = self._size_ok("$s")
            rec = self._record("$a", "$s", st, "alloc")
            body = f"if ({cond}) {{ {rec} }}" if cond else rec
            out.append(f"tracepoint:{alloc} {{ $s = (uint64){size}; $a = (uint64){addr}; {body} }}")
            out.append(f"tracepoint:{free} {{ $a = (uint64){faddr}; {self._forget('$a')} }}")
        return "\n".join(out) + "\n"

    def _user_program(self) -> str:
        o = self.o
        lib = bccspec.resolve_library(o.obj, o.pid if o.pid > 0 else None)
        if lib is None:
            raise ToolError(f"memleak: can't find library {o.obj}")
        from ..kernel import elf

        try:
            have = {s.name for s in elf.function_symbols(lib)}
        except (OSError, ValueError) as e:
            raise ToolError(f"memleak: cannot read {lib}: {e}") from None
        missing = [f for f in ALLOCATORS if f not in have and f not in OPTIONAL] + \
            [f for f in ("free",) if f not in have]
        if missing:
            raise ToolError(f"memleak: {lib} has no {', '.join(missing)}")
        if o.command is not None and not o.ebpf:
            self._spawn()
        pid = f"pid == {self.target_pid}" if self.target_pid > 0 else "pid == 0"
        out = []
        for fn, size in ALLOCATORS.items():
            if fn not in have:
                continue
            cond = " && ".join(c for c in (pid, self._size_ok(size)) if c)
            pre = self._forget("arg0") + " " if fn == "realloc" else ""
            memptr = "@memptr[tid] = arg0; " if fn == "posix_memalign" else ""
            out.append(f"uprobe:{lib}:{fn} /{pid}/ {{ {pre}if ({cond}) {{ {memptr}@sizes[tid] = {size}; }} }}")
            if fn == "posix_memalign":
                addr = "$a = *(uint64 *)uptr(@memptr[tid]); delete(@memptr, tid);"
                ok = "retval == 0"
            else:
                addr = "$a = (uint64)retval;"
                ok = "$a != 0" + (" && $a != 0xffffffffffffffff" if fn == "mmap" else "")
            out.append(f"uretprobe:{lib}:{fn} /has_key(@sizes, tid)/ {{ $s = @sizes[tid]; delete(@sizes, tid); "
                       f"{addr} if ({ok}) {{ {self._record('$a', '$s', 'ustack(perf)', 'alloc')} }} }}")
        out.append(f"uprobe:{lib}:free /{pid}/ {{ $a = (uint64)arg0; {self._forget('$a')} }}")
        if "munmap" in have:
            out.append(f"uprobe:{lib}:munmap /{pid}/ {{ $a = (uint64)arg0; {self._forget('$a')} }}")
        return "\n".join(out) + "\n"

    def _spawn(self) -> None:
        """-c: the command runs in a child that waits until the probes are attached, then execs
        (BCC starts it at once and may miss its first allocations)."""
        import shlex

        argv = shlex.split(self.o.command)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:   # child: wait for the go byte (or our exit), then exec
            os.close(wfd)
            try:
                if os.read(rfd, 1) == b"g":
                    os.execvp(argv[0], argv)
            except OSError as e:
                sys.stderr.write(f"memleak: cannot run {argv[0]}: {e.strerror}\n")
            os._exit(127)
        os.close(rfd)
        self.child = (pid, wfd)
        self.target_pid = pid
        sys.stdout.write(f"Executing '{self.o.command}' and tracing the resulting process.\n")
        sys.stdout.flush()

    # ------------------------------------------------------------ running
    def header(self) -> str | None:
        if self.kernel:
            return "Attaching to kernel allocators, Ctrl+C to quit."
        _multi.capture_maps(self.prog, [self.target_pid] if self.o.pid > 0 else None)
        text: str | None = f"Attaching to pid {self.target_pid}, Ctrl+C to quit."
        if self.child is not None:   # our line out first: the command shares our stdout
            if not self.json:
                self.write(f"{text}\n")
                self.flush()
                text = None
            os.write(self.child[1], b"g")
            os.close(self.child[1])
        return text

    def interval(self) -> float | None:
        return None if self.o.trace else float(self.o.interval)

    def count(self) -> int | None:
        return None if self.o.trace else self.o.count

    def on_alloc(self, pid: int, cpu: int, size: int, addr: int) -> None:
        """-t: one line per allocator call (BCC prints its trace_pipe messages)."""
        self.emit(f"alloc exited, size = {size}, result = {addr:x}", event="alloc", pid=pid, cpu=cpu,
                  size=size, address=addr)

    def on_free(self, pid: int, cpu: int, size: int, addr: int) -> None:
        self.emit(f"free entered, address = {addr:x}, size = {size}", event="free", pid=pid, cpu=cpu,
                  size=size, address=addr)

    def tick(self) -> None:
        if self.o.combined_only:
            self._combined()
        else:
            self._outstanding()
        self.printed += 1

    def _title(self) -> None:
        self.write("[%s] Top %d stacks with outstanding allocations:\n" % (datetime.now().strftime("%H:%M:%S"),
                                                                         self.o.top))

    def _stack(self, st: Any) -> list[str]:
        fr = list(st) if isinstance(st, (list, tuple)) else []
        if self.kernel:
            while fr and _multi.frame(fr[0].split(" ", 1)[-1].split(" (")[0]).startswith(_multi._TRACE_FRAMES):
                fr.pop(0)
        return [bcc_frame(f, self.kernel) for f in fr]

    def _outstanding(self) -> None:
        import time

        self._title()
        now = time.monotonic_ns()
        min_age = self.o.older * 1_000_000
        groups: dict[tuple[str, ...], list[int]] = {}
        entries = self.prog.map_entries("@allocs")
        for addr, (size, ts, st) in sorted(entries, key=lambda kv: kv[1][0]):
            if now - min_age < ts:
                continue
            frames = tuple(self._stack(st))
            g = groups.setdefault(frames, [0, 0])
            g[0] += size
            g[1] += 1
            if self.o.show_allocs:
                self.write("\taddr = %x size = %s\n" % (addr, size))
                if self.json:
                    self.emit("", address=addr, size=size)
        top = sorted(groups.items(), key=lambda kv: kv[1][0])[-self.o.top:]
        for frames, (size, n) in top:
            self.emit("\t%d bytes in %d allocations from stack\n\t\t%s" % (size, n, "\n\t\t".join(frames)),
                      bytes=size, allocations=n, stack=list(frames))

    def _combined(self) -> None:
        sizes = dict(self._keyed("@csize"))
        counts = dict(self._keyed("@ccount"))
        rows = sorted(((sizes.get(k, 0), counts.get(k, 0), k) for k in sizes), key=lambda r: -r[0])
        rows = [r for r in rows if r[1] > 0][:self.o.top]
        self._title()
        for size, n, frames in reversed(rows):
            self.emit("\t%d bytes in %d allocations from stack\n\t\t%s" % (size, n, "\n\t\t".join(frames)),
                      bytes=size, allocations=n, stack=list(frames))

    def _keyed(self, name: str) -> list[tuple[tuple[str, ...], int]]:
        return [(tuple(self._stack(k)), v) for k, v in self.prog.map_entries(name)]

    def finish(self, interrupted: bool) -> None:
        if self.child is not None:   # -c: BCC leaves the command running; reap it if it ended
            try:
                os.waitpid(self.child[0], os.WNOHANG)
            except ChildProcessError:
                pass


TOOL = MemLeak
