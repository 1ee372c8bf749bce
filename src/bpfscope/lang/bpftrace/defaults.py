"""Defaults of settings that several compiler stages read (a leaf module: no imports)."""

DEFAULT_MAX_STRLEN = 1024   # bpftrace 0.26's: strings (str(), paths) keep up to this many bytes
