"""oomkill: trace the out-of-memory killer (BCC's output line).

With kprobes, as BCC: oom_kill_process(oc, message) gives the victim (oc->chosen) and
oc->totalpages. Without: the oom:mark_victim tracepoint (BTF-typed: the victim's
task_struct) runs in the killing task's context; the page total is the victim memory
cgroup's limit, or RAM + swap for a system-wide OOM, which is what oc->totalpages holds.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

import argparse
import os

from .base import Tool
from .needs import Need, use_kprobes
from .timefmt import hms

MEMORY_CGRP_ID = 4   # enum cgroup_subsys_id's memory_cgrp_id on common configs; read from BTF when present


def _memory_cgrp_id() -> int:
    try:
        from ..kernel.btf import Btf

        btf = Btf.vmlinux()
        tid = btf.find("cgroup_subsys_id")
        if tid is not None:
            return dict(btf.get(tid).values).get("memory_cgrp_id", MEMORY_CGRP_ID)
    except (OSError, ValueError, KeyError):
        pass
    return MEMORY_CGRP_ID


def _meminfo_pages() -> tuple[int, int]:
    """(RAM pages, swap pages) as the kernel counts totalram_pages and total_swap_pages."""
    vals = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                vals[k] = int(v.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    page = os.sysconf("SC_PAGE_SIZE")
    return vals.get("MemTotal", 0) // page, vals.get("SwapTotal", 0) // page


class OomKill(Tool):
    name = "oomkill"
    purpose = "Trace the out-of-memory killer"
    description = "Trace the out-of-memory (OOM) killer"
    examples = ""

    @classmethod
    def add_arguments(cls, ap: argparse.ArgumentParser) -> None:
        pass

    def check(self) -> None:
        self.kprobes = use_kprobes()

    def requires(self) -> list[Need]:
        if self.kprobes:
            return [Need("btf", instead="oomkill reads struct oom_control through BTF")]
        return [Need("tracepoint", "oom:mark_victim", instead="kprobes would serve (BCC's way)"),
                Need("btf", instead="oomkill reads the victim's task_struct through BTF")]

    def program(self) -> str:
        if self.kprobes:
            return """
kprobe:oom_kill_process {
  $oc = (struct oom_control *)arg0;
  $p = $oc->chosen;
  printf("oom %d %s %d %s %d %d\\n", pid, comm, $p->tgid, $p->comm, $oc->totalpages, 0);
}
"""
        return f"""
rawtracepoint:mark_victim {{
  $m = (struct mem_cgroup *)args.task->cgroups->subsys[{_memory_cgrp_id()}];
  printf("oom %d %s %d %s %d %d\\n", pid, comm, args.task->tgid, args.task->comm, $m->memory.max, $m->swap.max);
}}
"""

    def header(self) -> str:
        return "Tracing OOM kills... Ctrl-C to stop."

    def _pages(self, limit: int, swap_limit: int) -> int:
        if self.kprobes:
            return limit
        ram, swap = _meminfo_pages()
        if limit == 0 or limit >= ram:       # no memory cgroup limit below RAM: a system-wide OOM
            return ram + swap
        return limit + min(swap_limit, swap)

    def on_oom(self, fpid: int, fcomm: str, tpid: int, tcomm: str, limit: int, swap_limit: int) -> None:
        try:
            with open("/proc/loadavg") as f:
                avg = f.read().rstrip()
        except OSError:
            avg = ""
        pages = self._pages(limit, swap_limit)
        self.emit('%s Triggered by PID %d ("%s"), OOM kill of PID %d ("%s"), %d pages, loadavg: %s'
                  % (hms(), fpid, fcomm, tpid, tcomm, pages, avg),
                  fpid=fpid, fcomm=fcomm, tpid=tpid, tcomm=tcomm, pages=pages, loadavg=avg)


TOOL = OomKill
