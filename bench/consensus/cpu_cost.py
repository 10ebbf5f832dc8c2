#!/usr/bin/python3
"""CPU cost per finalised transfer on a loopback devnet: a figure that load on
a shared machine moves far less than a rate does (docs/benchmarks.md,
"Finality of the committee").

Per run: a devnet as bench/consensus/run.py starts it (kind bft: 4
validators; single: one producer and 3 followers), then one
bc-bench-finality load at --rate for --seconds. CPU time (utime + stime
from /proc/<pid>/stat, every thread) of the 4 daemons and of the load
generator is read from the moment the generator has signed its transfers
(it says so on stderr) until it exits, and divided by the transfers it saw
finalised. Several --bin directories alternate run by run, so drift in the
machine's load hits each alike. With --perf-node N, `perf record -g` samples
that node for the window (the file is kept; read it with perf report).
Prints one line per run and medians per build."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (bench/consensus/run.py: the devnet and its settings)

TICK = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    """utime + stime of every thread of pid, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, help="a build's programs (give it twice to compare)")
    ap.add_argument("--runs", type=int, default=3, help="runs per build (default 3)")
    ap.add_argument("--rate", type=int, default=2000, help="offered tx/s (default 2000)")
    ap.add_argument("--seconds", type=float, default=6, help="load window (default 6)")
    ap.add_argument("--batch", type=int, default=50, help="bc-bench-finality --batch (default 50)")
    ap.add_argument("--senders", type=int, default=32)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--block-interval-ms", type=int, default=50)
    ap.add_argument("--kind", default="bft", choices=["bft", "single"])
    ap.add_argument("--perf-node", type=int, default=-1, help="perf record -g this node during the window")
    ap.add_argument("--perf-out", default="/tmp/bc-perf", help="perf data file prefix")
    ap.add_argument("--perf-dwarf", action="store_true", help="with --perf-node: DWARF call graphs")
    ap.add_argument("--count-verifies", action="store_true",
                    help="count BIP340 verifications in the 4 daemons (a perf uprobe on "
                         "secp256k1_schnorrsig_verify; add it once with perf probe -x LIBSECP256K1 --add "
                         "secp256k1_schnorrsig_verify)")
    return ap.parse_args()


def one_run(bin_dir, args, tag):
    bins = bench.Bins(bin_dir)
    dir = tempfile.mkdtemp(prefix=f"bc-cpu-cost-{args.kind}-")
    net = None
    try:
        net = bench.start_devnet(bins, args.kind, args, dir)
        pids = net.pids()
        cmd = [os.path.join(bin_dir, "bc-bench-finality"), "--devnet", dir, "--rate", str(args.rate),
               "--seconds", str(args.seconds), "--senders", str(args.senders), "--batch", str(args.batch)]
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in gen.stderr:  # signing done: the window's cost starts here
            if "signed; offering" in line:
                break
        t0 = time.time()
        d0, g0 = [ticks(p) for p in pids], ticks(gen.pid)
        perf = counter = None
        if args.perf_node >= 0:
            graph = ["--call-graph", "dwarf,16384"] if args.perf_dwarf else ["-g"]
            perf = subprocess.Popen(["perf", "record", *graph, "-F", "499", "-o", f"{args.perf_out}-{tag}.data",
                                     "-p", str(pids[args.perf_node])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if args.count_verifies:
            counter = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "probe_libsecp256k1:secp256k1_schnorrsig_verify",
                                        "-p", ",".join(map(str, pids))], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
        out = gen.stdout.read()
        d1 = [ticks(p) for p in pids]
        _, status, usage = os.wait4(gen.pid, 0)
        wall = time.time() - t0
        verifies = None
        for p in (perf, counter):
            if p is not None:
                p.send_signal(2)
                p.wait(timeout=120)
        if counter is not None:
            verifies = int(counter.stderr.read().strip().splitlines()[-1].split(",")[0])
        if status != 0:
            raise bench.TestFailure(f"bc-bench-finality failed: {gen.stderr.read()[-500:]}")
        m = json.loads(out.strip().splitlines()[-1])
        g1 = round((usage.ru_utime + usage.ru_stime) * TICK)
        return {"bin": bin_dir, "m": m, "wall_s": wall, "daemon_ticks": sum(d1) - sum(d0),
                "per_node_ticks": [b - a for a, b in zip(d0, d1)], "gen_ticks": g1 - g0,
                "load": os.getloadavg()[0], "verifies": verifies}
    finally:
        if net is not None:
            net.stop()
        shutil.rmtree(dir, ignore_errors=True)


def show(r):
    m, n = r["m"], max(1, r["m"]["committed"])
    print(f"  {r['bin']}: load {r['load']:.2f}  finalised {m['finalised_in_window_tx_s']:.0f}/s in window  "
          f"committed {m['committed']}/{m['sent']}  p50 {m['latency_p50_ms']:.1f} ms  blocks {m['blocks']}  "
          f"daemons {r['daemon_ticks']} ticks ({1e6 * r['daemon_ticks'] / TICK / n:.1f} us/tx; per node "
          f"{r['per_node_ticks']})  generator {r['gen_ticks']} ticks ({1e6 * r['gen_ticks'] / TICK / n:.1f} us/tx)"
          + (f"  verifies {r['verifies']} ({r['verifies'] / n:.2f}/tx)" if r["verifies"] is not None else ""),
          flush=True)


def main():
    args = parse_args()
    results = []
    for i in range(args.runs):
        for k, b in enumerate(args.bin):
            r = one_run(b, args, f"{k}-{i}")
            show(r)
            results.append(r)
    print("\nmedians (CPU microseconds per finalised transfer):")
    for b in args.bin:
        rs = [r for r in results if r["bin"] == b]
        per = lambda key: statistics.median(1e6 * r[key] / TICK / max(1, r["m"]["committed"]) for r in rs)  # noqa: E731
        fin = statistics.median(r["m"]["finalised_in_window_tx_s"] for r in rs)
        print(f"  {b}: daemons {per('daemon_ticks'):.1f} us/tx, generator {per('gen_ticks'):.1f} us/tx, "
              f"finalised {fin:.0f}/s in window")


if __name__ == "__main__":
    main()
