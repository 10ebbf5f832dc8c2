#!/usr/bin/python3
"""Provider behaviours under Proof-of-Service audits between real daemons
(docs/proof-of-service.md, "Tests"; issue 10, test 1): a devnet of 4
validator-miners and one provider node serving four offered services, each
behind a backend this test runs:

  honest  answers "HTTP/1.0 200 OK" at once
  slow    answers correctly, after twice its offer's max latency
  flaky   is down (accepts and closes without answering) 30% of the time,
          in a 1 s pattern
  wrong   answers "HTTP/1.0 500 Internal Server Error"

A client pays each through an escrow with a signed usage receipt
(`blockcloud-cli escrow open|receipt|claim`), claimed in the audited epoch.
After settlement the chain must show what the rules give for the scores the
miners' reports put on chain: S = the lower median of the report scores,
R = (lambda * 10000 + (10000 - lambda) * S) / 10000 for a new offer, then
unstable (slash the declared bond * (delta - R) * rate / 10^8, no pay) if R < delta,
occasional (pay usage * S / 10000) if S < 10000, else ok (pay usage). The
honest offer must be ok and paid in full, slow and wrong unstable and
slashed, flaky penalised in proportion to its score; the held pay not paid
goes back to the client, and the supply is conserved (get_supply). The flaky
offer's mean report score in an epoch must lie close to the share of
connections its backend answered in that epoch: a probe fails exactly when
its one backend connection was refused.

The genesis sets pos_max_attempts = 1 (a missed or slow probe is graded at
once, so the outcome follows the behaviour, not retry luck) and
pos_holdback_epochs = 0 (pay is released at the settlement). BC_LONG=1 audits
three epochs and checks the reputation recurrence over them."""
import json
import os
import time

from bcnet import check, main, rpc
from ledgernet import committee_args, running_devnet
from posnet import (ProbeBackend, balance, check_pay, check_settlements, claim_all, epoch_record, in_parallel,
                    open_escrows, serve_and_offer)

BASE_IP, PORT = "127.0.67.2", 9670  # this test's own range: 127.0.67.2-6 (nodes), 127.0.67.20 (backends)
BACKEND_IP = "127.0.67.20"
INTERVAL_MS, EPOCH = 100, 20
VALIDATORS, NODES, PROVIDER = 4, 5, 4
BOND, DEPOSIT, USAGE = 100_000, 10_000, 4_000
CLIENT = 4  # account-4 pays; account-i owns behaviour i
SLOW_LATENCY_MS = 400
LONG = os.environ.get("BC_LONG") == "1"
GENESIS = ["pos_max_attempts=1", "pos_holdback_epochs=0"]
AVAILABILITY_MARGIN_BPS = 1000  # flaky: mean report score vs the backend's answered share, per epoch


def backend(kind):
    """The probe backend of one behaviour (see the module doc)."""
    if kind == "slow":
        return ProbeBackend(BACKEND_IP, delay_s=2 * SLOW_LATENCY_MS / 1000)
    if kind == "flaky":  # down 300 ms of every second
        return ProbeBackend(BACKEND_IP, down=lambda: int(time.time() * 1000) % 1000 < 300)
    if kind == "wrong":
        return ProbeBackend(BACKEND_IP, "500 Internal Server Error")
    return ProbeBackend(BACKEND_IP)


BEHAVIOURS = ["honest", "slow", "flaky", "wrong"]
OWNERS = {name: i for i, name in enumerate(BEHAVIOURS)}


def offer(ln, bins, workdir, account, name, backend, results):
    """Serves `name` behind `backend` and registers its offer from
    account-`account`; results[name] = (offer id, commit height)."""
    latency = SLOW_LATENCY_MS if name == "slow" else 5000
    results[name] = serve_and_offer(ln, bins, workdir, PROVIDER, account, name, backend, BOND, latency, 1, 20)


def block_time(ln, height):
    """When block `height` was made, in seconds (the chain's time_ms is the wall clock)."""
    return rpc(ln.nodes[0]["rpc"], "get_block", {"height": height})["time_ms"] / 1000


def check_flaky_availability(ln, offer_id, flaky, audited, last):
    """Each flaky probe is one backend connection, passed exactly when the
    backend answered it, so the mean report score of an epoch lies close to
    the share of connections the backend answered while the epoch ran (its
    probes go out between its first block and the next epoch's). The margin
    covers a few probes of an auditor that started the epoch late. An epoch
    missing a report is skipped: the backend also counts the missing
    auditor's probes."""
    with open(ln.net.dir + "/genesis.json") as f:
        auditors = json.load(f)["params"]["pos_auditors_per_offer"]
    shown = rpc(ln.nodes[PROVIDER]["rpc"], "audit_show", {"offer_id": offer_id, "epochs": 16})["offers"][0]
    for epoch in range(audited, last + 1):
        scores = [r["score_bps"] for r in epoch_record(shown, epoch)["reports"]]
        if len(scores) < auditors:
            check(True, f"flaky, epoch {epoch}: {len(scores)} of {auditors} reports; availability not compared")
            continue
        answered, refused = flaky.tally(block_time(ln, epoch * EPOCH + 1), block_time(ln, (epoch + 1) * EPOCH + 1))
        available = 10000 * answered // max(1, answered + refused)
        mean = sum(scores) // len(scores)
        check(answered + refused > 0 and abs(mean - available) <= AVAILABILITY_MARGIN_BPS,
              f"flaky, epoch {epoch}: mean report score {mean} bps {sorted(scores)}; its backend answered {answered} "
              f"of {answered + refused} connections in the epoch ({available} bps)")


def test(bins, workdir):
    extra = committee_args(VALIDATORS, INTERVAL_MS, accounts=5) + ["--epoch-length", str(EPOCH)]
    for g in GENESIS:
        extra += ["--genesis-param", g]
    epochs = 3 if LONG else 1
    with running_devnet(bins, workdir, NODES, BASE_IP, PORT, extra) as (net, ln):
        t0 = time.time()
        backends = {name: backend(name) for name in BEHAVIOURS}
        registered = {}
        in_parallel([lambda i=i, n=n: offer(ln, bins, workdir, i, n, backends[n], registered)
                     for i, n in enumerate(BEHAVIOURS)])
        ids = {n: registered[n][0] for n in BEHAVIOURS}
        escrows = open_escrows(ln, OWNERS, CLIENT, DEPOSIT)
        height = max(ln.head(0)["height"], *(h for _, h in registered.values()))
        audited = max(2, (height - 1) // EPOCH + 1)  # the first epoch that starts after the offers
        ln.wait_heads(audited * EPOCH + 1, 30, nodes=[0])
        client_before = balance(ln, CLIENT)
        claims = claim_all(ln, escrows, OWNERS, CLIENT, USAGE)
        claim_epoch = max((h - 1) // EPOCH for h, _ in claims.values())
        check(True, f"4 offers registered by height {height}, escrows open, claims in epoch {claim_epoch}; "
                    f"epoch {audited} audited ({time.time() - t0:.1f} s)")
        last = max(audited + epochs - 1, claim_epoch)
        ln.wait_heads((last + 2) * EPOCH + 3, 30 + 10 * epochs, nodes=[0])  # settled in the first blocks of last + 2
        check(all(b.served > 0 for b in backends.values()) and backends["flaky"].refused > 0,
              "the backends answered " + ", ".join(f"{n} {b.served}" for n, b in backends.items())
              + f"; flaky refused {backends['flaky'].refused}")
        scales, slashed = check_settlements(ln, ids, BOND, audited, last)
        check_flaky_availability(ln, ids["flaky"], backends["flaky"], audited, last)
        first = {n: scales[(n, audited)] for n in BEHAVIOURS}
        check(first["honest"] == 10000 and first["slow"] == 0 and first["wrong"] == 0 and first["flaky"] < 10000,
              f"epoch {audited}: honest paid in full, slow and wrong nothing, flaky in proportion to its score: {first}")
        check_pay(ln, claims, scales, client_before, OWNERS, CLIENT, USAGE, EPOCH)
        supply = rpc(ln.nodes[0]["rpc"], "get_supply")
        check(supply["conserved"] and int(supply["burned"]) == slashed,
              f"supply conserved at height {supply['height']}: minted {supply['minted']}, burned {supply['burned']} "
              f"= the slashes ({slashed})")
        print(f"  audits settled in {time.time() - t0:.1f} s after the devnet was up", flush=True)


if __name__ == "__main__":
    main(test, 150 if LONG else 60)
