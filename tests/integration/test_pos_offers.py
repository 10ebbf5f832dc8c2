#!/usr/bin/python3
"""Proof-of-Service offers on a 2-node devnet (docs/proof-of-service.md,
"Ledger rules"): `blockcloud-cli provider offer --register` registers a
service and an offer that locks its bond; `provider status` shows it on both
nodes; bad offers are refused with their reason; `provider withdraw` ends it
and the bond comes back after the unbonding delay."""
import json
import os

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.52.2", 9520  # this test's own range: 127.0.52.2-3
INTERVAL_MS = 100


def balance(ln, node, i):
    return int(rpc(ln.nodes[node]["rpc"], "get_account", {"address": ln.accounts[i]["address"]})["balance"])


def offer_cmd(*extra):
    return ["provider", "offer", "--service", "web", "--request", "GET / HTTP/1.1", "--expect", "HTTP/1.1 200 OK",
            "--from", "account-0", "--wait", "15", *extra]


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 2, BASE_IP, PORT,
                 extra=["--validators", "0", "--accounts", "2", "--block-interval-ms", str(INTERVAL_MS),
                        # A withdrawn bond waits for the settlement of its epoch (first block of epoch + 2).
                        "--epoch-length", "4"])
    try:
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(2, 20)
        rc, out, err = ln.cli(0, *offer_cmd("--bond", "5000"))
        check(rc == 1 and "unknown_service" in err, f"an offer for an unregistered service is dropped: {err.strip()}")
        before = balance(ln, 0, 0)
        rc, out, err = ln.cli(0, *offer_cmd("--bond", "5000", "--register", "--offer-nonce", "1"))
        if rc != 0:
            raise TestFailure(f"provider offer --register failed: {err}")
        offer_id = out.split("offer id ")[1].split()[0]
        check(True, f"provider offer --register committed offer {offer_id[:16]}...")
        ln.wait_heads(ln.head(0)["height"], 10)
        for n in range(2):
            o = rpc(ln.nodes[n]["rpc"], "get_offer", {"offer_id": offer_id})
            if o["status"] != "active" or o["bond"] != "5000" or o["delta_bps"] != 9500:
                raise TestFailure(f"offer on node {n}: {o}")
        check(True, "get_offer shows the active offer with its 5000 bond on both nodes")
        check(balance(ln, 0, 0) == before - 5000 - 2, "the bond and two fees left the owner's balance")
        rc, out, err = ln.cli(0, "--json", "provider", "status", "--from", "account-0")
        listed = json.loads(out)
        check(rc == 0 and listed["total"] == 1 and listed["offers"][0]["offer_id"] == offer_id, "provider status lists it")

        rc, out, err = ln.cli(0, *offer_cmd("--bond", "5000", "--delta", "4000"))
        check(rc == 2 or (rc == 1 and "bad_offer" in err), f"delta below 5000 refused: {err.strip()}")
        rc, out, err = ln.cli(0, *offer_cmd("--bond", "999999999999999", "--offer-nonce", "2"))
        check(rc == 1 and "insufficient_funds" in err, f"a bond above the balance refused: {err.strip()}")
        # Through node 0, the producer: it remembers why it dropped a tx (a
        # follower keeps such a tx pending; docs/ledger.md, "Mempool").
        rc, out, err = ln.cli(0, "provider", "withdraw", offer_id, "--from", "account-1", "--wait", "15")
        check(rc == 1 and "not_offer_owner" in err, f"another account cannot withdraw it: {err.strip()}")

        rc, out, err = ln.cli(0, "provider", "withdraw", offer_id, "--from", "account-0", "--wait", "15")
        check(rc == 0 and "committed" in out, "the owner withdraws it")
        o = rpc(ln.nodes[0]["rpc"], "get_offer", {"offer_id": offer_id})
        check(o["status"] == "withdrawn" and o["bond"] == "0" and o["bond_release_at"] > o["height"],
              f"the offer is withdrawn, its bond in an unbonding entry until height {o.get('bond_release_at')}")
        mid = balance(ln, 0, 0)
        ln.wait_heads(o["bond_release_at"] + 1, 20)  # past the unbonding delay and the settlement of the epoch
        o = rpc(ln.nodes[0]["rpc"], "get_offer", {"offer_id": offer_id})
        check(balance(ln, 0, 0) == mid + 5000 and "bond_release_at" not in o,
              "the bond is back in the balance after the unbonding delay, and get_offer no longer shows it waiting")
    finally:
        net.stop()


if __name__ == "__main__":
    main(test, 150)
