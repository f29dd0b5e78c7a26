#!/usr/bin/python3
"""stampede.py: suite scenario S12, a cache stampede, naive get-then-set against fetch.

    bench/suite/stampede.py [--bin build/release/bench/suite] [--out build/bench-suite]
                            [--rounds 5] [--callers 1000] [--clients 4] [--compute-ms 10]
                            [--backend-slots 10]

1,000 callers ask at once for a key that has just expired; computing its value is a 10 ms
query to a backend that serves 10 at a time. stampede_bench runs them both ways on a private memcached (-t 1), the two
strategies alternating round by round. Prints a markdown table (computes, wall time until
the last caller has its value, p50/p99/max latency; median and min-max over the rounds),
and writes stampede-<time>.json and a plot, stampede-<time>.png, to --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import mcserver

STRATEGIES = ("naive", "fetch")
FIELDS = (("computes", "computes", "%d"), ("wall_ms", "wall ms", "%.1f"),
          ("p50_ms", "p50 ms", "%.1f"), ("p99_ms", "p99 ms", "%.1f"), ("max_ms", "max ms", "%.1f"))


def run_round(binary, server, strategy, args):
    cmd = [binary, "--server", server, "--strategy", strategy, "--rounds", "1",
           "--callers", str(args.callers), "--clients", str(args.clients),
           "--compute-ms", str(args.compute_ms), "--backend-slots", str(args.backend_slots)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"strategy": strategy, "error": (p.stderr.strip() or p.stdout.strip())[-300:]}
    return json.loads(lines[-1])


def summary(results, strategy, field):
    values = [r[field] for r in results if r.get("strategy") == strategy and field in r]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def markdown(results, args):
    out = ["S12: %d callers over %d clients, a %d ms compute on a backend serving %d at a "
           "time, %d rounds; median (min-max)" %
           (args.callers, args.clients, args.compute_ms, args.backend_slots, args.rounds), "",
           "| strategy | " + " | ".join(name for _, name, _ in FIELDS) + " |",
           "| --- |" + " --- |" * len(FIELDS)]
    for s in STRATEGIES:
        cells = []
        for field, _, fmt in FIELDS:
            v = summary(results, s, field)
            cells.append("—" if v is None else
                         (fmt % v[0]) + " (" + (fmt % v[1]) + "–" + (fmt % v[2]) + ")")
        what = "get, compute on a miss, set" if s == "naive" else "fetch"
        out.append("| %s (%s) | %s |" % (s, what, " | ".join(cells)))
    return "\n".join(out)


def plot(results, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    colors = {"naive": "tab:red", "fetch": "tab:blue"}
    for ax, (field, title, log) in zip(axes, (("computes", "computes per round", True),
                                              ("wall_ms", "wall time, ms", False),
                                              ("p99_ms", "p99 latency, ms", False))):
        for i, s in enumerate(STRATEGIES):
            values = [r[field] for r in results if r.get("strategy") == s and field in r]
            if not values:
                continue
            med = statistics.median(values)
            ax.bar(i, med, color=colors[s], label=s)
            ax.plot([i] * len(values), values, "k.", markersize=4)
            ax.annotate("%.0f" % med if med >= 10 else "%.1f" % med, (i, med),
                        ha="center", va="bottom")
        ax.set_xticks(range(len(STRATEGIES)), STRATEGIES)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
    first = next((r for r in results if "callers" in r), {})
    fig.suptitle("S12: %s callers on one expired key, a %s ms compute on a backend serving %s "
                 "at a time (bars: median; dots: rounds)" % (first.get("callers", "?"),
                                                            first.get("compute_ms", "?"),
                                                            first.get("backend_slots", "?")))
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=mcserver.default_bin_dir())
    ap.add_argument("--out", default=os.path.join(mcserver.REPO_DIR, "build", "bench-suite"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--callers", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--compute-ms", type=int, default=10)
    ap.add_argument("--backend-slots", type=int, default=10)
    args = ap.parse_args()

    binary = os.path.join(args.bin, "stampede_bench")
    if not os.path.exists(binary):
        sys.exit("stampede: %s is not built" % binary)
    os.makedirs(args.out, exist_ok=True)
    results = []
    with mcserver.Memcached() as server:
        for rnd in range(args.rounds):
            for s in STRATEGIES:
                r = run_round(binary, server.address, s, args)
                r["round"] = rnd
                results.append(r)
    table = markdown(results, args)
    print(table)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(args.out, "stampede-%s.json" % stamp)
    with open(json_path, "w") as f:
        json.dump({"args": vars(args), "rounds": results, "table": table}, f, indent=1)
    print("json: %s" % json_path)
    try:
        png_path = os.path.join(args.out, "stampede-%s.png" % stamp)
        plot(results, png_path)
        print("plot: %s" % png_path)
    except ImportError:
        print("stampede: no matplotlib: no plot", file=sys.stderr)
    failed = [r for r in results if "error" in r or r.get("errors")]
    for r in failed:
        print("stampede: %s round %s failed: %s" % (r["strategy"], r.get("round"),
                                                    r.get("error", "")), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
