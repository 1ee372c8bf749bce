"""Errors of the BCC API that end a tool script with one plain line (no traceback)."""


class Unsupported(Exception):
    """A BCC feature bpfscope does not serve (yet), or one this kernel lacks: a plain message."""


class KernelLacks(SystemExit):
    """A request this kernel cannot serve at all, that a script must not mistake for an empty
    answer: listing kernel functions for kprobes where there are no kprobes. It passes a tool's
    `except Exception` (funccount prints any Exception and ends with status 0) and ends the
    script with its message and status 1 (SystemExit with a text code)."""
