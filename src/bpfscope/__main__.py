import os
import signal

# A Ctrl-C while the interpreter is still importing has nothing to clean up: leave quietly
# with the shell's 130, not a KeyboardInterrupt traceback. `entry` restores Python's handler.
signal.signal(signal.SIGINT, lambda _s, _f: os._exit(130))

from bpfscope.cli import entry  # noqa: E402

entry()
