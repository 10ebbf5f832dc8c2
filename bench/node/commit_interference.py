#!/usr/bin/python3
"""How much a node's ledger commits hold up its DHT answers and SAL flows.
Started by bench/node/commit_interference.sh; see docs/benchmarks.md.

For each configuration (BEFORE and AFTER: two directories of blockcloudd,
blockcloud-cli and blockcloud-devnet), on loopback:

  1. one chain, made once per invocation: a 2-node devnet's genesis and keys
     (blockcloud-devnet up/down), then bc-bench-load-chain appends BLOCKS
     blocks of TXS signed transfers to the producer's (node 0's) ledger;
  2. a copy of it per run; the measured node M (node 1, a follower) and a
     ledger-less provider S start; S serves a service whose backend streams a
     512-byte chunk every 5 ms; an app reaches it through M (blockcloud-cli
     forward on M: app -> M -> SAL flow -> S -> backend); bc-bench-dht-probe
     sends FIND_VALUE for a key M stores straight to M's UDP port, 100/s;
  3. after BASELINE seconds (the idle figures), the producer starts: M syncs
     the loaded blocks and validates and commits each one;
  4. the load window runs from the last poll of M's head before its height
     moved to the first poll that saw every loaded block committed.

Figures per window: DHT get p50/p99/max (an unanswered request counts as
infinitely slow) and the longest gap between two received chunks of the
flow. Runs alternate BEFORE, AFTER so load drift on a shared machine hits
both; medians over runs are printed with the ratio AFTER/BEFORE. Exits 1 if
M did not commit every loaded block (the load did not happen)."""
import argparse
import json
import math
import os
import shutil
import signal
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
from bcnet import Bins, TestFailure, cli_auth, http, metric_values, register_datadir, rpc, run  # noqa: E402

TEMPLATE_IP = "127.0.24.2"     # the devnet that makes the genesis and keys
NET_PREFIX = "127.0.23."       # run k uses .(10+4k) .. .(12+4k)
BACKEND_IP, PROBE_IP = "127.0.23.250", "127.0.23.251"
PORT, RPC_OFFSET, FORWARD_PORT = 9960, 100, 18500
DHT_KEY = "bench-commit-interference"
CHUNK, CHUNK_EVERY_S = 512, 0.005


class StreamBackend:
    """TCP backend: each connection gets a CHUNK every CHUNK_EVERY_S until it closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((BACKEND_IP, 0))
        self.sock.listen(16)
        self.addr = f"{BACKEND_IP}:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        chunk = b"c" * CHUNK
        try:
            c.recv(1)
            next_at = time.monotonic()
            while True:
                c.sendall(chunk)
                next_at += CHUNK_EVERY_S
                time.sleep(max(0.0, next_at - time.monotonic()))
        except OSError:
            pass
        c.close()


class StreamReader:
    """The app: reads the flow through M's forward and notes when data arrives."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=20)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b"T")
        self.times, self.bytes, self.stop = [], 0, False
        self.sock.settimeout(1.0)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while not self.stop:
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not b:
                return
            self.times.append(time.monotonic())
            self.bytes += len(b)

    def close(self):
        self.stop = True
        self.thread.join(3)
        self.sock.close()


class Procs:
    """Processes this benchmark started; stop() ends each by its pid."""

    def __init__(self):
        self.procs = []

    def start(self, args, log):
        with open(log, "ab") as f:
            p = subprocess.Popen(args, stdout=f, stderr=f, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def wait_for(what, fn, limit_s, proc=None):
    deadline = time.time() + limit_s
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            raise TestFailure(f"{what}: the process exited ({proc.returncode})")
        if time.time() > deadline:
            raise TestFailure(f"{what} within {limit_s} s")
        time.sleep(0.1)


def make_chain(tools, after_bins, work, blocks, txs, accounts):
    """The template devnet directory, with `blocks` full blocks on node 0."""
    t = os.path.join(work, "template")
    rc, out, err = run([after_bins.devnet, "up", "--nodes", "2", "--dir", t, "--base-ip", TEMPLATE_IP,
                        "--base-port", str(PORT), "--accounts", str(accounts), "--bin", after_bins.dir,
                        "--log-level", "warn"], timeout=300)
    run([after_bins.devnet, "down", "--dir", t, "--timeout", "5"], timeout=60)
    if rc != 0:
        raise TestFailure(f"blockcloud-devnet up failed ({rc}): {out}\n{err}")
    n0 = os.path.join(t, "node-0")
    print(f"commit-interference: signing and committing {blocks} blocks of {txs} transfers on the producer ...",
          file=sys.stderr, flush=True)
    rc, out, err = run([os.path.join(tools, "bc-bench-load-chain"), "--genesis", os.path.join(t, "genesis.json"),
                        "--ledger", os.path.join(n0, "ledger"), "--txindex", os.path.join(n0, "txindex"),
                        "--producer-key", os.path.join(n0, "node.key"), "--accounts-dir", os.path.join(t, "accounts"),
                        "--blocks", str(blocks), "--txs", str(txs)], timeout=1800)
    if rc != 0:
        raise TestFailure(f"bc-bench-load-chain failed ({rc}): {err[-2000:]}")
    return t, json.loads(out.strip().splitlines()[-1])


def daemon_args(d, ip, genesis=None, producer=False, bootstrap=()):
    register_datadir(rpc_addr(ip), d)
    a = ["--datadir", d, "--listen", f"{ip}:{PORT}", "--rpc", f"{ip}:{PORT + RPC_OFFSET}", "--mode", "coral",
         "--log-level", "info"]
    for b in bootstrap:
        a += ["--bootstrap", f"{b}:{PORT}"]
    if genesis:
        a += ["--genesis", genesis]
    if producer:
        a += ["--producer", "--block-interval-ms", "1000"]
    return a


def rpc_addr(ip):
    return f"{ip}:{PORT + RPC_OFFSET}"


def ledger_counters(ip):
    status, text = http(rpc_addr(ip), "GET", "/metrics", timeout=30)
    m = metric_values(text)
    return int(m.get("bc_ledger_blocks_committed_total", 0)), int(m.get("bc_ledger_txs_committed_total", 0))


class HeadPoller:
    """Polls M's head height: (start, end, height) per call, monotonic seconds."""

    def __init__(self, ip):
        self.ip, self.polls, self.stop = ip, [], False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            t0 = time.monotonic()
            try:
                h = rpc(rpc_addr(self.ip), "head", timeout=30)["height"]
                self.polls.append((t0, time.monotonic(), h))
            except Exception:
                pass
            time.sleep(0.1)

    def height(self):
        return self.polls[-1][2] if self.polls else -1

    def window(self, h0, target):
        """From the last poll still at h0 (its start) to the first at target (its end)."""
        start = end = None
        for t0, t1, h in self.polls:
            if h <= h0:
                start = t0
            if h >= target and end is None:
                end = t1
        return start, end


def setup_sal(bins, work, m_ip, s_ip, backend):
    keys = os.path.join(work, "owner-keys")
    _, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "create", "bench"], check_rc=0)
    sid = json.loads(out)["service"]
    prov_key = rpc(rpc_addr(s_ip), "status")["node_key"]
    _, out, _ = run([bins.cli, "--key-dir", keys, "--json", "service", "delegate", sid, "--to", prov_key], check_rc=0)
    run([bins.cli, "--rpc", rpc_addr(s_ip), *cli_auth(rpc_addr(s_ip)), "service", "serve", "--delegation", json.loads(out)["delegation"],
         "--backend", backend.addr], check_rc=0)
    run([bins.cli, "--rpc", rpc_addr(m_ip), *cli_auth(rpc_addr(m_ip)), "forward", "--listen", f"{m_ip}:{FORWARD_PORT}", sid], check_rc=0)
    reader = StreamReader((m_ip, FORWARD_PORT))
    wait_for("no data through the SAL flow (app -> M -> S -> backend)", lambda: reader.bytes > 0, 20)
    return reader


def one_run(cfg, bins, tools, template, chain, work, k, baseline_s, limit_s, backend):
    """One configuration, one run; returns the raw samples and counts."""
    d = os.path.join(work, f"run{k}-{cfg}")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(template, d)
    os.remove(os.path.join(d, "devnet.json"))
    ip = [f"{NET_PREFIX}{10 + 4 * k + i}" for i in range(3)]  # producer, M, S
    genesis = os.path.join(d, "genesis.json")
    procs = Procs()
    poller = reader = None
    try:
        m = procs.start([bins.daemon] + daemon_args(os.path.join(d, "node-1"), ip[1], genesis),
                        os.path.join(d, "node-1.log"))
        wait_for("M did not answer `head`", lambda: rpc(rpc_addr(ip[1]), "head", timeout=2), 30, m)
        s = procs.start([bins.daemon] + daemon_args(os.path.join(d, "provider"), ip[2], bootstrap=[ip[1]]),
                        os.path.join(d, "provider.log"))
        wait_for("M and S did not see each other in the DHT",
                 lambda: rpc(rpc_addr(ip[1]), "status", timeout=2)["contacts"][0] >= 1, 30, s)
        # Put by S: its STORE puts the record in M's store, which M's answers then carry.
        rpc(rpc_addr(ip[2]), "dht_put", {"key": DHT_KEY, "value": "v" * 200, "ttl": 3600})
        wait_for("M does not store the probe's key", lambda: rpc(rpc_addr(ip[1]), "status")["stored_keys"] >= 1, 10)
        reader = setup_sal(bins, d, ip[1], ip[2], backend)
        probe_out = os.path.join(d, "probe.txt")
        probe = procs.start([os.path.join(tools, "bc-bench-dht-probe"), "--target", f"{ip[1]}:{PORT}",
                             "--bind", f"{PROBE_IP}:0", "--key", DHT_KEY, "--rate", "100", "--out", probe_out],
                            os.path.join(d, "probe.log"))
        h0 = rpc(rpc_addr(ip[1]), "head")["height"]
        blocks0, txs0 = ledger_counters(ip[1])
        poller = HeadPoller(ip[1])
        t_base = time.monotonic()
        time.sleep(baseline_s)
        t_load = time.monotonic()
        procs.start([bins.daemon] + daemon_args(os.path.join(d, "node-0"), ip[0], genesis, True, [ip[1], ip[2]]),
                    os.path.join(d, "node-0.log"))
        deadline = time.time() + limit_s
        while poller.height() < chain["to"] and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        poller.stop = True
        probe.send_signal(signal.SIGTERM)
        probe.wait(30)
        blocks1, txs1 = ledger_counters(ip[1])
        height = rpc(rpc_addr(ip[1]), "head")["height"]
        start, end = poller.window(h0, chain["to"])
        samples = []
        with open(probe_out) as f:
            for line in f:
                t, lat, recs = line.split()
                samples.append((float(t) / 1000, float(lat), int(recs)))
        return {"cfg": cfg, "h0": h0, "height": height, "target": chain["to"], "blocks": blocks1 - blocks0,
                "txs": txs1 - txs0, "baseline": (t_base + 1.0, t_load), "window": (start, end),
                "dht": samples, "flow": list(reader.times), "flow_bytes": reader.bytes, "dir": d}
    finally:
        if poller:
            poller.stop = True
        if reader:
            reader.close()
        procs.stop()


def pct(sorted_v, q):
    if not sorted_v:
        return float("nan")
    return sorted_v[max(1, math.ceil(q * len(sorted_v))) - 1]


def figures(r, span):
    """DHT get percentiles and the longest flow gap within span (a, b)."""
    a, b = span
    lat = sorted(l if l >= 0 else math.inf for t, l, _ in r["dht"] if a <= t <= b)
    with_records = sum(1 for t, l, n in r["dht"] if a <= t <= b and l >= 0 and n > 0)
    times = r["flow"]
    gaps = [(t2 - t1) * 1000 for t1, t2 in zip(times, times[1:]) if t2 >= a and t1 <= b]
    answered = [v for v in lat if v != math.inf]
    return {"gets": len(lat), "answered_with_records": with_records, "lost": len(lat) - len(answered),
            "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": lat[-1] if lat else float("nan"),
            "p99_answered": pct(answered, 0.99), "lost_pct": 100.0 * (len(lat) - len(answered)) / max(1, len(lat)),
            "stall": max(gaps) if gaps else float("nan"), "seconds": b - a}


def check_load(r, chain):
    loaded = chain["to"] - chain["from"]
    want_txs = loaded * chain["txs_per_block"]
    a, b = r["window"]
    if r["height"] < chain["to"] or a is None or b is None or r["blocks"] < loaded or r["txs"] < want_txs:
        raise TestFailure(
            f"the load did not happen ({r['cfg']}, {r['dir']}): M reached height {r['height']} of {chain['to']}, "
            f"committed {r['blocks']} blocks / {r['txs']} txs (expected >= {loaded} / {want_txs}); "
            f"see node-0.log and node-1.log there")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="bin dir of the BEFORE build")
    ap.add_argument("--after", required=True, help="bin dir of the AFTER build")
    ap.add_argument("--tools", required=True, help="bin dir holding bc-bench-load-chain and bc-bench-dht-probe")
    ap.add_argument("--work", default="")
    ap.add_argument("--runs", type=int, default=3, help="runs per configuration (default 3)")
    ap.add_argument("--blocks", type=int, default=10, help="loaded blocks (default 10)")
    ap.add_argument("--txs", type=int, default=10000, help="transfers per block (default 10000)")
    ap.add_argument("--accounts", type=int, default=1000, help="funded accounts sending them (default 1000)")
    ap.add_argument("--baseline", type=float, default=4.0, help="idle seconds before the load (default 4)")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds M may take to commit the load (default 300)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bc-commit-interference.")
    os.makedirs(work, exist_ok=True)
    cfgs = {"before": Bins(a.before), "after": Bins(a.after)}
    load0 = os.getloadavg()
    backend = StreamBackend()
    template, chain = make_chain(a.tools, cfgs["after"], work, a.blocks, a.txs, a.accounts)
    results, k = [], 0
    for i in range(a.runs):
        for cfg in ("before", "after"):
            print(f"commit-interference: run {i + 1}/{a.runs} {cfg} ...", file=sys.stderr, flush=True)
            r = one_run(cfg, cfgs[cfg], a.tools, template, chain, work, k, a.baseline, a.limit, backend)
            k += 1
            check_load(r, chain)
            r["idle_fig"], r["load_fig"] = figures(r, r["baseline"]), figures(r, r["window"])
            results.append(r)
            f = r["load_fig"]
            print(f"  {cfg}: {r['blocks']} blocks / {r['txs']} txs committed in {f['seconds']:.1f} s; "
                  f"DHT get p50 {f['p50']:.2f} ms p99 {f['p99']:.2f} ms max {f['max']:.1f} ms "
                  f"(lost {f['lost']}/{f['gets']}); longest flow stall {f['stall']:.1f} ms", file=sys.stderr, flush=True)
    report(results, chain, cfgs, load0, work)


def report(results, chain, cfgs, load0, work):
    loaded = chain["to"] - chain["from"]
    sizes = chain["block_bytes"]
    print(f"\nnode commit interference, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} vCPU, "
          f"load average {load0[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; files in {work}")
    for name, b in cfgs.items():
        print(f"  {name:<6} {b.dir}")
    print(f"load: M (a follower) syncs and commits {loaded} blocks of {chain['txs_per_block']} signed transfers "
          f"({min(sizes)}-{max(sizes)} bytes each) from the producer")
    print("probes: FIND_VALUE to M's UDP port 100/s (unanswered = infinite); a 512-byte chunk every 5 ms "
          "app <- M <- SAL flow <- provider <- backend\n")
    with_records = all(r["load_fig"]["answered_with_records"] > 0 for r in results)
    print(f"{'run':<4} {'config':<7} {'blocks':>6} {'txs':>7} {'window s':>8}  {'get p50':>8} {'get p99':>8} "
          f"{'get max':>8} {'lost':>5}  {'stall ms':>8}   idle: {'p99':>6} {'stall':>6}")
    print("(blocks, txs: committed by M while measured, its own counters; empty blocks count too)")
    for i, r in enumerate(results):
        f, g = r["load_fig"], r["idle_fig"]
        print(f"{i // 2 + 1:<4} {r['cfg']:<7} {r['blocks']:>6} {r['txs']:>7} {f['seconds']:>8.1f}  {f['p50']:>8.2f} "
              f"{f['p99']:>8.2f} {f['max']:>8.1f} {f['lost']:>5}  {f['stall']:>8.1f}   {g['p99']:>10.2f} {g['stall']:>6.1f}")
    print(f"\nmedians over {len(results) // 2} run(s) each (ms)     {'before':>9} {'after':>9} {'after/before':>12}")
    rows = (("load_fig", "p50", "DHT get p50 while committing"), ("load_fig", "p99", "DHT get p99 while committing"),
            ("load_fig", "p99_answered", "  p99 of the answered gets only"),
            ("load_fig", "lost_pct", "  gets never answered, %"),
            ("load_fig", "stall", "longest SAL flow stall while committing"),
            ("idle_fig", "p99", "idle DHT get p99"), ("idle_fig", "stall", "idle longest flow gap"))
    for fig, key, label in rows:
        b = statistics.median(r[fig][key] for r in results if r["cfg"] == "before")
        a = statistics.median(r[fig][key] for r in results if r["cfg"] == "after")
        ratio = f"{a / b:.3f}" if b and math.isfinite(a) and math.isfinite(b) else "-"
        print(f"{label:<40} {b:>9.2f} {a:>9.2f} {ratio:>12}")
    print("(inf: more than 1 % of the gets in the window were never answered)")
    if not with_records:
        print("warning: some gets were answered without the stored record", file=sys.stderr)
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump([{k: v for k, v in r.items() if k not in ("dht", "flow")} for r in results], f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except TestFailure as e:
        print(f"commit-interference: {e}", file=sys.stderr)
        sys.exit(1)
