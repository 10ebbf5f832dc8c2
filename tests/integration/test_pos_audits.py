#!/usr/bin/python3
"""Proof-of-Service audits between real daemons (docs/proof-of-service.md,
"The auditor on a node"): a devnet of 4 validator-miners and one provider
node serving two offered services through the SAL, each behind a tiny HTTP
backend this test runs: "good" answers "HTTP/1.0 200 OK" as its offer
expects, "bad" answers "HTTP/1.0 500 Internal Server Error".

The miners commit and reveal on their own, probe both offers as ordinary
client flows at their secret times, and submit signed reports. After the
audited epoch is settled the chain shows reports for both offers, the good
one graded ok with its bond and reputation kept, the bad one unstable:
part of its bond burned and its reputation down. miner status / reports,
audit show and /metrics show the same."""
import json
import time

from bcnet import TestFailure, check, http, main, rpc
from ledgernet import committee_args, running_devnet
from posnet import ProbeBackend, serve_and_offer

BASE_IP, PORT = "127.0.64.2", 9640  # this test's own range: 127.0.64.2-6 (nodes), 127.0.64.20 (backends)
BACKEND_IP = "127.0.64.20"
INTERVAL_MS, EPOCH = 100, 10
VALIDATORS, NODES, PROVIDER = 4, 5, 4
BOND = 100_000


def check_miners(ln, audited):
    total = {"sent": 0, "passed": 0, "failed": 0, "included": 0}
    for n in range(VALIDATORS):
        s = rpc(ln.nodes[n]["rpc"], "miner_status")
        if not s["committing"] or s["commitments_sent"] == 0 or s["reveals_sent"] == 0:
            raise TestFailure(f"node {n} miner: {s}")
        for k in ("sent", "passed", "failed"):
            total[k] += s["probes"][k]
        total["included"] += s["reports"]["included"]
    check(total["sent"] > 0 and total["passed"] > 0 and total["failed"] > 0 and total["included"] >= 4,
          f"miner_status on the 4 validators: {total['sent']} probes sent, {total['passed']} passed, "
          f"{total['failed']} failed, {total['included']} reports included")
    status, text = http(ln.nodes[0]["rpc"], "GET", "/metrics", timeout=5)
    check(status == 200 and 'bc_pos_probes_total{result="sent"}' in text and 'bc_pos_reports_total{state="included"}' in text,
          "/metrics shows bc_pos_probes_total{result} and bc_pos_reports_total{state}")
    rc, out, err = ln.cli(0, "miner", "status")
    check(rc == 0 and "probes" in out and "reports" in out, "blockcloud-cli miner status answers")
    rc, out, err = ln.cli(0, "--json", "miner", "reports")
    check(rc == 0 and json.loads(out)["reports"], "blockcloud-cli miner reports lists this miner's reports")


def epoch_of(history, epoch):
    for e in history["epochs"]:
        if e["epoch"] == epoch:
            return e
    raise TestFailure(f"no epoch {epoch} in audit show: {history}")


def test(bins, workdir):
    extra = committee_args(VALIDATORS, INTERVAL_MS, accounts=2) + ["--epoch-length", str(EPOCH)]
    with running_devnet(bins, workdir, NODES, BASE_IP, PORT, extra) as (net, ln):
        t0 = time.time()
        good, bad = ProbeBackend(BACKEND_IP), ProbeBackend(BACKEND_IP, "500 Internal Server Error")
        good_id, _ = serve_and_offer(ln, bins, workdir, PROVIDER, 0, "good", good, BOND, 5000, 0, 15)
        bad_id, height = serve_and_offer(ln, bins, workdir, PROVIDER, 1, "bad", bad, BOND, 5000, 1, 15)
        audited = max(2, (height - 1) // EPOCH + 1)  # the first epoch that starts after both offers
        check(True, f"both offers registered by height {height}; epoch {audited} audits them")
        settle = (audited + 2) * EPOCH + 1  # the first block of audited + 2 settles it
        ln.wait_heads(settle + 2, 40, nodes=[0])
        check(good.served > 0 and bad.served > 0, f"the backends answered {good.served} and {bad.served} probes")
        check_miners(ln, audited)
        g = rpc(ln.nodes[PROVIDER]["rpc"], "audit_show", {"offer_id": good_id, "epochs": 8})["offers"][0]
        b = rpc(ln.nodes[PROVIDER]["rpc"], "audit_show", {"offer_id": bad_id, "epochs": 8})["offers"][0]
        ge, be = epoch_of(g, audited), epoch_of(b, audited)
        check(len(ge["reports"]) >= 2 and len(be["reports"]) >= 2,
              f"epoch {audited}: {len(ge['reports'])} reports on chain for the good offer, {len(be['reports'])} for the bad")
        check(ge["grade"] == "ok" and ge["median_score_bps"] == 10000 and g["bond"] == str(BOND) and g["reputation_bps"] == 10000,
              f"the good offer: grade {ge['grade']}, median {ge['median_score_bps']} bps, bond {g['bond']} kept, reputation 10000")
        slash = BOND * (9500 - 8750) * 1000 // 10**8
        check(be["grade"] == "unstable" and be["median_score_bps"] == 0 and b["reputation_bps"] == 8750
              and int(b["bond"]) == BOND - slash,
              f"the bad offer: grade {be['grade']}, median 0, reputation 8750, {slash} of its bond burned ({be['effects']})")
        rc, out, err = ln.cli(PROVIDER, "audit", "show", bad_id)
        check(rc == 0 and "unstable" in out, "blockcloud-cli audit show OFFER_ID prints the grade")
        rc, out, err = ln.cli(PROVIDER, "--json", "audit", "show", ln.accounts[0]["address"])
        shown = json.loads(out) if rc == 0 else {}
        check(shown.get("total") == 1 and shown["offers"][0]["offer_id"] == good_id,
              "blockcloud-cli audit show PROVIDER (the registering account) finds its one offer")
        print(f"  audits settled in {time.time() - t0:.1f} s after the devnet was up", flush=True)


if __name__ == "__main__":
    main(test, 90)
