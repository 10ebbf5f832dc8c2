#!/usr/bin/python3
"""Restart after kill -9 under load, the short form for CI: on a 3-node
devnet with CLI transfers going on all the time, a follower and then the
producer are killed with SIGKILL and started again from the same data
directory with the same command line. Each must come back with every block
it had committed (same hash at its old head) and a store whose state root
matches its head, then catch up without help; at the end all nodes agree
block by block and every transfer a client saw committed is on every node."""
import os
import re
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet
from test_ledger_crash import Load

BASE_IP, PORT = "127.0.43.2", 9430  # this test's own range: 127.0.43.2-4
INTERVAL_MS = 200


def opened_at(ln, victim):
    """(height, state root prefix) the daemon logged on opening its store,
    before any peer could send it a block."""
    with open(os.path.join(ln.nodes[victim]["datadir"], "log"), errors="replace") as f:
        found = re.findall(r"ledger \S+ height (\d+) state root ([0-9a-f]+)", f.read())
    if not found:
        raise TestFailure(f"node {victim} logged no ledger start-up line")
    return int(found[-1][0]), found[-1][1]


def kill_and_restart(ln, load, victim):
    with load.lock:
        load.down.add(victim)
    time.sleep(0.3)
    before = ln.head(victim)  # committed: the node answers only from its store
    ln.kill(victim)
    time.sleep(1.0)
    ln.restart(victim)
    height, root = opened_at(ln, victim)
    check(height >= before["height"] and (height > before["height"] or before["state_root"].startswith(root)),
          f"node {victim} reopened its store at height {height}, state root {root}... "
          f"(it had committed {before['height']}, {before['state_root'][:16]}...)")
    b = rpc(ln.nodes[victim]["rpc"], "get_block", {"height": before["height"]})
    check(b["hash"] == before["hash"] and b["state_root"] == before["state_root"],
          f"node {victim} kept block {before['height']} (hash and state root) through kill -9")
    with load.lock:
        load.down.discard(victim)
    target = ln.head(0)["height"] + 3
    t0 = time.time()
    ln.wait_heads(target, 20, nodes=[victim])
    check(True, f"node {victim} caught up to {target} {time.time() - t0:.1f} s after its restart")


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 3, BASE_IP, PORT,
                 extra=["--validators", "0", "--accounts", "3", "--block-interval-ms", str(INTERVAL_MS)])
    ln = load = None
    try:
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(2, 20)
        load = Load(ln, [0, 1, 2])
        load.start()
        time.sleep(2)
        kill_and_restart(ln, load, 1)  # a follower
        time.sleep(1)
        kill_and_restart(ln, load, 0)  # the producer
        time.sleep(2)
        load.finish()
        check(len(load.committed) > 0, f"{len(load.committed)} transfers committed under load "
                                       f"({load.failures} client retries)")
        target = ln.head(0)["height"]
        ln.wait_heads(target, 20)
        chains = [ln.chain(n, target) for n in range(3)]
        for n in (1, 2):
            for h in range(target):
                if chains[n][h] != chains[0][h]:
                    raise TestFailure(f"node {n} differs from node 0 at height {h + 1}")
        check(True, f"all 3 nodes agree on block hash and state root at every height 1..{target}")
        for tx_id, height in load.committed:
            for n in range(3):
                t = rpc(ln.nodes[n]["rpc"], "get_tx", {"id": tx_id})
                if t["status"] != "committed" or t["height"] != height:
                    raise TestFailure(f"tx {tx_id} seen committed at {height} is {t} on node {n}")
        check(True, f"every one of the {len(load.committed)} transfers the client saw committed is on every node")
    finally:
        if load:
            load.finish()
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 100)
