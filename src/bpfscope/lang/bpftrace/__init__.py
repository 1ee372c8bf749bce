"""The bpftrace front end: lexer, parser, AST, desugaring, imports, config, type checking and
the lowering of typed AST to the eBPF back end (lang/ebpf)."""
