"""A BCC program (Python with embedded C) on bpfscope's own C compiler: no clang, no headers.

Run as root: `python3 examples/bcc_hello.py [SECONDS]`. It counts the sizes returned by
read(2) for one second (or SECONDS) and prints BCC's log2 histogram.
"""

import sys
import time

from bpfscope.bcc import BPF

b = BPF(text=r'''
BPF_HISTOGRAM(dist);

TRACEPOINT_PROBE(syscalls, sys_exit_read) {
    if (args->ret > 0)
        dist.increment(bpf_log2l(args->ret));
    return 0;
}
''')
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
b["dist"].print_log2_hist("bytes")
