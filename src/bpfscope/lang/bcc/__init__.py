"""BCC's C dialect (BPF_HASH, TRACEPOINT_PROBE, map.method() calls) compiled without clang:
types come from tracepoint formats and BTF, code goes through the shared eBPF back end."""
