#!/usr/bin/python3
"""Acceptance: a 32-node devnet; 1,000 puts and 1,000 gets from random nodes
all succeed; after SIGKILL of 8 nodes at least 99% of the values are still
found. Prints the figures."""
import os
import random
import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bcnet import Devnet, TestFailure, check, main, pid_alive, rpc, rpc_raw

BASE_IP, PORT = "127.0.2.2", 9500  # this test's own range: 127.0.2.2-33
NODES, KEYS, KILL, WORKERS = 32, 1000, 8, 16


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0


def test(bins, workdir):
    seed = int(os.environ.get("BC_TEST_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
    print(f"  seed {seed} (set BC_TEST_SEED={seed} to repeat the same keys, nodes and victims)", flush=True)
    rnd = random.Random(seed)
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT)
    try:
        net.up()
        net.wait_routing(8, limit_s=40)
        check(True, "every node knows at least 8 others")
        nodes = net.nodes
        values = {f"acceptance/{i}": f"value-{i}-{rnd.getrandbits(32):08x}" for i in range(KEYS)}
        putter = {k: rnd.randrange(NODES) for k in values}

        def put(k):
            t = time.time()
            r = rpc_raw(nodes[putter[k]]["rpc"], "dht_put", {"key": k, "value": values[k], "ttl": 3600})
            return k, r, (time.time() - t) * 1000

        def get(args):
            k, idx = args
            t = time.time()
            r = rpc_raw(nodes[idx]["rpc"], "dht_get", {"key": k}, timeout=60)
            ok = "result" in r and any(v.get("value") == values[k] for v in r["result"]["values"])
            return k, ok, r, (time.time() - t) * 1000

        t0 = time.time()
        with ThreadPoolExecutor(WORKERS) as ex:
            puts = list(ex.map(put, values))
        put_s = time.time() - t0
        put_fail = [(k, r.get("error")) for k, r, _ in puts if "error" in r]
        put_ms = [ms for _, r, ms in puts if "result" in r]
        stored = [r["result"]["stored"] for _, r, _ in puts if "result" in r]
        print(f"  puts: {KEYS - len(put_fail)}/{KEYS} ok in {put_s:.1f} s; latency p50 {pct(put_ms, .5):.0f} ms "
              f"p99 {pct(put_ms, .99):.0f} ms; stored on {statistics.mean(stored) if stored else 0:.1f} nodes on average",
              flush=True)
        check(not put_fail, f"all {KEYS} puts succeed (failures: {put_fail[:3]})")

        # Each get from a random node other than the one that put the key.
        jobs = [(k, rnd.choice([i for i in range(NODES) if i != putter[k]])) for k in values]
        t0 = time.time()
        with ThreadPoolExecutor(WORKERS) as ex:
            gets = list(ex.map(get, jobs))
        get_s = time.time() - t0
        missing = [(k, r.get("error")) for k, ok, r, _ in gets if not ok]
        get_ms = [ms for *_, ms in gets]
        hops = [r["result"]["hops"] for _, ok, r, _ in gets if ok]
        print(f"  gets: {KEYS - len(missing)}/{KEYS} found in {get_s:.1f} s; latency p50 {pct(get_ms, .5):.0f} ms "
              f"p99 {pct(get_ms, .99):.0f} ms; {statistics.mean(hops) if hops else 0:.2f} hops on average",
              flush=True)
        check(not missing, f"all {KEYS} gets find their value (missing: {missing[:3]})")

        victims = rnd.sample(range(NODES), KILL)
        for v in victims:
            os.kill(nodes[v]["pid"], signal.SIGKILL)
        deadline = time.time() + 10
        while any(pid_alive(nodes[v]["pid"]) for v in victims) and time.time() < deadline:
            time.sleep(0.05)
        check(not any(pid_alive(nodes[v]["pid"]) for v in victims), f"SIGKILLed nodes {sorted(victims)}")
        alive = [i for i in range(NODES) if i not in victims]
        jobs = [(k, rnd.choice(alive)) for k in values]
        t0 = time.time()
        with ThreadPoolExecutor(WORKERS) as ex:
            after = list(ex.map(get, jobs))
        after_s = time.time() - t0
        found = sum(1 for _, ok, _, _ in after if ok)
        after_ms = [ms for *_, ms in after]
        print(f"  after killing {KILL}/{NODES} nodes: {found}/{KEYS} ({100.0 * found / KEYS:.1f}%) found in "
              f"{after_s:.1f} s; latency p50 {pct(after_ms, .5):.0f} ms p99 {pct(after_ms, .99):.0f} ms", flush=True)
        check(found >= 0.99 * KEYS, f"at least 99% of the values survive ({found}/{KEYS})")
    finally:
        net.stop()


if __name__ == "__main__":
    main(test, 280)
