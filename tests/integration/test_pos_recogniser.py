#!/usr/bin/python3
"""A provider that recognises auditors, under Proof-of-Service audits between
real daemons (docs/proof-of-service.md, "A provider that recognises
auditors"; issue 10, test 1): a devnet of 4 validator-miners and two
provider nodes, each offer behind a backend this test runs:

  honest      node 4, answers "HTTP/1.0 200 OK"
  wrong       node 4, answers "HTTP/1.0 500 Internal Server Error": it
              serves everyone badly
  recogniser  node 5, answers like honest, but its node favours validators
              (blockcloudd --test-fault favour-validators): it takes flows
              only from the committee's addresses and refuses every other
              client

Each probe comes through a relay, a non-committee node (here the other
provider node), so the recogniser refuses every probe. After settlement it
must be graded exactly as the wrong one: the same report scores (all 0),
grade (unstable), burn, reputation and pay (nothing of its escrow claim),
while the honest offer is ok and paid in full; no probe may reach its
backend. As a control that it does favour validators, a `forward` from a
validator's node is served by its backend while one from the other provider's
node is refused (bc_sal_host_flows_refused_total{reason="filtered"}).

The genesis sets pos_holdback_epochs = 0 (pay is released at the
settlement) and retries a probe's unanswered attempt after 200 ms, 3
attempts in all (pos_retry_gap_ms, pos_max_attempts): an honest probe that
a loaded machine delays past the connect timeout is not lost, while every
attempt of a recogniser probe is refused alike. BC_PROBE_RELAY=0 (by hand) restarts the miners with
--no-probe-relay: their probes then come from validators' addresses, the
recogniser passes them, and this test must fail."""
import os
import socket
import time

from bcnet import check, http, main, metric_values, rpc
from ledgernet import committee_args, running_devnet
from posnet import (ProbeBackend, balance, check_pay, check_settlements, claim_all, epoch_record, in_parallel,
                    open_escrows, serve_and_offer)

BASE_IP, PORT = "127.0.88.2", 9880  # this test's own range: 127.0.88.2-7 (nodes), 127.0.88.20 (backends, forwards)
BACKEND_IP = "127.0.88.20"
INTERVAL_MS, EPOCH = 100, 20
VALIDATORS, NODES, PROVIDER, RECOGNISER = 4, 6, 4, 5
BOND, DEPOSIT, USAGE = 100_000, 10_000, 4_000
OWNERS = {"honest": 0, "wrong": 1, "recogniser": 2}  # account-i owns the offer
NODE_OF = {"honest": PROVIDER, "wrong": PROVIDER, "recogniser": RECOGNISER}
CLIENT = 3  # account-3 pays
GENESIS = ["pos_max_attempts=3", "pos_retry_gap_ms=200", "pos_holdback_epochs=0"]


def start_faults(net, ln):
    """The recogniser's node restarts with its fault; under BC_PROBE_RELAY=0
    the miners restart without probe relaying, one at a time."""
    ln.kill(RECOGNISER)
    ln.restart(RECOGNISER, args=["--test-fault", "favour-validators"], env=dict(os.environ, BC_TEST_FAULTS="1"))
    if os.environ.get("BC_PROBE_RELAY") == "0":
        for i in range(VALIDATORS):
            ln.kill(i)
            ln.restart(i, args=["--no-probe-relay"])
        return  # probes dial directly: no relay to know
    net.wait_routing(NODES - 1, 20)  # every miner knows both provider nodes, the relays


def offer(ln, bins, workdir, name, backend, results):
    """results[name] = (offer id, commit height)."""
    results[name] = serve_and_offer(ln, bins, workdir, NODE_OF[name], OWNERS[name], name, backend, BOND, 5000, 1, 20)


def same_as_wrong(ln, ids, audited, last):
    """The recogniser's record on chain, epoch by epoch, is the wrong one's:
    every report scores 0 and the grade is unstable; with the same audited
    epochs (both registered in the same epoch, as usual) the same burns,
    reputation and bond too."""
    shown = {n: rpc(ln.nodes[0]["rpc"], "audit_show", {"offer_id": ids[n], "epochs": 16})["offers"][0]
             for n in ("recogniser", "wrong")}

    def burned(rec):
        return sum(int(e["amount"]) for e in rec["effects"] if e["kind"] == "burn_offer_bond")

    same_history = len({tuple(e["epoch"] for e in shown[n]["epochs"] if e["epoch"] <= last) for n in shown}) == 1
    for epoch in range(audited, last + 1):
        rec, wrong = (epoch_record(shown[n], epoch) for n in ("recogniser", "wrong"))
        scores = sorted(r["score_bps"] for r in rec["reports"])
        check(scores and max(scores) == 0 and rec["grade"] == wrong["grade"] == "unstable"
              and rec["median_score_bps"] == wrong["median_score_bps"] and burned(rec) > 0
              and (burned(rec) == burned(wrong) or not same_history),
              f"recogniser, epoch {epoch}: report scores {scores}, graded {rec['grade']} with {burned(rec)} "
              f"of its bond burned, as the wrong one ({burned(wrong)})")
    r, w = shown["recogniser"], shown["wrong"]
    check(not same_history or (r["reputation_bps"] == w["reputation_bps"] and r["bond"] == w["bond"]),
          f"recogniser: reputation {r['reputation_bps']} and bond {r['bond']}, as the wrong one "
          f"({w['reputation_bps']}, {w['bond']})" + ("" if same_history else ": audited in other epochs too"))


def ask_through_forward(ln, node, sid):
    """One request to `sid` through a `forward` on `node` (its flow leaves
    from that node's address); the answer, empty when the flow was refused."""
    listen = rpc(ln.nodes[node]["rpc"], "forward_add", {"service": sid, "listen": f"{BACKEND_IP}:0"})["listen"]
    ip, port = listen.rsplit(":", 1)
    got = b""
    with socket.create_connection((ip, int(port)), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\n\r\n")
        try:
            while b := c.recv(4096):
                got += b
        except ConnectionResetError:  # refused
            pass
    return got.decode(errors="replace")


def filtered(ln):
    """Flows the recogniser's node refused by address."""
    _, text = http(ln.nodes[RECOGNISER]["rpc"], "GET", "/metrics", timeout=5)
    return int(metric_values(text).get('bc_sal_host_flows_refused_total{reason="filtered"}', 0))


def check_favours_validators(ln, backend):
    """No probe reached the recogniser's backend; a validator's flow does,
    one from the other provider's node is refused."""
    refused = filtered(ln)
    check(backend.served == 0 and refused > 0,
          f"no probe reached the recogniser's backend; its node refused {refused} flows by address")
    sid = rpc(ln.nodes[RECOGNISER]["rpc"], "service_list")["services"][0]["service"]
    answer = ask_through_forward(ln, 0, sid)
    check(answer.startswith("HTTP/1.0 200 OK") and backend.served == 1,
          f"a forward from validator node 0 is served: {answer.splitlines()[0] if answer else 'nothing'}")
    answer = ask_through_forward(ln, PROVIDER, sid)
    check(answer == "" and backend.served == 1 and filtered(ln) > refused,
          f"a forward from node {PROVIDER} (no validator) is refused: answer {answer[:40]!r}")


def test(bins, workdir):
    extra = committee_args(VALIDATORS, INTERVAL_MS, accounts=len(OWNERS) + 1) + ["--epoch-length", str(EPOCH)]
    for g in GENESIS:
        extra += ["--genesis-param", g]
    with running_devnet(bins, workdir, NODES, BASE_IP, PORT, extra) as (net, ln):
        start_faults(net, ln)
        t0 = time.time()
        backends = {"honest": ProbeBackend(BACKEND_IP), "wrong": ProbeBackend(BACKEND_IP, "500 Internal Server Error"),
                    "recogniser": ProbeBackend(BACKEND_IP)}
        registered = {}
        in_parallel([lambda n=n: offer(ln, bins, workdir, n, backends[n], registered) for n in OWNERS])
        ids = {n: registered[n][0] for n in OWNERS}
        escrows = open_escrows(ln, OWNERS, CLIENT, DEPOSIT)
        height = max(ln.head(0)["height"], *(h for _, h in registered.values()))
        audited = max(2, (height - 1) // EPOCH + 1)  # the first epoch that starts after the offers
        ln.wait_heads(audited * EPOCH + 1, 30, nodes=[0])
        client_before = balance(ln, CLIENT)
        claims = claim_all(ln, escrows, OWNERS, CLIENT, USAGE)
        last = max(audited, max((h - 1) // EPOCH for h, _ in claims.values()))
        check(True, f"3 offers registered by height {height}, claims in epoch {last}; epoch {audited} audited")
        ln.wait_heads((last + 2) * EPOCH + 3, 40, nodes=[0])  # settled in the first blocks of last + 2
        scales, slashed = check_settlements(ln, ids, BOND, audited, last)
        same_as_wrong(ln, ids, audited, last)
        first = {n: scales[(n, audited)] for n in OWNERS}
        check(first == {"honest": 10000, "wrong": 0, "recogniser": 0},
              f"epoch {audited}: honest paid in full, wrong and recogniser nothing: {first}")
        check_pay(ln, claims, scales, client_before, OWNERS, CLIENT, USAGE, EPOCH)
        supply = rpc(ln.nodes[0]["rpc"], "get_supply")
        check(supply["conserved"] and int(supply["burned"]) == slashed,
              f"supply conserved: burned {supply['burned']} = the slashes ({slashed})")
        check_favours_validators(ln, backends["recogniser"])
        print(f"  audits settled in {time.time() - t0:.1f} s after the faults were up", flush=True)


if __name__ == "__main__":
    main(test, 70)
