#!/usr/bin/python3
"""The BFT committee in real processes: a devnet of 4 validators and 2
followers on loopback under a steady load of CLI transfers.

1. Blocks are finalised with commit certificates; validators report their
   core (validator_status, /metrics), followers say why they follow.
2. kill -9 a random validator, one at a time, --rounds times (5; BC_LONG=1:
   50), and restart it: while it is down the other three keep finalising.
3. Afterwards no height has two different block hashes on any two nodes, and
   every transfer a client saw committed is committed at that height on
   every node.
0. Before that, a batch of signed transfers sent with send_txs (through
   bc-bench-finality --batch) is finalised whole; a malformed batch entry
   gets its own refusal.
4. 2 of the 4 validators down: no new height for several seconds; one comes
   back: the chain resumes."""
import argparse
import json
import os
import random
import sys
import time

from bcnet import TestFailure, check, http, main, rpc, rpc_raw, run
from ledgernet import committee_args, running_devnet
from test_ledger_crash import Load

BASE_IP, PORT = "127.0.51.2", 9510  # this test's own range: 127.0.51.2-7
INTERVAL_MS = 200
VALIDATORS, NODES = 4, 6


def metrics_text(ln, node):
    status, text = http(ln.nodes[node]["rpc"], "GET", "/metrics", timeout=5)
    if status != 200:
        raise TestFailure(f"/metrics of node {node} answered {status}")
    return text


def max_head(ln, nodes):
    best = -1
    for n in nodes:
        try:
            best = max(best, ln.head(n, timeout=2)["height"])
        except Exception:
            pass
    return best


def wait_progress(ln, nodes, beyond, limit_s, what):
    """Waits until some node in `nodes` holds a height > beyond; returns it."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        h = max_head(ln, nodes)
        if h > beyond:
            return h
        time.sleep(0.1)
    raise TestFailure(f"{what}: no height above {beyond} within {limit_s} s")


def check_roles(ln):
    for n in range(NODES):
        s = rpc(ln.nodes[n]["rpc"], "validator_status")
        if n < VALIDATORS and not (s["validator"] and s["running"]):
            raise TestFailure(f"node {n} should run the committee: {s}")
        if n >= VALIDATORS and s["validator"]:
            raise TestFailure(f"node {n} should follow: {s}")
    check(True, f"nodes 0-{VALIDATORS - 1} run the committee, nodes {VALIDATORS}-{NODES - 1} follow "
                f"({rpc(ln.nodes[NODES - 1]['rpc'], 'validator_status')['why']})")
    text = metrics_text(ln, 0)
    for name in ("bc_bft_height", "bc_bft_round", "bc_bft_step", "bc_bft_last_commit_seconds",
                 "bc_bft_votes_seen_total"):
        if name not in text:
            raise TestFailure(f"/metrics of node 0 has no {name}")
    check(True, "/metrics shows bc_bft_height, _round, _step, _last_commit_seconds, _votes_seen_total")
    rc, out, err = ln.cli(0, "validator", "status")
    check(rc == 0 and "height" in out and "votes seen" in out, "blockcloud-cli validator status answers on a validator")


def check_batch_submit(ln, net, bins):
    """send_txs: one answer per entry, and batches of real transfers finalise."""
    node = ln.nodes[1]["rpc"]
    r = rpc(node, "send_txs", {"txs": ["00"]})["results"]
    check(len(r) == 1 and r[0]["error"].startswith("transaction refused"),
          f"send_txs answers a malformed entry with its own refusal ({r[0]['error'][:60]}...)")
    err = rpc_raw(node, "send_txs", {"txs": []}).get("error", {})
    check("txs" in err.get("message", ""), f"an empty batch is invalid params: {err.get('message')}")
    rc, out, errtext = run([os.path.join(bins.dir, "bc-bench-finality"), "--devnet", net.dir, "--rate", "2000",
                            "--seconds", "0.1", "--batch", "20", "--senders", "2", "--drain-s", "20"], timeout=90)
    if rc != 0:
        raise TestFailure(f"bc-bench-finality --batch 20 failed: {errtext.strip()}")
    rep = json.loads(out.strip().splitlines()[-1])
    check(rep["refused"] == 0 and rep["committed"] == 200 and rep["calls"] < 200,
          f"200 transfers sent in {rep['calls']} calls (send_txs batches) all finalised ({rep['committed']} "
          f"committed, {rep['refused']} refused, p50 {rep['latency_p50_ms']:.0f} ms)")


def check_certified(ln, upto):
    for h in range(1, upto + 1):
        b = rpc(ln.nodes[NODES - 1]["rpc"], "get_block", {"height": h})
        c = b.get("certificate")
        if not c or 3 * c["signers"] <= 2 * VALIDATORS:
            raise TestFailure(f"block {h} on a follower has no +2/3 certificate: {c}")
    check(True, f"blocks 1..{upto} on a follower each carry a certificate of at least 3 of 4 validators")


def kill_rounds(ln, load, rounds, rnd):
    t0 = time.time()
    for r in range(rounds):
        victim = rnd.randrange(VALIDATORS)
        with load.lock:
            load.down.add(victim)
        ln.kill(victim)
        live = [n for n in range(NODES) if n != victim]
        before = max_head(ln, live)
        wait_progress(ln, live, before + 1, 15, f"round {r + 1}: validator {victim} down")
        time.sleep(rnd.uniform(0.0, 0.5))
        ln.restart(victim)
        with load.lock:
            load.down.discard(victim)
        if (r + 1) % 5 == 0 or r + 1 == rounds:
            print(f"  round {r + 1}/{rounds}: head {max_head(ln, range(NODES))}, {len(load.committed)} transfers "
                  f"committed, {load.failures} client retries, {time.time() - t0:.0f} s", flush=True)
    check(True, f"the chain kept finalising through {rounds} kill -9s of a random validator")


def check_agreement(ln, load):
    """Every node holds the same block at every height up to the highest
    head; every transfer a client saw committed is on every node."""
    nodes = range(len(ln.nodes))
    target = max_head(ln, nodes)
    ln.check_same_chain(nodes, target, 30)
    load.check_committed_on(nodes)
    check(len(load.committed) > 0,
          f"every one of the {len(load.committed)} transfers a client saw committed is on every node")
    return target


def halt_and_resume(ln):
    ln.kill(2)
    ln.kill(3)
    live = [0, 1, 4, 5]
    time.sleep(1.5)  # a height in flight may still finish
    halted = max_head(ln, live)
    time.sleep(4)
    after = max_head(ln, live)
    check(after == halted, f"with 2 of 4 validators down the chain halts (height {halted} for 4 s)")
    ln.restart(3)
    resumed = wait_progress(ln, live + [3], halted + 1, 30, "one validator back")
    check(True, f"one validator back: the chain resumes (height {resumed})")
    ln.restart(2)


def test_with(rounds):
    def test(bins, workdir):
        with running_devnet(bins, workdir, NODES, BASE_IP, PORT, committee_args(VALIDATORS, INTERVAL_MS)) as (net, ln):
            ln.wait_heads(3, 30)
            check_roles(ln)
            check_batch_submit(ln, net, bins)
            load = Load(ln, [0, 1, 2, 3])
            load.start()
            kill_rounds(ln, load, rounds, random.Random(int(os.environ.get("BC_SEED", "4242"))))
            time.sleep(1)
            load.finish()
            target = check_agreement(ln, load)
            check_certified(ln, min(target, 40))
            halt_and_resume(ln)
    return test


if __name__ == "__main__":
    long_run = os.environ.get("BC_LONG") == "1"
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--rounds", type=int, default=50 if long_run else 5)
    ap.add_argument("--limit", type=int, default=900 if long_run else 150)
    a, rest = ap.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    main(test_with(a.rounds), a.limit)
