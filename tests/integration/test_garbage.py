#!/usr/bin/python3
"""Garbage UDP datagrams sent to a daemon are counted in /metrics and the
daemon keeps serving, both HTTP and the DHT."""
import os
import random
import socket
import subprocess
import time

from bcnet import TestFailure, check, http, main, metric_values, register_datadir, rpc

A = ("127.0.3.2", 9700)  # this test's own range: 127.0.3.2-4
B = ("127.0.3.3", 9700)
C = ("127.0.3.4", 9700)


def start(bins, workdir, name, listen, bootstrap=None, config=None):
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    rpc_addr = f"{listen[0]}:{listen[1] + 100}"
    args = [bins.daemon, "--datadir", d, "--listen", f"{listen[0]}:{listen[1]}", "--rpc", rpc_addr]
    if config:
        path = os.path.join(d, "node.toml")
        with open(path, "w") as f:
            f.write(config)
        args += ["--config", path]
    if bootstrap:
        args += ["--bootstrap", f"{bootstrap[0]}:{bootstrap[1]}"]
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen(args, stdout=log, stderr=log)
    register_datadir(rpc_addr, d)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            if http(rpc_addr, "GET", "/health", timeout=1)[0] == 200:
                return p, rpc_addr
        except OSError:
            pass
        if p.poll() is not None:
            raise TestFailure(f"blockcloudd {name} exited with {p.returncode}; see {d}/log")
        time.sleep(0.05)
    raise TestFailure(f"blockcloudd {name} did not answer /health within 15 s")


def dht_rejections(m):
    # Every bc_dht_ counter that counts dropped or rejected input, summed.
    words = ("malformed", "decode", "invalid", "reject", "drop", "bad", "garbage", "error")
    return sum(v for k, v in m.items() if k.startswith("bc_dht_") and any(w in k for w in words))


def test(bins, workdir):
    procs = []
    try:
        pa, rpc_a = start(bins, workdir, "a", A)
        procs.append(pa)
        before = metric_values(http(rpc_a, "GET", "/metrics")[1])
        rnd = random.Random(7)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = 0
        for i in range(2000):
            size = rnd.choice([0, 1, 8, 64, 300, 1200, 4000])
            sock.sendto(bytes(rnd.getrandbits(8) for _ in range(size)), A)
            sent += 1
            if i % 100 == 99:
                time.sleep(0.02)  # stay below the socket buffer; loopback drops silently when it is full
        oversized = 20
        for _ in range(oversized):
            sock.sendto(os.urandom(30000), A)
            time.sleep(0.002)
        time.sleep(1.0)
        after = metric_values(http(rpc_a, "GET", "/metrics")[1])
        received = after.get("bc_udp_received_total", 0) - before.get("bc_udp_received_total", 0)
        print(f"  sent {sent} garbage datagrams + {oversized} oversized; daemon received {received:.0f}, "
              f"dropped {after.get('bc_udp_oversized_dropped_total', 0):.0f} oversized, "
              f"bc_dht_ rejection counters rose by {dht_rejections(after) - dht_rejections(before):.0f}", flush=True)
        check(received >= 0.9 * sent, "received garbage is counted in bc_udp_received_total")
        check(after.get("bc_udp_oversized_dropped_total", 0) >= oversized * 0.9,
              "oversized datagrams are counted in bc_udp_oversized_dropped_total")
        check(dht_rejections(after) - dht_rejections(before) >= 0.9 * received - 5,
              "the DHT counts the garbage it rejected in bc_dht_ counters")
        check(pa.poll() is None, "the daemon is still running")
        check(http(rpc_a, "GET", "/health")[0] == 200, "/health still answers")
        # The DHT still works: a second node joins through it, puts and gets.
        pb, rpc_b = start(bins, workdir, "b", B, bootstrap=A)
        procs.append(pb)
        deadline = time.time() + 10
        while rpc(rpc_b, "status")["contacts"][0] < 1 and time.time() < deadline:
            time.sleep(0.2)
        r = rpc(rpc_b, "dht_put", {"key": "after-garbage", "value": "still works"})
        check(r["stored"] >= 1, f"a put through the attacked node is stored ({r['stored']} nodes)")
        r = rpc(rpc_a, "dht_get", {"key": "after-garbage"})
        check(any(v["value"] == "still works" for v in r["values"]), "the attacked node finds the value")
        pa.terminate()
        check(pa.wait(timeout=10) == 0, "SIGTERM shuts the daemon down with exit code 0")

        # Hostile HTTP clients: the connection limit and the request timeout hold.
        pc, rpc_c = start(bins, workdir, "c", C, config="[rpc_limits]\nmax_connections = 3\n"
                          "reserved_connections = 1\nheader_timeout_ms = 400\n[dht]\nk = 8\n")
        procs.append(pc)
        host, port = rpc_c.split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(4)]
        idle[0].sendall(f"GET /health HTTP/1.1\r\nHost: {rpc_c}\r\n".encode())  # never finishes its headers
        time.sleep(0.1)
        extra = socket.create_connection((host, int(port)))
        extra.sendall(f"GET /health HTTP/1.1\r\nHost: {rpc_c}\r\n\r\n".encode())
        extra.settimeout(5)
        check(extra.recv(100).startswith(b"HTTP/1.1 200"),
              "with every connection taken, a new request displaces the one waiting longest for its header")
        for s_ in idle:
            s_.settimeout(5)
        check(all(s_.recv(100) == b"" for s_ in idle),
              "idle and half-sent requests are closed (displaced, or after header_timeout_ms)")
        check(http(rpc_c, "GET", "/health")[0] == 200, "the daemon serves again once the slots are free")
        m = metric_values(http(rpc_c, "GET", "/metrics")[1])
        check(m.get("bc_rpc_connections_evicted_total", 0) >= 1 and m.get("bc_rpc_bad_http_requests_total", 0) >= 1,
              "displaced connections and half-sent requests are counted")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main(test, 110)
