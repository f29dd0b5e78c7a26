#!/usr/bin/python3
"""What the Python clients write onto a tier of running servers, memcoro reads back.

Usage: interop.py TIER_READ_TOOL

Starts four private memcached processes (three on free loopback TCP ports, one on a unix
socket in a temporary directory), stopped by PID at the end. Each library writes keys
through its own placement onto its server list; tier_read_tool then reads every key back
through a memcoro client of the same list, which finds each one only if it places the
key on the same server:
  - pymemcache HashClient (rendezvous), three TCP servers;
  - python-memcache Client (modula), weights 1,2,1 with the third on the unix socket;
  - pylibmc with ketama_weighted, weights 1,2,1, three TCP servers.
"""

import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from memcached_procs import MemcachedProcs  # noqa: E402

KEYS = 3000


class Servers(MemcachedProcs):
    """Three servers on TCP ports and one on a unix socket in `tmp`."""

    def __init__(self, tmp):
        super().__init__()
        for _ in range(3):
            self.start_tcp()
        self.sock = os.path.join(tmp, "memcached.sock")
        if self.user:
            os.chmod(tmp, 0o777)  # the server runs as nobody and creates the socket here
        self.start_unix(self.sock)

    def tcp(self, i):
        return f"127.0.0.1:{self.ports[i]}"


def read_back(tool, distribution, specs, written):
    lines = "".join(f"{k} {v}\n" for k, v in written)
    run = subprocess.run([tool, distribution, *specs], input=lines.encode(),
                         capture_output=True)
    out = run.stdout.decode()
    if run.returncode != 0:
        missing = out.splitlines()[:5]
        raise AssertionError(f"{distribution}: memcoro did not read back every key "
                             f"({out.count(chr(10))} wrong), e.g. {missing} {run.stderr.decode()}")
    return out.strip()


def pairs(prefix):
    rng = random.Random(prefix)
    return [(f"{prefix}:{i}:{rng.randrange(10**9)}", f"v{i}-{rng.randrange(10**9)}")
            for i in range(KEYS)]


def check_pymemcache(tool, servers):
    from pymemcache.client.hash import HashClient

    written = pairs("pymemcache")
    client = HashClient([("127.0.0.1", p) for p in servers.ports])
    for k, v in written:
        client.set(k, v.encode())
    client.close()
    return read_back(tool, "rendezvous", [servers.tcp(i) for i in range(3)], written)


def check_python_memcache(tool, servers):
    import memcache

    written = pairs("python-memcache")
    client = memcache.Client([(servers.tcp(0), 1), (servers.tcp(1), 2),
                              ("unix:" + servers.sock, 1)])
    for k, v in written:
        if not client.set(k, v.encode()):
            raise AssertionError(f"python-memcache could not store {k}")
    client.disconnect_all()
    return read_back(tool, "modula",
                     [servers.tcp(0), servers.tcp(1) + "=2", "unix:" + servers.sock], written)


def check_pylibmc(tool, servers):
    import pylibmc

    written = pairs("pylibmc")
    client = pylibmc.Client([f"{servers.tcp(0)}:1", f"{servers.tcp(1)}:2",
                             f"{servers.tcp(2)}:1"], behaviors={"ketama_weighted": True})
    for k, v in written:
        client.set(k, v.encode())
    client.disconnect_all()
    return read_back(tool, "ketama", [servers.tcp(0), servers.tcp(1) + "=2", servers.tcp(2)],
                     written)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="memcoro-interop-") as tmp:
        servers = Servers(tmp)
        try:
            for check in (check_pymemcache, check_python_memcache, check_pylibmc):
                try:
                    print(f"ok   {check.__name__}: {check(tool, servers)}")
                except ImportError as e:
                    print(f"SKIP {check.__name__}: {e}")
                except AssertionError as e:
                    print(f"FAIL {check.__name__}: {e}")
                    failed += 1
        finally:
            servers.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
