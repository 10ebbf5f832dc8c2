"""Shared pieces of the Proof-of-Service integration tests: a probe-answering
backend with configurable behaviour, a service served behind a provider
node with its offer registered on chain, and escrow pay and settlements
checked against the settlement rule. `owners` maps each offer's name to the
account index that owns it, in the order the offers were made."""
import json
import os
import shutil
import socket
import threading
import time

from bcnet import TestFailure, check, cli_auth, rpc, run


class ProbeBackend:
    """A tiny HTTP/1.0 server: reads the request head, waits `delay_s`,
    answers `status`, closes. While down() is true it closes each connection
    unanswered (counted in `refused`). `accepts` keeps (time, refused) of
    each connection, for tally()."""

    def __init__(self, ip, status="200 OK", delay_s=0.0, down=lambda: False):
        self.status, self.delay_s, self.down = status, delay_s, down
        self.served, self.refused = 0, 0
        self.accepts = []
        self.sock = socket.socket()
        self.sock.bind((ip, 0))
        self.sock.listen(128)
        self.addr = f"{ip}:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            refused = self.down()
            self.accepts.append((time.time(), refused))
            if refused:
                self.refused += 1
                c.close()  # the flow ends with no answer
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def tally(self, t0, t1):
        """(connections taken, connections refused) accepted in [t0, t1) (seconds)."""
        picked = [refused for t, refused in list(self.accepts) if t0 <= t < t1]
        return len(picked) - sum(picked), sum(picked)

    def serve(self, c):
        c.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 8192:
                b = c.recv(4096)
                if not b:
                    break
                head += b
            time.sleep(self.delay_s)
            c.sendall(f"HTTP/1.0 {self.status}\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n".encode())
            self.served += 1
        except OSError:
            pass
        c.close()


def serve_and_offer(ln, bins, workdir, provider, account, name, backend, bond, max_latency_ms, offer_nonce, wait_s):
    """Serves `name` (owned by account-`account`'s key) from node `provider`
    behind `backend` and registers its offer from that account; returns
    (offer id, the provider's head height after it)."""
    keys = os.path.join(workdir, f"keys-{name}")
    os.makedirs(keys, mode=0o700)
    shutil.copy(os.path.join(ln.wallet, f"account-{account}.key"), os.path.join(keys, f"{name}.key"))
    os.chmod(os.path.join(keys, f"{name}.key"), 0o600)
    node = ln.nodes[provider]
    base = [bins.cli, "--rpc", node["rpc"], *cli_auth(node["rpc"]), "--key-dir", keys, "--json"]
    sid = json.loads(run(base + ["service", "list"], check_rc=0)[1])["owned"][0]["service"]
    node_key = rpc(node["rpc"], "status")["node_key"]
    cert = json.loads(run(base + ["service", "delegate", sid, "--to", node_key], check_rc=0)[1])["delegation"]
    run(base + ["service", "serve", "--delegation", cert, "--backend", backend.addr], check_rc=0)
    rc, out, err = ln.cli(provider, "provider", "offer", "--service", name, "--bond", str(bond), "--request", "GET / HTTP/1.1",
                          "--expect", "HTTP/1.0 200 OK", "--max-latency", str(max_latency_ms), "--from", f"account-{account}",
                          "--offer-nonce", str(offer_nonce), "--register", "--wait", str(wait_s))
    if rc != 0:
        raise TestFailure(f"provider offer for {name} failed: {err}")
    return out.split("offer id ")[1].split()[0], ln.head(provider)["height"]


def settle_params(ln, delta_bps):
    """The genesis parameters the settlement rule reads, for offers declaring delta_bps."""
    with open(ln.net.dir + "/genesis.json") as f:
        gp = json.load(f)["params"]
    return {"min_reports": gp["pos_min_reports"], "lambda": gp["pos_reputation_lambda_bps"],
            "rate": gp["pos_unstable_rate_bps"], "delta": delta_bps}


def expected_settlement(scores, rep_prev, bond_left, bond_declared, params):
    """The settlement rule of docs/proof-of-service.md for one offer and epoch:
    (grade, median S, reputation R, burn, pay scale in bps). The slash is
    computed on the offer's declared bond (the signed offer settle_epoch
    reads) and burned from what is left of it."""
    if len(scores) < params["min_reports"]:
        return "unaudited", None, rep_prev, 0, 0
    s = sorted(scores)[(len(scores) - 1) // 2]
    lam = params["lambda"]
    r = (lam * rep_prev + (10000 - lam) * s) // 10000
    if r < params["delta"]:
        return "unstable", s, r, min(bond_left, bond_declared * (params["delta"] - r) * params["rate"] // 10**8), 0
    return ("occasional" if s < 10000 else "ok"), s, r, 0, s


def epoch_record(shown, epoch):
    """An offer's record of `epoch` in audit_show."""
    for e in shown["epochs"]:
        if e["epoch"] == epoch:
            return e
    raise TestFailure(f"no epoch {epoch} in audit show of {shown['offer_id'][:16]}: {shown['epochs']}")


def in_parallel(fns):
    """Runs each fn in a thread of its own; re-raises the first error."""
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


def open_escrows(ln, owners, client, deposit):
    """account-`client` opens one escrow of `deposit` to each owner; {name: escrow id}."""
    nonce = int(rpc(ln.nodes[0]["rpc"], "get_account", {"address": ln.accounts[client]["address"]})["nonce"])
    escrows = {}
    for k, (name, owner) in enumerate(owners.items()):
        wait = ["--wait", "20"] if k == len(owners) - 1 else []
        rc, out, err = ln.cli(0, "escrow", "open", "--provider", ln.accounts[owner]["address"], "--amount", str(deposit),
                              "--from", f"account-{client}", "--nonce", str(nonce + k), *wait)
        if rc != 0:
            raise TestFailure(f"escrow open for {name} failed: {err}")
        escrows[name] = out.split("escrow id ")[1].split()[0]
    return escrows


def claim_all(ln, escrows, owners, client, usage):
    """Each owner claims `usage` with a receipt the client signed; returns
    {name: (claim height, the owner's balance after the claim)}."""
    sent = {}
    for name, owner in owners.items():
        rc, sig, err = ln.cli(0, "escrow", "receipt", escrows[name], "--cumulative", str(usage), "--from", f"account-{client}")
        if rc != 0:
            raise TestFailure(f"escrow receipt failed: {err}")
        rc, out, err = ln.cli(0, "--json", "escrow", "claim", escrows[name], "--cumulative", str(usage), "--receipt",
                              sig.strip(), "--from", f"account-{owner}")
        if rc != 0:
            raise TestFailure(f"escrow claim for {name} failed: {err}")
        sent[name] = json.loads(out)["id"]
    claims, deadline = {}, time.time() + 20
    while len(claims) < len(sent):
        for name in owners:
            t = rpc(ln.nodes[0]["rpc"], "get_tx", {"id": sent[name]})
            if name not in claims and t["status"] == "committed":
                claims[name] = t["height"]
            elif t["status"] in ("dropped", "unknown"):
                raise TestFailure(f"the claim of {name} was {t['status']}: {t.get('reason', '')}")
        if time.time() > deadline:
            raise TestFailure(f"claims not committed within 20 s: {claims}")
        time.sleep(0.05)
    return {name: (claims[name], balance(ln, owner)) for name, owner in owners.items()}


def check_settlements(ln, ids, bond, audited, last):
    """Each offer's grade, reputation and bond in every epoch it was audited
    in up to `last` against the rule (offers of `bond`, delta 9500); each
    must have a record of epochs audited..last (one registered an epoch
    before the others has an earlier one too). Returns {(name, epoch): pay
    scale} and the total slash."""
    params = settle_params(ln, 9500)
    scales, slashed = {}, 0
    for name, offer_id in ids.items():
        shown = rpc(ln.nodes[0]["rpc"], "audit_show", {"offer_id": offer_id, "epochs": 16})["offers"][0]
        for epoch in range(audited, last + 1):
            epoch_record(shown, epoch)
        rep, left = 10000, bond
        for rec in sorted((e for e in shown["epochs"] if e["epoch"] <= last), key=lambda e: e["epoch"]):
            epoch = rec["epoch"]
            scores = [r["score_bps"] for r in rec["reports"]]
            grade, s, rep, slash, scale = expected_settlement(scores, rep, left, bond, params)
            left -= slash
            slashed += slash
            scales[(name, epoch)] = scale
            check(rec["grade"] == grade, f"{name}, epoch {epoch}: report scores {sorted(scores)} -> median {s}, "
                                         f"reputation {rep}: graded {grade} (chain: {rec['grade']})")
        check(shown["reputation_bps"] == rep and int(shown["bond"]) == left,
              f"{name}: reputation {shown['reputation_bps']} (rule: {rep}), bond {shown['bond']} (rule: {left})")
    return scales, slashed


def check_pay(ln, claims, scales, client_before, owners, client, usage, epoch_length):
    """Each claim is paid at its epoch's pay scale; the rest goes back to the client."""
    refunded = 0
    for name, owner in owners.items():
        scale = scales[(name, (claims[name][0] - 1) // epoch_length)]
        pay = usage * scale // 10000
        refunded += usage - pay
        got = balance(ln, owner) - claims[name][1]
        check(got == pay, f"{name} was paid {got} of its {usage} claim (rule: {usage} x {scale} bps = {pay})")
    got = balance(ln, client) - client_before
    check(got == refunded, f"the client got back {got}, the pay the scores withheld ({refunded})")
