#!/usr/bin/python3
"""Runs the examples of bench/examples against private memcached processes.

Usage: run_examples.py EXAMPLE_PROGRAM...   (the five programs, in any order)
       run_examples.py --not-built          (a build without bench/: reports a skip)

Starts three memcached on free loopback ports (as nobody when run as root), stopped by PID
at the end. Each example runs in its unattended mode (the servers with --self-test, which
talk to themselves over TCP) and must exit 0 and print what it is expected to print. Then
each runs once more against a port where nothing listens, and must fail: an example that
passes without memcached would prove nothing. metrics_endpoint serves HTTP while it runs:
its /metrics is fetched twice and read.
"""

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

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
    "metrics_endpoint": [("serving http://", 1), ("memcoro info: ", 1),
                         ("metrics fetched and read", 1)],
}


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def completed(text):
    """The operations completed, summed over the servers' duration histograms."""
    return sum(int(n) for n in
               re.findall(r"^memcoro_operation_duration_seconds_count\{.*\} (\d+)$", text, re.M))


def check_exposition(text, server):
    """What is wrong with one /metrics answer, or None."""
    label = f'server="{server}"'
    for line in ('# TYPE memcoro_operations_total counter',
                 '# TYPE memcoro_operation_duration_seconds histogram',
                 f'memcoro_operation_duration_seconds_bucket{{{label},le="+Inf"}}',
                 f'memcoro_queue_depth{{{label}}}'):
        if line not in text:
            return f"no {line!r}"
    gets = re.search(r'^memcoro_operations_total\{%s,kind="get"\} (\d+)$' % re.escape(label),
                     text, re.M)
    hits = re.search(r'^memcoro_hits_total\{%s\} (\d+)$' % re.escape(label), text, re.M)
    if not (gets and hits) or int(gets[1]) == 0 or int(hits[1]) == 0:
        return "no gets or hits counted"
    return None


def run_metrics_endpoint(program, server):
    """(status, output) of metrics_endpoint: its /metrics fetched twice while it runs,
    the counts growing in between."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    p = subprocess.Popen([program, "--server", server, "--listen", f"127.0.0.1:{port}",
                          "--for", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    problem, counts = None, []
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and p.poll() is None and len(counts) < 2:
            try:
                kind, text = fetch(url)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
                continue
            if not kind.startswith("text/plain; version=0.0.4"):
                problem = f"content type {kind!r}"
            else:
                problem = check_exposition(text, server)
            if problem:
                break
            counts.append(completed(text))
            time.sleep(0.3)
        if not problem and (len(counts) < 2 or counts[1] <= counts[0]):
            problem = f"the counts did not move: {counts}"
    finally:
        out, _ = p.communicate(timeout=30)
    out = out.decode(errors="replace")
    if problem:
        return 1, f"{problem}\n{out}"
    return p.returncode, out + "metrics fetched and read\n"


def arguments(name, servers):
    if name == "many_servers":
        return ["--servers", ",".join(servers)]
    if name == "metrics_endpoint":
        return ["--server", servers[0], "--listen", f"127.0.0.1:{free_port()}", "--for", "4"]
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
            if name == "metrics_endpoint":
                status, out = run_metrics_endpoint(programs[name], live[0])
            else:
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
