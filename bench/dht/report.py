#!/usr/bin/python3
"""Combines the per-run JSON files of dht_vs_opendht.sh into the printed
table (stdout) and one result JSON: medians over runs, per-run figures and
the ratios ours/OpenDHT."""
import argparse
import json
import math
import statistics
import sys

SYSTEMS = [("opendht", "OpenDHT"), ("blockcloud", "Blockcloud")]
METRICS = ["p50_ms", "p99_ms", "ops_per_s", "failures"]


def median(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else None


def ratio(ours, theirs):
    if ours is None or theirs in (None, 0):
        return None
    return ours / theirs


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def row(name, r):
    return (f"{name:<12} {fmt(r['put']['p50_ms']):>9} {fmt(r['put']['p99_ms']):>9} "
            f"{fmt(r['put']['ops_per_s'], 0):>10} {fmt(r['get']['p50_ms']):>9} "
            f"{fmt(r['get']['p99_ms']):>9} {fmt(r['get']['ops_per_s'], 0):>10} "
            f"{fmt(r['put']['failures'], 0):>8} {fmt(r['get']['failures'], 0):>8}")


HEADER = (f"{'system':<12} {'put p50':>9} {'put p99':>9} {'put ops/s':>10} {'get p50':>9} "
          f"{'get p99':>9} {'get ops/s':>10} {'put fail':>8} {'get fail':>8}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--meta", required=True, help="JSON with the run parameters and machine")
    ap.add_argument("--out", required=True, help="combined result JSON to write")
    ap.add_argument("runs", nargs="+", help="run files: SYSTEM:RUN:PATH")
    a = ap.parse_args()
    meta = json.load(open(a.meta))

    per_run = {s: {} for s, _ in SYSTEMS}
    for spec in a.runs:
        system, run, path = spec.split(":", 2)
        try:
            r = json.load(open(path))
            try:  # written by dht_vs_opendht.sh: load average before and after the side
                with open(path[:-len(".json")] + ".load") as f:
                    r["loadavg_1min"] = [float(x) for x in f.read().split()]
            except (OSError, ValueError):
                pass
            per_run[system][int(run)] = r
        except (OSError, ValueError) as e:
            print(f"report: no result for {system} run {run} ({path}: {e})", file=sys.stderr)

    medians = {}
    for s, _ in SYSTEMS:
        runs = list(per_run[s].values())
        if not runs:
            continue
        medians[s] = {ph: {m: median([r[ph][m] for r in runs]) for m in METRICS}
                      for ph in ("put", "get")}

    ratios = {}
    if "opendht" in medians and "blockcloud" in medians:
        ours, theirs = medians["blockcloud"], medians["opendht"]
        for ph in ("put", "get"):
            for m in ("p50_ms", "p99_ms", "ops_per_s"):
                ratios[f"{ph}_{m}"] = ratio(ours[ph][m], theirs[ph][m])

    goals = {}
    if ratios:
        gp50 = ratios.get("get_p50_ms")
        goals["get_p50_at_most_half"] = gp50 is not None and gp50 <= 0.5
        tp = [ratios.get("put_ops_per_s"), ratios.get("get_ops_per_s")]
        goals["throughput_at_least_2x"] = all(t is not None and t >= 2.0 for t in tp)

    p = meta["params"]
    print(f"\nDHT benchmark, {meta['date']} on {meta['machine']}: {p['nodes']} nodes per system, "
          f"{p['puts']} puts + {p['gets']} gets, {p['value_size']}-byte values, "
          f"{p['inflight']} in flight, {p['runs']} run(s)")
    print("latency in ms (submit to completion), throughput in successful ops/s\n")
    print("medians over runs")
    print(HEADER)
    for s, label in SYSTEMS:
        if s in medians:
            print(row(label, medians[s]))
    if ratios:
        print("\nratios ours/OpenDHT (latency: lower is better; throughput: higher is better)")
        print(f"  put p50 {fmt(ratios['put_p50_ms'], 3)}  put p99 {fmt(ratios['put_p99_ms'], 3)}  "
              f"put ops/s {fmt(ratios['put_ops_per_s'], 3)}")
        print(f"  get p50 {fmt(ratios['get_p50_ms'], 3)}  get p99 {fmt(ratios['get_p99_ms'], 3)}  "
              f"get ops/s {fmt(ratios['get_ops_per_s'], 3)}")
        print(f"goal get p50 <= 0.5x OpenDHT: {'met' if goals['get_p50_at_most_half'] else 'NOT met'}; "
              f"throughput >= 2x on both phases: "
              f"{'met' if goals['throughput_at_least_2x'] else 'NOT met'}")
    print("\nper run")
    print(f"{'run':<4} " + HEADER + "  load before/after")
    for s, label in SYSTEMS:
        for run in sorted(per_run[s]):
            r = per_run[s][run]
            load = "/".join(f"{x:.1f}" for x in r.get("loadavg_1min", []))
            print(f"{run:<4} " + row(label, r) + f"  {load}")

    result = dict(meta)
    result.update({"medians": medians, "ratios_ours_over_opendht": ratios, "goals": goals,
                   "runs": {s: [per_run[s][k] for k in sorted(per_run[s])] for s, _ in SYSTEMS}})
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nresult JSON: {a.out}")
    return 0 if medians else 1


if __name__ == "__main__":
    sys.exit(main())
