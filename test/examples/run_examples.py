#!/usr/bin/python3
"""Runs the examples of bench/examples against private memcached processes.

Usage: run_examples.py EXAMPLE_PROGRAM...   (the four programs, in any order)
       run_examples.py --not-built          (a build without bench/: reports a skip)

Starts three memcached on free loopback ports (as nobody when run as root), stopped by PID
at the end. Each example runs in its unattended mode (the servers with --self-test, which
talk to themselves over TCP) and must exit 0 and print what it is expected to print. Then
each runs once more against a port where nothing listens, and must fail: an example that
passes without memcached would prove nothing.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from memcached_procs import MemcachedProcs, free_port  # noqa: E402

SKIP = 77  # meson's exit status for a skipped test


def run(argv):
    try:
        r = subprocess.run(argv, capture_output=True, timeout=60)
        return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        return None, out + "\n(timed out after 60 s)"


# What each example must print, besides exiting 0: (text, how many times at least).
EXPECTED = {
    "cache_server": [("user 42 -> user 42: name-of-42 (lookups: 1)", 3),
                     ("user 42 -> user 42: name-of-42 (lookups: 2)", 1),
                     ("self-test passed", 1)],
    "threaded_server": [("200 hits from 8 threads, counts 1 to 200, each once", 1),
                        ("self-test passed", 1)],
    "callbacks_and_futures": [("ok   ", 8), ("all passed", 1)],
    "many_servers": [("get_many through the tier: 20 of 20 hits", 1),
                     ("keys still found", 1),
                     ("all keys where ketama put them", 1)],
}


def arguments(name, servers):
    if name == "many_servers":
        return ["--servers", ",".join(servers)]
    args = ["--server", servers[0]]
    return args + ["--self-test"] if name.endswith("_server") else args


def main():
    if sys.argv[1:] == ["--not-built"]:
        print("the examples are not built in this configuration (-Dbench=false)")
        return SKIP
    programs = {os.path.basename(p): p for p in sys.argv[1:]}
    if sorted(programs) != sorted(EXPECTED):
        print(__doc__, file=sys.stderr)
        return 2

    failed = 0
    servers = MemcachedProcs()
    try:
        live = [servers.start_tcp() for _ in range(3)]
        nowhere = [f"127.0.0.1:{free_port()}" for _ in range(3)]  # nothing listens there
        for name in sorted(programs):
            started = time.monotonic()
            status, out = run([programs[name], *arguments(name, live)])
            wrong = [f"{text!r} (expected {n}x)" for text, n in EXPECTED[name]
                     if out.count(text) < n]
            if status != 0 or wrong:
                failed += 1
                print(f"FAIL {name}: exit status {status}, missing {wrong}\n{out}")
                continue
            status, out_nowhere = run([programs[name], *arguments(name, nowhere)])
            if status == 0:
                failed += 1
                print(f"FAIL {name}: exits 0 without a memcached\n{out_nowhere}")
                continue
            print(f"ok   {name} ({time.monotonic() - started:.1f} s)")
    finally:
        servers.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
