#!/usr/bin/python3
"""OpenDHT side of the DHT benchmark: one client that is itself a DHT node.

Joins the dhtnode network at 127.0.0.1:<bootstrap port>, waits for its routing
table to fill, then runs the workload (distinct-key puts, then gets of random
keys that were stored) with a fixed number of operations in flight and writes
per-phase latency and throughput to a JSON file. Must run under
/usr/bin/python3: Debian's python3-opendht is only installed for it.
"""
import argparse
import json
import os
import random
import re
import socket
import sys
import threading
import time

import opendht as dht

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import summarize  # noqa: E402


def log(msg):
    print(f"[opendht-client] {msg}", file=sys.stderr, flush=True)


def routing_table_size(node):
    """Distinct good IPv4 contacts in the client's routing table."""
    text = node.getRoutingTablesLog(socket.AF_INET)
    return len(set(re.findall(r"^\s+Node ([0-9a-f]{40}) .*\[good\]", text, re.M)))


def wait_for_routing_table(node, want, timeout_s):
    """Waits until at least `want` contacts are known and the count has been
    stable for two seconds, so the timed phases do not include the join."""
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = routing_table_size(node)
        if n != last:
            last, stable_since = n, time.monotonic()
        if n >= want and time.monotonic() - stable_since >= 2.0:
            return n
        time.sleep(0.25)
    log(f"only {last} contacts in the routing table after {timeout_s:.0f} s "
        f"(wanted {want}); check that the dhtnode processes started (see their logs)")
    os._exit(1)  # not sys.exit: the DhtRunner thread would keep the process alive


class Phase:
    """Runs `count` asynchronous operations with at most `inflight` pending."""

    def __init__(self, name, count, inflight, stall_timeout_s):
        self.name, self.count = name, count
        self.sem = threading.Semaphore(inflight)
        self.lock = threading.Lock()
        self.lat_ms = []
        self.failures = 0
        self.finished = 0
        self.all_done = threading.Event()
        self.stall_timeout_s = stall_timeout_s

    def complete(self, t0_ns, ok):
        dt = (time.perf_counter_ns() - t0_ns) / 1e6
        with self.lock:
            self.lat_ms.append(dt)
            if not ok:
                self.failures += 1
            self.finished += 1
            if self.finished == self.count:
                self.all_done.set()
        self.sem.release()

    def run(self, submit):
        start = time.perf_counter()
        for i in range(self.count):
            if not self.sem.acquire(timeout=self.stall_timeout_s):
                break
            submit(i)
        self.all_done.wait(timeout=self.stall_timeout_s)
        elapsed = time.perf_counter() - start
        with self.lock:
            lost = self.count - self.finished  # never completed: failures
            result = summarize(self.lat_ms, self.failures + lost, self.count, elapsed)
        if lost:
            log(f"{self.name}: {lost} operations never completed within "
                f"{self.stall_timeout_s:.0f} s; counted as failures")
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", default="127.0.0.1:41000", help="host:port of a dhtnode")
    ap.add_argument("--port", type=int, default=0, help="client's UDP port (0: any)")
    ap.add_argument("--nodes", type=int, default=32, help="dhtnode processes in the network")
    ap.add_argument("--puts", type=int, default=10000)
    ap.add_argument("--gets", type=int, default=10000)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--value-size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds to wait after the routing table is stable")
    ap.add_argument("--join-timeout", type=float, default=60.0)
    ap.add_argument("--stall-timeout", type=float, default=120.0,
                    help="give up on a phase when no operation completes for this long")
    ap.add_argument("--get-mode", choices=["first", "all"], default="first",
                    help="first: a get completes at the first value (the fastest use "
                         "OpenDHT offers); all: wait for the whole search")
    ap.add_argument("--out", required=True, help="JSON result file")
    a = ap.parse_args()

    host, port = a.bootstrap.rsplit(":", 1)
    rng = random.Random(a.seed)
    node = dht.DhtRunner()
    node.run(port=a.port)
    node.bootstrap(host, port)
    log(f"client node {node.getNodeId().decode() if isinstance(node.getNodeId(), bytes) else node.getNodeId()} "
        f"bound {node.getBound()}, joining via {a.bootstrap}")
    t_join = time.perf_counter()
    contacts = wait_for_routing_table(node, min(a.nodes, 8), a.join_timeout)
    time.sleep(a.settle)
    contacts = routing_table_size(node)
    log(f"routing table: {contacts} contacts after {time.perf_counter() - t_join:.1f} s")

    run_tag = f"{a.seed}-{rng.getrandbits(64):016x}"
    keys = [dht.InfoHash.get(f"bc-bench/{run_tag}/{i}") for i in range(a.puts)]
    stored = [False] * a.puts

    puts = Phase("put", a.puts, a.inflight, a.stall_timeout)

    def submit_put(i):
        t0 = time.perf_counter_ns()

        def done(ok, nodes, i=i, t0=t0):
            stored[i] = bool(ok)
            puts.complete(t0, bool(ok))
        node.put(keys[i], dht.Value(rng.randbytes(a.value_size)), done)

    log(f"put phase: {a.puts} puts of {a.value_size}-byte values, {a.inflight} in flight")
    put_res = puts.run(submit_put)
    log(f"put phase: p50 {put_res['p50_ms']:.2f} ms, p99 {put_res['p99_ms']:.2f} ms, "
        f"{put_res['ops_per_s']:.0f} ops/s, {put_res['failures']} failures")

    ok_keys = [k for k, s in zip(keys, stored) if s] or keys
    gets = Phase("get", a.gets, a.inflight, a.stall_timeout)

    def submit_get(i):
        key = ok_keys[rng.randrange(len(ok_keys))]
        found = [False]
        t0 = time.perf_counter_ns()

        def on_value(v):
            found[0] = True
            return a.get_mode == "all"  # False stops the search at the first value

        def done(ok, nodes, t0=t0):
            gets.complete(t0, found[0])
        node.get(key, on_value, done)

    log(f"get phase: {a.gets} gets of random stored keys, {a.inflight} in flight")
    get_res = gets.run(submit_get)
    log(f"get phase: p50 {get_res['p50_ms']:.2f} ms, p99 {get_res['p99_ms']:.2f} ms, "
        f"{get_res['ops_per_s']:.0f} ops/s, {get_res['failures']} failures")

    result = {"system": "opendht", "nodes": a.nodes, "contacts": contacts,
              "value_size": a.value_size, "inflight": a.inflight, "get_mode": a.get_mode,
              "put": put_res, "get": get_res}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    # DhtRunner.join() can block on searches still running in the node's
    # thread; the results are written, so stop without waiting for them.
    stopper = threading.Thread(target=node.join, daemon=True)
    stopper.start()
    stopper.join(timeout=5)
    os._exit(0)


if __name__ == "__main__":
    main()
