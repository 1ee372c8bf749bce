"""Constructs of bpftrace 0.26's tools/*.bt that failed here (issue 20), in self-written
programs run for real against a workload of our own, exact values checked.

opensnoop.bt prints the full path of relative opens: a macro walks the task's cwd dentries up
to the real root in `for $j : 0..N` (no parentheses), hopping mounts through
`(struct mount *)` casts reassigned from BTF fields, and keeps the names in a map keyed
`(tid, depth)`; its loop bodies outgrow the BPF stack beside the probe's own frame.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

CWD_WALK = r"""
tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @filename[tid] = args.filename; }

macro getcwd(@paths) {
  $dentry = curtask.fs.pwd.dentry;
  $vfsmnt = curtask.fs.pwd.mnt;
  $mnt = (struct mount *)(((uint64)$vfsmnt) - offsetof(struct mount, mnt));
  $mnt_root = $vfsmnt.mnt_root;
  for $j : ((uint64)0)..((uint64)getopt("depth", 35)) {
    @paths[tid, $j] = str($dentry.d_name.name);
    $parent_dentry = $dentry.d_parent;
    if ($dentry == $parent_dentry || $dentry == $mnt_root) {
      $mnt_parent = (struct mount *)($mnt.mnt_parent);
      if ($mnt == $mnt_parent) { break; }
      $dentry = $mnt.mnt_mountpoint;
      $mnt = $mnt_parent;
      $mnt_root = $mnt.mnt.mnt_root;
      continue;
    }
    $dentry = $parent_dentry;
  }
}

macro printcwd(@paths) {
  $max = getopt("depth", 35);
  for $j : ((uint64)0)..((uint64)$max) {
    let $key = (tid, ((((uint64)$max) - $j) - 1));
    let $name = @paths[$key];
    if ($name == "/" || $name == "") { continue; }
    printf("/%s", $name);
    delete(@paths, $key);
  }
  printf("/");
}

tracepoint:syscalls:sys_exit_openat /@filename[tid]/ {
  $path = str(@filename[tid]);
  if ($path[0] != "/"[0]) {
    getcwd(@paths);
    printf("%d ", args.ret >= 0);
    printcwd(@paths);
    printf("%s\n", $path);
  }
  delete(@filename, tid);
}

END { clear(@filename); clear(@paths); }
"""


def test_opensnoop_prints_the_full_path_of_relative_opens(tmp_path: Path) -> None:
    sub = tmp_path / "a dir" / "sub"
    sub.mkdir(parents=True)
    (sub / "present").write_text("x\n")
    cmd = f"/bin/sh -c 'cd \"{sub}\" && exec /bin/cat present missing >/dev/null 2>&1'"
    r = bpfscope("-q", "-e", CWD_WALK, "-c", cmd, env={"LC_ALL": "C"})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    full = sub.resolve()
    assert r.stdout == f"1 {full}/present\n0 {full}/missing\n\n\n"


def test_threadsnoop_ignores_a_function_the_library_lacks() -> None:
    """threadsnoop.bt lists libpthread's and libc's pthread_create under `missing_probes =
    ignore;` (the bare-word form): whichever library lacks it is skipped without a word."""
    prog = ("config = { missing_probes = ignore; } "
            "uprobe:libc:no_such_function_xyz, uprobe:libc:pthread_create /pid == cpid/ { @n = count(); }")
    threads = "import threading\nfor _ in range(3):\n    t = threading.Thread(target=int); t.start(); t.join()\n"
    r = bpfscope("-q", "-e", prog, "-c", f"{sys.executable} -c '{threads}'")
    assert (r.returncode, r.stdout, r.stderr) == (0, "\n\n@n: 3\n", "")
