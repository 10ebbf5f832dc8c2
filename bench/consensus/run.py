#!/usr/bin/python3
"""Finality of the BFT committee on loopback, beside the hardware limit and
the single producer (docs/benchmarks.md, "Consensus").

Per run and per chain kind (alternating, so load drift on a shared machine
hits both):
  bft     blockcloud-devnet up --nodes 4 --validators 4: a committee of 4
  single  blockcloud-devnet up --nodes 4 --validators 0: node 0 produces,
          3 follow (the chain before the committee)
then on that devnet, with bc-bench-finality:
  1. the hardware limit, measured first in the same run: raw BIP340
     verifies/s on all cores, divided by the 4 nodes that each verify
     every transfer on this machine;
  2. finality latency at each --rates (default 100, 1000, 5000 tx/s);
  3. the highest sustained rate: the --ladder rates in order until one is
     not sustained (fewer than 95% of the offered transfers finalised
     within the window, or any not finalised by the end of the drain).

Prints each measurement as it lands, then medians over --runs with the
ratios the goals name: sustained bft rate / limit (goal >= 0.7) and bft
p50 at 1000 tx/s (goal <= 100 ms). --json FILE also writes every raw
measurement."""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from bcnet import Bins, Devnet, TestFailure, rpc  # noqa: E402
from ledgernet import LedgerNet  # noqa: E402

NODES = 4
BASE_IP, BASE_PORT = "127.0.78.2", 9770
SUSTAINED_SHARE = 0.95


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"), help="directory of the built programs")
    ap.add_argument("--runs", type=int, default=3, help="runs per chain kind (default 3)")
    ap.add_argument("--seconds", type=float, default=10, help="load window per rate (default 10)")
    ap.add_argument("--rates", default="100,1000,5000", help="latency rates, tx/s")
    ap.add_argument("--ladder", default="1000,1500,2000,3000,4000,6000,8000,10000",
                    help="rates tried in order for the sustained figure, tx/s ('' to skip)")
    ap.add_argument("--block-interval-ms", type=int, default=50, help="the chains' block interval (default 50)")
    ap.add_argument("--accounts", type=int, default=1000, help="funded accounts that send (default 1000)")
    ap.add_argument("--senders", type=int, default=32,
                    help="sender threads, each with a keep-alive connection to one node (default 32)")
    ap.add_argument("--kinds", default="bft,single", help="chain kinds to run: bft, single")
    ap.add_argument("--batch", type=int, default=1,
                    help="most transfers per call: a sender behind schedule sends those due in one send_txs "
                         "(default 1: one send_tx each)")
    ap.add_argument("--json", help="also write every measurement here")
    return ap.parse_args()


def start_devnet(bins, kind, args, dir):
    validators = NODES if kind == "bft" else 0
    net = Devnet(bins, dir, NODES, BASE_IP, BASE_PORT,
                 ["--validators", str(validators), "--accounts", str(args.accounts),
                  "--block-interval-ms", str(args.block_interval_ms), "--log-level", "warn"])
    net.up()
    LedgerNet(bins, net).wait_heads(2, 60)
    return net


def measure(bins, dir, rate, args, limit_runs=0):
    seconds = args.seconds
    cmd = [os.path.join(bins.dir, "bc-bench-finality"), "--devnet", dir, "--rate", str(rate),
           "--seconds", str(seconds), "--senders", str(args.senders), "--batch", str(args.batch)]
    if limit_runs:
        cmd += ["--limit-runs", str(limit_runs)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    if p.returncode != 0:
        raise TestFailure(f"bc-bench-finality failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def sustained(m):
    return (m["committed"] == m["sent"] and m["refused"] == 0 and
            m["finalised_in_window_tx_s"] >= SUSTAINED_SHARE * m["offered_tx_s"])


def show(kind, m):
    print(f"  {kind:6} offered {m['offered_tx_s']:7.0f}/s  sent {m['sent_tx_s']:7.0f}/s  "
          f"finalised {m['finalised_in_window_tx_s']:7.0f}/s in window  "
          f"p50 {m['latency_p50_ms']:7.1f} ms  p99 {m['latency_p99_ms']:7.1f} ms  "
          f"committed {m['committed']}/{m['sent']}  refused {m['refused']}  blocks {m['blocks']}"
          + (f"  ({m['first_refusal'][:120]})" if m["refused"] else ""), flush=True)


def one_run(bins, kind, args, rates, ladder):
    dir = tempfile.mkdtemp(prefix=f"bc-bench-consensus-{kind}-")
    net = None
    try:
        net = start_devnet(bins, kind, args, dir)
        out = {"kind": kind, "rates": {}, "ladder": []}
        for i, rate in enumerate(rates):
            m = measure(bins, dir, rate, args, limit_runs=3 if i == 0 else 0)
            if i == 0:
                out["raw_verify_s"] = m["limit"]["raw_verify_s"]
                print(f"  {kind:6} raw BIP340 verify on all cores: {m['limit']['raw_verify_s']:.0f}/s "
                      f"-> limit {m['limit']['raw_verify_s'] / NODES:.0f} tx/s for {NODES} nodes", flush=True)
            show(kind, m)
            out["rates"][str(rate)] = m
        out["sustained_tx_s"] = 0
        for rate in ladder:
            m = measure(bins, dir, rate, args)
            show(kind, m)
            out["ladder"].append(m)
            if not sustained(m):
                break
            out["sustained_tx_s"] = m["finalised_in_window_tx_s"]
        return out
    finally:
        if net is not None:
            net.stop()
        shutil.rmtree(dir, ignore_errors=True)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def summarise(results, rates):
    print("\nmedians over runs:")
    by = {}
    for r in results:
        by.setdefault(r["kind"], []).append(r)
    limit = med([r["raw_verify_s"] for r in results]) / NODES
    print(f"  hardware limit: {limit:.0f} tx/s (raw BIP340 verifies/s on all cores / {NODES} nodes)")
    for kind, rs in by.items():
        for rate in rates:
            ms = [r["rates"][str(rate)] for r in rs]
            print(f"  {kind:6} {rate:6} tx/s: p50 {med([m['latency_p50_ms'] for m in ms]):7.1f} ms  "
                  f"p99 {med([m['latency_p99_ms'] for m in ms]):7.1f} ms  "
                  f"finalised {med([m['finalised_in_window_tx_s'] for m in ms]):7.0f}/s")
        s = med([r["sustained_tx_s"] for r in rs])
        print(f"  {kind:6} highest sustained: {s:.0f} tx/s = {s / limit:.2f}x the limit  "
              "(runs: " + ", ".join(f"{r['sustained_tx_s']:.0f}" for r in rs) + ")")
    if "bft" in by and "single" in by:
        b = med([r["sustained_tx_s"] for r in by["bft"]])
        s = med([r["sustained_tx_s"] for r in by["single"]])
        if s > 0:
            print(f"  bft / single producer sustained: {b / s:.2f}")


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the devnet on the way out
    args = parse_args()
    bins = Bins(args.bin)
    rates = [int(x) for x in args.rates.split(",") if x]
    ladder = [int(x) for x in args.ladder.split(",") if x]
    kinds = [k for k in args.kinds.split(",") if k]
    results = []
    for run in range(args.runs):
        for kind in kinds:
            print(f"run {run + 1}/{args.runs}, {kind}:", flush=True)
            results.append(one_run(bins, kind, args, rates, ladder))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    summarise(results, rates)


if __name__ == "__main__":
    try:
        main()
    except TestFailure as e:
        print(f"bench/consensus: {e}", file=sys.stderr)
        sys.exit(1)
