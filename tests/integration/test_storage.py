#!/usr/bin/python3
"""Storage through the network (issue 11, tests 1 and 2) on a devnet of 9
storage providers: `blockcloud-cli storage put` a random file (48 MiB; 1 GiB
with BC_LONG=1), kill the providers of two data shards and get it back
byte-identical (parity decoded); `storage verify` names the lost shards,
`storage repair` rebuilds them on two spare providers. A provider that
silently deletes 10% of its shard files is caught by `storage verify` and its
shard is rebuilt on the last spare. Then two more providers are killed and
the file is still byte-identical. That devnet runs no ledger: puts say they
are not paid and work as before.

Payment (issue 11, test 2's payment half) on a second devnet of 7 providers
with a ledger: a put killed mid-way is finished by `put --resume`, which
sends only what is missing and opens one escrow per provider, committing its
shard roots, once (the payer's nonce moves by exactly 6); `storage pay`
sends receipts after a passing verify and the providers claim them (their
balances rise by what they claimed); a provider that deletes shard files
fails verify, gets no receipt, is repaired away, and its balance stays put
while its replacement gets a new escrow and is paid. Closing escrows:
`escrow close` is refused before the expiry height and then returns the
deposit; a short-lived file's expired escrows (one dropped by a repair) are
closed by `storage pay` after the final receipts are claimed, the client's
balance rising by exactly what was left in them, the supply conserved.
Unpaid objects: the paid devnet's providers drop shards no escrow pays for
30 s after their put; a put killed before it opened its escrows loses its
shards on all 6 providers, while the paid files stay whole.
Figures (put and get MiB/s through the CLI) are printed."""
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import time

from bcnet import Devnet, TestFailure, check, cli_auth, main, rpc, run, sha_file, write_random

BASE_IP, PORT = "127.0.31.2", 9310  # this test's own range: 127.0.31.2-10, the client on 127.0.31.100
CLIENT_IP = "127.0.31.100"
PAID_BASE_IP = "127.0.31.20"  # the paid devnet: 127.0.31.20-26
NODES = 9
MIB = 1024 if os.environ.get("BC_LONG") == "1" else 48


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class Storage:
    def __init__(self, bins, net, workdir):
        self.bins, self.net = bins, net
        self.dir = os.path.join(workdir, "client")
        self.killed = set()  # node indexes
        self.wallet = []  # ["--wallet-dir", DIR] on a ledger devnet

    def args(self, *a):
        # Joins through any live node (the daemon's RPC says its DHT address).
        rpc_node = next(n for n in self.net.nodes if n["index"] not in self.killed)
        return [self.bins.cli, "--rpc", rpc_node["rpc"], *cli_auth(rpc_node["rpc"]), "--rpc-timeout", "60", *self.wallet, "storage",
                "--storage-dir",
                self.dir, "--bind", CLIENT_IP] + list(a)

    def cli(self, *a, rc=0, timeout=600):
        return run(self.args(*a), timeout=timeout, check_rc=rc)

    def entry(self, cid):
        with open(os.path.join(self.dir, "files", cid + ".json")) as f:
            return json.load(f)


def get_identical(st, cid, out, digest, what, mib=MIB):
    if os.path.exists(out):
        os.remove(out)
    t0 = time.time()
    _, _, err = st.cli("get", cid, "-o", out)
    dt = time.time() - t0
    check(sha_file(out) == digest, f"{what}: get is byte-identical ({mib / dt:.1f} MiB/s through the CLI)")
    for line in err.splitlines():  # what the get read instead of data shards, if anything
        if "decoded" in line or line.startswith("  provider "):
            print(f"  get: {line.strip()}", flush=True)
    return err


def kill_providers(st, services, victims):
    for s in victims:
        n = services[s]
        os.kill(n["pid"], signal.SIGKILL)
        st.killed.add(n["index"])
        print(f"  killed node {n['index']} (provider {s[:12]}...)", flush=True)


def delete_tenth_of_shards(node):
    """What a dishonest provider does behind the client's back: unlinks 10%
    of its shard files (at least one) while it keeps running and answering."""
    shards = sorted(glob.glob(os.path.join(node["datadir"], "storage", "shards", "**", "*"), recursive=True))
    shards = [f for f in shards if os.path.isfile(f)]
    check(len(shards) >= 1, f"node {node['index']} holds shard files ({len(shards)})")
    victims = shards[::10]
    for f in victims:
        os.remove(f)
    print(f"  node {node['index']} silently deleted {len(victims)} of its {len(shards)} shard files", flush=True)
    return len(victims)


def cheater_caught_and_repaired(st, services, cid):
    """A provider deleting 10% of its shards fails `storage verify`; `storage
    repair` moves its shard to a spare and verify passes again."""
    before = st.entry(cid)["providers"]
    cheater = before[5]
    deleted = delete_tenth_of_shards(services[cheater])
    rc, out, _ = st.cli("verify", cid, rc=1)
    row = next(line for line in out.splitlines() if line.split()[:2] == ["5", cheater])
    failed = int(row.split()[2])
    check(failed >= deleted and "1 of 6 shards failed" in out and "recoverable" in out,
          f"verify caught the provider that deleted 10%: shard 5 failed {failed} segment audits")
    _, out, _ = st.cli("repair", cid)
    check("repaired 1 shard(s)" in out, "repair rebuilt the cheater's shard")
    after = st.entry(cid)["providers"]
    check(after[5] != cheater and after[5] not in before and after[:5] == before[:5],
          "the cheater's shard lives on a spare provider now; the others did not move")
    st.cli("verify", cid)
    check(True, "verify after the cheater's repair: every shard passes")


PAYER = ["--from", "account-0"]
PRICE = 10_000_000_000  # base units per GiB per day: a few hundred units earned per second on a 1 MiB shard
# Longer than any put of this test takes to open its escrows (a sanitized
# build included), and short enough to overlap close_expired's wait.
UNPAID_GRACE_S = 30


def kill_put_midway(st, path, *args):
    """Starts `storage put PATH` and kills it once its journal holds the
    escrows (planned, not yet opened) and two confirmed segments."""
    p = subprocess.Popen(st.args("put", path, *args, *PAYER), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        journals = [j for j in glob.glob(os.path.join(st.dir, "puts", "*.journal")) if os.path.getsize(j) > 1200]
        # the header (~100 bytes), the escrows (6 x 84) and 2 segments (~250 bytes each)
        if journals:
            p.kill()
            break
        time.sleep(0.005)
    p.wait()
    check(p.returncode == -signal.SIGKILL, "a put was killed mid-way (its journal held escrows and confirmed segments)")


def resume_after_kill(st, workdir, mib=32):
    """Kills a put once its journal holds the escrows and a few segments;
    --resume finishes it and opens the escrows once."""
    path = os.path.join(workdir, "resume.bin")
    digest = write_random(path, mib)
    kill_put_midway(st, path, "--days", "0.01")
    _, out, _ = st.cli("--json", "put", path, "--resume", *PAYER)
    r = json.loads(out)
    check(r["segments_resumed"] > 0 and r["segments_resumed"] + r["segments"] == mib // 4,
          f"put --resume sent only the missing segments ({r['segments_resumed']} kept, {r['segments']} sent)")
    get_identical(st, r["id"], os.path.join(workdir, "resume.out"), digest, "the resumed file", mib)
    return r


def scenario(bins, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT,
                 ["--no-ledger", "--storage-providers", str(NODES), "--storage-capacity", "4GiB"])
    try:
        net.up()
        net.wait_routing(NODES - 1)
        services = {rpc(n["rpc"], "storage_status")["service"]: n for n in net.nodes}
        check(len(services) == NODES, f"{NODES} nodes serve storage, each under its own service ID")
        st = Storage(bins, net, workdir)
        deadline = time.time() + 30
        while True:
            _, out, _ = st.cli("--json", "providers")
            listed = {p["service"] for p in json.loads(out)}
            if listed == set(services) or time.time() > deadline:
                break
            time.sleep(0.5)
        check(listed == set(services), f"the storage directory lists all {NODES} providers")

        src = os.path.join(workdir, "file.bin")
        digest = write_random(src, MIB)
        t0 = time.time()
        _, out, err = st.cli("--json", "put", src)
        dt = time.time() - t0
        check("not paid" in err, "a put on a --no-ledger devnet says it is not paid, and stores")
        cid = json.loads(out)["id"]
        check(cid.startswith("f"), f"put {MIB} MiB as {cid[:16]}... ({MIB / dt:.1f} MiB/s through the CLI)")
        placement = st.entry(cid)["providers"]
        check(len(placement) == 6, "4+2 shards on 6 distinct providers")
        get_identical(st, cid, os.path.join(workdir, "out0.bin"), digest, "all providers up")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if sanitized(bins.cli):  # ASan's shadow memory and quarantine, not ours
            print(f"  the CLI's peak RSS (ASan build, not checked): {peak:.0f} MiB", flush=True)
        else:
            check(peak < 128, f"the CLI's peak RSS over the put and get of {MIB} MiB: {peak:.0f} MiB (< 128 MiB)")

        kill_providers(st, services, placement[0:2])  # two data shards: every segment needs parity
        err = get_identical(st, cid, os.path.join(workdir, "out1.bin"), digest, "2 providers killed")
        check("segments decoded" in err, "the get read parity shards in place of the lost ones")
        rc, out, _ = st.cli("verify", cid, rc=1)
        check("2 of 6 shards failed" in out and "recoverable" in out, "verify names 2 failed shards, recoverable")
        _, out, _ = st.cli("repair", cid)
        check("repaired 2 shard(s)" in out, "repair rebuilt the 2 lost shards")
        new = st.entry(cid)["providers"]
        check(set(new[0:2]).isdisjoint(placement) and new[2:] == placement[2:],
              "the rebuilt shards live on 2 spare providers; the others did not move")
        st.cli("verify", cid)
        check(True, "verify after repair: every shard passes")
        cheater_caught_and_repaired(st, services, cid)

        new = st.entry(cid)["providers"]
        kill_providers(st, services, new[2:4])
        get_identical(st, cid, os.path.join(workdir, "out2.bin"), digest, "2 more providers killed after repair")
        st.cli("rm", cid)
        check(not os.path.exists(os.path.join(st.dir, "files", cid + ".json")), "rm forgets the file")
    finally:
        net.stop()


def balance(node, address):
    return int(rpc(node["rpc"], "get_account", {"address": address})["balance"])


def wait_claimed(node, escrow, amount, limit_s=20):
    """The provider claims each refresh (5 s); the claim commits a block later."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        if int(rpc(node["rpc"], "get_escrow", {"id": escrow})["claimed"]) >= amount:
            return True
        time.sleep(0.25)
    return False


def paid_scenario(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net-paid"), 7, PAID_BASE_IP, PORT,
                 ["--storage-providers", "7", "--storage-capacity", "1GiB", "--storage-price", str(PRICE),
                  "--block-interval-ms", "250", "--storage-unpaid-grace-s", str(UNPAID_GRACE_S)])
    try:
        net.up()
        net.wait_routing(6)
        node0 = net.nodes[0]
        accounts = {rpc(n["rpc"], "storage_status")["service"]: rpc(n["rpc"], "storage_status")["account"] for n in net.nodes}
        st = Storage(bins, net, workdir)
        st.dir = os.path.join(workdir, "client-paid")
        st.wallet = ["--wallet-dir", os.path.join(net.dir, "accounts")]
        deadline = time.time() + 30
        while len(json.loads(st.cli("--json", "providers")[1])) < 7 and time.time() < deadline:
            time.sleep(0.5)
        with open(os.path.join(net.dir, "devnet.json")) as f:
            payer = json.load(f)["accounts"][0]["address"]
        nonce0 = rpc(node0["rpc"], "get_account", {"address": payer})["nonce"]
        r = resume_after_kill(st, workdir)
        cid, escrows = r["id"], r["escrows"]
        nonce1 = rpc(node0["rpc"], "get_account", {"address": payer})["nonce"]
        check(len(escrows) == 6 and nonce1 - nonce0 == 6,
              f"the killed and resumed put opened one escrow set: 6 escrows, the payer's nonce moved {nonce0} -> {nonce1}")
        entry = st.entry(cid)
        for e in escrows:
            on_chain = rpc(node0["rpc"], "get_escrow", {"id": e["id"]})
            provider = entry["providers"][e["shard"]]
            check(on_chain["deposited"] == e["amount"] and on_chain["provider"] == accounts[provider] and on_chain["client"] == payer,
                  f"escrow of shard {e['shard']} on chain: {e['amount']} base units from the payer to its provider's account")
        pay_and_repair(st, net, accounts, cid)
        unpaid_since = time.time()
        kill_put_midway(st, write_random_file(workdir, "unpaid.bin", 32), "--days", "0.01")  # its escrows never open
        # These run while the unpaid shards' grace passes.
        escrow_close_cli(net, payer, accounts[entry["providers"][0]])
        close_expired(st, net, accounts, payer, workdir)
        unpaid_dropped(st, net, cid, unpaid_since)
    finally:
        net.stop()


def write_random_file(workdir, name, mib):
    path = os.path.join(workdir, name)
    write_random(path, mib)
    return path


def unpaid_dropped(st, net, paid_cid, since):
    """The shards of a put killed before it opened its escrows are never paid
    for: each provider drops them once they are UNPAID_GRACE_S old (checking
    every 5 s), while every paid file stays whole."""
    deadline = since + UNPAID_GRACE_S + 30
    while True:
        unpaid = [rpc(n["rpc"], "storage_status")["unpaid"] for n in net.nodes]
        dropped = sum(u["shards_dropped"] for u in unpaid)
        if sum(1 for u in unpaid if u["shards_dropped"] > 0) >= 6 or time.time() > deadline:
            break
        time.sleep(0.5)
    check(sum(1 for u in unpaid if u["shards_dropped"] > 0) >= 6,
          f"6 providers dropped the killed put's unpaid shards ({dropped} in all) "
          f"{time.time() - since:.0f} s after the put, with an unpaid grace of {UNPAID_GRACE_S} s")
    check(sum(u["escrows_paid"] for u in unpaid) >= 6,
          "the providers found the paid file's escrows paying (escrows paid / unpaid per provider: "
          + ", ".join(f"{u['escrows_paid']}/{u['escrows_unpaid']}" for u in unpaid) + ")")
    st.cli("verify", paid_cid)
    check(True, "the paid file is whole after the unpaid shards were dropped (verify passes)")


def pay_and_repair(st, net, accounts, cid):
    node0 = net.nodes[0]
    services = {rpc(n["rpc"], "storage_status")["service"]: n for n in net.nodes}
    time.sleep(0.3)  # let some of the period pass: receipts pay pro rata (~900 units/s per provider)
    _, out, _ = st.cli("pay", cid, *PAYER)
    check(out.count("receipt sent") == 6, "storage pay: every provider passed verify and got a receipt")
    entry = st.entry(cid)
    before = {s: balance(node0, accounts[s]) for s in entry["providers"]}
    for e in entry["escrows"]:
        check(wait_claimed(node0, e["id"], int(e["paid"])), f"the provider of shard {e['shard']} claimed {e['paid']}")
    s0 = entry["providers"][0]
    paid0 = int(entry["escrows"][0]["paid"])
    grown = balance(node0, accounts[s0]) - before[s0]
    check(grown == paid0 - 1 or grown == paid0, f"a provider's balance rose by what it claimed ({grown}; claimed {paid0}, fee 1)")

    cheater = entry["providers"][5]
    cheater_balance = balance(node0, accounts[cheater])  # its one receipt is claimed (above)
    delete_tenth_of_shards(services[cheater])
    cheater_escrow = next(e for e in entry["escrows"] if e["shard"] == 5)
    _, out, _ = st.cli("pay", cid, *PAYER, rc=1)
    check("FAILED its audit: not paid" in out and out.count("receipt sent") == 5,
          "storage pay after the cheat: the cheater failed verify and got no receipt; the 5 others did")
    _, out, _ = st.cli("repair", cid, *PAYER)
    check("no longer paid" in out and "new escrow" in out, "repair dropped the cheater's escrow and opened one for its replacement")
    _, out, _ = st.cli("pay", cid, *PAYER)
    entry = st.entry(cid)
    check(out.count("receipt sent") == 6 and all(e["id"] != cheater_escrow["id"] for e in entry["escrows"]),
          "storage pay after the repair: 6 receipts, none for the cheater's escrow")
    for e in entry["escrows"]:  # these waits span claim rounds: the cheater had its chance to claim too
        check(wait_claimed(node0, e["id"], int(e["paid"])), f"shard {e['shard']}'s provider claimed {e['paid']}")
    on_chain = rpc(node0["rpc"], "get_escrow", {"id": cheater_escrow["id"]})
    check(int(on_chain["claimed"]) == int(cheater_escrow["paid"]) and balance(node0, accounts[cheater]) == cheater_balance,
          f"the cheater lost its payment: its escrow stays at {on_chain['claimed']} claimed, its balance did not move")


def wait_height(node, height, limit_s=60):
    deadline = time.time() + limit_s
    while int(rpc(node["rpc"], "head")["height"]) < height:
        if time.time() > deadline:
            raise TestFailure(f"the chain did not reach height {height} in {limit_s} s")
        time.sleep(0.1)


def escrow_cli(net, *a, rc=0):
    node = net.nodes[0]
    return run([net.bins.cli, "--rpc", node["rpc"], *cli_auth(node["rpc"]), "--wallet-dir", os.path.join(net.dir, "accounts"),
                "escrow", *a, *PAYER], check_rc=rc)


def escrow_close_cli(net, payer, provider):
    """`escrow close`: refused before the expiry height with the height to
    wait for, then accepted; the client gets the whole deposit back."""
    node0 = net.nodes[0]
    fee = int(rpc(node0["rpc"], "head")["min_fee"])
    _, out, _ = escrow_cli(net, "open", "--provider", provider, "--amount", "5000", "--blocks", "16", "--wait", "20")
    escrow = out.split("escrow id ")[1].split()[0]
    expires_at = int(rpc(node0["rpc"], "get_escrow", {"id": escrow})["expires_at"])
    _, _, err = escrow_cli(net, "close", escrow, rc=1)
    check(f"may close it from height {expires_at} on" in err and "has not expired" in err,
          f"escrow close before the expiry is refused, naming height {expires_at}: {err.strip()}")
    wait_height(node0, expires_at - 1)
    before = balance(node0, payer)
    _, out, _ = escrow_cli(net, "close", escrow, "--wait", "20")
    check("5000 base units return" in out and "committed" in out and balance(node0, payer) == before + 5000 - fee,
          f"escrow close after the expiry: the client got its 5000 back (less the fee {fee})")
    _, _, err = escrow_cli(net, "close", escrow, rc=1)
    check("no escrow" in err, "closing it again says it is not on chain")


def delete_shards_since(node, t0):
    """Unlinks the shard files the provider wrote since t0 (a small file's shard)."""
    shards = glob.glob(os.path.join(node["datadir"], "storage", "shards", "**", "*"), recursive=True)
    victims = [f for f in shards if os.path.isfile(f) and os.path.getmtime(f) >= t0]
    for f in victims:
        os.remove(f)
    return len(victims)


def close_expired(st, net, accounts, payer, workdir):
    """A short-lived file (17 s, escrows open 1 s past that): one provider loses
    its shard and is repaired away (its escrow dropped, unpaid); after the
    expiry `storage pay` sends the final receipts, waits for the claims and
    closes every expired escrow: the client's balance rises by exactly what
    was left in them, less the fees, and the supply is conserved. The
    replacement's escrow (opened later, with the default grace) stays open,
    and `escrow close` refuses it as too early."""
    node0 = net.nodes[0]
    services = {rpc(n["rpc"], "storage_status")["service"]: n for n in net.nodes}
    path = os.path.join(workdir, "short.bin")
    write_random(path, 1)
    t0 = time.time() - 1  # file times may lag the clock by a tick
    started = time.time()
    _, out, _ = st.cli("--json", "put", path, "--days", "0.0002", "--payment-grace-s", "1", *PAYER)
    cid = json.loads(out)["id"]
    lost = st.entry(cid)["providers"][2]
    check(delete_shards_since(services[lost], t0) == 1, "the provider of shard 2 lost the short file's shard")
    _, out, _ = st.cli("pay", cid, *PAYER, rc=1)
    check(out.count("receipt sent") == 5 and "FAILED" in out, "storage pay in the period: 5 receipts, none for the lost shard")
    _, out, _ = st.cli("repair", cid, *PAYER)
    print(f"  the repair finished {time.time() - started:.1f} s into the short file's 17 s period", flush=True)
    entry = st.entry(cid)
    dropped = entry["dropped_escrows"]
    replacement = next(e for e in entry["escrows"] if e["shard"] == 2)
    check(len(dropped) == 1 and dropped[0]["paid"] == "0", "repair dropped the lost shard's escrow (never paid)")
    expires_at = max(int(rpc(node0["rpc"], "get_escrow", {"id": e["id"]})["expires_at"])
                     for e in entry["escrows"] + dropped if e["id"] != replacement["id"])
    wait_height(node0, expires_at - 1, limit_s=90)

    fee = int(rpc(node0["rpc"], "head")["min_fee"])
    before = balance(node0, payer)
    dropped_left = int(rpc(node0["rpc"], "get_escrow", {"id": dropped[0]["id"]})["deposited"])
    t = time.time()
    _, out, _ = st.cli("pay", cid, *PAYER)
    closed = [line for line in out.splitlines() if ": closed, " in line]
    returned = sum(int(line.split(": closed, ")[1].split()[0]) for line in closed)
    print(f"  storage pay after the expiry took {time.time() - t:.1f} s:\n    " + "\n    ".join(closed), flush=True)
    check(len(closed) == 6 and out.count("receipt sent") == 5 and "never audited: not paid" in out,
          "storage pay after the expiry: final receipts to the 5 audited providers (not to the replacement, never audited), "
          "6 expired escrows closed (5 regular, 1 dropped)")
    check(returned == dropped_left, f"what came back is what the dropped escrow held ({returned}); the others were claimed in full")
    check(balance(node0, payer) == before + returned - 6 * fee, f"the client's balance rose by exactly {returned}, less 6 fees of {fee}")
    supply = rpc(node0["rpc"], "get_supply")
    check(supply["conserved"], f"the supply is conserved after the closes ({supply['problem']})")
    entry = st.entry(cid)
    check(entry["dropped_escrows"] == [] and [e["id"] for e in entry["escrows"]] == [replacement["id"]],
          "the closed escrows left the record; the replacement's (not expired) stays")
    _, _, err = escrow_cli(net, "close", replacement["id"], rc=1)
    check("has not expired" in err, "escrow close of the replacement's escrow: refused, too early")
    _, out, _ = st.cli("pay", cid, *PAYER)
    check(": closed" not in out and balance(node0, payer) == before + returned - 6 * fee,
          "storage pay again: nothing closed twice")
    _, out, _ = st.cli("rm", cid)
    check("1 escrow(s) stay open" in out and replacement["id"] in out, "storage rm names the escrow it leaves open")
    print(f"  closing expired escrows took {time.time() - started:.1f} s in all", flush=True)


def test(bins, workdir):
    scenario(bins, workdir)
    paid_scenario(bins, workdir)


if __name__ == "__main__":
    main(test, 3000 if MIB > 100 else 400)
