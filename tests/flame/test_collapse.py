"""stackcollapse perf/bpftrace: rule-derived expectations, real recorded output, live runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope.flame.collapse_bpftrace import collapse_bpftrace, fold_bpftrace_map_text
from bpfscope.flame.collapse_perf import PerfCollapseOptions, collapse_perf
from tests.conftest import peer_failed, python_comm

DATA = Path(__file__).parent / "data"

PERF_TEXT = """\
# ========
# cmdline : /usr/bin/perf record -g -- ./app
# ========
app 101 [000] 10.000001:     250000 cpu-clock:pppH:$
\tffffffff8103ce3b native_safe_halt+0xb ([kernel.kallsyms])
\t7f00000010 std::vector<int>::push_back(int const&)+0x10 (/usr/bin/app)
\t7f00000020 main+0x20 (/usr/bin/app)

app 101 [001] 10.000002:     250000 cpu-clock:pppH:$
\tffffffff8103ce3b native_safe_halt+0xb ([kernel.kallsyms])
\t7f00000010 std::vector<int>::push_back(int const&)+0x10 (/usr/bin/app)
\t7f00000020 main+0x20 (/usr/bin/app)

V8 WorkerThread 200/201 [002] 10.000003: 100 cpu-clock:pppH:$
\t7f00000030 [unknown] (/usr/lib/libfoo.so.1)
\t7f00000040 [unknown] ([unknown])
\t7f00000050 inner->outer (/usr/bin/v8)
\t7f00000060 "quoted';name" (/tmp/perf-200.map)

java 300 [000] 10.000004: 7 page-faults:$
\t7f00000070 Lorg/app/Main;.run(I)V (/tmp/perf-300.map)

""".replace("$\n", " \n")


def test_perf_rules_by_hand() -> None:
    out = collapse_perf(PERF_TEXT.splitlines(keepends=True))
    # page-faults is filtered (first event type seen is cpu-clock); periods are summed;
    # "a->b" frames are kept in order, later ones marked _[i]; [unknown] uses the module name.
    assert out == [
        "V8_WorkerThread;quoted:name;inner;outer_[i];[unknown];[libfoo.so.1] 100",
        "app;main;std::vector<int>::push_back;native_safe_halt 500000",
    ]


def test_perf_options_by_hand() -> None:
    opts = PerfCollapseOptions(tid=True, kernel=True, jit=True, addrs=True)
    out = collapse_perf(PERF_TEXT.splitlines(), opts)
    assert out == [
        "V8_WorkerThread-200/201;quoted:name_[j];inner;outer_[i];[unknown <7f00000040>];"
        "[libfoo.so.1 <7f00000030>] 100",
        "app-?/101;main;std::vector<int>::push_back;native_safe_halt_[k] 500000",
    ]
    assert collapse_perf(PERF_TEXT.splitlines(), PerfCollapseOptions(pid=True))[1].startswith("app-?;")
    java = collapse_perf(PERF_TEXT.splitlines(), PerfCollapseOptions(event_filter="page-faults"))
    assert java == ["java;org/app/Main:.run 7"]


def test_perf_real_recording_fixture() -> None:
    """`perf record -e cpu-clock -F 999 -g -- python3 busy.py; perf script` (Debian linux-perf)."""
    text = (DATA / "perf_script_cpu_clock.txt").read_text()
    samples = len(re.findall(r"^\S.*cpu-clock:", text, re.M))
    out = collapse_perf(text.splitlines())
    assert out == sorted(out)
    total = sum(int(line.rsplit(" ", 1)[1]) for line in out)
    assert total == samples * 1001001  # every sample weighs its period
    assert not any("+0x" in line for line in out)
    assert any(line.startswith("python3;") for line in out)
    # first sample of the file, by the rules: comm, then frames root first, offsets cut
    assert ("python3;setlocale;_nl_find_locale;__mmap;entry_SYSCALL_64_after_hwframe;do_syscall_64;"
            "ksys_mmap_pgoff;vm_mmap_pgoff;do_mmap;__mmap_region;vma_interval_tree_insert"
            ) in {line.rsplit(" ", 1)[0] for line in out}
    kernel = collapse_perf(text.splitlines(), PerfCollapseOptions(kernel=True))
    assert any("do_syscall_64_[k]" in line for line in kernel)
    assert not any("setlocale_[k]" in line for line in kernel)


BPFTRACE_TEXT = """\
Attaching 2 probes...


@[
    _raw_spin_lock_bh+0
    tcp_recvmsg+808
,$
    __GI___read+16
, nginx]: 3
@[, nginx]: 5
@[
    do_idle+1
    cpu_startup_entry+2
]: 7
""".replace("$\n", " \n")


def test_bpftrace_perl_compatible() -> None:
    assert collapse_bpftrace(BPFTRACE_TEXT.splitlines()) == [
        "nginx;__GI___read+16;, ;tcp_recvmsg+808;_raw_spin_lock_bh+0 3",
        "nginx 5",
        "cpu_startup_entry+2;do_idle+1 7",
    ]


def test_bpftrace_full_fold() -> None:
    assert fold_bpftrace_map_text(BPFTRACE_TEXT) == [
        "nginx;__GI___read+16;tcp_recvmsg+808;_raw_spin_lock_bh+0 3",
        "nginx 5",
        "cpu_startup_entry+2;do_idle+1 7",
    ]


def test_bpftrace_real_output_fixture() -> None:
    """bpftrace 0.17: profile:hz:999 { @[kstack, ustack, comm] = count(); } for 1 s."""
    text = (DATA / "bpftrace_kstack_ustack_comm.txt").read_text()
    want = sum(int(n) for n in re.findall(r"\]: (\d+)$", text, re.M))
    full = fold_bpftrace_map_text(text)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in full) == want
    perl = collapse_bpftrace(text.splitlines())
    # the Perl script drops entries whose kernel stack is empty ("@[, ...")
    assert sum(int(line.rsplit(" ", 1)[1]) for line in perl) < want
    assert any(line.startswith("python3;") for line in full)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for perf/bpftrace sampling")
BUSY = "import time\nt=time.time()\nwhile time.time()-t<1.5:\n    sum(i*i for i in range(1000))\n"


@pytest.mark.root
@needs_root
@pytest.mark.skipif(shutil.which("perf") is None, reason="perf (Debian linux-perf) not installed")
def test_live_perf_record(tmp_path: Path) -> None:
    data = tmp_path / "perf.data"
    rec = subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", str(data),
                          "--", sys.executable, "-c", BUSY], capture_output=True, text=True, timeout=60)
    if rec.returncode != 0:
        peer_failed("perf record", rec)
    script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True,
                            timeout=60).stdout
    periods = [int(p) for p in re.findall(r"^\S.*?(\d+) cpu-clock:", script, re.M)]
    out = collapse_perf(script.splitlines())
    assert periods, script[:2000]
    assert sum(int(x.rsplit(" ", 1)[1]) for x in out) == sum(periods)  # each sample once, weighted by period
    # per-task sampling: only the traced command runs (as perf-exec until its exec)
    assert {x.split(";", 1)[0] for x in out} <= {python_comm(), "perf-exec"}, out[:20]


@pytest.mark.root
@needs_root
@pytest.mark.skipif(shutil.which("bpftrace") is None, reason="bpftrace not installed")
def test_live_bpftrace_profile() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY.replace("1.5", "4")])
    try:
        res = subprocess.run(["bpftrace", "-e", f'profile:hz:999 /pid == {busy.pid}/ '
                              "{ @[kstack, ustack, comm] = count(); } interval:s:2 { exit(); }"],
                             capture_output=True, text=True, timeout=60)
    finally:
        busy.kill()
        busy.wait()
    if res.returncode != 0:
        peer_failed("bpftrace", res)
    assert "@[" in res.stdout, f"bpftrace printed no map: {res.stderr[-300:]}"
    want = sum(int(n) for n in re.findall(r"\]: (\d+)$", res.stdout, re.M))
    folded = fold_bpftrace_map_text(res.stdout)
    assert want > 0, res.stdout
    assert sum(int(x.rsplit(" ", 1)[1]) for x in folded) == want
    # the root frame of each line (a sample with both stacks empty is the comm alone)
    assert {x.rsplit(" ", 1)[0].split(";", 1)[0] for x in folded} == {python_comm()}
