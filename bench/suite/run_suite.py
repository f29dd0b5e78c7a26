#!/usr/bin/env python3
"""run_suite.py: memcoro's scenarios S1-S11 and S13 next to libmemcached, pymemcache and
the raw-socket ceiling, in one run (shared/performance.md section 4; S9-S11 are the
many-server rows, S13 TLS against plain text).

    bench/suite/run_suite.py [--rounds 5] [--only S1,S2] [--quick] [--out DIR]
                             [--bin build/release/bench/suite] [--protocol auto]

It starts its own memcached (-t 1 -m 1024 -I 2m -U 0 on a free 127.0.0.1 port, stopped by
PID), preloads 1000 x 100 B, 100 x 100 KB and 100 x 1 MiB values, then runs every row of the
chosen scenarios once per round, round after round (all rows of round 1, then round 2, ...),
so that slow drift on a shared machine hits every row alike. Each row is one process
printing one JSON line. S9-S11 run against a tier of 4 more such servers (S11 uses the
first of them), each holding every 100 B key. S13 runs against one more memcached with
two listeners, plain text and TLS (-Z, a throwaway certificate), both rows of a pair on
the same server in the same round. Each server is started only when a chosen row needs it.

Output: a markdown report on stdout; in --out, suite-<time>.json (every measurement, the
per-scenario summary, the noise context) and suite-<time>.png (throughput against requests
in flight, drawn by plot_suite.py with Debian's python3-matplotlib).

Reading it: absolute ops/s move with the machine's load; the per-round ratios
memcoro/libmemcached and memcoro/raw are what to quote (performance.md section 4), and
"faster" needs the minimum ratio above 1.0.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcserver  # noqa: E402  (the suite's own module, next to this file)

# S12, a stampede, is not a rate: stampede.py has it.
SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S13")
DEPTHS = (16, 128, 1024)
TIER = 4  # servers of the many-server rows (S9, S10)


class Row:
    """One measured program invocation, repeated once per round."""

    def __init__(self, rid, scenario, client, what, argv, ops, depth=1, conns=1, kind="get",
                 servers=0, listener=""):
        self.rid = rid
        self.scenario = scenario  # the scenario whose group it belongs to (first one)
        self.client = client      # memcoro, raw, libmemcached, pymemcache, limit
        self.what = what
        self.argv = argv          # program and its own options (no --server, --ops)
        self.ops = ops            # full-run operations (--quick divides them)
        self.depth = depth        # requests in flight per connection, for the plot
        self.conns = conns
        self.kind = kind          # get, mg, multiget, set, ...: the plot's series
        self.servers = servers    # 0: the suite's server; N: the first N of the tier
        self.listener = listener  # "plain" or "tls": S13's server, on that listener


def build_rows(bins, protocol):
    """Every row of every scenario, in run order: a scenario's rows stay adjacent."""
    mc = [bins["memcoro_bench"], "--protocol", protocol]
    raw = [bins["raw_ceiling"]]
    lmc = [bins["lmc_bench"]] if bins.get("lmc_bench") else None
    py = [mcserver.SYSTEM_PYTHON, bins["pymc_bench"]] if bins.get("pymc_bench") else None
    rows = {s: [] for s in SCENARIOS}

    def add(scenario, *args, **kw):
        rows[scenario].append(Row(*args, **kw))

    # S1: sequential get, RTT-bound; the ping-pong is the machine's floor in this run.
    add("S1", "mc.S1", "S1", "memcoro", "memcoro get, one coroutine", mc + ["--scenario", "S1"],
        20000)
    add("S1", "raw.get.d1", "S1", "raw", "raw get, sequential", raw + ["--mode", "get"], 20000)
    add("S1", "raw.mg.d1", "S1", "raw", "raw mg, sequential", raw + ["--mode", "mg"], 20000,
        kind="mg")
    if lmc:
        add("S1", "lmc.get", "S1", "libmemcached", "memcached_get 100 B", lmc + ["--mode", "get"],
            20000)
    if py:
        add("S1", "py.get", "S1", "pymemcache", "pymemcache get 100 B", py + ["--mode", "get"],
            10000)
    add("S1", "lim.pingpong", "S1", "limit", "TCP 1-byte ping-pong (RTT/s)",
        raw + ["--mode", "pingpong"], 20000)

    # S2: D coroutines on one connection. The ceiling is raw mg at the same depth; raw get
    # shows what classic get pipelining gets; lmc mget is libmemcached's best read path.
    for d in DEPTHS:
        n = 300000 if d == 16 else 1000000
        add("S2", "mc.S2.d%d" % d, "S2", "memcoro", "memcoro get, %d coroutines" % d,
            mc + ["--scenario", "S2", "--depth", str(d)], n, depth=d)
        if d == 128:
            # What counting the metrics costs the pipelined path (issue: at most 3%): the
            # same run with client_options::metrics off, right after the row with it on.
            add("S2", "mc.S2.nometrics.d128", "S2", "memcoro",
                "memcoro get, 128 coroutines, metrics off",
                mc + ["--scenario", "S2", "--depth", "128", "--metrics", "off"], n, depth=d)
        add("S2", "raw.mg.d%d" % d, "S2", "raw", "raw mg, depth %d" % d,
            raw + ["--mode", "mg", "--depth", str(d)], n, depth=d, kind="mg")
        add("S2", "raw.get.d%d" % d, "S2", "raw", "raw get, depth %d" % d,
            raw + ["--mode", "get", "--depth", str(d)], 300000, depth=d)
    # The typed meta call on the same pipelined path (issue: within 5% of get).
    add("S2", "mc.S2.meta.d128", "S2", "memcoro", "memcoro meta_get, 128 coroutines",
        mc + ["--scenario", "S2", "--depth", "128", "--api", "meta"], 1000000, depth=128)
    if lmc:
        add("S2", "lmc.mget", "S2", "libmemcached", "memcached_mget 100 keys (keys/s)",
            lmc + ["--mode", "mget"], 1000000, depth=100, kind="multiget")

    # S3: one get_many of 100 keys at a time; ops are keys.
    add("S3", "mc.S3", "S3", "memcoro", "memcoro get_many 100 keys (keys/s)",
        mc + ["--scenario", "S3"], 1000000, depth=100, kind="multiget")
    add("S3", "raw.multiget", "S3", "raw", "raw get k1..k100, 1 in flight (keys/s)",
        raw + ["--mode", "multiget"], 1000000, depth=100, kind="multiget")
    if py:
        add("S3", "py.get_many", "S3", "pymemcache", "pymemcache get_many 100 (keys/s)",
            py + ["--mode", "get_many"], 200000, depth=100, kind="multiget")

    # S4: set noreply.
    add("S4", "mc.S4", "S4", "memcoro", "memcoro set noreply, 256 coroutines",
        mc + ["--scenario", "S4"], 1000000, depth=256, kind="setnr")
    add("S4", "raw.setnr.d1024", "S4", "raw", "raw set noreply, batches of 1024",
        raw + ["--mode", "setnr", "--depth", "1024"], 1000000, depth=1024, kind="setnr")
    if lmc:
        add("S4", "lmc.setbufnr", "S4", "libmemcached", "set BUFFER_REQUESTS+NOREPLY",
            lmc + ["--mode", "setbufnr"], 1000000, kind="setnr")
        add("S4", "lmc.setnr", "S4", "libmemcached", "set NOREPLY",
            lmc + ["--mode", "setnr"], 1000000, kind="setnr")
    if py:
        add("S4", "py.setnr", "S4", "pymemcache", "pymemcache set noreply",
            py + ["--mode", "setnr"], 100000, kind="setnr")

    # S5: set with reply from 128 coroutines.
    add("S5", "mc.S5", "S5", "memcoro", "memcoro set, 128 coroutines",
        mc + ["--scenario", "S5"], 500000, depth=128, kind="set")
    add("S5", "raw.set.d128", "S5", "raw", "raw set, depth 128",
        raw + ["--mode", "set", "--depth", "128"], 500000, depth=128, kind="set")
    if lmc:
        add("S5", "lmc.set", "S5", "libmemcached", "memcached_set (waits)",
            lmc + ["--mode", "set"], 20000, kind="set")

    # S6: 100 KB values. get_into a reused buffer is the library's no-allocation path.
    big = ["--valsize", "102400"]
    add("S6", "mc.S6.d1", "S6", "memcoro", "memcoro get 100 KB, sequential",
        mc + ["--scenario", "S6"], 10000, kind="get100k")
    add("S6", "mc.S6.d1.into", "S6", "memcoro", "memcoro get_into 100 KB, sequential",
        mc + ["--scenario", "S6", "--api", "into"], 10000, kind="get100k")
    add("S6", "mc.S6.d16", "S6", "memcoro", "memcoro get 100 KB, 16 coroutines",
        mc + ["--scenario", "S6", "--depth", "16"], 20000, depth=16, kind="get100k")
    add("S6", "raw.get100k.d1", "S6", "raw", "raw get 100 KB, sequential",
        raw + ["--mode", "get"] + big, 10000, kind="get100k")
    add("S6", "raw.get100k.d16", "S6", "raw", "raw get 100 KB, depth 16",
        raw + ["--mode", "get", "--depth", "16"] + big, 20000, depth=16, kind="get100k")
    if lmc:
        add("S6", "lmc.get100k", "S6", "libmemcached", "memcached_get 100 KB",
            lmc + ["--mode", "get"] + big, 10000, kind="get100k")
    if py:
        add("S6", "py.get100k", "S6", "pymemcache", "pymemcache get 100 KB",
            py + ["--mode", "get"] + big, 5000, kind="get100k")

    # S7: 1 MiB values, at the loopback limit: client CPU is what separates clients.
    huge = ["--valsize", "1048576"]
    add("S7", "mc.S7", "S7", "memcoro", "memcoro get 1 MiB, sequential",
        mc + ["--scenario", "S7"], 2000, kind="get1m")
    add("S7", "mc.S7.into", "S7", "memcoro", "memcoro get_into 1 MiB, sequential",
        mc + ["--scenario", "S7", "--api", "into"], 2000, kind="get1m")
    add("S7", "raw.get1m.d1", "S7", "raw", "raw get 1 MiB, sequential",
        raw + ["--mode", "get"] + huge, 2000, kind="get1m")
    if lmc:
        add("S7", "lmc.get1m", "S7", "libmemcached", "memcached_get 1 MiB",
            lmc + ["--mode", "get"] + huge, 2000, kind="get1m")

    # S8: 4 connections x 128 in flight.
    add("S8", "mc.S8", "S8", "memcoro", "memcoro 4 clients x 128 coroutines, get",
        mc + ["--scenario", "S8"], 1000000, depth=128, conns=4)
    add("S8", "raw.mg.d128.c4", "S8", "raw", "raw mg, 4 conns x depth 128",
        raw + ["--mode", "mg", "--depth", "128", "--conns", "4"], 1000000, depth=128, conns=4,
        kind="mg")
    add("S8", "raw.get.d128.c4", "S8", "raw", "raw get, 4 conns x depth 128",
        raw + ["--mode", "get", "--depth", "128", "--conns", "4"], 300000, depth=128, conns=4)

    # S9: get_many of 100 keys over 4 servers (ketama, one connection each), one call at a
    # time: a request to each server at once. libmemcached with weighted ketama places the
    # keys the same way and fans out too; raw sends 25 keys to each server and reads all.
    add("S9", "mc.S9", "S9", "memcoro", "memcoro get_many 100 keys over 4 servers (keys/s)",
        mc + ["--scenario", "S9"], 1000000, depth=100, conns=TIER, kind="tier_multiget",
        servers=TIER)
    if lmc:
        add("S9", "lmc.mget.t4", "S9", "libmemcached",
            "memcached_mget 100 keys over 4 servers, ketama (keys/s)",
            lmc + ["--mode", "mget"], 1000000, depth=100, conns=TIER, kind="tier_multiget",
            servers=TIER)
    add("S9", "raw.fanout.t4", "S9", "raw", "raw get of 25 keys to each of 4 servers (keys/s)",
        raw + ["--mode", "fanout"], 1000000, depth=100, conns=TIER, kind="tier_multiget",
        servers=TIER)

    # S10: 512 coroutines on one client over 4 servers (128 per connection), against the
    # ceiling with one connection to each server x depth 128.
    add("S10", "mc.S10", "S10", "memcoro", "memcoro get, 512 coroutines over 4 servers",
        mc + ["--scenario", "S10"], 1000000, depth=128, conns=TIER, kind="tier", servers=TIER)
    add("S10", "raw.mg.d128.t4", "S10", "raw", "raw mg, 4 servers x depth 128",
        raw + ["--mode", "mg", "--depth", "128", "--conns", str(TIER)], 1000000, depth=128,
        conns=TIER, kind="tier", servers=TIER)
    add("S10", "raw.get.d128.t4", "S10", "raw", "raw get, 4 servers x depth 128",
        raw + ["--mode", "get", "--depth", "128", "--conns", str(TIER)], 300000, depth=128,
        conns=TIER, kind="tier", servers=TIER)

    # S11: one client, 2 connections to one server, 512 coroutines; its io_context run by
    # 2 threads against 1 (same rounds): the ratio is the speedup.
    for t in (1, 2):
        add("S11", "mc.S11.t%d" % t, "S11", "memcoro",
            "memcoro get, 512 coroutines, 2 conns, %d thread%s" % (t, "s" if t > 1 else ""),
            mc + ["--scenario", "S11", "--threads", str(t)], 1000000, depth=256, conns=2,
            kind="threads", servers=1)
    # What the machine allows that ratio (memcached's one worker thread shares the two
    # cores with the client's threads): the same 2 threads with a client of their own for
    # each connection, so that nothing of a client is shared; and the raw ceiling, whose
    # threads share nothing at all, with 2 connections on 2 threads against 1 connection of
    # the same depth on 1 thread.
    add("S11", "mc.S11.t2.split", "S11", "memcoro",
        "memcoro get, 512 coroutines, 2 clients of 1 conn, 2 threads",
        mc + ["--scenario", "S11", "--threads", "2", "--conns", "2", "--conns-per-server", "1",
              "--depth", "256"], 1000000, depth=256, conns=2, kind="threads", servers=1)
    add("S11", "raw.S11.t1", "S11", "raw", "raw mg, 1 conn x depth 512, 1 thread",
        raw + ["--mode", "mg", "--depth", "512", "--conns", "1"], 1000000, depth=512, conns=1,
        kind="threads", servers=1)
    add("S11", "raw.S11.t2", "S11", "raw", "raw mg, 2 conns x depth 256, 2 threads",
        raw + ["--mode", "mg", "--depth", "256", "--conns", "2"], 1000000, depth=256, conns=2,
        kind="threads", servers=1)

    # S13: the same gets over TLS and in plain text, on one server with both listeners
    # (its -t 1 worker serves both); the ratio is what TLS costs. The two rows of a pair
    # run one right after the other.
    for d, scenario, n, how in ((128, "S2", 1000000, "128 coroutines"),
                                (1, "S1", 20000, "one coroutine")):
        if not bins.get("tls"):
            break
        for listener, name in (("plain", "plain text"), ("tls", "TLS")):
            add("S13", "mc.S13.%s.d%d" % (listener, d), "S13", "memcoro",
                "memcoro get, %s, %s" % (how, name),
                mc + ["--scenario", scenario, "--depth", str(d)], n, depth=d,
                kind="tls" if listener == "tls" else "get", listener=listener)
    return rows


# What each memcoro row is compared with, and the targets of performance.md section 4.
# ratio targets: (reference, minimum median ratio); cpu: maximum client µs/op;
# allocs: maximum allocations per op (per key for S3: 1 per batch of 100).
def references(protocol):
    ceiling = "raw.get" if protocol == "text" else "raw.mg"
    refs = {
        "mc.S1": {"lmc": "lmc.get", "raw": "raw.get.d1", "targets": {"lmc": 1.0},
                  "allocs": 0, "note": "≥1.0× lmc; 0 allocs"},
        "mc.S3": {"lmc": "lmc.mget", "raw": "raw.multiget", "targets": {"lmc": 1.1},
                  "cpu": 0.3, "allocs": 0.01,
                  "note": "≥1.1× lmc; ≤0.3 µs/key; ≤1 alloc/batch"},
        "mc.S4": {"lmc": "lmc.setbufnr", "raw": "raw.setnr.d1024", "targets": {"lmc": 0.95},
                  "cpu": 0.35, "allocs": 0,
                  "note": "≥0.95× lmc buf+noreply; ≤0.35 µs/op; 0 allocs"},
        "mc.S5": {"lmc": "lmc.set", "raw": "raw.set.d128", "targets": {"raw": 0.7},
                  "note": "≥0.7× raw.set.d128"},
        "mc.S6.d1": {"lmc": "lmc.get100k", "raw": "raw.get100k.d1", "targets": {"lmc": 1.0},
                     "cpu_vs_raw": 1.1, "note": "≥1.0× lmc; CPU ≤ raw+10%"},
        "mc.S6.d1.into": {"lmc": "lmc.get100k", "raw": "raw.get100k.d1", "targets": {"lmc": 1.0},
                          "cpu_vs_raw": 1.1, "note": "≥1.0× lmc; CPU ≤ raw+10%"},
        "mc.S6.d16": {"lmc": "lmc.get100k", "raw": "raw.get100k.d16", "note": "(no target)"},
        "mc.S7": {"lmc": "lmc.get1m", "raw": "raw.get1m.d1", "targets": {"lmc": 1.0},
                  "cpu": 150, "note": "≥1.0× lmc; ≤150 µs/op"},
        "mc.S7.into": {"lmc": "lmc.get1m", "raw": "raw.get1m.d1", "targets": {"lmc": 1.0},
                       "cpu": 150, "note": "≥1.0× lmc; ≤150 µs/op"},
        "mc.S8": {"raw": ceiling + ".d128.c4", "targets": {"raw": 0.8},
                  "note": "≥0.8× raw 4×128"},
        "mc.S9": {"lmc": "lmc.mget.t4", "raw": "raw.fanout.t4", "targets": {"lmc": 1.2},
                  "note": "≥1.2× lmc mget over 4 servers"},
        "mc.S10": {"raw": ceiling + ".d128.t4", "targets": {"raw": 0.9},
                   "note": "≥0.9× raw 4 servers×128"},
        "mc.S11.t2": {"base": "mc.S11.t1", "targets": {"base": 1.0},
                      "note": "2 threads ≥1.0× 1 thread"},
        "mc.S11.t2.split": {"base": "mc.S11.t1",
                            "note": "(reference: no client shared between the threads)"},
        "raw.S11.t2": {"base": "raw.S11.t1", "note": "(reference: the machine, 2 threads ÷ 1)"},
        "mc.S2.meta.d128": {"base": "mc.S2.d128", "targets": {"base": 0.95},
                            "note": "meta_get ≥0.95× get, 128 coroutines"},
        "mc.S13.tls.d128": {"base": "mc.S13.plain.d128", "targets": {"base": 0.6},
                            "note": "TLS ≥0.6× plain, 128 coroutines"},
        "mc.S13.tls.d1": {"base": "mc.S13.plain.d1", "note": "TLS ÷ plain, sequential (report)"},
    }
    for d in DEPTHS:
        r = {"lmc": "lmc.mget", "raw": "%s.d%d" % (ceiling, d), "cpu": 0.5, "allocs": 0}
        if d == 16:
            r["note"] = "≤0.5 µs/op; 0 allocs"
        else:
            r["targets"] = {"raw": 0.8}
            r["note"] = "≥0.8× raw mg; ≤0.5 µs/op; 0 allocs"
        if d == 128:
            # Its base: the same row with the metrics off (issue: they cost at most 3%).
            r["base"] = "mc.S2.nometrics.d128"
            r["targets"]["base"] = 0.97
            r["note"] += "; metrics on ≥0.97× off"
        refs["mc.S2.d%d" % d] = r
    return refs


# Sides of a memcoro row's comparisons: libmemcached, the raw ceiling, and another memcoro
# row (S11: 2 threads against 1; S13: TLS against plain text).
SIDES = ("lmc", "raw", "base")


def run_row(row, server, server_pid, ops, timeout, extra=()):
    """`extra`: options the row gets from its server (S13's --tls-ca)."""
    argv = row.argv + list(extra) + ["--server", server, "--server-pid", str(server_pid),
                                     "--ops", str(ops)]
    if row.client != "memcoro":
        argv += ["--scenario", row.scenario]  # a label; memcoro_bench's names the scenario
    t0 = time.time()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %ds" % timeout}
    rec = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                pass
    if rec is None:
        return {"error": "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])}
    if p.returncode != 0:
        rec["error"] = "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
    rec["wall_secs"] = round(time.time() - t0, 3)
    return rec


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def stats_of(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    return {"median": med, "min": lo, "max": hi, "n": len(values),
            "spread_pct": (hi - lo) / med * 100 if med else None}


def summarize(rows, results, refs):
    """Per row: medians and spreads; per memcoro row: per-round ratios and target verdicts."""
    by_row = {}
    for r in rows:
        recs = [m for m in results if m["row"] == r.rid and "error" not in m]
        by_row[r.rid] = {
            "what": r.what, "scenario": r.scenario, "client": r.client, "depth": r.depth,
            "conns": r.conns, "kind": r.kind, "runs": len(recs),
            "failures": len([m for m in results if m["row"] == r.rid and "error" in m]),
            "unit": recs[0].get("unit", "op") if recs else "op",
            "ops_per_s": stats_of([m["ops_per_s"] for m in recs]),
            "cpu_us_per_op": stats_of([m.get("cpu_us_per_op") for m in recs]),
            "server_cpu_us_per_op": stats_of([m.get("server_cpu_us_per_op") for m in recs]),
            "allocs_per_op": stats_of([m.get("allocs_per_op") for m in recs]),
            "ssl_allocs_per_op": stats_of([m.get("ssl_allocs_per_op") for m in recs]),
            "ctxsw_per_op": stats_of([m.get("ctxsw_per_op") for m in recs]),
            "misses": sum(m.get("misses") or 0 for m in recs),
        }
    per_round = {}
    for m in results:
        if "error" not in m:
            per_round[(m["row"], m["round"])] = m
    rounds = sorted({m["round"] for m in results})
    for rid, ref in refs.items():
        if rid not in by_row:
            continue
        s = by_row[rid]
        verdicts = []
        for side in SIDES:
            other = ref.get(side)
            if not other or other not in by_row:
                continue
            ratios = []
            for rnd in rounds:
                a, b = per_round.get((rid, rnd)), per_round.get((other, rnd))
                if a and b and b["ops_per_s"] > 0:
                    ratios.append(a["ops_per_s"] / b["ops_per_s"])
            s["ratio_" + side] = dict(stats_of(ratios) or {}, ref=other)
            want = ref.get("targets", {}).get(side)
            if want is not None and ratios:
                verdicts.append(("%s ratio ≥ %.2f" % (side, want),
                                 statistics.median(ratios) >= want))
        cpu = s["cpu_us_per_op"]["median"] if s["cpu_us_per_op"] else None
        if "cpu" in ref and cpu is not None:
            verdicts.append(("cpu ≤ %g µs/op" % ref["cpu"], cpu <= ref["cpu"]))
        raw = by_row.get(ref.get("raw", ""), {}).get("cpu_us_per_op")
        if "cpu_vs_raw" in ref and cpu is not None and raw:
            verdicts.append(("cpu ≤ raw×%.2f" % ref["cpu_vs_raw"],
                             cpu <= raw["median"] * ref["cpu_vs_raw"]))
        allocs = s["allocs_per_op"]["median"] if s["allocs_per_op"] else None
        if "allocs" in ref and allocs is not None:
            verdicts.append(("allocs ≤ %g/op" % ref["allocs"], allocs <= ref["allocs"] + 1e-9))
        s["target"] = ref.get("note", "")
        s["verdicts"] = [{"check": c, "met": ok} for c, ok in verdicts]
    return by_row


def fmt_rate(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def fmt_num(v, digits=2):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return "%.0f" % v
    return ("%%.%df" % digits) % v


def markdown(rows, summary, meta, rounds_info):
    out = []
    out.append("## memcoro benchmark suite, %s" % meta["started"])
    out.append("")
    out.append("memcached %s `-t 1`, %d round(s), interleaved; %s; protocol `%s`%s." % (
        meta["memcached_version"], meta["rounds"], meta["host"], meta["protocol"],
        ", **quick mode (short runs)**" if meta["quick"] else ""))
    loads = [r["loadavg_start"] for r in rounds_info]
    busy = [r["busy_pct"] for r in rounds_info if r.get("busy_pct") is not None]
    out.append("Noise: load average %.2f–%.2f at round starts; CPU busy %.0f–%.0f%% during "
               "rounds; TCP ping-pong row lim.pingpong (S1) is the round-trip floor." % (
                   min(loads), max(loads), min(busy) if busy else 0, max(busy) if busy else 0))
    out.append("")
    out.append("### memcoro against its peers (median of per-round ratios, min–max)")
    out.append("")
    # S11's 2-thread row compares with its 1-thread row, S13's TLS rows with plain text:
    # a column only when one of them ran.
    base = any(summary[r.rid].get("ratio_base") for r in rows if r.client == "memcoro")
    out.append("| row | ops/s (min–max) | ÷ libmemcached | ÷ raw ceiling | %s"
               "client µs/op | server µs/op | allocs/op | target (performance.md) | met? |" % (
                   "÷ memcoro | " if base else ""))
    out.append("|---|---|---|---|---|---|---|---|---|%s" % ("---|" if base else ""))
    for r in rows:
        s = summary[r.rid]
        # Other clients' rows only where they are compared with one another (S11's raw).
        if r.client != "memcoro" and "target" not in s:
            continue
        if not s["ops_per_s"]:
            out.append("| %s | failed | | | | | | | |%s" % (r.rid, " |" if base else ""))
            continue
        o = s["ops_per_s"]

        def ratio(side):
            x = s.get("ratio_" + side)
            if not x or "median" not in x:
                return "—"
            return "%.2f (%.2f–%.2f) vs %s" % (x["median"], x["min"], x["max"], x["ref"])

        met = ", ".join("%s %s" % ("✔" if v["met"] else "✘", v["check"])
                        for v in s.get("verdicts", [])) or "—"
        unit = "keys/s" if s["unit"] == "key" else ""
        out.append("| %s | %s%s (%s–%s) | %s | %s | %s%s | %s | %s | %s | %s |" % (
            r.rid, fmt_rate(o["median"]), " " + unit if unit else "", fmt_rate(o["min"]),
            fmt_rate(o["max"]), ratio("lmc"), ratio("raw"), ratio("base") + " | " if base else "",
            fmt_num(s["cpu_us_per_op"]["median"] if s["cpu_us_per_op"] else None),
            fmt_num(s["server_cpu_us_per_op"]["median"] if s["server_cpu_us_per_op"] else None),
            fmt_num(s["allocs_per_op"]["median"] if s["allocs_per_op"] else None),
            s.get("target", ""), met))
    missed = ["%s (%d)" % (r.rid, summary[r.rid]["misses"]) for r in rows
              if summary[r.rid].get("misses")]
    out.append("")
    out.append("Misses: %s." % (", ".join(missed) if missed else "none in any row"))
    out.append("")
    out.append("### every row")
    out.append("")
    out.append("| scenario | row | what | median | min–max | spread | client µs/op | "
               "server µs/op | allocs/op |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = summary[r.rid]
        o = s["ops_per_s"]
        if not o:
            out.append("| %s | %s | %s | failed (%d) | | | | | |" % (
                r.scenario, r.rid, r.what, s["failures"]))
            continue
        out.append("| %s | %s | %s | %s | %s–%s | %.0f%% | %s | %s | %s |" % (
            r.scenario, r.rid, r.what, fmt_rate(o["median"]), fmt_rate(o["min"]),
            fmt_rate(o["max"]), o["spread_pct"] or 0,
            fmt_num(s["cpu_us_per_op"]["median"] if s["cpu_us_per_op"] else None),
            fmt_num(s["server_cpu_us_per_op"]["median"] if s["server_cpu_us_per_op"] else None),
            fmt_num(s["allocs_per_op"]["median"] if s["allocs_per_op"] else None)))
    out.append("")
    return "\n".join(out)


def find_binaries(bin_dir):
    bins = {}
    for name in ("memcoro_bench", "raw_ceiling", "lmc_bench"):
        path = os.path.join(bin_dir, name)
        if os.access(path, os.X_OK):
            bins[name] = path
    missing = [n for n in ("memcoro_bench", "raw_ceiling") if n not in bins]
    if missing:
        sys.exit("run_suite: %s not found in %s (build with ninja, or pass --bin)" % (
            ", ".join(missing), bin_dir))
    if "lmc_bench" not in bins:
        print("run_suite: no lmc_bench in %s: libmemcached rows skipped" % bin_dir,
              file=sys.stderr)
    # S13 needs TLS on both sides: memcoro built with OpenSSL, memcached with -Z.
    if subprocess.run([bins["memcoro_bench"], "--has-tls"]).returncode != 0:
        print("run_suite: this memcoro_bench has no TLS (meson -Dtls, libssl-dev): "
              "S13 skipped", file=sys.stderr)
    elif not mcserver.memcached_has_tls():
        print("run_suite: memcached has no TLS (-Z): S13 skipped", file=sys.stderr)
    else:
        bins["tls"] = True
    py = os.path.join(mcserver.SUITE_DIR, "pymc_bench.py")
    has_pymemcache = subprocess.run([mcserver.SYSTEM_PYTHON, "-c", "import pymemcache"],
                                    capture_output=True).returncode == 0
    if has_pymemcache:
        bins["pymc_bench"] = py
    else:
        print("run_suite: %s cannot import pymemcache (apt-get install python3-pymemcache): "
              "pymemcache rows skipped" % mcserver.SYSTEM_PYTHON, file=sys.stderr)
    return bins


def ensure_matplotlib():
    """Debian's python3-matplotlib, installed with apt-get when missing and we are root."""
    check = [mcserver.SYSTEM_PYTHON, "-c", "import matplotlib"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return True
    if os.geteuid() != 0:
        print("run_suite: no matplotlib for %s and not root: no plot "
              "(apt-get install python3-matplotlib)" % mcserver.SYSTEM_PYTHON, file=sys.stderr)
        return False
    print("run_suite: installing python3-matplotlib", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                    "python3-matplotlib"], env=env, stdout=subprocess.DEVNULL)
    return subprocess.run(check, capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 5; 1 with --quick)")
    ap.add_argument("--only", default="", help="scenarios to run, e.g. S1,S2 (default all)")
    ap.add_argument("--quick", action="store_true", help="short runs (1/20 of the ops): smoke test")
    ap.add_argument("--out", default=os.path.join(mcserver.REPO_DIR, "build", "bench-suite"),
                    help="directory for the JSON and PNG files")
    ap.add_argument("--bin", default=mcserver.default_bin_dir(),
                    help="where memcoro_bench, raw_ceiling and lmc_bench are")
    ap.add_argument("--protocol", default="auto", choices=["auto", "meta", "text"],
                    help="memcoro's wire protocol (the ceiling follows: mg, or get for text)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds allowed per row")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    for s in only:
        if s not in SCENARIOS:
            sys.exit("run_suite: unknown scenario %s (%s)" % (s, ",".join(SCENARIOS)))

    bins = find_binaries(args.bin)
    by_scenario = build_rows(bins, args.protocol)
    all_refs = references(args.protocol)
    all_rows = {r.rid: r for s in SCENARIOS for r in by_scenario[s]}
    rows, seen = [], set()
    for s in SCENARIOS:
        if only and s not in only:
            continue
        group = list(by_scenario[s])
        # A comparator that belongs to another scenario (lmc.mget serves S2 and S3) runs
        # right after this scenario's rows, so that it stays adjacent to its memcoro row.
        for r in by_scenario[s]:
            for side in SIDES:
                rid = all_refs.get(r.rid, {}).get(side)
                if rid in all_rows and all_rows[rid] not in group:
                    group.append(all_rows[rid])
        for r in group:
            if r.rid not in seen:
                rows.append(r)
                seen.add(r.rid)
    refs = {k: v for k, v in all_refs.items() if k in seen}
    if not rows:
        sys.exit("run_suite: no row to run (%s skipped above)" % ",".join(only))

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(args.out, "suite-%s.json" % stamp)
    png_path = os.path.join(args.out, "suite-%s.png" % stamp)
    scale = 20 if args.quick else 1
    results, rounds_info = [], []
    meta = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": "%s, %d CPUs" % (platform.node(), os.cpu_count() or 0),
            "kernel": platform.release(), "rounds": rounds, "quick": args.quick,
            "protocol": args.protocol, "only": only, "argv": sys.argv}

    log = os.path.join(args.out, "memcached-%s.log" % stamp)
    tier_size = max(r.servers for r in rows)
    meta["memcached_version"] = subprocess.run(
        ["memcached", "-V"], capture_output=True, text=True).stdout.split()[-1]
    with contextlib.ExitStack() as stack:
        server, tier, tls_server = None, None, None
        if any(r.servers == 0 and not r.listener for r in rows):
            server = stack.enter_context(mcserver.Memcached(log_path=log))
            meta["server"] = server.address
            print("run_suite: memcached pid %d at %s; preloading" % (server.pid, server.address),
                  file=sys.stderr)
            mcserver.preload(bins["raw_ceiling"], server.address)
        if tier_size:
            tier = stack.enter_context(mcserver.Tier(tier_size, log_path=log + ".tier"))
            meta["tier"] = tier.addresses()
            print("run_suite: tier of %d memcached, pids %s at %s; preloading every one" % (
                tier_size, tier.pids(), tier.addresses()), file=sys.stderr)
            mcserver.preload_tier(bins["raw_ceiling"], tier)
        if any(r.listener for r in rows):
            tls_server = stack.enter_context(mcserver.Memcached(log_path=log + ".tls", tls=True))
            meta["tls_server"] = "%s plain, %s TLS" % (tls_server.address,
                                                       tls_server.tls_address)
            print("run_suite: memcached pid %d with TLS at %s, plain at %s; preloading" % (
                tls_server.pid, tls_server.tls_address, tls_server.address), file=sys.stderr)
            # S13 reads the 100 B keys only.
            mcserver.preload(bins["raw_ceiling"], tls_server.address, data_sets=((100, 1000),))

        def where(r):
            """The --server, --server-pid and further options of a row: the suite's server,
            a tier, or a listener of the TLS server."""
            if r.listener == "tls":
                return (tls_server.tls_address, str(tls_server.pid),
                        ["--tls-ca", tls_server.ca_file])
            if r.listener:
                return tls_server.address, str(tls_server.pid), []
            if r.servers == 0:
                return server.address, str(server.pid), []
            return tier.addresses(r.servers), tier.pids(r.servers), []

        for rnd in range(1, rounds + 1):
            info = {"round": rnd, "loadavg_start": loadavg()}
            busy0, total0 = cpu_jiffies()
            for r in rows:
                ops = max(r.ops // scale, 200 if r.kind in ("get1m", "get100k") else 1000)
                address, pids, extra = where(r)
                rec = run_row(r, address, pids, ops, args.timeout, extra)
                rec.update({"row": r.rid, "round": rnd, "group": r.scenario})
                results.append(rec)
                shown = ("%s %s/s" % (fmt_rate(rec["ops_per_s"]), rec.get("unit", "op"))
                         if "ops_per_s" in rec else "")
                print("round %d/%d %-16s %s %s" % (rnd, rounds, r.rid, shown,
                                                  rec.get("error", "")), file=sys.stderr)
            busy1, total1 = cpu_jiffies()
            info["loadavg_end"] = loadavg()
            info["busy_pct"] = (round(100.0 * (busy1 - busy0) / (total1 - total0), 1)
                                if total1 > total0 else None)
            rounds_info.append(info)

    summary = summarize(rows, results, refs)
    doc = {"meta": meta, "rounds": rounds_info, "rows": summary, "measurements": results}
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    report = markdown(rows, summary, meta, rounds_info)
    print(report)
    print("JSON: %s" % json_path)
    if not args.no_plot and ensure_matplotlib():
        p = subprocess.run([mcserver.SYSTEM_PYTHON,
                            os.path.join(mcserver.SUITE_DIR, "plot_suite.py"), json_path,
                            png_path], capture_output=True, text=True)
        if p.returncode == 0:
            print("plot: %s" % png_path)
        else:
            print("run_suite: plot failed: %s" % p.stderr.strip()[-500:], file=sys.stderr)
    failed = sum(1 for m in results if "error" in m)
    if failed:
        print("run_suite: %d measurement(s) failed; see the JSON" % failed, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
