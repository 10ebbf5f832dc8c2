#!/usr/bin/python3
"""A node whose key is bonded while it runs joins the committee at the epoch
boundary, with no restart (issue 9: changes from bond take effect at epoch
boundaries).

A devnet of 4 validators and 1 follower (node 4), epochs of 5 blocks; the
follower has --bft-listen and --bft-peer like every devnet node, but no core
while its key is in no committee.

1. The follower says why it does not validate; `stake bond --consensus-key`
   with a missing file is refused, saying what to give.
2. account-0 bonds the validators' stake with the follower's node key as its
   vote key. From the next epoch the committee has 5 members, and the follower,
   still the same process, runs a core that decides heights.
3. The new member's votes count: with validator 0 killed, 4 of 5 equal
   powers are more than 2/3, and the chain keeps finalising (without the new
   member's precommits, 3 of 5 would not be).
4. Every live node holds the same block at every height."""
import os
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.57.2", 9570  # this test's own range: 127.0.57.2-6
INTERVAL_MS, EPOCH, STAKE = 150, 5, 1_000_000
VALIDATORS, NODES, JOINER, KILLED = 4, 5, 4, 0
JOIN_LIMIT_S = 30


def refuse_missing_key(ln):
    rc, _, err = ln.cli(0, "stake", "bond", str(STAKE), "--from", "account-0",
                        "--consensus-key", os.path.join(ln.net.dir, "no-such.key"))
    check(rc != 0 and "node.key" in err, f"a missing --consensus-key file is refused: {err.strip()[:100]}")


def bond_joiner_key(ln):
    key_file = os.path.join(ln.nodes[JOINER]["datadir"], "node.key")
    rc, out, err = ln.cli(0, "stake", "bond", str(STAKE), "--from", "account-0", "--consensus-key", key_file,
                          "--wait", "10")
    if rc != 0:
        raise TestFailure(f"stake bond --consensus-key failed: {err.strip()}")
    check(True, f"account-0 bonded {STAKE} with node {JOINER}'s key as its vote key: {out.strip()}")


def wait_joined(ln, since):
    """Waits until the follower's own core has decided a height; returns its status."""
    deadline = since + JOIN_LIMIT_S
    while time.time() < deadline:
        s = rpc(ln.nodes[JOINER]["rpc"], "validator_status")
        if s.get("running") and s.get("height", 0) > 0:
            v = rpc(ln.nodes[JOINER]["rpc"], "validators")
            members = [m["consensus_key"] for m in v["committee"]]
            if s["consensus_key"] in members:
                return s, v
        time.sleep(0.1)
    raise TestFailure(f"node {JOINER} was not validating {JOIN_LIMIT_S} s after its key was bonded; "
                      f"see {ln.nodes[JOINER]['datadir']}/log")


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT,
                 extra=["--validators", str(VALIDATORS), "--accounts", "1", "--epoch-length", str(EPOCH),
                        "--block-interval-ms", str(INTERVAL_MS)])
    ln = None
    try:
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(2, 30)
        s = rpc(ln.nodes[JOINER]["rpc"], "validator_status")
        check(not s["validator"] and "not in the committee" in s["why"], f"node {JOINER} follows: {s['why'][:80]}...")
        refuse_missing_key(ln)
        pid = ln.pids[JOINER]
        since = time.time()
        bond_joiner_key(ln)
        s, v = wait_joined(ln, since)
        check(len(v["committee"]) == VALIDATORS + 1 and ln.pids[JOINER] == pid,
              f"node {JOINER} (same process) validates {time.time() - since:.1f} s after the bond: committee of "
              f"{len(v['committee'])} from epoch {v['epoch']}, its core at height {s['height']}")
        ln.kill(KILLED)
        live = [n for n in range(NODES) if n != KILLED]
        at_kill = ln.head(JOINER)["height"]
        ln.wait_heads(at_kill + 5, 20, live)
        check(True, f"with validator {KILLED} killed, 4 of 5 equal powers finalise: heights {at_kill} -> "
                    f"{at_kill + 5} or above on every live node")
        ln.check_same_chain(live, max(ln.head(n)["height"] for n in live), 20)
    finally:
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 100)
