from bpfscope.cli import entry

entry()
