#!/usr/bin/python3
"""The BFT committee across network partitions, in real processes: 4
validators, each in a network namespace of its own on one bridge (netns.Hosts,
inside this test's own user + network namespace), under a steady load of
CLI transfers.

Each cycle cuts every link between two groups of validators (blackhole
routes both ways: packets vanish, as on a failed link), holds the split, then
heals it:
  - a side with 2 of the 4 (equal) votes has no +2/3: it finalises nothing
    beyond the height in flight at the cut; a side with 3 keeps finalising;
  - no height holds different blocks on the two sides;
  - after the heal a new height is finalised within RECOVERY_S, every node
    reaches it, and transfers commit again.
At the end every node holds the same block at every height and every
transfer a client saw committed is on every node.

CI runs one 2|2 split; BC_LONG=1 runs several cycles with other splits
(3|1, 1|3, other pairings) held longer. Exits 77 (ctest: skipped) where user
namespaces are not allowed."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bcnet import TestFailure, check, main, register_datadir, rpc  # noqa: E402
from ledgernet import committee_args, running_devnet  # noqa: E402
from netns import Hosts, in_namespace  # noqa: E402
from test_bft_devnet import check_agreement, max_head, wait_progress  # noqa: E402
from test_ledger_crash import Load  # noqa: E402

BASE_IP, PORT = "127.0.53.2", 9530  # where blockcloud-devnet first starts the nodes
SUBNET = "10.9.53"                  # then node i runs at 10.9.53.(i + 1) in a namespace of its own
VALIDATORS = 4
INTERVAL_MS = 200
RECOVERY_S = 20
# (side a, side b, seconds held)
CYCLES = [([0, 1], [2, 3], 6)]
LONG_CYCLES = [([0, 1], [2, 3], 10), ([0, 1, 2], [3], 10), ([0, 3], [1, 2], 15),
               ([1], [0, 2, 3], 10), ([0, 2], [1, 3], 20), ([2, 3], [0, 1], 5)]


def heads(ln, nodes):
    """{node: head height} (-1 for a node that did not answer)."""
    out = {}
    for n in nodes:
        try:
            out[n] = ln.head(n, timeout=2)["height"]
        except Exception:
            out[n] = -1
    return out


def move_into_hosts(ln, net, hosts):
    """Stops the devnet and starts each node again in its own namespace, its
    loopback address replaced by its host's (the RPC too, with
    --rpc-allow-remote, so that this namespace reaches it)."""
    net.stop()
    moved = {n["listen"].rpartition(":")[0]: hosts.address(i) for i, n in enumerate(ln.nodes)}

    def relocate(arg):
        addr, sep, port = arg.rpartition(":")
        return moved[addr] + sep + port if addr in moved else arg

    for i, n in enumerate(ln.nodes):
        n["args"] = [relocate(a) for a in n["args"]] + ["--rpc-allow-remote"]
        n["rpc"] = relocate(n["rpc"])
        register_datadir(n["rpc"], n["datadir"])
        ln.launch[i] = hosts.enter(i)
    for i in range(len(ln.nodes)):
        ln.restart(i)
    check(True, f"{len(ln.nodes)} validators run in namespaces of their own at {SUBNET}.1-{len(ln.nodes)}")


def check_same_blocks(ln, nodes, first):
    """No height from `first` up to each node's head holds two different blocks."""
    hashes = {}
    for n, top in heads(ln, nodes).items():
        for h in range(first, top + 1):
            block_hash = rpc(ln.nodes[n]["rpc"], "get_block", {"height": h})["hash"]
            if hashes.setdefault(h, block_hash) != block_hash:
                raise TestFailure(f"height {h} has two blocks during the split: {hashes[h]} and {block_hash} "
                                  f"(node {n})")
    return max(hashes, default=first - 1)


def hold_split(ln, side_a, side_b, hold_s):
    """Watches both sides for hold_s seconds after the cut; checks that only
    a side with more than 2/3 of the votes finalises."""
    at_cut = heads(ln, side_a + side_b)
    in_flight = max(at_cut.values()) + 1
    t0 = time.time()
    while time.time() - t0 < hold_s:
        time.sleep(0.2)
        for side in (side_a, side_b):
            if 3 * len(side) <= 2 * VALIDATORS and max_head(ln, side) > in_flight:
                raise TestFailure(f"side {side} without +2/3 finalised height {max_head(ln, side)} "
                                  f"{time.time() - t0:.1f} s into the split (heads at the cut {at_cut})")
    for side in (side_a, side_b):
        top = max_head(ln, side)
        if 3 * len(side) > 2 * VALIDATORS:
            check(top >= in_flight + 2, f"side {side} with 3 of 4 votes kept finalising: height "
                                        f"{max(at_cut[n] for n in side)} -> {top} in {hold_s} s")
        else:
            check(True, f"side {side} with {len(side)} of 4 votes finalised nothing beyond the height in flight "
                        f"({max(at_cut[n] for n in side)} at the cut, {top} after {hold_s} s)")
    return min(at_cut.values())


def heal_and_resume(ln, hosts, load, beyond):
    """Heals the split; a new height within RECOVERY_S, every node at it
    within RECOVERY_S plus half the certificate catch-up rate (one height
    per block interval) for each height it is behind, transfers commit."""
    nodes = list(range(VALIDATORS))
    committed = len(load.committed)
    lowest = min(heads(ln, nodes).values())
    hosts.heal()
    t0 = time.time()
    top = wait_progress(ln, nodes, beyond, RECOVERY_S, "after the heal")
    first = time.time() - t0
    ln.wait_heads(top, RECOVERY_S + (top - lowest) * 2 * INTERVAL_MS / 1000 - first)
    everyone = time.time() - t0
    while len(load.committed) == committed:
        if time.time() - t0 > RECOVERY_S + everyone:
            raise TestFailure(f"no transfer committed within {RECOVERY_S} s of every node catching up")
        time.sleep(0.1)
    check(True, f"healed: height {top} finalised {first:.2f} s after the heal, every node at it after "
                f"{everyone:.2f} s (the lowest was {top - lowest} behind), transfers commit again after "
                f"{time.time() - t0:.2f} s")


def run_cycle(ln, hosts, load, side_a, side_b, hold_s):
    print(f"  split {side_a} | {side_b} for {hold_s} s", flush=True)
    hosts.cut(side_a, side_b)
    lowest = hold_split(ln, side_a, side_b, hold_s)
    top = check_same_blocks(ln, side_a + side_b, max(lowest, 1))
    check(True, f"no height {max(lowest, 1)}..{top} holds different blocks on the two sides")
    heal_and_resume(ln, hosts, load, max_head(ln, range(VALIDATORS)))


def test_with(cycles):
    def test(bins, workdir):
        hosts = Hosts(SUBNET, VALIDATORS)
        try:
            with running_devnet(bins, workdir, VALIDATORS, BASE_IP, PORT,
                                committee_args(VALIDATORS, INTERVAL_MS)) as (net, ln):
                move_into_hosts(ln, net, hosts)
                ln.wait_heads(max_head(ln, range(VALIDATORS)) + 2, 30)
                load = Load(ln, list(range(VALIDATORS)))
                load.start()
                time.sleep(2)
                for side_a, side_b, hold_s in cycles:
                    run_cycle(ln, hosts, load, side_a, side_b, hold_s)
                load.finish()
                check_agreement(ln, load)
        finally:
            hosts.close()
    return test


if __name__ == "__main__":
    in_namespace()
    long_run = os.environ.get("BC_LONG") == "1"
    main(test_with(LONG_CYCLES if long_run else CYCLES), 600 if long_run else 100)
