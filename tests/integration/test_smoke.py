#!/usr/bin/python3
"""4-node smoke test: CLI put on one node, get on another, a watch sees the
value, /metrics has bc_dht_ counters, bad input gives clear errors."""
import json
import os
import subprocess
import time

from bcnet import Devnet, TestFailure, check, cli_auth, http, main, metric_values, pid_alive, rpc, rpc_raw, run

BASE_IP, PORT = "127.0.1.2", 9300  # this test's own range: 127.0.1.2-5


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 4, BASE_IP, PORT)
    watch = None
    try:
        out = net.up()
        check("started node 4/4" in out, "devnet up prints progress lines")
        n = net.nodes
        net.wait_routing(3, limit_s=20)
        check(True, "every node knows the other 3")

        rc, out, _ = run([bins.cli, "--rpc", n[1]["rpc"], *cli_auth(n[1]["rpc"]), "status"], check_rc=0)
        check(n[1]["node_id"] in out and "contacts" in out, "cli status shows the node id and contacts")
        rc, out, _ = run([bins.cli, "--rpc", n[1]["rpc"], *cli_auth(n[1]["rpc"]), "peers"], check_rc=0)
        check(out.count("127.0.1.") >= 3, "cli peers lists the other nodes")

        # Watch on node 3 first, then put on node 0 and get on node 2.
        watch = subprocess.Popen([bins.cli, "--rpc", n[3]["rpc"], *cli_auth(n[3]["rpc"]), "--json", "dht", "watch", "smoke-key",
                                  "--timeout", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        rc, out, err = run([bins.cli, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "dht", "put", "smoke-key", "hello smoke",
                            "--ttl", "300"], check_rc=0)
        check("stored" in out, f"cli put succeeds: {out.splitlines()[0]}")
        rc, out, err = run([bins.cli, "--rpc", n[2]["rpc"], *cli_auth(n[2]["rpc"]), "dht", "get", "smoke-key"], check_rc=0)
        check("hello smoke" in out and n[0]["node_id"] in out, "cli get on another node shows value and owner")
        rc, out, err = run([bins.cli, "--rpc", n[2]["rpc"], *cli_auth(n[2]["rpc"]), "--json", "dht", "get", "smoke-key"], check_rc=0)
        got = json.loads(out)
        check(got["found"] >= 1 and got["values"][0]["value"] == "hello smoke", "cli --json get prints the raw result")
        rc, out, err = run([bins.cli, "--rpc", n[2]["rpc"], *cli_auth(n[2]["rpc"]), "dht", "get", "no-such-key"])
        check(rc == 1 and "no value found" in err, "get of an unknown key exits 1 and says so")

        seen = False
        deadline = time.time() + 15
        while time.time() < deadline and not seen:
            line = watch.stdout.readline()
            if not line:
                break
            ev = json.loads(line)
            seen = ev["kind"] == "added" and ev["record"]["value"] == "hello smoke"
        watch.kill()
        watch.wait()
        check(seen, "cli watch on node 3 saw the value added on node 0")

        status, text = http(n[1]["rpc"], "GET", "/metrics")
        m = metric_values(text)
        check(status == 200, "/metrics answers 200")
        check(any(k.startswith("bc_dht_") for k in m), "/metrics contains bc_dht_ counters")
        check(m.get("bc_udp_received_total", 0) > 0 and "bc_process_uptime_seconds" in m,
              "/metrics has UDP and process metrics")
        status, text = http(n[1]["rpc"], "GET", "/health")
        check(status == 200 and json.loads(text)["status"] == "ok", "/health answers ok")

        # Bad input: clear messages and the documented exit codes.
        rc, out, err = run([bins.cli, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "dht", "put", "only-a-key"])
        check(rc == 2 and "VALUE is required" in err, "cli put without a value exits 2 naming VALUE")
        rc, out, err = run([bins.cli, "--rpc", "not-an-address", "status"])
        check(rc == 2 and "IP:PORT" in err, "cli with a malformed --rpc exits 2 explaining the form")
        rc, out, err = run([bins.cli, "--rpc", "127.0.1.250:9999", "status"])
        check(rc == 1 and "is the daemon running" in err, "cli against no daemon exits 1 with advice")
        rc, out, err = run([bins.cli, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "frobnicate"])
        check(rc == 2, "cli with an unknown command exits 2")
        long_value = "x" * 2000
        rc, out, err = run([bins.cli, "--rpc", n[0]["rpc"], *cli_auth(n[0]["rpc"]), "dht", "put", "k", long_value])
        check(rc == 1 and "at most 1024 bytes" in err, "an oversized value is refused with the limit")

        # JSON-RPC errors are error objects with clear messages; limits hold.
        r = rpc_raw(n[0]["rpc"], "no_such_method")
        check(r["error"]["code"] == -32601 and "dht_get" in r["error"]["message"], "unknown method lists the methods")
        r = rpc_raw(n[0]["rpc"], "dht_put", {"key": "k"})
        check(r["error"]["code"] == -32602 and "value" in r["error"]["message"], "missing params are named")
        status, text = http(n[0]["rpc"], "POST", "/rpc", b"{not json")
        check(json.loads(text)["error"]["code"] == -32700, "malformed JSON gives a parse error")
        status, text = http(n[0]["rpc"], "POST", "/rpc", b"x" * (200 * 1024))
        check(status == 413, "a body above the limit gets 413")

        # The daemon refuses bad configuration with exit 2 and a clear reason.
        d = os.path.join(workdir, "bad")
        rc, out, err = run([bins.daemon, "--datadir", d, "--listen", "127.0.1.9:9300", "--rpc", "10.1.2.3:9400"])
        check(rc == 2 and "--rpc-allow-remote" in err, "a non-loopback RPC needs --rpc-allow-remote")
        rc, out, err = run([bins.daemon, "--datadir", d, "--listen", "nowhere"])
        check(rc == 2 and "--listen" in err and "IP:PORT" in err, "a bad --listen is named with its form")
        rc, out, err = run([bins.daemon, "--datadir", d, "--listen", n[0]["listen"], "--rpc", "127.0.1.9:9401"])
        check(rc == 1 and "already" in err, "a busy listen address is reported")

        rc, out, err = run([bins.devnet, "status", "--dir", net.dir], check_rc=0)
        check("4/4 nodes alive" in out, "devnet status shows 4/4 alive")
        pids = net.pids()
        rc, out, err = run([bins.devnet, "down", "--dir", net.dir], check_rc=0)
        check(not any(pid_alive(p) for p in pids), "devnet down stops every daemon")
        with open(os.path.join(net.dir, "node-0", "log")) as f:
            log = f.read()
        check("shutting down" in log and "blockcloudd stopped" in log, "daemons shut down gracefully on SIGTERM")
        check(n[0]["node_id"] in log.splitlines()[0], "the first log line names the node id")
        key_mode = os.stat(os.path.join(net.dir, "node-0", "node.key")).st_mode & 0o777
        check(key_mode == 0o600, f"node.key is private (mode {key_mode:o})")
        ids = [x["node_id"] for x in n]
        net.up()
        check([x["node_id"] for x in net.nodes] == ids, "restarted nodes keep their ids (node.key is reused)")
    finally:
        if watch and watch.poll() is None:
            watch.kill()
        net.stop()


if __name__ == "__main__":
    main(test, 170)
