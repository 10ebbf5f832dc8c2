#!/usr/bin/python3
"""An equivocating validator process is slashed on chain (issue 9, test 4).

A devnet of 4 validators and 1 follower, epochs of 10 blocks, transfers
flowing. Validator 3 is restarted with the test-only fault switch
(--test-fault equivocate, which blockcloudd refuses without
BC_TEST_FAULTS=1): it signs a second, conflicting prevote and precommit in
every slot and sends it after the real one.

1. Without BC_TEST_FAULTS=1 the flag is refused at start-up, saying why.
2. Within a bound the offender is banned and its bonded stake is 5% lower
   on chain; one block carries the evidence and the slash and ban effects,
   whose reason is that evidence's hash; no later block carries evidence
   again (the offender keeps double-signing).
3. The chain keeps finalising; from the next epoch the committee is the
   three others.
4. Supply is conserved: the genesis accounts (the only holders: no block
   reward on the devnet, fees move between them) hold the genesis total
   less the slash, which was burned.
5. Every node holds the same block at every height."""
import json
import os
import subprocess
import time

from bcnet import Devnet, TestFailure, check, main, rpc, run
from ledgernet import LedgerNet
from test_ledger_crash import Load

BASE_IP, PORT = "127.0.53.2", 9530  # this test's own range: 127.0.53.2-6
INTERVAL_MS, EPOCH = 150, 10
VALIDATORS, NODES, OFFENDER, FOLLOWER = 4, 5, 3, 4
BAN_LIMIT_S = 15


def validators_by_key(ln, node):
    v = rpc(ln.nodes[node]["rpc"], "validators")
    return v, {x["consensus_key"]: x for x in v["validators"]}


def refused_without_env(ln):
    n = ln.nodes[OFFENDER]
    env = {k: v for k, v in os.environ.items() if k != "BC_TEST_FAULTS"}
    p = subprocess.run([ln.bins.daemon] + n["args"] + ["--test-fault", "equivocate"], env=env,
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "BC_TEST_FAULTS=1" in p.stderr,
          f"--test-fault without BC_TEST_FAULTS=1 is refused (exit {p.returncode}: {p.stderr.strip()[:90]}...)")


def start_faulty(ln):
    n = ln.nodes[OFFENDER]
    log = open(os.path.join(n["datadir"], "log"), "ab")
    p = subprocess.Popen([ln.bins.daemon] + n["args"] + ["--test-fault", "equivocate"], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True, env=dict(os.environ, BC_TEST_FAULTS="1"))
    log.close()
    ln.pids[OFFENDER] = p.pid
    deadline = time.time() + 20
    while True:
        try:
            s = rpc(n["rpc"], "validator_status", timeout=2)
            if s.get("test_fault", {}).get("equivocate"):
                return s["consensus_key"], time.time()
        except Exception:
            pass
        if p.poll() is not None or time.time() > deadline:
            raise TestFailure(f"the faulty validator did not come up; see {n['datadir']}/log")
        time.sleep(0.05)


def wait_banned(ln, key, since):
    deadline = since + BAN_LIMIT_S
    while time.time() < deadline:
        _, by_key = validators_by_key(ln, FOLLOWER)
        if by_key[key]["status"] == "banned":
            return time.time() - since
        time.sleep(0.1)
    raise TestFailure(f"the equivocating validator was not banned within {BAN_LIMIT_S} s")


def punishment_blocks(ln, upto, key, address):
    """(height, block) of every block carrying evidence, and the effects against `address`."""
    with_evidence, effects = [], []
    for h in range(1, upto + 1):
        b = rpc(ln.nodes[FOLLOWER]["rpc"], "get_block", {"height": h})
        if b["evidence"]:
            with_evidence.append((h, b))
        effects += [(h, e) for e in b["effects"] if e["account"] == address and e["kind"] in ("slash", "ban")]
    return with_evidence, effects


def check_punishment(ln, key, address, bonded_before):
    head = ln.head(FOLLOWER)["height"]
    with_evidence, effects = punishment_blocks(ln, head, key, address)
    check(len(with_evidence) == 1, f"one block of 1..{head} carries evidence (height {with_evidence[0][0] if with_evidence else '-'}); "
                                   f"none after it, though the offender double-signed until it left the committee")
    h, block = with_evidence[0]
    ev = block["evidence"]
    kinds = [(eh, e["kind"]) for eh, e in effects]
    check(kinds == [(h, "slash"), (h, "ban")] and ev[0]["validator"] == key,
          f"block {h} carries evidence of validator {key[:16]}... ({ev[0]['type']} at height {ev[0]['height']} "
          f"round {ev[0]['round']}) and its effects slash, ban")
    slash = effects[0][1]
    check(all(e["reason"] == ev[0]["hash"] for _, e in effects), "the slash and the ban give the evidence hash as reason")
    _, by_key = validators_by_key(ln, FOLLOWER)
    after = int(by_key[key]["bonded"])
    check(int(slash["amount"]) * 20 == bonded_before and after == bonded_before - int(slash["amount"]),
          f"bonded stake {bonded_before} -> {after}: 5% ({slash['amount']}) slashed")
    return int(slash["amount"])


def check_committee_without(ln, key, limit_s):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        v, _ = validators_by_key(ln, FOLLOWER)
        members = [m["consensus_key"] for m in v["committee"]]
        if v["epoch"] is not None and key not in members:
            check(len(members) == VALIDATORS - 1,
                  f"from epoch {v['epoch']} (height {v['next_height']}) the committee is the {len(members)} others")
            return v["next_height"]
        time.sleep(0.1)
    raise TestFailure(f"the banned validator was still in the committee after {limit_s} s")


def check_supply(ln, slashed):
    with open(os.path.join(ln.net.dir, "genesis.json")) as f:
        genesis = json.load(f)
    total = sum(int(a["balance"]) + int(a["bonded"]) for a in genesis["accounts"])
    check(int(genesis["params"]["block_reward"]) == 0, "the devnet mints no block reward")
    held = 0
    for a in genesis["accounts"]:
        acc = rpc(ln.nodes[FOLLOWER]["rpc"], "get_account", {"address": a["address"]})
        held += int(acc["balance"]) + int(acc["bonded"])
    check(held == total - slashed,
          f"supply conserved: the genesis accounts hold {held} = {total} at genesis - {slashed} slashed")


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT,
                 extra=["--validators", str(VALIDATORS), "--accounts", "3", "--epoch-length", str(EPOCH),
                        "--block-interval-ms", str(INTERVAL_MS)])
    ln = None
    try:
        t0 = time.time()
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(2, 30)
        ln.kill(OFFENDER)
        refused_without_env(ln)
        key, since = start_faulty(ln)
        _, by_key = validators_by_key(ln, FOLLOWER)
        bonded_before = int(by_key[key]["bonded"])
        load = Load(ln, [0, 1, 2])
        load.down.add(OFFENDER)
        load.start()
        took = wait_banned(ln, key, since)
        check(True, f"the equivocating validator is banned {took:.1f} s after it started double-signing")
        at_ban = ln.head(FOLLOWER)["height"]
        ln.wait_heads(at_ban + 5, 20)
        check(True, f"the chain keeps finalising: every node at height {at_ban + 5} or above after the ban")
        check_committee_without(ln, key, 20)
        load.finish()
        slashed = check_punishment(ln, key, by_key[key]["address"], bonded_before)
        check_supply(ln, slashed)
        ln.check_same_chain(range(NODES), max(ln.head(n)["height"] for n in range(NODES)), 20)
        load.check_committed_on(range(NODES))
        s = rpc(ln.nodes[OFFENDER]["rpc"], "validator_status")
        check(len(load.committed) > 0,
              f"{len(load.committed)} transfers committed meanwhile; the offender forged "
              f"{s['test_fault']['forged_votes']} conflicting votes; {time.time() - t0:.1f} s in all")
    finally:
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 100)
