#!/usr/bin/python3
"""The node's RPC against a hostile web page and a hostile local client:
cookie and rpc_auth credentials, Host/Origin/Content-Type checks, half-sent
requests (slowloris), long-polls held by a client that goes away, and
forward_add on a non-loopback address."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from bcnet import TestFailure, basic_auth, check, credentials, http, main, register_datadir, rpc, run

IP = "127.0.41.2"  # this test's own range: 127.0.41.2-30
RPC_PORT = 9900
RPC = f"{IP}:{RPC_PORT}"
CLIENT_IPS = [f"127.0.41.{10 + i}" for i in range(5)]


def start(bins, d, *extra):
    os.makedirs(d, exist_ok=True)
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen([bins.daemon, "--datadir", d, "--listen", f"{IP}:9800", "--rpc", RPC, "--socks", "off",
                          *extra], stdout=log, stderr=log)
    register_datadir(RPC, d)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            if http(RPC, "GET", "/health", timeout=1)[0] == 200:
                return p
        except OSError:
            pass
        if p.poll() is not None:
            raise TestFailure(f"blockcloudd exited with {p.returncode}; see {d}/log")
        time.sleep(0.05)
    raise TestFailure("blockcloudd did not answer /health within 15 s")


def request(method, path, body=b"", headers=None, source=None, timeout=5):
    """Sends one raw HTTP/1.1 request; returns (status, body text)."""
    h = {"Host": RPC, "Connection": "close", "Content-Length": str(len(body))}
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
    s = socket.create_connection((IP, RPC_PORT), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data.partition(b"\r\n\r\n")[2].decode(errors="replace")


def call_body(method, params=None):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()


def cookie_auth():
    return basic_auth(*credentials(RPC))


def check_cookie_and_credentials(bins, d, alice_password):
    st = os.stat(os.path.join(d, ".cookie"))
    check(oct(st.st_mode & 0o777) == "0o600", "DATADIR/.cookie is mode 0600")
    with open(os.path.join(d, ".cookie")) as f:
        check(re.fullmatch(r"__cookie__:[0-9a-f]{64}", f.read().strip()) is not None,
              "the cookie is __cookie__:<64 hex digits>")
    status, text = request("POST", "/rpc", call_body("status"), {"Content-Type": "application/json"})
    check(status == 401 and "authorization required" in text, f"a request without credentials gets 401 ({status})")
    wrong = basic_auth("__cookie__", "0" * 64)
    status, _ = request("POST", "/rpc", call_body("status"), {"Content-Type": "application/json", "Authorization": wrong})
    check(status == 401, "a wrong cookie gets 401")
    check("node_id" in rpc(RPC, "status"), "the cookie authenticates")
    status, _ = request("POST", "/rpc", call_body("status"),
                        {"Content-Type": "application/json", "Authorization": basic_auth("alice", alice_password)})
    check(status == 200, "an rpc_auth user authenticates with its password")
    status, _ = request("POST", "/rpc", call_body("status"),
                        {"Content-Type": "application/json", "Authorization": basic_auth("alice", "nope")})
    check(status == 401, "an rpc_auth user with a wrong password gets 401")
    check(http(RPC, "GET", "/health", auth=False)[0] == 200, "/health needs no credentials")
    check(http(RPC, "GET", "/metrics", auth=False)[0] == 200, "/metrics needs none on a loopback bind")
    check(http(RPC, "GET", "/metrics", auth=False, headers={"Host": "evil.example"})[0] == 403,
          "/metrics refuses a foreign Host (DNS rebinding)")


def check_cli(bins, d, alice_password, workdir):
    env = dict(os.environ, HOME=tempfile.mkdtemp(dir=workdir))  # no cookie under the default datadirs
    env.pop("BLOCKCLOUD_DATADIR", None)
    p = subprocess.run([bins.cli, "--rpc", RPC, "status"], capture_output=True, text=True, env=env, timeout=30)
    check(p.returncode == 1 and "401" in p.stderr and "--datadir" in p.stderr,
          f"blockcloud-cli without credentials fails saying what to give: {p.stderr.strip()[:160]}")
    run([bins.cli, "--rpc", RPC, "--datadir", d, "status"], check_rc=0)
    check(True, "blockcloud-cli --datadir reads the cookie")
    pw = os.path.join(workdir, "alice.pw")
    with open(pw, "w") as f:
        f.write(alice_password + "\n")
    p = subprocess.run([bins.cli, "--rpc", RPC, "--rpc-user", "alice", "--rpc-password-file", pw, "status"],
                       capture_output=True, text=True, env=env, timeout=30)
    check(p.returncode == 0, "blockcloud-cli --rpc-user/--rpc-password-file authenticates")


def check_browser_attack():
    """What a web page can make a browser send to the RPC."""
    put = call_body("dht_put", {"key": "web-attack", "value": "pwned"})
    status, _ = request("POST", "/rpc", put, {"Content-Type": "text/plain", "Origin": "http://evil.example",
                                                "Host": "evil.example:9900"})
    check(status == 403, f"a text/plain POST with a foreign Origin and Host is refused ({status})")
    status, _ = request("POST", "/rpc", put, {"Content-Type": "text/plain", "Origin": "http://evil.example",
                                                "Authorization": cookie_auth()})
    check(status == 403, f"a foreign Origin is refused even with credentials ({status})")
    status, _ = request("POST", "/rpc", put, {"Content-Type": "text/plain", "Authorization": cookie_auth()})
    check(status == 415, f"a text/plain POST gets 415 even with credentials ({status})")
    status, _ = request("POST", "/rpc", put, {"Content-Type": "application/json", "Host": "attacker.test",
                                                "Authorization": cookie_auth()})
    check(status == 403, f"a DNS name in Host is refused ({status})")
    status, _ = request("POST", "/rpc", call_body("status"),
                        {"Content-Type": "application/json; charset=utf-8", "Origin": f"http://{RPC}",
                         "Authorization": cookie_auth()})
    check(status == 200, "the RPC's own Origin and a charset parameter are accepted")
    status, _ = request("POST", "/rpc", call_body("status"), {"Content-Type": "application/json", "Host": "localhost",
                                                              "Authorization": cookie_auth()})
    check(status == 200, "Host: localhost is accepted on a loopback bind")
    check(rpc(RPC, "dht_get", {"key": "web-attack"})["values"] == [], "no refused put was stored")


def check_slow_body():
    s = socket.create_connection((IP, RPC_PORT), timeout=5)
    s.sendall((f"POST /rpc HTTP/1.1\r\nHost: {RPC}\r\nContent-Type: application/json\r\n"
               f"Authorization: {cookie_auth()}\r\nContent-Length: 100\r\n\r\n{{").encode())
    t0 = time.time()
    try:
        closed = s.recv(100) == b""
    except socket.timeout:
        closed = False
    s.close()
    check(closed and time.time() - t0 < 3, f"a body not sent within body_timeout_ms is closed ({time.time() - t0:.1f} s)")


def check_slowloris():
    socks = []
    try:
        for _ in range(80):
            s = socket.create_connection((IP, RPC_PORT), timeout=5)
            s.sendall(f"POST /rpc HTTP/1.1\r\nHost: {RPC}\r\nContent-Type: app".encode())  # never finished
            socks.append(s)
        time.sleep(0.3)
        status, _ = request("GET", "/health")
        check(status == 200, f"/health answers 200 while 80 half-sent requests are open ({status})")
        check("node_id" in rpc(RPC, "status", timeout=5), "an RPC call is served too")
    finally:
        for s in socks:
            s.close()


def open_watch(source, key="lp"):
    s = socket.create_connection((IP, RPC_PORT), timeout=10, source_address=(source, 0))
    body = call_body("dht_watch", {"key": key, "timeout_ms": 60000})
    s.sendall((f"POST /rpc HTTP/1.1\r\nHost: {RPC}\r\nContent-Type: application/json\r\n"
               f"Authorization: {cookie_auth()}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    return s


def answered(s, wait_s):
    """The response on s within wait_s, or None if it is still pending."""
    s.settimeout(wait_s)
    try:
        return s.recv(65536).decode(errors="replace")
    except socket.timeout:
        return None


def check_long_polls():
    held = []
    try:
        for ip in CLIENT_IPS[:4]:
            for _ in range(16):
                held.append(open_watch(ip))
            if ip == CLIENT_IPS[0]:
                extra = open_watch(ip)
                r = answered(extra, 3)
                extra.close()
                check(r is not None and "max_pending_per_client" in r,
                      "a 17th long-poll from one client address is refused")
        time.sleep(0.3)
        check(all(answered(s, 0.01) is None for s in held), "64 long-polls from 4 addresses are pending")
        check(request("GET", "/health")[0] == 200, "/health answers 200 while 64 long-polls are held")
        extra = open_watch(CLIENT_IPS[4])
        r = answered(extra, 3)
        extra.close()
        check(r is not None and ("503" in r.split("\r\n")[0] or "long-polling" in r),
              "a 65th long-poll on the key is refused while the 64 are held")
    finally:
        for s in held:
            s.close()
    deadline = time.time() + 3
    while True:
        s = open_watch(CLIENT_IPS[4])
        r = answered(s, 1.5)
        s.close()
        if r is None:
            break  # pending: a waiter slot was free
        if time.time() > deadline:
            raise TestFailure(f"the watch slots were not freed after the clients disconnected: {r[:200]}")
        time.sleep(0.2)
    check(True, "closing the 64 connections frees their watch slots at once")


def check_forward_add(bins, workdir):
    keys = tempfile.mkdtemp(prefix="keys-", dir=workdir)
    _, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "create", "fwd"], check_rc=0)
    sid = json.loads(out)["service"]
    status, text = request("POST", "/rpc", call_body("forward_add", {"service": sid, "listen": "0.0.0.0:9950"}),
                           {"Content-Type": "application/json", "Authorization": cookie_auth()})
    check(status == 200 and "not a loopback address" in text, "forward_add on 0.0.0.0 is refused by default")
    probe = socket.socket()
    check(probe.connect_ex(("127.0.0.1", 9950)) != 0, "nothing listens on port 9950")
    probe.close()
    r = rpc(RPC, "forward_add", {"service": sid, "listen": f"{IP}:9951"})
    check(r["listen"] == f"{IP}:9951", "forward_add on a loopback address still works")


def test(bins, workdir):
    d = os.path.join(workdir, "node")
    _, out, _ = run([bins.cli, "--json", "rpcauth", "alice"], check_rc=0)
    alice = json.loads(out)
    check(alice["rpc_auth"].startswith("alice:") and "$" in alice["rpc_auth"], "blockcloud-cli rpcauth prints a line")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(workdir, "node.toml")
    with open(conf, "w") as f:
        f.write("[rpc_limits]\nbody_timeout_ms = 800\n")
    p = start(bins, d, "--rpc-auth", alice["rpc_auth"], "--config", conf)
    try:
        check_cookie_and_credentials(bins, d, alice["password"])
        check_cli(bins, d, alice["password"], workdir)
        check_browser_attack()
        check_slow_body()
        check_slowloris()
        check_long_polls()
        check_forward_add(bins, workdir)
        check(http(RPC, "GET", "/health")[0] == 200, "the daemon still serves")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=10) == 0, "SIGTERM stops the daemon cleanly")
        check(not os.path.exists(os.path.join(d, ".cookie")), "a clean exit deletes the cookie")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main(test, 150)
