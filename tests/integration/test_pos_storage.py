#!/usr/bin/python3
"""Storage offers under Proof-of-Service audits between real daemons
(docs/proof-of-service.md "Storage offers and the storage probe"; issue 10,
test 1's storage provider that drops 10% of its chunks and its malicious
provider; issue 11's "audited"). A devnet of 4 validator-miners and 3
storage providers; a 20 MiB file is stored over the 3 (k=2, m=1: each holds
20 shards). Each provider commits its shards to a storage offer
(`blockcloud-cli provider offer --storage`), then:

  honest    keeps every shard
  dropper   silently deletes 10% of its shard files (2 of 20)
  malicious (--test-fault storage-wrong-answers) signs a wrong leaf in
            every audit answer

After the audited epoch is settled, the chain must show: the honest offer
ok; the dropper's failed probes exactly on the chunks it deleted, graded by
the settlement rule on its scores (the client deletes the file after the
offers: committed shards stay, so that costs the providers nothing); the malicious offer graded malicious on
the evidence in its reports, its whole bond burned and the offer banned; and
the supply conserved."""
import glob
import json
import os
import time

from bcnet import TestFailure, check, cli_auth, http, main, metric_values, rpc, run, write_random
from ledgernet import committee_args, running_devnet
from posnet import epoch_record, expected_settlement, settle_params

BASE_IP, PORT = "127.0.71.2", 9710  # this test's own range: 127.0.71.2-8 (nodes), 127.0.71.100 (the storage client)
CLIENT_IP = "127.0.71.100"
INTERVAL_MS, EPOCH = 100, 30
VALIDATORS, NODES = 4, 7
ROLES = {4: "honest", 5: "dropper", 6: "malicious"}  # the last 3 nodes are the storage providers
BOND, FUNDS = 100_000, 1_000_000
FILE_MIB = 20
# Each probe is graded at once (no retry luck), pay is released at settlement,
# and 24 probes per auditor give 72 per offer: a provider missing 10% of its
# chunks is caught with probability 1 - 0.9^72 > 99.9%.
GENESIS = ["pos_max_attempts=1", "pos_holdback_epochs=0", "pos_probes_per_auditor=24"]


def storage_cli(ln, node, *args):
    n = ln.nodes[node]
    return run([ln.bins.cli, "--rpc", n["rpc"], *cli_auth(n["rpc"]), "--rpc-timeout", "60", "--wallet-dir", ln.wallet,
                "storage", "--storage-dir", os.path.join(ln.net.dir, "client"), "--bind", CLIENT_IP] + list(args),
               timeout=300)


def store_file(ln, workdir):
    deadline = time.time() + 30  # the providers list themselves in the DHT once they have contacts
    while len(json.loads(storage_cli(ln, 0, "--json", "providers")[1] or "[]")) < len(ROLES):
        if time.time() > deadline:
            raise TestFailure(f"the {len(ROLES)} storage providers were not listed within 30 s")
        time.sleep(0.3)
    src = os.path.join(workdir, "file.bin")
    write_random(src, FILE_MIB)
    rc, out, err = storage_cli(ln, 0, "--json", "put", src, "-k", "2", "-m", "1", "--segment-mib", "1", "--from", "account-0")
    if rc != 0:
        raise TestFailure(f"storage put failed: {err}")
    return json.loads(out)["id"]


def offer_storage(ln, node):
    """The provider's owner funds its account, then offers its shards; returns (offer id, storage root, chunks)."""
    storage_dir = os.path.join(ln.nodes[node]["datadir"], "storage")
    account = rpc(ln.nodes[node]["rpc"], "storage_status")["account"]
    rc, _, err = ln.cli(0, "send", account, str(FUNDS), "--from", "account-0", "--wait", "20")
    if rc != 0:
        raise TestFailure(f"funding the owner of node {node} failed: {err}")
    n = ln.nodes[node]
    rc, out, err = run([ln.bins.cli, "--rpc", n["rpc"], *cli_auth(n["rpc"]), "--wallet-dir", storage_dir, "provider", "offer",
                        "--storage", "--service", "storage", "--bond", str(BOND), "--max-latency", "2000", "--from", "owner",
                        "--offer-nonce", "1", "--register", "--wait", "20"], timeout=90)
    if rc != 0:
        raise TestFailure(f"provider offer --storage on node {node} failed: {err}")
    root = out.split("storage root ")[1].split()[0]
    chunks = int(out.split("committed ")[1].split()[0])
    return out.split("offer id ")[1].split()[0], root, chunks


def delete_tenth(ln, node, chunk_list):
    """Deletes every 10th shard file of `node`; returns the deleted chunks' indexes in its offer."""
    files = sorted(f for f in glob.glob(os.path.join(ln.nodes[node]["datadir"], "storage", "shards", "**", "*"), recursive=True)
                   if os.path.isfile(f))
    victims = files[::10]
    for f in victims:
        os.remove(f)
    names = {os.path.basename(f) for f in victims}
    deleted = {i for i, shard in enumerate(chunk_list) if shard in names}
    check(len(deleted) == len(victims) and len(victims) * 10 >= len(chunk_list),
          f"the dropper silently deleted {len(victims)} of its {len(chunk_list)} committed shards: chunks {sorted(deleted)}")
    return deleted


def chunk_list(ln, node, root):
    """The offer's committed shard IDs, in order (the file the provider keeps)."""
    with open(os.path.join(ln.nodes[node]["datadir"], "storage", "offers", root), "rb") as f:
        data = f.read()
    return [data[i:i + 32].hex() for i in range(0, len(data), 32)]


def remove_committed_file(ln, cid):
    """The client deletes the file once the offers commit to it: each provider keeps its
    committed shards (docs/storage.md "Committed shards"), so the audits below still find them."""
    rc, out, err = storage_cli(ln, 0, "rm", cid)
    if rc != 0:
        raise TestFailure(f"storage rm failed: {err}")
    committed = [rpc(ln.nodes[n]["rpc"], "storage_status")["committed_shards"] for n in ROLES]
    check(f"{FILE_MIB * len(ROLES)} shard(s) stay on providers" in out and committed == [FILE_MIB] * len(ROLES),
          f"storage rm after the offers: the providers kept their committed shards ({out.strip().splitlines()[-1]}; "
          f"committed per provider {committed})")


def check_offers(ln, offers, deleted, audited):
    params = settle_params(ln, 9500)
    for node, role in ROLES.items():
        shown = rpc(ln.nodes[0]["rpc"], "audit_show", {"offer_id": offers[node][0], "epochs": 8})["offers"][0]
        rec = epoch_record(shown, audited)
        reports = rec["reports"]
        failed = set().union(*(set(r["failed_chunks"]) for r in reports)) if reports else set()
        scores = sorted(r["score_bps"] for r in reports)
        if role == "honest":
            # Graded on the median: one auditor's timed-out probe (a slow relay on a loaded or
            # sanitized run) does not cost it, and it never answers wrong.
            evidence = sum(r["evidence"] for r in reports)
            check(rec["grade"] == "ok" and evidence == 0,
                  f"honest: {len(reports)} reports, scores {scores}, graded {rec['grade']}, {evidence} evidence")
        elif role == "dropper":
            grade = expected_settlement([r["score_bps"] for r in reports], 10000, BOND, BOND, params)[0]
            check(failed and failed <= deleted,
                  f"dropper: its failed probes asked for deleted chunks only ({sorted(failed)} of {sorted(deleted)})")
            check(rec["grade"] == grade, f"dropper: scores {scores} -> graded {rec['grade']} (rule: {grade})")
        else:
            evidence = sum(r["evidence"] for r in reports)
            check(rec["grade"] == "malicious" and evidence > 0 and shown["status"] == "banned" and int(shown["bond"]) == 0,
                  f"malicious: {evidence} signed wrong answers in its reports; graded {rec['grade']}, offer "
                  f"{shown['status']}, bond {shown['bond']}")


def check_offer_lookup(ln, offers):
    """list_offers {storage_root} finds exactly the offer on each list (what a provider asks before it
    releases a list, docs/storage.md "Committed shards")."""
    found = {n: [o["offer_id"] for o in rpc(ln.nodes[0]["rpc"], "list_offers", {"storage_root": offers[n][1]})["offers"]]
             for n in ROLES}
    check(all(found[n] == [offers[n][0]] for n in ROLES), "list_offers by storage root finds each list's one offer")


def check_relayed(ln):
    """Probes went through relays (docs/proof-of-service.md, "Probes look like clients"): the
    validators never relay (they are the committee), the providers relay each other's probes."""
    accepted = []
    for n in range(NODES):
        status, text = http(ln.nodes[n]["rpc"], "GET", "/metrics", timeout=5)
        if status != 200:
            raise TestFailure(f"node {n}: GET /metrics answered {status}")
        accepted.append(int(metric_values(text).get("bc_sal_relay_accepted_total", 0)))
    check(sum(accepted[:VALIDATORS]) == 0 and all(accepted[n] > 0 for n in ROLES),
          f"probes were relayed through the providers' nodes, never the validators' (relayed per node: {accepted})")


def test(bins, workdir):
    extra = committee_args(VALIDATORS, INTERVAL_MS, accounts=4) + [
        "--epoch-length", str(EPOCH), "--storage-providers", "3", "--storage-capacity", "1GiB", "--storage-price", "0"]
    for g in GENESIS:
        extra += ["--genesis-param", g]
    with running_devnet(bins, workdir, NODES, BASE_IP, PORT, extra) as (net, ln):
        t0 = time.time()
        ln.kill(6)
        ln.restart(6, args=["--test-fault", "storage-wrong-answers"], env=dict(os.environ, BC_TEST_FAULTS="1"))
        net.wait_routing(4)
        cid = store_file(ln, workdir)
        check(True, f"stored {FILE_MIB} MiB as {cid[:16]}... over the 3 providers ({time.time() - t0:.1f} s)")
        offers = {node: offer_storage(ln, node) for node in ROLES}
        lists = {node: chunk_list(ln, node, offers[node][1]) for node in ROLES}
        check(all(offers[n][2] == len(lists[n]) == FILE_MIB for n in ROLES),
              f"each provider committed its {FILE_MIB} shards to a storage offer")
        deleted = delete_tenth(ln, 5, lists[5])
        remove_committed_file(ln, cid)
        height = ln.head(0)["height"]
        audited = max(2, (height - 1) // EPOCH + 1)  # the first audited epoch that starts after the offers and the deletion
        ln.wait_heads((audited + 2) * EPOCH + 3, 60, nodes=[0])  # settled in the first blocks of audited + 2
        check_offers(ln, offers, deleted, audited)
        check_offer_lookup(ln, offers)
        supply = rpc(ln.nodes[0]["rpc"], "get_supply")
        check(supply["conserved"], f"supply conserved at height {supply['height']}: burned {supply['burned']}")
        check_relayed(ln)
        print(f"  storage audits settled in {time.time() - t0:.1f} s after the devnet was up", flush=True)


if __name__ == "__main__":
    main(test, 120)
