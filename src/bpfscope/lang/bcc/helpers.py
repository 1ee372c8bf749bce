"""BCC's helper names → kernel helpers: argument count and C return type. Anything not here
is reported as an unknown function, by name, at the call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Helper:
    kernel: str          # name in kernel.uapi.HELPER_ID
    nargs: int
    ret: str             # C spelling of the return type


HELPERS: dict[str, Helper] = {
    "bpf_get_current_pid_tgid": Helper("get_current_pid_tgid", 0, "u64"),
    "bpf_get_current_uid_gid": Helper("get_current_uid_gid", 0, "u64"),
    "bpf_ktime_get_ns": Helper("ktime_get_ns", 0, "u64"),
    "bpf_ktime_get_boot_ns": Helper("ktime_get_boot_ns", 0, "u64"),
    "bpf_get_smp_processor_id": Helper("get_smp_processor_id", 0, "u32"),
    "bpf_get_prandom_u32": Helper("get_prandom_u32", 0, "u32"),
    "bpf_get_current_task": Helper("get_current_task", 0, "u64"),
    "bpf_get_current_cgroup_id": Helper("get_current_cgroup_id", 0, "u64"),
    "bpf_get_current_comm": Helper("get_current_comm", 2, "int"),
    "bpf_probe_read": Helper("probe_read", 3, "int"),
    "bpf_probe_read_str": Helper("probe_read_str", 3, "int"),
    "bpf_probe_read_user": Helper("probe_read_user", 3, "int"),
    "bpf_probe_read_kernel": Helper("probe_read_kernel", 3, "int"),
    "bpf_probe_read_user_str": Helper("probe_read_user_str", 3, "int"),
    "bpf_probe_read_kernel_str": Helper("probe_read_kernel_str", 3, "int"),
    # on a map a program holds as a value: a map of maps' lookup (BPF_HASH_OF_MAPS / _ARRAY_OF_MAPS)
    "bpf_map_lookup_elem": Helper("map_lookup_elem", 2, "void *"),
    "bpf_map_update_elem": Helper("map_update_elem", 4, "int"),
    "bpf_map_delete_elem": Helper("map_delete_elem", 2, "int"),
    # error injection from a kprobe (CONFIG_BPF_KPROBE_OVERRIDE; the kernel says if it may)
    "bpf_override_return": Helper("override_return", 2, "int"),
}
# computed inline (BCC defines them as static inline functions in its helpers header)
INLINE = ("bpf_log2l", "bpf_log2")
# atomic adds to memory (BCC's lock_xadd macro, the GCC builtin it stands for)
ATOMIC_ADD = ("lock_xadd", "__sync_fetch_and_add")
# byte order: network (big endian) ↔ host; one BPF_END swap each (this host is little endian)
BSWAP = {**{n: 16 for n in ("ntohs", "htons", "bpf_ntohs", "bpf_htons", "be16_to_cpu", "cpu_to_be16",
                            "__builtin_bswap16", "__bpf_ntohs", "__bpf_htons")},
         **{n: 32 for n in ("ntohl", "htonl", "bpf_ntohl", "bpf_htonl", "be32_to_cpu", "cpu_to_be32",
                            "__builtin_bswap32", "__bpf_ntohl", "__bpf_htonl")},
         **{n: 64 for n in ("be64_to_cpu", "cpu_to_be64", "bpf_be64_to_cpu", "bpf_cpu_to_be64",
                            "__builtin_bswap64")}}
