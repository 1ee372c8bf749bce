"""The eBPF back end: instruction emission with stack/register allocation, helper calls and
their errors, per-arch calling conventions. Knows no source language."""
