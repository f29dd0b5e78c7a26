"""Private memcached processes for the Python test scripts (test/placement/interop.py,
test/examples/run_examples.py): started on free loopback ports or a unix socket, waited
for until they answer `version`, and stopped by PID. The C++ tests have the same in
memcached_server.hpp."""

import os
import shutil
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(addr):
    """True once the server at addr (a (host, port) pair or a socket path) answers `version`."""
    family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(addr)
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


class MemcachedProcs:
    def __init__(self):
        self.procs = []
        self.ports = []
        self.user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.binary = shutil.which("memcached") or "/usr/bin/memcached"

    def start_tcp(self):
        """One more server on a free loopback port; returns "127.0.0.1:PORT"."""
        port = free_port()
        self._start(["-p", str(port), "-U", "0", "-l", "127.0.0.1"], ("127.0.0.1", port))
        self.ports.append(port)
        return f"127.0.0.1:{port}"

    def start_unix(self, path):
        """One more server on the unix socket `path` (its directory must be writable by
        the server's user)."""
        self._start(["-s", path, "-a", "0777"], path)

    def _start(self, args, addr):
        self.procs.append(subprocess.Popen([self.binary, *args, *self.user],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not answers(addr):
            if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                self.stop()
                raise RuntimeError(f"memcached {args} did not start")
            time.sleep(0.02)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
