#!/usr/bin/python3
"""plot_suite.py: draws a run_suite.py JSON file.

    /usr/bin/python3 bench/suite/plot_suite.py suite-<time>.json suite-<time>.png

Left: throughput against requests in flight on one connection (medians, min-max bars) for
memcoro and its peers; the 4-connection rows sit at 4 x 128 = 512 in flight, drawn hollow.
Libraries that cannot keep requests in flight (libmemcached, pymemcache) appear as their
sequential point and, dotted, their multiget rate in keys/s. The many-server rows: S10 and
its ceiling at 512 in flight (hollow), S11's 1- and 2-thread runs at 512, S9
as dotted lines. S13: memcoro over TLS and in plain text on the TLS server, at 1 and 128.
Right: memcoro's per-round ratios to libmemcached, to the raw ceiling and to another
memcoro row (S11: the 1-thread run; S13: plain text), per row.
Needs Debian's python3-matplotlib (run_suite.py installs it when missing).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def point(rows, rid):
    s = rows.get(rid, {}).get("ops_per_s")
    if not s:
        return None
    return s["median"], s["min"], s["max"]


def series(ax, rows, ids_by_depth, label, style, color, hollow=False):
    xs, ys, lo, hi = [], [], [], []
    for depth, rid in ids_by_depth:
        p = point(rows, rid)
        if p:
            xs.append(depth)
            ys.append(p[0])
            lo.append(p[0] - p[1])
            hi.append(p[2] - p[0])
    if not xs:
        return
    kw = {"markerfacecolor": "none"} if hollow else {}
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt=style, color=color, capsize=3, label=label, **kw)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        doc = json.load(f)
    rows = doc["rows"]
    meta = doc["meta"]
    depths = (16, 128, 1024)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 6.5))

    series(ax, rows, [(1, "mc.S1")] + [(d, "mc.S2.d%d" % d) for d in depths],
           "memcoro get (coroutines)", "o-", "tab:blue")
    series(ax, rows, [(1, "raw.mg.d1")] + [(d, "raw.mg.d%d" % d) for d in depths],
           "raw ceiling, mg", "s--", "tab:orange")
    series(ax, rows, [(1, "raw.get.d1")] + [(d, "raw.get.d%d" % d) for d in depths],
           "raw ceiling, classic get", "^--", "tab:green")
    series(ax, rows, [(512, "mc.S8")], "memcoro, 4 clients × 128", "o", "tab:blue",
           hollow=True)
    series(ax, rows, [(512, "raw.mg.d128.c4")], "raw mg, 4 conns × 128", "s", "tab:orange",
           hollow=True)
    series(ax, rows, [(512, "raw.get.d128.c4")], "raw get, 4 conns × 128", "^", "tab:green",
           hollow=True)
    series(ax, rows, [(512, "mc.S10")], "memcoro, 512 coroutines over 4 servers", "P",
           "tab:blue", hollow=True)
    series(ax, rows, [(512, "raw.mg.d128.t4")], "raw mg, 4 servers × 128", "X", "tab:orange",
           hollow=True)
    series(ax, rows, [(512, "mc.S11.t1")], "memcoro 512 coroutines, 2 conns, 1 thread", "h",
           "tab:cyan")
    series(ax, rows, [(512, "mc.S11.t2")], "memcoro 512 coroutines, 2 conns, 2 threads", "H",
           "tab:red")
    series(ax, rows, [(1, "mc.S13.plain.d1"), (128, "mc.S13.plain.d128")],
           "memcoro plain text, S13's server (-Z)", "d:", "tab:gray")
    series(ax, rows, [(1, "mc.S13.tls.d1"), (128, "mc.S13.tls.d128")],
           "memcoro over TLS (S13)", "*:", "tab:olive")
    series(ax, rows, [(1, "lmc.get")], "libmemcached get", "D", "tab:purple")
    series(ax, rows, [(1, "py.get")], "pymemcache get", "v", "tab:brown")
    for rid, label, color in (("lmc.mget", "libmemcached mget 100 (keys/s)", "tab:purple"),
                              ("mc.S3", "memcoro get_many 100 (keys/s)", "tab:blue"),
                              ("py.get_many", "pymemcache get_many 100 (keys/s)", "tab:brown"),
                              ("lmc.mget.t4", "libmemcached mget 100 over 4 servers (keys/s)",
                               "tab:pink"),
                              ("mc.S9", "memcoro get_many 100 over 4 servers (keys/s)",
                               "tab:cyan")):
        p = point(rows, rid)
        if p:
            ax.axhline(p[0], linestyle=":", color=color, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests in flight per connection (coroutines / pipeline depth)")
    ax.set_ylabel("ops/s (median, min–max bars)")
    ax.set_title("throughput against concurrency, 100 B gets")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")

    names, med, lo, hi, colors = [], [], [], [], []
    for rid, s in rows.items():
        if s.get("client") != "memcoro":
            continue
        for side, color in (("lmc", "tab:purple"), ("raw", "tab:green"), ("base", "tab:red")):
            r = s.get("ratio_" + side)
            if r and "median" in r:
                names.append("%s ÷ %s" % (rid, r["ref"]))
                med.append(r["median"])
                lo.append(r["median"] - r["min"])
                hi.append(r["max"] - r["median"])
                colors.append(color)
    if names:
        y = range(len(names))
        bx.barh(y, med, xerr=[lo, hi], color=colors, capsize=3)
        bx.set_yticks(list(y))
        bx.set_yticklabels(names, fontsize=8)
        bx.invert_yaxis()
        bx.axvline(1.0, color="black", linewidth=0.8)
        bx.set_xscale("log")
        bx.set_xlabel("memcoro ÷ peer, median of per-round ratios (min–max bars)")
        bx.set_title("ratios (purple: libmemcached, green: raw ceiling, red: memcoro)")
        bx.grid(True, axis="x", which="both", alpha=0.3)

    fig.suptitle("memcoro suite %s: memcached %s -t 1, %d round(s)%s" % (
        meta["started"], meta.get("memcached_version", "?"), meta["rounds"],
        ", quick" if meta.get("quick") else ""))
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
