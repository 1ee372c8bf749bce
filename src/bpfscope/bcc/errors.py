"""Errors of the BCC API that end a tool script with one plain line (no traceback)."""


class Unsupported(Exception):
    """A BCC feature bpfscope does not serve (yet), or one this kernel lacks: a plain message."""
