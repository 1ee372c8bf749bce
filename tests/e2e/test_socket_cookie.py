"""socket_cookie(struct sock *) on a rawtracepoint: the kernel's cookie of the socket, the value
SO_COOKIE gives user space for the same socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import bpfscope, needs_root

pytestmark = needs_root

CLIENT = r"""
import socket, struct, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
sys.stdin.readline()
c = socket.socket(); c.connect(srv.getsockname())
cookie = struct.unpack("<Q", c.getsockopt(socket.SOL_SOCKET, 57, 8))[0]   # SO_COOKIE
print(cookie, c.getsockname()[1], flush=True)
sys.stdin.readline()
"""


def test_socket_cookie_matches_so_cookie() -> None:
    w = subprocess.Popen([sys.executable, "-c", CLIENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        p = subprocess.Popen([sys.executable, "-m", "bpfscope", "-q", "-e",
                              f"rawtracepoint:inet_sock_set_state /pid == {w.pid} && args.newstate <= 2/ "
                              '{ printf("%d %d %d\\n", socket_cookie(args.sk), args.sk->__sk_common.skc_num, '
                              "args.newstate); }"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"})
        assert p.stdout is not None and w.stdin is not None and w.stdout is not None
        assert p.stdout.readline() == "__BPFTRACE_NOTIFY_PROBES_ATTACHED\n"
        w.stdin.write("go\n")
        w.stdin.flush()
        cookie, port = (int(x) for x in w.stdout.readline().split())
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        w.kill()
        w.wait()
    assert p.returncode == 0, err
    mine = [ln for ln in out.splitlines() if ln.split()[:1] == [str(cookie)]]
    # SYN_SENT (before the local port is bound), then ESTABLISHED
    assert mine == [f"{cookie} 0 2", f"{cookie} {port} 1"], out


def test_socket_cookie_errors() -> None:
    r = bpfscope("-e", "rawtracepoint:inet_sock_set_state { print(socket_cookie(1)); }")
    assert r.returncode == 1
    assert "socket_cookie() only supports 'struct sock *' as the argument (integer provided)" in r.stderr
    r = bpfscope("-e", "tracepoint:sock:inet_sock_set_state { print(socket_cookie((struct sock *)args.skaddr)); }")
    assert r.returncode == 1
    assert "socket_cookie() can only be used in fentry/fexit/rawtracepoint probes (tracepoint used here)" in r.stderr
