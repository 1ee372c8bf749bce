"""What ext4slower and fsslower share: timing a file system's read, write, open and fsync,
printing those slower than a threshold (BCC's columns).

With kprobes, as BCC: the file system's own file operations (ext4_file_read_iter, ...).
Without: the syscalls that reach them (read/pread64, write/pwrite64, openat, fsync/
fdatasync), kept when the descriptor's file is a regular file on that file system (the
superblock's type name, read through BTF from the task's file table). The latency then
includes the syscall's own work (path lookup for opens), and readv/writev, io_uring and
mmap I/O are not seen.
"""

# ruff: noqa: UP031  (BCC's %-format strings are kept as BCC writes them: they are the output spec)
from __future__ import annotations

from typing import Any, ClassVar

from . import _ksyms
from .base import Tool, ToolError, bpf_string
from .needs import Need, have_tracepoint, use_kprobes
from .timefmt import hms

TYPES = "RWOS"   # read, write, open, sync (BCC's TRACE_* order)
# file system -> its read, write, open, fsync file operations (as BCC's *slower tools)
FS_FUNCS = {
    "ext4": ("ext4_file_read_iter", "ext4_file_write_iter", "ext4_file_open", "ext4_sync_file"),
    "btrfs": ("btrfs_file_read_iter", "btrfs_file_write_iter", "btrfs_file_open", "btrfs_sync_file"),
    "xfs": ("xfs_file_read_iter", "xfs_file_write_iter", "xfs_file_open", "xfs_file_fsync"),
    "nfs": ("nfs_file_read", "nfs_file_write", "nfs_file_open", "nfs_file_fsync"),
}
# syscall -> (type index, offset expression; $f is the struct file *)
SYSCALLS = {"read": (0, "$f->f_pos"), "pread64": (0, "args.pos"), "write": (1, "$f->f_pos"),
            "pwrite64": (1, "args.pos"), "fsync": (3, "0"), "fdatasync": (3, "0")}
S_IFMT, S_IFREG = 0o170000, 0o100000


class FsSlower(Tool):
    """Subclasses set `fs` (or self.fs in check()), `self.min_ms`, `self.pid`, `self.csv`."""

    fs: ClassVar[str] = ""

    def setup(self, fs: str, min_ms: int, pid: int | None, csv: bool) -> None:
        if fs not in FS_FUNCS:
            raise ToolError(f"{self.name}: unsupported file system '{fs}' (use one of "
                            f"{', '.join(sorted(FS_FUNCS))})")
        if min_ms < 0:
            raise ToolError(f"{self.name}: the minimum latency must not be negative")
        self.fsname, self.min_ms, self.pid, self.csv = fs, min_ms, pid, csv
        self.kprobes = use_kprobes()

    def requires(self) -> list[Need]:
        if self.kprobes:
            return [Need("btf", instead=f"{self.name} reads struct file through BTF")]
        return [Need("tracepoint", "syscalls:sys_enter_read", instead="kprobes would serve (BCC's way)"),
                Need("btf", instead=f"{self.name} reads the file table through BTF")]

    def _emit(self, type_expr: str, size: str, off: str, f: str) -> str:
        slow = f" && $d > {self.min_ms * 1000}" if self.min_ms else ""
        return (f"$d = (uint64)(nsecs - $s.0) / (uint64)1000;\n"
                f"    if (1{slow}) {{ $fl = (struct file *){f}; printf(\"fs %d %s %d %d %d %d %d %s\\n\", pid, comm, "
                f"{type_expr}, {size}, {off}, $d, nsecs, str($fl->f_path.dentry->d_name.name)); }}")

    def program(self) -> str:
        who = f"/pid == {self.pid}/" if self.pid is not None else ""
        if self.kprobes:
            return self._kprobe_program(who)
        fsok = (f"($f->f_inode->i_mode & {S_IFMT}) == {S_IFREG} && "
                f"str($f->f_inode->i_sb->s_type->name) == {bpf_string(self.fsname)}")
        out = []
        present = [s for s in SYSCALLS if have_tracepoint(f"syscalls:sys_enter_{s}")]
        for sc in present:
            t, off = SYSCALLS[sc]
            out.append(f"""tracepoint:syscalls:sys_enter_{sc} {who} {{
  $fdt = curtask->files->fdt;
  if (args.fd < $fdt->max_fds) {{
    $f = $fdt->fd[args.fd];
    if ($f) {{ if ({fsok}) {{ @start[tid] = (nsecs, (uint64)$f, {off}, {t}); }} }}
  }}
}}""")
        exits = ", ".join(f"tracepoint:syscalls:sys_exit_{s}" for s in present)
        out.append(f"""{exits} {{
  $s = @start[tid];
  if ($s.0) {{
    {self._emit("$s.3", "args.ret", "$s.2", "$s.1")}
    delete(@start, tid);
  }}
}}""")
        out.append(f"tracepoint:syscalls:sys_enter_openat {who} {{ @ostart[tid] = nsecs; }}")
        out.append(f"""tracepoint:syscalls:sys_exit_openat {{
  $t = @ostart[tid];
  if ($t) {{
    delete(@ostart, tid);
    if (args.ret >= 0) {{
      $fdt = curtask->files->fdt;
      $f = $fdt->fd[args.ret];
      if ({fsok}) {{
        $s = ($t, (uint64)$f);
        {self._emit("2", "0", "0", "$s.1")}
      }}
    }}
  }}
}}""")
        return "\n".join(out) + "\n"

    def _kprobe_program(self, who: str) -> str:
        rd, wr, op, sy = FS_FUNCS[self.fsname]
        have = _ksyms.present([rd, wr, op, sy, "generic_file_read_iter"])
        if rd not in have and "generic_file_read_iter" in have:
            rd = "generic_file_read_iter"
        out = [
            f"kprobe:{rd} {who} {{ $k = (struct kiocb *)arg0; @start[tid] = (nsecs, (uint64)$k->ki_filp, "
            f"$k->ki_pos, 0); }}",
            f"kprobe:{wr} {who} {{ $k = (struct kiocb *)arg0; @start[tid] = (nsecs, (uint64)$k->ki_filp, "
            f"$k->ki_pos, 1); }}",
            f"kprobe:{op} {who} {{ @start[tid] = (nsecs, (uint64)arg1, 0, 2); }}",
            f"kprobe:{sy} {who} {{ @start[tid] = (nsecs, (uint64)arg0, 0, 3); }}",
        ]
        rets = ", ".join(f"kretprobe:{f}" for f in (rd, wr, op, sy))
        out.append(f"""{rets} {{
  $s = @start[tid];
  if ($s.0) {{
    {self._emit("$s.3", "retval", "$s.2", "$s.1")}
    delete(@start, tid);
  }}
}}""")
        return "\n".join(out) + "\n"

    def header(self) -> str:
        if self.csv:
            return "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
        first = (f"Tracing {self.fsname} operations" if self.min_ms == 0 else
                 f"Tracing {self.fsname} operations slower than {self.min_ms} ms")
        return first + "\n" + "%-8s %-14s %-6s %1s %-7s %-8s %7s %s" % (
            "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)", "FILENAME")

    def on_fs(self, pid: int, comm: str, kind: int, size: int, offset: int, lat_us: int, ts: int,
              fname: str) -> None:
        t = TYPES[kind] if 0 <= kind < len(TYPES) else "?"
        rec: dict[str, Any] = {"pid": pid, "comm": comm, "type": t, "bytes": size, "offset": offset,
                               "lat_us": lat_us, "file": fname}
        if self.csv:
            self.emit("%d,%s,%d,%s,%d,%d,%d,%s" % (ts // 1000, comm, pid, t, size, offset, lat_us, fname), **rec)
            return
        self.emit("%-8s %-14.14s %-6s %1s %-7s %-8d %7.2f %s" % (hms(), comm, pid, t, size, offset // 1024,
                                                                 lat_us / 1000, fname), **rec)
