#!/usr/bin/python3
"""pymc_bench: pymemcache (Debian's python3-pymemcache) on the rows memcoro is compared with.

    /usr/bin/python3 pymc_bench.py --server 127.0.0.1:PORT --mode get --ops 20000

Run it with /usr/bin/python3: the first python3 on PATH may be another interpreter without
pymemcache. Modes (keys "v<valsize>:%08d", preloaded by run_suite.py):
  get       client.get, one key at a time (--valsize 100 or 102400)
  get_many  client.get_many of --batch keys; ops are counted in keys
  set       client.set with noreply=False (waits for STORED)
  setnr     client.set with noreply=True; one get at the end waits for the server
Prints one JSON line, the format every program of bench/suite shares.
"""
import argparse
import json
import os
import resource
import sys
import time

from pymemcache.client.base import Client


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def process_cpu_seconds(pid):
    """utime + stime of the server (fields 14 and 15 of /proc/PID/stat), or None."""
    if not pid:
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="127.0.0.1:11211")
    ap.add_argument("--mode", required=True, choices=["get", "get_many", "set", "setnr"])
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--valsize", type=int, default=100)
    ap.add_argument("--keys", type=int, default=0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--scenario", default="")
    a = ap.parse_args()
    nkeys = a.keys or (1000 if a.valsize <= 1024 else 100)
    batch = min(a.batch, nkeys)
    host, port = a.server.rsplit(":", 1)
    keys = ["v%d:%08d" % (a.valsize, k) for k in range(nkeys)]
    value = b"x" * a.valsize
    # no_delay: requests leave at once, as with every other client in the suite.
    client = Client((host, int(port)), no_delay=True)
    client.get(keys[0])  # connect before the clock starts

    calls = max(a.ops // batch, 1) if a.mode == "get_many" else a.ops
    misses = 0
    value_bytes = 0
    server0 = process_cpu_seconds(a.server_pid)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    if a.mode == "get":
        for i in range(calls):
            v = client.get(keys[i % nkeys])
            if v is None:
                misses += 1
            else:
                value_bytes += len(v)
    elif a.mode == "get_many":
        batches = [keys[b * batch:(b + 1) * batch] for b in range(nkeys // batch)]
        for i in range(calls):
            got = client.get_many(batches[i % len(batches)])
            misses += batch - len(got)
            value_bytes += sum(len(v) for v in got.values())
    else:
        noreply = a.mode == "setnr"
        for i in range(calls):
            client.set(keys[i % nkeys], value, noreply=noreply)
        client.get(keys[0])  # one round trip: the server has handled every set
    secs = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    server1 = process_cpu_seconds(a.server_pid)
    client.close()

    ops = calls * batch if a.mode == "get_many" else calls
    rec = {
        "client": "pymemcache", "scenario": a.scenario, "mode": a.mode, "conns": 1, "depth": 1,
        "valsize": a.valsize, "keys": nkeys, "unit": "key" if a.mode == "get_many" else "op",
        "ops": ops, "secs": round(secs, 6), "ops_per_s": round(ops / secs, 1),
        "cpu_us_per_op": round(cpu * 1e6 / ops, 4),
        "server_cpu_us_per_op": (round((server1 - server0) * 1e6 / ops, 4)
                                 if server0 is not None and server1 is not None else None),
        "mb_per_s": round(value_bytes / secs / 1e6, 2), "allocs_per_op": None,
        "misses": misses, "errors": 0,
    }
    print(json.dumps(rec, separators=(",", ":")))
    return 0 if misses == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
