#!/usr/bin/python3
"""Flows by service ID on a 16-node devnet (issue 3's acceptance items 1-3):
  1. a provider serving an HTTP backend is reached by ID through the SOCKS5
     gateway (curl --socks5-hostname), through `forward`, through `connect`
     and through the C++ API (blockcloud-sal-connect embeds sal::AppNode);
  2. migration: a transfer through a flow survives the provider moving, the
     client moving, both at once, and 100 provider moves in a row, with an
     identical SHA-256; the longest stall is printed;
  3. failover: with three providers, killing one sends new connections to the
     others; the time until resolution stops listing the dead one is printed.
BC_SAL_TRANSFER_MIB sets the migration transfer size (default 64; the issue's
figure is 1024); BC_SAL_BOTH_REPEAT=N moves both ends at once N times."""
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

from bcnet import Devnet, TestFailure, check, cli_auth, main, rpc, run

BASE_IP, PORT = "127.0.8.2", 9800  # this test's own range: 127.0.8.2-17, spares 127.0.8.100-199
NODES = 16
MIB = int(os.environ.get("BC_SAL_TRANSFER_MIB", "64"))


class ShaBackend:
    """TCP backend: hashes everything a connection sends, answers
    "<sha256> <bytes>\\n" at EOF, and records the longest gap between reads
    (the stall a migration causes)."""

    def __init__(self, ip):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(64)
        self.addr = f"{ip}:{self.sock.getsockname()[1]}"
        self.max_gap = 0.0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        h, n, last = hashlib.sha256(), 0, None
        while True:
            b = c.recv(1 << 20)
            now = time.time()
            if not b:
                break
            if last is not None:
                self.max_gap = max(self.max_gap, now - last)
            last = now
            h.update(b)
            n += len(b)
        c.sendall(f"{h.hexdigest()} {n}\n".encode())
        c.close()


def cli(bins, node, *args, check_rc=None, timeout=60):
    return run([bins.cli, "--rpc", node["rpc"], *cli_auth(node["rpc"]), *args], check_rc=check_rc, timeout=timeout)


def make_service(bins, keys, name, providers, backend, ttl=None):
    rc, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "create", name], check_rc=0)
    sid = json.loads(out)["service"]
    for p in providers:
        key = rpc(p["rpc"], "status")["node_key"]
        rc, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "delegate", sid, "--to", key], check_rc=0)
        cert = json.loads(out)["delegation"]
        extra = ["--ttl", str(ttl)] if ttl else []
        cli(bins, p, "service", "serve", "--delegation", cert, "--backend", backend, *extra, check_rc=0)
    return sid


def transfer(bins, client, sid, nbytes, during=None):
    """Sends nbytes of seeded random data through `connect`; runs during()
    once a quarter is sent. Returns (local sha, backend answer)."""
    proc = subprocess.Popen([bins.cli, "--rpc", client["rpc"], *cli_auth(client["rpc"]), "connect", sid], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rng = random.Random(nbytes)
    h, sent, chunk = hashlib.sha256(), 0, 1 << 20
    action = None
    while sent < nbytes:
        b = rng.randbytes(min(chunk, nbytes - sent))
        h.update(b)
        try:
            proc.stdin.write(b)
        except BrokenPipeError:
            proc.kill()
            _, err = proc.communicate()
            raise TestFailure(f"connect ended after {sent} of {nbytes} bytes: {err.decode().strip()}")
        sent += len(b)
        if during and action is None and sent >= nbytes // 4:
            action = threading.Thread(target=during)
            action.start()
        if action and sent >= nbytes // 2 and action.is_alive():
            action.join()  # the move completes while data is still flowing
    if action:
        action.join()
    out, err = proc.communicate(timeout=120)  # closes stdin: the flow's EOF
    if proc.returncode != 0:
        raise TestFailure(f"connect failed: {err.decode().strip()}")
    return h.hexdigest(), out.decode().strip()


def rebind(bins, node, ip):
    rc, out, err = cli(bins, node, "node", "rebind", "--address", ip)
    if rc != 0:
        raise TestFailure(f"rebind to {ip} failed: {err.strip()}")


def at_once(bins, moves):
    threads = [threading.Thread(target=rebind, args=(bins, node, ip)) for node, ip in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT)
    keys = os.path.join(workdir, "owner-keys")
    shutil.rmtree(keys, ignore_errors=True)
    www = os.path.join(workdir, "www")
    os.makedirs(www, exist_ok=True)
    page = os.urandom(200_000)
    with open(os.path.join(www, "page.bin"), "wb") as f:
        f.write(page)
    http = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "0", "--bind", "127.0.8.250",
                             "--directory", www], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = http.stdout.readline()  # "Serving HTTP on 127.0.8.250 port N ..."
        http_addr = f"127.0.8.250:{line.split(' port ')[1].split()[0]}"
        net.up()
        n = net.nodes
        net.wait_routing(6, limit_s=40)

        # 1. Reach an HTTP provider by ID three ways.
        web = make_service(bins, keys, "web", [n[5]], http_addr)
        socks = rpc(n[0]["rpc"], "sal_status")["socks"]
        curl = shutil.which("curl")
        if curl:
            t0 = time.time()
            r = subprocess.run([curl, "-s", "-m", "20", "--socks5-hostname", socks, f"http://{web}.bc/page.bin"],
                               capture_output=True, timeout=30)
            check(r.returncode == 0 and r.stdout == page,
                  f"curl --socks5-hostname {socks} http://<id>.bc/page.bin returns the page ({time.time() - t0:.3f} s)")
            # 1,100 idle connections (more than the gateway's 1,024 cap) do not shut curl out.
            host, port = socks.rsplit(":", 1)
            idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(1100)]
            try:
                t0 = time.time()
                r = subprocess.run([curl, "-s", "-m", "20", "--socks5-hostname", socks, f"http://{web}.bc/page.bin"],
                                   capture_output=True, timeout=30)
                took = time.time() - t0
                check(r.returncode == 0 and r.stdout == page and took < 5,
                      f"with 1,100 idle SOCKS5 connections open, curl still gets the page ({took:.3f} s)")
            finally:
                for c in idle:
                    c.close()
        else:
            print("  skipped: curl is not installed (the SOCKS5 path is also covered by test_sal)", flush=True)
        rc, out, _ = cli(bins, n[9], "--json", "forward", "--listen", "127.0.8.11:18200", web, check_rc=0)
        fwd = json.loads(out)["listen"]
        with socket.create_connection(tuple([fwd.split(":")[0], int(fwd.split(":")[1])]), timeout=20) as s:
            s.sendall(b"GET /page.bin HTTP/1.0\r\n\r\n")
            body = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                body += b
        check(body.endswith(page) and body.startswith(b"HTTP/1.0 200"), "forward --listen reaches the page")
        r = subprocess.run([bins.cli, "--rpc", n[12]["rpc"], *cli_auth(n[12]["rpc"]), "connect", web], input=b"GET /page.bin HTTP/1.0\r\n\r\n",
                           capture_output=True, timeout=30)
        check(r.returncode == 0 and r.stdout.endswith(page), "connect SERVICE (stdin/stdout) reaches the page")
        # The C++ API in an app of its own: it joins the DSHT itself, no daemon involved.
        app = os.path.join(bins.dir, "blockcloud-sal-connect")
        t0 = time.time()
        r = subprocess.run([app, "--bootstrap", n[0]["listen"], "--bind", "127.0.8.60", web],
                           input=b"GET /page.bin HTTP/1.0\r\n\r\n", capture_output=True, timeout=60)
        check(r.returncode == 0 and r.stdout.endswith(page) and r.stdout.startswith(b"HTTP/1.0 200"),
              f"the C++ API (sal::AppNode in blockcloud-sal-connect) joins, resolves and gets the page "
              f"({time.time() - t0:.2f} s with the join){'' if r.returncode == 0 else ': ' + r.stderr.decode()}")

        # 2. Migration, with the SHA-256 backend.
        backend = ShaBackend("127.0.8.251")
        sha = make_service(bins, keys, "sha", [n[3]], backend.addr)
        nbytes = MIB << 20
        moves = [
            ("provider moves", lambda: rebind(bins, n[3], "127.0.8.103")),
            ("client moves", lambda: rebind(bins, n[8], "127.0.8.108")),
        ]
        # Both back home at once: each end's old address is gone when the
        # client redials, so it must find the provider afresh in the DSHT.
        # BC_SAL_BOTH_REPEAT=N repeats it N times, away and back.
        for i in range(int(os.environ.get("BC_SAL_BOTH_REPEAT", "1"))):
            home = i % 2 == 0
            to = [(n[3], "127.0.8.5" if home else "127.0.8.103"), (n[8], "127.0.8.10" if home else "127.0.8.108")]
            moves.append((f"both move at once (#{i + 1})", lambda to=to: at_once(bins, to)))
        for what, move in moves:
            backend.max_gap = 0.0
            t0 = time.time()
            local, remote = transfer(bins, n[8], sha, nbytes, during=move)
            check(remote == f"{local} {nbytes}",
                  f"{what}: {MIB} MiB arrive with an identical SHA-256 in {time.time() - t0:.2f} s, "
                  f"longest stall {backend.max_gap * 1000:.0f} ms")

        def hundred_moves():
            for i in range(100):
                rebind(bins, n[3], "127.0.8.150" if i % 2 == 0 else "127.0.8.5")
        backend.max_gap = 0.0
        t0 = time.time()
        local, remote = transfer(bins, n[8], sha, max(nbytes, 256 << 20), during=hundred_moves)
        check(remote.split()[0] == local, f"100 provider moves in one transfer lose nothing "
              f"({time.time() - t0:.2f} s, longest stall {backend.max_gap * 1000:.0f} ms)")

        # 3. Failover among three providers.
        fo = make_service(bins, keys, "fo", [n[13], n[14], n[15]], backend.addr, ttl=20)
        # A Coral get may stop in the nearest cluster holding some of the
        # values, so one node can know a subset: use a client that knows all.
        seen, client = set(), None
        for i in range(13):
            got = {e["provider"] for e in rpc(n[i]["rpc"], "resolve", {"service": fo})["endpoints"]}
            seen |= got
            if client is None and len(got) == 3:
                client = n[i]
        check(len(seen) == 3 and client is not None, "all three providers resolve")
        dead_id = rpc(n[14]["rpc"], "status")["node_id"]
        os.kill(n[14]["pid"], signal.SIGKILL)
        t_kill = time.time()
        ok = 0
        for i in range(10):
            local, remote = transfer(bins, client, fo, 1 << 16)
            ok += remote.split()[0] == local
        check(ok == 10, f"after killing a provider, 10/10 new connections reach the others "
              f"({time.time() - t_kill:.2f} s)")
        gone_after = None
        while time.time() - t_kill < 60:
            r = rpc(client["rpc"], "resolve", {"service": fo})
            if all(e["provider"] != dead_id for e in r["endpoints"]):
                gone_after = time.time() - t_kill
                break
            time.sleep(0.25)
        check(gone_after is not None, f"resolution stops handing out the dead provider after "
              f"{gone_after if gone_after is None else round(gone_after, 1)} s (record TTL 20 s)")
    finally:
        http.kill()
        net.stop()


if __name__ == "__main__":
    main(test, 420)
