#!/usr/bin/python3
"""Ledger on a 4-node devnet: CLI transfers sent to different nodes are
committed and visible on all nodes with equal state roots; a node killed
with SIGKILL while transfers go on restarts, catches up to the same head and
state root; prints the catch-up rate in blocks per second."""
import json
import os
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.4.2", 9400  # this test's own range: 127.0.4.2-5
INTERVAL_MS = 100


def balances(ln, node):
    return [int(rpc(ln.nodes[node]["rpc"], "get_account", {"address": a["address"]})["balance"]) for a in ln.accounts]


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 4, BASE_IP, PORT,
                 extra=["--validators", "0", "--accounts", "8", "--block-interval-ms", str(INTERVAL_MS)])
    ln = None
    try:
        out = net.up()
        ln = LedgerNet(bins, net)
        check("genesis" in out and len(ln.accounts) == 8, "devnet up writes a genesis with 8 funded accounts")
        mode = os.stat(os.path.join(ln.wallet, "account-0.key")).st_mode & 0o777
        check(mode == 0o600, f"account key files are mode 0600 (got {oct(mode)})")
        ln.wait_heads(3, 20)

        # Transfers through each node in turn, waiting for their commit.
        committed = []
        for i in range(8):
            node = i % 4
            to = ln.accounts[(i + 1) % 8]["address"]
            rc, out, err = ln.cli(node, "--json", "send", to, str(1000 + i), "--from", f"account-{i}", "--wait", "15")
            if rc != 0:
                raise TestFailure(f"send via node {node} failed: {err}")
            committed.append(json.loads(out))
        check(all(c["status"] == "committed" for c in committed), "8 CLI transfers through 4 nodes are committed")
        top = max(c["height"] for c in committed)
        ln.wait_heads(top, 10)
        for c in committed:
            for n in range(4):
                t = rpc(ln.nodes[n]["rpc"], "get_tx", {"id": c["id"]})
                if t["status"] != "committed" or t["height"] != c["height"]:
                    raise TestFailure(f"tx {c['id']} on node {n}: {t}")
        check(True, "every transfer is committed at the same height on all 4 nodes")
        bal = [balances(ln, n) for n in range(4)]
        check(all(b == bal[0] for b in bal), "balances agree on all nodes")
        roots = {rpc(ln.nodes[n]["rpc"], "get_block", {"height": top})["state_root"] for n in range(4)}
        check(len(roots) == 1, f"state root at height {top} equal on all nodes")

        # Clear errors.
        rc, out, err = ln.cli(1, "send", ln.accounts[2]["address"], "999999999999999", "--from", "account-3")
        check(rc == 1 and "insufficient_funds" in err, f"overspend refused: {err.strip()}")
        rc, out, err = ln.cli(1, "send", ln.accounts[2]["address"], "5", "--from", "account-3", "--nonce", "0")
        check(rc == 1 and "nonce" in err, f"reused nonce refused: {err.strip()}")
        rc, out, err = ln.cli(1, "send", "anotanaddress", "5", "--from", "account-3")
        check(rc == 1 and "not an account address" in err, "bad address refused")
        # Admitted but refused by the block builder: dropped with its reason, and the nonce is free again.
        rc, out, err = ln.cli(0, "unjail", "--from", "account-3", "--wait", "15")
        check(rc == 1 and "dropped by the block producer: not_validator" in err, f"unjail of a non-validator: {err.strip()}")
        rc, out, err = ln.cli(0, "send", ln.accounts[2]["address"], "5", "--from", "account-3", "--wait", "15")
        check(rc == 0 and "committed" in out, "the sender's next transaction reuses the dropped one's nonce and commits")
        rc, out, err = ln.cli(0, "--json", "validators")
        v = json.loads(out)
        check(rc == 0 and v["certified"] is False and v["validators"] == [], "validators: none on a single-producer chain")

        # Kill node 2, keep transferring, restart it, measure the catch-up.
        h_killed = ln.head(2)["height"]
        ln.kill(2)
        down_s = 15
        t_end = time.time() + down_s
        sent = 0
        while time.time() < t_end:
            node = [0, 1, 3][sent % 3]
            rc, out, err = ln.cli(node, "--json", "send", ln.accounts[0]["address"], "7", "--from", "account-5",
                                  "--wait", "10")
            if rc != 0:
                raise TestFailure(f"send while node 2 is down failed: {err}")
            committed.append(json.loads(out))
            sent += 1
        target = ln.head(0)["height"]
        before = ln.head(1)["height"]
        t0 = time.time()
        h2 = ln.restart(2)["height"]
        t_up = time.time()
        # Blocks committed while node 2 was down. (Its head when its RPC first
        # answers may already be caught up: sync starts before the RPC does.)
        missing = target - h_killed
        ln.wait_heads(target, 60, nodes=[2])
        t1 = time.time()
        rate = missing / max(t1 - t0, 1e-3)
        print(f"  catch-up: node 2 was {missing} blocks behind (head {h_killed} when killed, {h2} when its RPC "
              f"answered, producer {target}); reached it "
              f"{t1 - t0:.2f} s after restart ({t_up - t0:.2f} s to answer RPC): {rate:.0f} blocks/s "
              f"(sync only: {missing / max(t1 - t_up, 1e-3):.0f} blocks/s)", flush=True)
        check(missing >= 50, f"node 2 missed {missing} blocks while down")
        root = {n: rpc(ln.nodes[n]["rpc"], "get_block", {"height": target})["state_root"] for n in range(4)}
        check(len(set(root.values())) == 1, f"after catch-up node 2 has the same state root at height {target}")
        for c in committed:
            t = rpc(ln.nodes[2]["rpc"], "get_tx", {"id": c["id"]})
            if t["status"] != "committed":
                raise TestFailure(f"node 2 does not have committed tx {c['id']}: {t}")
        check(True, f"node 2 sees all {len(committed)} committed transfers")
        check(balances(ln, 2) == balances(ln, 0), "balances on node 2 equal those on the producer")
        acc = rpc(ln.nodes[2]["rpc"], "get_account", {"address": ln.accounts[0]["address"], "proof": True})
        check(acc["proof"]["verified"], "get_account with proof returns a proof that verifies")
        rc, out, err = ln.cli(3, "block", "latest")
        check(rc == 0 and "state root" in out, "cli block latest")
        rc, out, err = ln.cli(3, "tx", committed[0]["id"])
        check(rc == 0 and "committed" in out, "cli tx ID")
    finally:
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 200)
