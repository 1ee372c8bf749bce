"""The CLI's run loop: compile, start `-c` child (held before exec), load, attach,
run begin probes, release the child, pump events until exit()/signal/child exit,
then end probes and the map dump. Every path releases all kernel objects.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from typing import IO, Any

from ..lang.diagnostics import CompileError
from . import output
from .program import BpfscopeError, Program

NOTIFY = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"


class Child:
    """A `-c` command forked now, held on a pipe, exec'd once probes are attached."""

    def __init__(self, cmd: str) -> None:
        import shlex

        argv = shlex.split(cmd)
        if not argv:
            raise BpfscopeError("ERROR: -c requires a command")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(w)
                if os.read(r, 1) != b"g":
                    os._exit(1)
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvp(argv[0], argv)
            except OSError as e:
                sys.stderr.write(f"ERROR: failed to execute '{argv[0]}': {e.strerror}\n")
            os._exit(127)
        os.close(r)
        self.pid = pid
        self._go = w
        self.status: int | None = None
        self.pidfd = os.pidfd_open(pid)

    def start(self) -> None:
        os.write(self._go, b"g")
        os.close(self._go)
        self._go = -1

    def reap(self) -> bool:
        if self.status is not None:
            return True
        pid, st = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.status = st
        return True

    def kill(self) -> None:
        if self._go >= 0:
            os.close(self._go)  # child sees EOF and exits without exec
            self._go = -1
        if self.status is None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.status = 0
        os.close(self.pidfd)


def _open_out(opts: Any) -> IO[str]:
    if opts.out:
        try:
            return open(opts.out, "w", buffering=1 if opts.buffering != "full" else -1)
        except OSError as e:
            raise BpfscopeError(f"ERROR: failed to open output file '{opts.out}': {e.strerror}") from None
    if opts.buffering == "full":
        return sys.stdout
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return sys.stdout


def run(source: str, opts: Any) -> int:
    json = opts.fmt == "json"
    try:
        out = _open_out(opts)
    except BpfscopeError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    popts: dict[str, Any] = {"no_warnings": True} if opts.no_warnings else {}
    # bpftrace 0.26 shows ustack source lines unless config says otherwise; the BCC-style tools
    # that reuse Program keep BCC's frames
    popts["show_debug_info_default"] = True
    for key, attr in (("named_params", "named"), ("helper_errors", "helper_errors"), ("mode", "mode"),
                      ("probe_filter", "probe_filter"), ("includes", "includes")):
        if getattr(opts, attr, None):
            popts[key] = getattr(opts, attr)
    prog = Program(source, filename=opts.filename, args=opts.args, unsafe=opts.unsafe, pid=opts.pid,
                   json=json, out=out, opts=popts)
    child: Child | None = None
    sigs = Signals()
    try:
        try:
            prog.compile()
        except CompileError as e:
            sys.stderr.write(prog.source.error(e))
            return 1
        if not opts.no_warnings:
            for msg, span in prog.compile().warnings:
                sys.stderr.write(prog.source.warning(msg, span))
        if opts.debug:
            _debug_dump(prog)
        elif opts.verbose:
            _verbose_dump(prog)
        if opts.cmd:
            child = Child(opts.cmd)
        try:
            prog.load(cpid=child.pid if child else 0)
        except CompileError as e:
            text = prog.source.error(e)
            if not opts.verbose and e.hint and e.hint.startswith("verifier log"):
                text = prog.source.render("ERROR", e.message, e.span,
                                          "run with -v to see the verifier's log")
            sys.stderr.write(text)
            return 1
        if opts.dry_run:
            return 0
        if getattr(opts, "mode", ""):
            from .testmode import run_benchmarks, run_tests

            return (run_tests if opts.mode == "test" else run_benchmarks)(prog, out)
        sigs.watch(prog)
        # "begin is triggered before all other probes are attached"; what it prints still
        # comes after the banner and the attach notification, as bpftrace's does
        _name_tracer()
        held: list[str] = []
        prog.on_output = held.append
        try:
            prog.run_special("begin")
        finally:
            prog.on_output = None
        n = prog.attach()
        if not opts.quiet:
            banner = output.attached_banner(n, json=json)
            (out if json else sys.stderr).write(banner)
        if os.environ.get(NOTIFY) is not None:
            sys.stdout.write(NOTIFY + "\n")
            sys.stdout.flush()
        if held:
            prog.write("".join(held))
        return _loop(prog, child, opts, out, json, sigs)
    except BpfscopeError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"ERROR: {e.strerror or e}\n")
        return 1
    finally:
        prog.close()
        if child is not None:
            child.kill()
        if out is not sys.stdout:
            out.close()
        sigs.restore()


def _name_tracer() -> None:
    """The tracer's own comm is `bpftrace`, as with bpftrace itself: scripts leave the tracer
    out with `/comm != "bpftrace"/`, and `comm` in begin prints it."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write("bpftrace")
    except OSError:
        pass


class Signals:
    """SIGINT/SIGTERM set a flag and wake the event loop through a self-pipe; installed
    before anything is loaded so a signal at any moment ends in the orderly exit path."""

    def __init__(self) -> None:
        self.stop = False
        self.pending: list[int] = []
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old = {s: signal.signal(s, self._on) for s in (signal.SIGINT, signal.SIGTERM)}
        self.old_wakeup = signal.set_wakeup_fd(self.wfd)

    def _on(self, signum: int, frame: Any) -> None:
        self.stop = True

    def watch(self, prog: Program) -> None:
        """Catch the signals the program has self:signal: probes for (bpftrace leaves the others
        alone); each delivery runs those probes from the event loop."""
        from .probes.special import SELF_SIGNALS

        for name in SELF_SIGNALS:
            if prog.special_fds(f"self:signal:{name}"):
                signum = getattr(signal, name)
                self.old[signum] = signal.signal(signum, self._on_self)

    def _on_self(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def run_pending(self, prog: Program) -> None:
        while self.pending:
            prog.run_named(f"self:signal:{signal.Signals(self.pending.pop(0)).name}")

    def restore(self) -> None:
        signal.set_wakeup_fd(self.old_wakeup)
        for s, h in self.old.items():
            signal.signal(s, h)
        os.close(self.rfd)
        os.close(self.wfd)


def _loop(prog: Program, child: Child | None, opts: Any, out: IO[str], json: bool, sigs: Signals) -> int:
    rfd = sigs.rfd
    ep = select.epoll()
    try:
        ep.register(rfd, select.EPOLLIN)
        if prog.ring is not None:
            ep.register(prog.ring.fileno(), select.EPOLLIN)
        if child is not None:
            ep.register(child.pidfd, select.EPOLLIN)
        pidfd = -1
        if opts.pid > 0 and child is None:
            try:
                pidfd = os.pidfd_open(opts.pid)
                ep.register(pidfd, select.EPOLLIN)
            except OSError:
                pidfd = -1
        if child is not None and not prog.exiting and not sigs.stop:
            child.start()
        # 0.26 exits once begin has run when nothing else is attached (begin/end-only programs),
        # and once its iterators are done (iter probes mix with begin/end only)
        only_special = child is None and all(ps.probe.provider in ("begin", "end")
                                             for ps in prog.compile().progs)
        if not prog.exiting and not sigs.stop and prog.run_iterators():
            only_special = True
        while not prog.exiting and not sigs.stop and not only_special:
            ev = ep.poll(1.0)
            prog.drain()
            prog.report_lost()
            if child is not None and child.reap():
                break
            if pidfd >= 0 and any(fd == pidfd for fd, _ in ev):
                break
            if any(fd == rfd for fd, _ in ev):
                try:
                    os.read(rfd, 64)
                except BlockingIOError:
                    pass
            sigs.run_pending(prog)
        # detach before the end probes run, as bpftrace does: no event may land after them (an
        # end probe that clears a map leaves it empty in the dump). Without end probes the
        # kernel's release (an RCU grace period per tracepoint, ~70 ms) overlaps the final dump
        # in a thread, joined before we return.
        import threading

        handles = list(prog.handles)
        prog.handles.clear()
        closer = threading.Thread(target=_close_all, args=(handles,), daemon=True)
        closer.start()
        if any(ps.probe.provider == "end" for ps in prog.compile().progs):
            closer.join()
        prog.drain()
        prog.report_lost()
        exiting_via_exit = prog.exiting
        prog.exiting = False
        prog.run_special("end")
        prog.drain()
        if prog.opts.get("print_maps_on_exit", True) not in (False, 0, "0", "false"):
            dump = getattr(opts, "exit_dump", None)  # a front end's export (-f folded/pprof)
            if dump is not None:
                dump(prog, out)
            else:
                prog.print_maps_at_exit()
        else:
            out.write(output.exit_preamble(json=json))
        out.flush()
        del exiting_via_exit
        closer.join()
        return prog.exit_code
    finally:
        ep.close()


def _close_all(handles: list[Any]) -> None:
    """Close every attachment; in parallel, since the kernel's release of a tracepoint perf
    event waits for an RCU grace period (~70 ms each). Plain threads: nothing is imported (and
    so no file opened under our own probes) on the way out."""
    import threading

    todo = iter(handles)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                h = next(todo, None)
            if h is None:
                return
            try:
                h.close()
            except OSError:
                pass

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(32, len(handles)) - 1)]
    for t in threads:
        t.start()
    worker()
    for t in threads:
        t.join()


def _debug_dump(prog: Program) -> None:
    """-d: the AST, the inferred types and each program's instructions (bpfscope's own format)."""
    from ..kernel.uapi import HELPER_ID
    from ..lang.bpftrace.debugdump import dump_ast, dump_types, format_insns

    cp = prog.compile()
    sys.stderr.write(dump_ast(prog.parse(), cp.expr_types))
    sys.stderr.write(dump_types(cp.var_types, cp.maps))
    names = {v: k for k, v in HELPER_ID.items()}
    for ps in cp.progs:
        sys.stderr.write(f"Instructions {ps.probe.name} ({len(ps.insns)}):\n")
        sys.stderr.write("".join(f"{ln}\n" for ln in format_insns(ps.insns, names)))


def _verbose_dump(prog: Program) -> None:
    """-v: the inferred types and the size of each generated program (-d adds the AST and listings)."""
    from ..lang.bpftrace.debugdump import dump_types

    cp = prog.compile()
    sys.stderr.write(dump_types(cp.var_types, cp.maps))
    for ps in cp.progs:
        extra = f", {len(ps.subprogs)} loop callback(s)" if ps.subprogs else ""
        sys.stderr.write(f"Program {ps.probe.name}: {len(ps.insns)} instructions{extra}\n")
