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
import threading
import time

from bcnet import TestFailure, check, main, rpc
from ledgernet import committee_args, running_devnet
from posnet import ProbeBackend, epoch_record, expected_settlement, serve_and_offer, settle_params

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


def offer(ln, bins, workdir, account, name, backend, results):
    """Serves `name` behind `backend` and registers its offer from
    account-`account`; results[name] = (offer id, commit height)."""
    latency = SLOW_LATENCY_MS if name == "slow" else 5000
    results[name] = serve_and_offer(ln, bins, workdir, PROVIDER, account, name, backend, BOND, latency, 1, 20)


def in_parallel(fns):
    errors, threads = [], []
    for fn in fns:
        def body(fn=fn):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (re-raised below)
                errors.append(e)
        threads.append(threading.Thread(target=body))
        threads[-1].start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def balance(ln, i):
    return int(rpc(ln.nodes[0]["rpc"], "get_account", {"address": ln.accounts[i]["address"]})["balance"])


def open_escrows(ln):
    """account-CLIENT opens one escrow of DEPOSIT to each owner; {name: escrow id}."""
    nonce = int(rpc(ln.nodes[0]["rpc"], "get_account", {"address": ln.accounts[CLIENT]["address"]})["nonce"])
    escrows = {}
    for i, name in enumerate(BEHAVIOURS):
        wait = ["--wait", "20"] if i == len(BEHAVIOURS) - 1 else []
        rc, out, err = ln.cli(0, "escrow", "open", "--provider", ln.accounts[i]["address"], "--amount", str(DEPOSIT),
                              "--from", f"account-{CLIENT}", "--nonce", str(nonce + i), *wait)
        if rc != 0:
            raise TestFailure(f"escrow open for {name} failed: {err}")
        escrows[name] = out.split("escrow id ")[1].split()[0]
    return escrows


def claim_all(ln, escrows):
    """In the audited epoch each owner claims USAGE with a receipt the client
    signed; returns {name: (claim height, balance after the claim)}."""
    sent = {}
    for i, name in enumerate(BEHAVIOURS):
        rc, sig, err = ln.cli(0, "escrow", "receipt", escrows[name], "--cumulative", str(USAGE), "--from", f"account-{CLIENT}")
        if rc != 0:
            raise TestFailure(f"escrow receipt failed: {err}")
        rc, out, err = ln.cli(0, "--json", "escrow", "claim", escrows[name], "--cumulative", str(USAGE), "--receipt",
                              sig.strip(), "--from", f"account-{i}")
        if rc != 0:
            raise TestFailure(f"escrow claim for {name} failed: {err}")
        sent[name] = json.loads(out)["id"]
    claims, deadline = {}, time.time() + 20
    while len(claims) < len(sent):
        for name in BEHAVIOURS:
            t = rpc(ln.nodes[0]["rpc"], "get_tx", {"id": sent[name]})
            if name not in claims and t["status"] == "committed":
                claims[name] = t["height"]
            elif t["status"] in ("dropped", "unknown"):
                raise TestFailure(f"the claim of {name} was {t['status']}: {t.get('reason', '')}")
        if time.time() > deadline:
            raise TestFailure(f"claims not committed within 20 s: {claims}")
        time.sleep(0.05)
    return {name: (claims[name], balance(ln, i)) for i, name in enumerate(BEHAVIOURS)}


def check_settlements(ln, ids, audited, last):
    """Each offer's grade, reputation and bond in epochs audited..last against
    the rule; returns {(name, epoch): pay scale} and the total slash."""
    params = settle_params(ln, 9500)
    scales, slashed = {}, 0
    for name in BEHAVIOURS:
        shown = rpc(ln.nodes[PROVIDER]["rpc"], "audit_show", {"offer_id": ids[name], "epochs": 16})["offers"][0]
        rep, bond = 10000, BOND
        for epoch in range(audited, last + 1):
            rec = epoch_record(shown, epoch)
            scores = [r["score_bps"] for r in rec["reports"]]
            grade, s, rep, slash, scale = expected_settlement(scores, rep, bond, BOND, params)
            bond -= slash
            slashed += slash
            scales[(name, epoch)] = scale
            check(rec["grade"] == grade, f"{name}, epoch {epoch}: report scores {sorted(scores)} -> median {s}, "
                                         f"reputation {rep}: graded {grade} (chain: {rec['grade']})")
        check(shown["reputation_bps"] == rep and int(shown["bond"]) == bond,
              f"{name}: reputation {shown['reputation_bps']} (rule: {rep}), bond {shown['bond']} (rule: {bond})")
    return scales, slashed


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


def check_pay(ln, claims, scales, client_before):
    """Each claim is paid at its epoch's pay scale; the rest goes back to the client."""
    refunded = 0
    for i, name in enumerate(BEHAVIOURS):
        scale = scales[(name, (claims[name][0] - 1) // EPOCH)]
        pay = USAGE * scale // 10000
        refunded += USAGE - pay
        got = balance(ln, i) - claims[name][1]
        check(got == pay, f"{name} was paid {got} of its {USAGE} claim (rule: {USAGE} x {scale} bps = {pay})")
    got = balance(ln, CLIENT) - client_before
    check(got == refunded, f"the client got back {got}, the pay the scores withheld ({refunded})")


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
        escrows = open_escrows(ln)
        height = max(ln.head(0)["height"], *(h for _, h in registered.values()))
        audited = max(2, (height - 1) // EPOCH + 1)  # the first epoch that starts after the offers
        ln.wait_heads(audited * EPOCH + 1, 30, nodes=[0])
        client_before = balance(ln, CLIENT)
        claims = claim_all(ln, escrows)
        claim_epoch = max((h - 1) // EPOCH for h, _ in claims.values())
        check(True, f"4 offers registered by height {height}, escrows open, claims in epoch {claim_epoch}; "
                    f"epoch {audited} audited ({time.time() - t0:.1f} s)")
        last = max(audited + epochs - 1, claim_epoch)
        ln.wait_heads((last + 2) * EPOCH + 3, 30 + 10 * epochs, nodes=[0])  # settled in the first blocks of last + 2
        check(all(b.served > 0 for b in backends.values()) and backends["flaky"].refused > 0,
              "the backends answered " + ", ".join(f"{n} {b.served}" for n, b in backends.items())
              + f"; flaky refused {backends['flaky'].refused}")
        scales, slashed = check_settlements(ln, ids, audited, last)
        check_flaky_availability(ln, ids["flaky"], backends["flaky"], audited, last)
        first = {n: scales[(n, audited)] for n in BEHAVIOURS}
        check(first["honest"] == 10000 and first["slow"] == 0 and first["wrong"] == 0 and first["flaky"] < 10000,
              f"epoch {audited}: honest paid in full, slow and wrong nothing, flaky in proportion to its score: {first}")
        check_pay(ln, claims, scales, client_before)
        supply = rpc(ln.nodes[0]["rpc"], "get_supply")
        check(supply["conserved"] and int(supply["burned"]) == slashed,
              f"supply conserved at height {supply['height']}: minted {supply['minted']}, burned {supply['burned']} "
              f"= the slashes ({slashed})")
        print(f"  audits settled in {time.time() - t0:.1f} s after the devnet was up", flush=True)


if __name__ == "__main__":
    main(test, 150 if LONG else 60)
