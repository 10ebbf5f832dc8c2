#!/usr/bin/python3
"""Service identities and records on a 6-node devnet: an owner creates a
service and delegates node 2; node 2 serves it; every node resolves it to
node 2's flow address; a certificate for another node is refused; the
withdrawal is seen; the owner's revocation of a provider is seen; service
table rules can be added, listed and removed."""
import json
import os
import shutil
import subprocess
import time

from bcnet import Devnet, check, cli_auth, main, register_datadir, rpc, run, wait_rpc

BASE_IP, PORT = "127.0.6.2", 9600  # this test's own range: 127.0.6.2-7


def cli(bins, node, *args, check_rc=None):
    return run([bins.cli, "--rpc", node["rpc"], *cli_auth(node["rpc"]), *args], check_rc=check_rc)


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 6, BASE_IP, PORT)
    keys = os.path.join(workdir, "owner-keys")
    shutil.rmtree(keys, ignore_errors=True)  # a rerun in the same build tree starts afresh
    try:
        net.up()
        n = net.nodes
        net.wait_routing(4, limit_s=30)

        # The owner (on this machine) creates the service.
        rc, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "create", "web"], check_rc=0)
        svc = json.loads(out)
        sid = svc["service"]
        check(sid.startswith("s") and len(sid) == 59 and svc["host"] == sid + ".bc",
              "service create prints a 59-character s... id and its .bc host name")
        rc, _, err = run([bins.cli, "--key-dir", keys, "service", "create", "web"])
        check(rc == 1 and "already exists" in err, "creating the same service again is refused")
        rc, _, err = run([bins.cli, "--key-dir", keys, "service", "create", "Bad_Name"])
        check(rc == 1 and "NAME" in err, "an invalid service name is refused with the rule")

        # Delegate node 2 by its node key.
        node2_key = rpc(n[2]["rpc"], "status")["node_key"]
        rc, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "delegate", sid, "--to", node2_key,
                          "--days", "1"], check_rc=0)
        cert = json.loads(out)["delegation"]
        rc, _, err = run([bins.cli, "--key-dir", os.path.join(workdir, "nobody"), "service", "delegate", sid,
                          "--to", node2_key])
        check(rc == 1 and "only the owner" in err, "delegating without the owner key is refused")

        # Node 3 cannot serve with node 2's certificate.
        rc, _, err = cli(bins, n[3], "service", "serve", "--delegation", cert)
        check(rc == 1 and "refused" in err, f"a certificate for another node is refused: {err.strip()[:120]}")

        t0 = time.time()
        rc, out, _ = cli(bins, n[2], "service", "serve", "--delegation", cert, check_rc=0)
        check("serving" in out, f"node 2 serves the service: {out.strip()}")
        flow_addr = rpc(n[2]["rpc"], "service_list")["address"]
        check(flow_addr.startswith(n[2]["listen"].split(":")[0]), "it publishes its own flow address")

        for i in (0, 1, 3, 4, 5):
            r = rpc(n[i]["rpc"], "resolve", {"service": sid + ".bc"})
            check(r["found"] == 1 and r["endpoints"][0]["addresses"] == [flow_addr],
                  f"node {i} resolves the service to node 2's flow address")
        rc, out, _ = cli(bins, n[4], "resolve", sid, check_rc=0)
        check(flow_addr in out, "cli resolve prints the provider and address")
        print(f"serve + resolve on 5 nodes: {time.time() - t0:.2f} s", flush=True)

        # Withdrawal: a resolver that watches the service drops it quickly.
        rpc(n[4]["rpc"], "resolve", {"service": sid})  # in use on node 4: watched
        cli(bins, n[2], "service", "stop", sid, check_rc=0)
        t1 = time.time()
        gone = False
        while time.time() - t1 < 10 and not gone:
            gone = rpc(n[4]["rpc"], "resolve", {"service": sid})["found"] == 0
            time.sleep(0.1)
        check(gone, f"a resolver sees the withdrawal ({time.time() - t1:.2f} s)")

        # Revocation: the owner's statement names node 5's key; resolvers drop it.
        node5_key = rpc(n[5]["rpc"], "status")["node_key"]
        rc, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "delegate", sid, "--to", node5_key],
                         check_rc=0)
        cli(bins, n[5], "service", "serve", "--delegation", json.loads(out)["delegation"], check_rc=0)
        check(rpc(n[1]["rpc"], "resolve", {"service": sid})["found"] == 1, "node 5 serves under a new certificate")
        rc, _, err = run([bins.cli, "--key-dir", os.path.join(workdir, "nobody"), "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "service",
                          "revoke", sid, "--provider", node5_key])
        check(rc == 1 and "only the owner" in err, "revoking without the owner key is refused")
        rc, _, err = run([bins.cli, "--key-dir", keys, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "service", "revoke", sid])
        check(rc == 1 and "--provider" in err, "a revoke naming nothing to revoke is refused, saying what to name")
        t2 = time.time()
        rc, out, _ = run([bins.cli, "--key-dir", keys, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "service", "revoke", sid,
                          "--provider", node5_key], check_rc=0)
        check("revoked" in out, f"the owner revokes node 5: {out.strip()}")
        revoked = False
        while time.time() - t2 < 10 and not revoked:
            revoked = rpc(n[1]["rpc"], "resolve", {"service": sid})["found"] == 0
            time.sleep(0.1)
        check(revoked, f"a watching resolver drops the revoked provider ({time.time() - t2:.2f} s)")
        check(rpc(n[3]["rpc"], "resolve", {"service": sid})["found"] == 0, "so does a fresh lookup on another node")

        # Rules.
        rc, out, _ = cli(bins, n[0], "--json", "rules", "add", sid, "forward", "127.0.6.200:5000", "prio", "5",
                         check_rc=0)
        rid = json.loads(out)["id"]
        rc, out, _ = cli(bins, n[0], "rules", "list", check_rc=0)
        check("127.0.6.200:5000" in out and "default" in out, "rules list shows the rule and the default")
        rc, _, err = cli(bins, n[0], "rules", "add", sid, "teleport")
        check(rc == 1 and "teleport" in err, "a malformed rule is refused, naming what was wrong")
        cli(bins, n[0], "rules", "remove", str(rid), check_rc=0)
        check(rpc(n[0]["rpc"], "rules_list")["rules"] == [], "rules remove deletes it")

        # Rules and SAL settings from a config file; --rule adds to them.
        d = os.path.join(workdir, "configured")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        conf = os.path.join(d, "node.toml")
        with open(conf, "w") as f:
            f.write(f'datadir = "{d}"\nlisten = "127.0.6.20:9620"\nrpc = "127.0.6.20:9720"\n'
                    f'[sal]\nsocks = "off"\nrules = ["{sid}/16 drop prio 3"]\n')
        proc = subprocess.Popen([bins.daemon, "--config", conf, "--rule", f"{sid} forward 127.0.6.201:5000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        register_datadir("127.0.6.20:9720", d)
        try:
            wait_rpc("127.0.6.20:9720", proc, "the daemon started with --config")
            rules = rpc("127.0.6.20:9720", "rules_list")["rules"]
            texts = " | ".join(r["rule"] for r in rules)
            check(len(rules) == 2 and "drop" in texts and "127.0.6.201:5000" in texts,
                  f"rules come from the config file's [sal] table and --rule: {texts}")
            check(rpc("127.0.6.20:9720", "sal_status")["socks"] in (None, "off", ""),
                  "[sal] socks = \"off\" turns the gateway off")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        with open(conf, "a") as f:
            f.write("colour = \"blue\"\n")
        rc, _, err = run([bins.daemon, "--config", conf])
        check(rc == 2 and "sal.colour" in err and "socks" in err, "an unknown [sal] key is named with the known ones")
    finally:
        net.stop()


if __name__ == "__main__":
    main(test, 180)
