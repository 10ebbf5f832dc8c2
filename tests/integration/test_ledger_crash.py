#!/usr/bin/python3
"""Crash safety of the ledger on a 4-node devnet: a steady load of CLI
transfers while random nodes (the producer included) are killed with
SIGKILL and restarted, --rounds times (default 50). Afterwards every node
has the same block hash and state root at every height, and every tx a
client saw committed is committed on every node."""
import argparse
import json
import os
import random
import sys
import threading
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.5.2", 9500  # this test's own range: 127.0.5.2-5
INTERVAL_MS = 200
ROUNDS = 50


class Load:
    """One thread per sender account: send through a random live node with
    --wait; record what the client saw committed."""

    def __init__(self, ln, senders):
        self.ln, self.senders = ln, senders
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.down = set()
        self.committed = []  # (id, height)
        self.failures = 0
        self.threads = [threading.Thread(target=self.run, args=(s,), daemon=True) for s in senders]

    def run(self, sender):
        rnd = random.Random(sender)
        while not self.stop.is_set():
            with self.lock:
                live = [i for i in range(len(self.ln.nodes)) if i not in self.down]
            node = rnd.choice(live)
            to = self.ln.accounts[(sender + 1) % len(self.ln.accounts)]["address"]
            try:
                rc, out, err = self.ln.cli(node, "--rpc-timeout", "5", "--json", "send", to, "1",
                                           "--from", f"account-{sender}", "--wait", "6", timeout=20)
            except Exception:
                rc, out = 1, ""
            if rc == 0:
                r = json.loads(out)
                with self.lock:
                    self.committed.append((r["id"], r["height"]))
            else:
                # Node killed mid-call, tx lost with it, or a pending tx with this nonce: retry later.
                with self.lock:
                    self.failures += 1
                time.sleep(0.2)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def check_committed_on(self, nodes):
        """Every transfer the client saw committed is committed at that height on each of `nodes`."""
        for tx_id, height in self.committed:
            for n in nodes:
                t = rpc(self.ln.nodes[n]["rpc"], "get_tx", {"id": tx_id})
                if t["status"] != "committed" or t["height"] != height:
                    raise TestFailure(f"tx {tx_id} seen committed at {height} is {t} on node {n}")


def test_with(rounds):
    def test(bins, workdir):
        net = Devnet(bins, os.path.join(workdir, "net"), 4, BASE_IP, PORT,
                     extra=["--validators", "0", "--accounts", "4", "--block-interval-ms", str(INTERVAL_MS)])
        ln = None
        try:
            net.up()
            ln = LedgerNet(bins, net)
            ln.wait_heads(2, 20)
            load = Load(ln, [0, 1, 2, 3])
            load.start()
            rnd = random.Random(12345)
            producer_kills = 0
            t0 = time.time()
            for r in range(rounds):
                victim = rnd.randrange(4)
                producer_kills += victim == 0
                with load.lock:
                    load.down.add(victim)
                time.sleep(rnd.uniform(0.1, 0.8))
                ln.kill(victim)
                time.sleep(rnd.uniform(0.1, 0.8))
                ln.restart(victim)
                with load.lock:
                    load.down.discard(victim)
                if (r + 1) % 10 == 0:
                    print(f"  round {r + 1}/{rounds}: {len(load.committed)} transfers committed so far, "
                          f"{load.failures} client retries, {time.time() - t0:.0f} s", flush=True)
            load.finish()
            check(len(load.committed) > 0, f"{len(load.committed)} transfers committed under {rounds} kill -9 rounds "
                                           f"({producer_kills} of the producer)")
            target = ln.head(0)["height"]
            ln.wait_heads(target, 60)
            chains = [ln.chain(n, target) for n in range(4)]
            for n in range(1, 4):
                for h in range(target):
                    if chains[n][h] != chains[0][h]:
                        raise TestFailure(f"node {n} differs from node 0 at height {h + 1}: {chains[n][h]} vs {chains[0][h]}")
            check(True, f"all 4 nodes agree on block hash and state root at every height 1..{target}")
            load.check_committed_on(range(4))
            check(True, f"every one of the {len(load.committed)} transfers the client saw committed is on every node")
        finally:
            if ln:
                ln.kill_all()
            net.stop()
    return test


if __name__ == "__main__":
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--limit", type=int, default=230)
    a, rest = ap.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    main(test_with(a.rounds), a.limit)
