#!/usr/bin/python3
"""SAL benchmarks (issue 3, item 5), each beside its baseline in the same run.
Started by bench/sal/run.sh; see docs/sal-bench.md for what each figure means.

  connect   connect by ID (C++ API, sal::AppNode), cold and cached, vs a
            plain TCP + full TLS 1.3 connect to stunnel; until the backend's
            1-byte echo has been read (bc-bench-sal-connect);
  bulk      one TCP stream app -> daemon A (forward) -> SAL flow -> daemon B
            -> backend, vs app -> stunnel client -> TLS 1.3 -> stunnel server
            -> backend, and direct app -> backend (the sender/sink ceiling);
  idle      N idle connections through each path; RSS of the two daemons
            (resp. the two stunnels) before/after, and the kernel's TCP
            socket memory (/proc/net/sockstat), per connection.

Everything runs on 127.0.20.0/24 and is stopped at the end."""
import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from bcnet import Bins, Devnet, TestFailure, cli_auth, rpc, run  # noqa: E402

NET_IP, NET_PORT = "127.0.20.2", 9950        # devnet nodes 127.0.20.2-5
BACKEND_IP = "127.0.20.250"
FORWARD = ("127.0.20.11", 18300)             # daemon A's forward listener
ST_CLIENT = ("127.0.20.200", 18400)          # stunnel client (app side)
ST_SERVER = ("127.0.20.201", 18401)          # stunnel server (backend side)
APP_IP = "127.0.20.60"                       # the benchmark's own sockets


class Backend:
    """Threaded TCP backend; the first byte picks the mode: b'x' echo,
    b'S' sink (answers the byte count at EOF), b'I' idle (answers b'k',
    then holds the connection until EOF)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((BACKEND_IP, 0))
        self.sock.listen(4096)
        self.addr = f"{BACKEND_IP}:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True, name="b").start()

    @staticmethod
    def serve(c):
        try:
            first = c.recv(1)
            if first == b"x":
                c.sendall(first)
                while b := c.recv(65536):
                    c.sendall(b)
            elif first == b"S":
                buf, n = bytearray(1 << 20), 1
                while k := c.recv_into(buf):
                    n += k
                c.sendall(f"{n}\n".encode())
            elif first == b"I":
                c.sendall(b"k")
                while c.recv(4096):
                    pass
        except OSError:
            pass
        c.close()


def connect(addr):
    s = socket.create_connection(addr, timeout=30, source_address=(APP_IP, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def bulk(addr, nbytes):
    """Seconds to push nbytes through addr to the sink and get its count back."""
    chunk = memoryview(b"S" + bytes(1 << 20))
    t0 = time.perf_counter()
    s = connect(addr)
    sent = 0
    while sent < nbytes:
        n = min(len(chunk), nbytes - sent)
        s.sendall(chunk[:n])
        sent += n
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\n"):
        b = s.recv(64)
        if not b:
            raise TestFailure(f"the path through {addr} closed before the sink's answer")
        reply += b
    dt = time.perf_counter() - t0
    s.close()
    if int(reply) != nbytes:
        raise TestFailure(f"sink counted {int(reply)} bytes through {addr}, sent {nbytes}")
    return dt


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tcp_mem_kib():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                return int(w[w.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def idle(addr, n, pids):
    """Opens n idle connections through addr (each answered by the backend,
    so the whole path is up); returns per-connection KiB of each pid's RSS
    and of the kernel's TCP memory, then closes them."""
    time.sleep(0.5)
    before = [rss_kib(p) for p in pids]
    kbefore = tcp_mem_kib()
    conns = []
    t0 = time.time()
    try:
        for i in range(n):
            # The provider's session admits 100 OPENs/s (burst 200,
            # SessionConfig::open_rate_per_s): stay under it on both paths.
            time.sleep(max(0.0, t0 + i / 80 - time.time()))
            s = connect(addr)
            s.sendall(b"I")
            if s.recv(1) != b"k":
                raise TestFailure(f"idle connection {len(conns)} through {addr} got no answer from the backend")
            conns.append(s)
        time.sleep(1.0)
        after = [rss_kib(p) for p in pids]
        kafter = tcp_mem_kib()
    finally:
        for s in conns:
            s.close()
    time.sleep(1.0)
    return [(a - b) / n for a, b in zip(after, before)], (kafter - kbefore) / n, before, after


def stunnel_conf(path, name, client, accept, connect_to, cert, key):
    lines = ["foreground = yes", "pid =", "debug = 3", f"output = {path}.log", "",
             f"[{name}]", f"accept = {accept[0]}:{accept[1]}", f"connect = {connect_to}",
             "sslVersionMin = TLSv1.3"]
    if client:
        lines += ["client = yes", "verifyChain = yes", f"CAfile = {cert}", f"local = {APP_IP}"]
    else:
        lines += [f"cert = {cert}", f"key = {key}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def wait_port(addr, what, limit_s=10):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TestFailure(f"{what} does not accept on {addr[0]}:{addr[1]}; see its log")


def med(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default="")
    ap.add_argument("--runs", type=int, default=5, help="bulk repetitions (default 5)")
    ap.add_argument("--connect-runs", type=int, default=15, help="connect samples per measure (default 15)")
    ap.add_argument("--mib", type=int, default=256, help="MiB per bulk run (default 256)")
    ap.add_argument("--idle", type=int, default=1000, help="idle connections (default 1000, the forward cap)")
    ap.add_argument("--only", default="connect,bulk,idle")
    a = ap.parse_args()
    only = set(a.only.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # daemons and stunnel inherit it
    work = a.work or tempfile.mkdtemp(prefix="bc-sal-bench.")
    os.makedirs(work, exist_ok=True)
    bins = Bins(a.bin)
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if not stunnel:
        raise TestFailure("stunnel4 is not installed; run scripts/bootstrap")
    cert, key = os.path.join(work, "relay.pem"), os.path.join(work, "relay.key")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench-relay"], check_rc=0)
    backend = Backend()
    net = Devnet(bins, os.path.join(work, "net"), 4, NET_IP, NET_PORT, extra=["--no-ledger"])
    procs = []
    results = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                        "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}}
    try:
        net.up()
        n = net.nodes
        net.wait_routing(2, limit_s=30)
        keys = os.path.join(work, "owner-keys")
        shutil.rmtree(keys, ignore_errors=True)
        _, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "create", "bench"], check_rc=0)
        sid = json.loads(out)["service"]
        prov_key = rpc(n[1]["rpc"], "status")["node_key"]
        _, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "delegate", sid, "--to", prov_key], check_rc=0)
        run([bins.cli, "--rpc", n[1]["rpc"], *cli_auth(n[1]["rpc"]), "service", "serve", "--delegation", json.loads(out)["delegation"],
             "--backend", backend.addr], check_rc=0)
        run([bins.cli, "--rpc", n[2]["rpc"], *cli_auth(n[2]["rpc"]), "forward", "--listen", f"{FORWARD[0]}:{FORWARD[1]}", sid], check_rc=0)
        for name, client, acc, to in (("srv", False, ST_SERVER, backend.addr),
                                      ("cli", True, ST_CLIENT, f"{ST_SERVER[0]}:{ST_SERVER[1]}")):
            conf = os.path.join(work, f"stunnel-{name}.conf")
            stunnel_conf(conf, name, client, acc, to, cert, key)
            procs.append(subprocess.Popen([stunnel, conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(acc, f"stunnel {name}")
        st_pids = [p.pid for p in procs]
        bc_pids = [n[2]["pid"], n[1]["pid"]]
        # One round trip through each path before measuring (resolution, session, threads).
        for addr in (FORWARD, ST_CLIENT):
            s = connect(addr)
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise TestFailure(f"no echo through {addr}")
            s.close()

        if "connect" in only:
            print("sal-bench: connect latency ...", file=sys.stderr, flush=True)
            _, out, err = run([os.path.join(bins.dir, "bc-bench-sal-connect"), "--service", sid,
                               "--bootstrap", n[0]["listen"], "--tls", f"{ST_SERVER[0]}:{ST_SERVER[1]}",
                               "--ca", cert, "--bind", APP_IP, "--runs", str(a.connect_runs)], timeout=600)
            if not out.strip():
                raise TestFailure(f"bc-bench-sal-connect failed: {err}")
            results["connect"] = json.loads(out)
        if "bulk" in only:
            nbytes = a.mib << 20
            r = {"ours": [], "stunnel": [], "direct": []}
            bhost, bport = backend.addr.split(":")
            for i in range(a.runs):
                print(f"sal-bench: bulk run {i + 1}/{a.runs} ...", file=sys.stderr, flush=True)
                r["ours"].append(nbytes / bulk(FORWARD, nbytes) / 1e6)
                r["stunnel"].append(nbytes / bulk(ST_CLIENT, nbytes) / 1e6)
                r["direct"].append(nbytes / bulk((bhost, int(bport)), nbytes) / 1e6)
            results["bulk"] = r
        if "idle" in only:
            print(f"sal-bench: {a.idle} idle connections per path ...", file=sys.stderr, flush=True)
            ours, ours_k, ob, oa = idle(FORWARD, a.idle, bc_pids)
            st, st_k, sb, sa = idle(ST_CLIENT, a.idle, st_pids)
            results["idle"] = {"n": a.idle, "ours_kib": ours, "ours_kernel_kib": ours_k, "ours_rss": [ob, oa],
                               "stunnel_kib": st, "stunnel_kernel_kib": st_k, "stunnel_rss": [sb, sa]}
        results["meta"]["load_at_end"] = os.getloadavg()
        results["meta"]["service"] = sid
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        net.stop()
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results, work, a)


def report(r, work, a):
    m = r["meta"]
    print(f"\nSAL benchmarks, {m['date']}, {m['cpus']} vCPU, load {m['load_at_start'][0]:.1f} -> "
          f"{m['load_at_end'][0]:.1f}; all on loopback; medians; raw samples in {work}/result.json\n")
    print(f"{'measure':<44} {'ours':>10} {'baseline':>10} {'ratio':>7}  goal")
    if "connect" in r:
        c = r["connect"]
        cold, cached, b1, b2 = med(c["cold_ms"]), med(c["cached_ms"]), med(c["plain_tls_ms"]), med(c["plain_tls_ms_2"])
        n = len(c["cold_ms"])
        print(f"{'connect cold, ms (DSHT+TCP+TLS+OPEN+echo)':<44} {cold:>10.3f} {b1:>10.3f} {cold / b1:>7.2f}  -  (n={n})")
        print(f"{'connect cached, ms (OPEN+echo)':<44} {cached:>10.3f} {b2:>10.3f} {cached / b2:>7.2f}  <= 1.5 "
              f"{'met' if cached / b2 <= 1.5 else 'MISSED'}  (n={n})")
    if "bulk" in r:
        b = r["bulk"]
        o, s, d = med(b["ours"]), med(b["stunnel"]), med(b["direct"])
        print(f"{'bulk, MB/s (2 daemons vs 2 stunnels)':<44} {o:>10.1f} {s:>10.1f} {o / s:>7.2f}  >= 0.7 "
              f"{'met' if o / s >= 0.7 else 'MISSED'}  (n={len(b['ours'])}, {a.mib} MiB each)")
        print(f"{'  direct TCP app->backend (ceiling), MB/s':<44} {d:>10.1f}")
    if "idle" in r:
        i = r["idle"]
        o, s = sum(i["ours_kib"]), sum(i["stunnel_kib"])
        print(f"{'idle, KiB RSS per connection (both relays)':<44} {o:>10.1f} {s:>10.1f} {o / s if s else 0:>7.2f}  "
              f"<= 32 {'met' if o <= 32 else 'MISSED'}  (n={i['n']})")
        print(f"{'  daemon A (forward) / daemon B (backend)':<44} {i['ours_kib'][0]:>10.1f} {i['ours_kib'][1]:>10.1f}"
              f"   (stunnel client / server: {i['stunnel_kib'][0]:.1f} / {i['stunnel_kib'][1]:.1f})")
        print(f"{'  kernel TCP memory per connection, KiB':<44} {i['ours_kernel_kib']:>10.1f} {i['stunnel_kernel_kib']:>10.1f}")


if __name__ == "__main__":
    try:
        main()
    except TestFailure as e:
        print(f"sal-bench: {e}", file=sys.stderr)
        sys.exit(1)
