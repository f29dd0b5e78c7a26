#!/usr/bin/env python3
"""det_counts.py: the counts per operation that do not move with machine noise, for
memcoro's S1 (sequential get), S2 (128 coroutines, get) and S4 (set noreply) by default,
and for S2 at 1,024 coroutines (s2_1024), S2 with the metrics off (s2_nometrics), S3
(get_many of 100 keys), S6 (100 KB get), S1 and S2 over TLS (s1_tls, s2_tls: S13, on a
memcached with a TLS listener), and S9 and S10 (s9, s10: on a tier of 4 memcached) on
request.

    bench/suite/det_counts.py [--rows s1,s2,s4] [--peers] [--metrics allocs,syscalls,instr]
                              [--check allocs_s1<=0,syscalls_s2<=0.1,instr_s1<=2500]
                              [--bin build/release/bench/suite] [--json FILE]

Every count is (count of an N2-op run - count of an N1-op run) / (N2 - N1): start-up,
connecting, the warm-up (the same --warmup in both runs) and the final round trip cancel.
  allocs    operator new calls, from memcoro_bench's own counter (measured phase only)
  sslallocs OpenSSL's malloc and realloc calls (TLS rows; the same runs as allocs)
  syscalls  raw_syscalls:sys_enter from `perf stat` (strace -f -c when perf cannot trace);
            ctxsw (context switches) comes with perf
  instr     user-space instructions from `valgrind --tool=callgrind`
--peers adds the raw ceiling and libmemcached on the same rows (no allocation counts).

Prints one JSON object on stdout, a readable table on stderr. With --check, only the rows
and metrics the bounds name are measured, and the exit status is 1 when a bound is
exceeded (or a count could not be taken), so that test/run.sh can use it as a regression
guard. Syscall and allocation counts of pipelined rows depend a little on how replies
happen to be batched; leave a margin in the bounds.
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcserver  # noqa: E402  (the suite's own module, next to this file)

METRICS = ("allocs", "sslallocs", "syscalls", "ctxsw", "instr")
# Rows over TLS: they run against the server's TLS listener, trusting its certificate.
TLS_ROWS = ("s1_tls", "s2_tls")
# Rows over a tier of servers, each holding every key (as run_suite.py's S9 and S10).
TIER_ROWS = ("s9", "s10")
TIER = 4


def row_specs(bins):
    """name -> (argv without --server/--ops, (N1, N2), (N1, N2) under valgrind, allocs?)"""
    mc = [bins["memcoro_bench"], "--protocol", "auto"]
    raw = [bins["raw_ceiling"]]
    specs = {
        "s1": (mc + ["--scenario", "S1", "--warmup", "500"], (2000, 4000), (1000, 2000), True),
        "s2": (mc + ["--scenario", "S2", "--depth", "128", "--warmup", "20000"],
               (100000, 200000), (20000, 40000), True),
        # Not in the default set: S2 with client_options::metrics off, to compare with s2.
        "s2_nometrics": (mc + ["--scenario", "S2", "--depth", "128", "--warmup", "20000",
                               "--metrics", "off"], (100000, 200000), (20000, 40000), True),
        # Not in the default set: S2 at its deepest, where the replies of one read finish
        # the most operations at once.
        "s2_1024": (mc + ["--scenario", "S2", "--depth", "1024", "--warmup", "50000"],
                    (200000, 400000), (40000, 80000), True),
        "s4": (mc + ["--scenario", "S4", "--warmup", "20000"], (200000, 400000),
               (50000, 100000), True),
        # Not in the default set: S1 and S2 over TLS (S13).
        "s1_tls": (mc + ["--scenario", "S1", "--warmup", "500"], (2000, 4000), (1000, 2000),
                   True),
        "s2_tls": (mc + ["--scenario", "S2", "--depth", "128", "--warmup", "20000"],
                   (100000, 200000), (20000, 40000), True),
        # Not in the default set: S3, one get_many of 100 keys at a time (counts per key).
        "s3": (mc + ["--scenario", "S3", "--warmup", "20000"], (100000, 200000),
               (20000, 40000), True),
        # Not in the default set: the 100 KB get of S6 (target: <= 4 syscalls per get).
        "s6": (mc + ["--scenario", "S6", "--warmup", "200"], (1000, 2000), (200, 400), True),
        # Not in the default set: S9 (get_many of 100 keys over the tier, counts per key)
        # and S10 (get, 512 coroutines over the tier).
        "s9": (mc + ["--scenario", "S9", "--warmup", "20000"], (100000, 200000),
               (20000, 40000), True),
        "s10": (mc + ["--scenario", "S10", "--warmup", "20000"], (100000, 200000),
                (20000, 40000), True),
        "raw_s1": (raw + ["--mode", "get"], (2000, 4000), (1000, 2000), False),
        "raw_s2": (raw + ["--mode", "mg", "--depth", "128"], (100000, 200000), (20000, 40000),
                   False),
        "raw_s4": (raw + ["--mode", "setnr", "--depth", "1024"], (200000, 400000),
                   (50000, 100000), False),
        "raw_s6": (raw + ["--mode", "get", "--valsize", "102400"], (1000, 2000), (200, 400),
                   False),
    }
    if "lmc_bench" in bins:
        lmc = [bins["lmc_bench"]]
        specs["lmc_s1"] = (lmc + ["--mode", "get"], (2000, 4000), (1000, 2000), False)
        specs["lmc_s6"] = (lmc + ["--mode", "get", "--valsize", "102400"], (1000, 2000),
                           (200, 400), False)
        specs["lmc_s4"] = (lmc + ["--mode", "setbufnr"], (200000, 400000), (50000, 100000),
                           False)
    return specs


def run_json(argv, env=None):
    """Runs one bench program; returns (its JSON record, its stderr)."""
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    rec = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
    if p.returncode != 0 or rec is None:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv[:3]), p.returncode,
                                                    p.stderr.strip()[-400:]))
    return rec, p.stderr


def perf_works():
    if not shutil.which("perf"):
        return False
    p = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
                       capture_output=True, text=True)
    return p.returncode == 0 and "raw_syscalls:sys_enter" in p.stderr \
        and "not supported" not in p.stderr


def count_perf(argv):
    """(ops, syscalls, context switches) of one run under perf stat."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        rec, _ = run_json(["perf", "stat", "-x,", "-o", out.name, "-e",
                           "raw_syscalls:sys_enter,context-switches", "--"] + argv)
        counts = {}
        for line in out.read().splitlines():
            parts = line.split(",")
            if len(parts) >= 3 and parts[0].strip().isdigit():
                counts[parts[2]] = int(parts[0])
    return rec["ops"], counts.get("raw_syscalls:sys_enter"), counts.get("context-switches")


def count_strace(argv):
    """(ops, syscalls, None) of one run under strace -f -c."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        rec, _ = run_json(["strace", "-f", "-c", "-o", out.name] + argv)
        total = None
        for line in out.read().splitlines():
            if line.strip().endswith("total"):
                # "100.00  0.001  2  1234  5  total": calls is the 4th column
                total = int(line.split()[3])
    return rec["ops"], total, None


def count_callgrind(argv):
    """(ops, user-space instructions) of one run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        rec, _ = run_json(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + argv)
        total = None
        with open(out) as f:
            for line in f:
                m = re.match(r"(summary|totals):\s+(\d+)", line)
                if m:
                    total = int(m.group(2))
    return rec["ops"], total


def per_op(a, b):
    """Difference quotient of two (ops, count) runs."""
    (n1, c1), (n2, c2) = a, b
    if c1 is None or c2 is None or n2 == n1:
        return None
    return (c2 - c1) / (n2 - n1)


def measure(name, spec, server, tier, metrics, syscall_tool):
    argv, (n1, n2), (v1, v2), has_allocs = spec
    if name in TIER_ROWS:
        base = argv + ["--server", tier.addresses()]
    elif name in TLS_ROWS:
        base = argv + ["--server", server.tls_address, "--tls-ca", server.ca_file]
    else:
        base = argv + ["--server", server.address]
    res = {}
    if ("allocs" in metrics or "sslallocs" in metrics) and has_allocs:
        r1, _ = run_json(base + ["--ops", str(n1)])
        r2, _ = run_json(base + ["--ops", str(n2)])
        if "allocs" in metrics:
            res["allocs"] = per_op((r1["ops"], r1["allocs"]), (r2["ops"], r2["allocs"]))
        if "sslallocs" in metrics and name in TLS_ROWS:
            res["sslallocs"] = per_op((r1["ops"], r1.get("ssl_allocs")),
                                      (r2["ops"], r2.get("ssl_allocs")))
    if "syscalls" in metrics or "ctxsw" in metrics:
        count = count_perf if syscall_tool == "perf" else count_strace
        o1, s1, x1 = count(base + ["--ops", str(n1)])
        o2, s2, x2 = count(base + ["--ops", str(n2)])
        res["syscalls"] = per_op((o1, s1), (o2, s2))
        if x1 is not None:
            res["ctxsw"] = per_op((o1, x1), (o2, x2))
    if "instr" in metrics:
        a = count_callgrind(base + ["--ops", str(v1)])
        b = count_callgrind(base + ["--ops", str(v2)])
        res["instr"] = per_op(a, b)
    print("det_counts: %-7s %s" % (name, "  ".join(
        "%s %s" % (k, "—" if v is None else "%.4g" % v) for k, v in res.items())),
        file=sys.stderr)
    return res


def parse_checks(text):
    """"allocs_s1<=0,syscalls_s2<=0.1" -> [(metric, row, bound)]"""
    checks = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        m = re.fullmatch(r"([a-z]+)_([a-z0-9_]+)\s*<=\s*([0-9.eE+-]+)", item)
        if not m or m.group(1) not in METRICS:
            raise ValueError("bad bound %r (want METRIC_ROW<=NUMBER, METRIC one of %s)" % (
                item, ", ".join(METRICS)))
        checks.append((m.group(1), m.group(2), float(m.group(3))))
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=mcserver.default_bin_dir())
    ap.add_argument("--rows", default="",
                    help="rows to measure (default s1,s2,s4; also s6, s2_tls, raw_s1, ...)")
    ap.add_argument("--peers", action="store_true", help="also the raw and libmemcached rows")
    ap.add_argument("--metrics", default="",
                    help="default allocs,sslallocs,syscalls,ctxsw,instr")
    ap.add_argument("--syscall-tool", default="auto", choices=["auto", "perf", "strace"])
    ap.add_argument("--check", default="", help="bounds, e.g. allocs_s1<=0,syscalls_s2<=0.1")
    ap.add_argument("--json", default="", help="also write the JSON object to this file")
    args = ap.parse_args()
    try:
        checks = parse_checks(args.check)
    except ValueError as e:
        ap.error(str(e))

    bins = {}
    for name in ("memcoro_bench", "raw_ceiling", "lmc_bench"):
        path = os.path.join(args.bin, name)
        if os.access(path, os.X_OK):
            bins[name] = path
    if "memcoro_bench" not in bins or "raw_ceiling" not in bins:
        sys.exit("det_counts: memcoro_bench or raw_ceiling missing in %s (pass --bin)" % args.bin)
    specs = row_specs(bins)
    if args.rows:
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    elif checks:
        rows = sorted({row for _, row, _ in checks})
    else:
        rows = ["s1", "s2", "s4"]
        if args.peers:
            rows += [r for r in specs if r.split("_")[0] in ("raw", "lmc") and
                     r.split("_")[1] in rows]
    for r in rows:
        if r not in specs:
            sys.exit("det_counts: unknown row %s (rows: %s)" % (r, ", ".join(specs)))
    if args.metrics:
        metrics = set(m.strip() for m in args.metrics.split(","))
    elif checks:
        metrics = {m for m, _, _ in checks}
    else:
        metrics = set(METRICS)
    if "ctxsw" in metrics:
        metrics.add("syscalls")  # they come from the same perf runs

    tool = args.syscall_tool
    if tool == "auto":
        tool = "perf" if perf_works() else "strace"
    if ("syscalls" in metrics) and tool == "strace" and not shutil.which("strace"):
        sys.exit("det_counts: neither perf tracepoints nor strace work here")
    if "instr" in metrics and not shutil.which("valgrind"):
        sys.exit("det_counts: valgrind is missing (apt-get install valgrind)")

    result = {"method": {"difference_of_runs": True, "syscall_tool": tool,
                         "instr_tool": "valgrind --tool=callgrind (user space)",
                         "allocs": "memcoro_bench's counting operator new",
                         "sslallocs": "OpenSSL's malloc/realloc (CRYPTO_set_mem_functions)"},
              "rows": {}}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(mcserver.Memcached(tls=any(r in TLS_ROWS for r in rows)))
        big = any(r.endswith("s6") for r in rows)
        mcserver.preload(bins["raw_ceiling"], server.address,
                         data_sets=((100, 1000), (102400, 100)) if big else ((100, 1000),))
        tier = None
        if any(r in TIER_ROWS for r in rows):
            tier = stack.enter_context(mcserver.Tier(TIER))
            mcserver.preload_tier(bins["raw_ceiling"], tier)
        for r in rows:
            try:
                result["rows"][r] = measure(r, specs[r], server, tier, metrics, tool)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                print("det_counts: %s failed: %s" % (r, e), file=sys.stderr)
                result["rows"][r] = {"error": str(e)}

    failed = []
    for metric, row, bound in checks:
        v = result["rows"].get(row, {}).get(metric)
        if v is None:
            failed.append("%s_%s: not measured" % (metric, row))
        elif v > bound:
            failed.append("%s_%s = %.4g > %g" % (metric, row, v, bound))
    if checks:
        result["check"] = {"bounds": args.check, "failed": failed}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    for f in failed:
        print("det_counts: bound exceeded: %s" % f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
