"""Shared helpers for the multi-process tests: run the binaries, call the
JSON-RPC (with the daemon's cookie), and always clean up the daemons a test
started."""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)
    print(f"  ok: {what}", flush=True)


class Bins:
    def __init__(self, bin_dir):
        self.dir = os.path.abspath(bin_dir)
        self.daemon = os.path.join(self.dir, "blockcloudd")
        self.cli = os.path.join(self.dir, "blockcloud-cli")
        self.devnet = os.path.join(self.dir, "blockcloud-devnet")
        for b in (self.daemon, self.cli, self.devnet):
            if not os.access(b, os.X_OK):
                raise TestFailure(f"{b} is missing; build blockcloudd, blockcloud-cli and blockcloud-devnet first")


def run(args, timeout=60, check_rc=None):
    """Runs a command; returns (rc, stdout, stderr)."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"{' '.join(args)} exited {p.returncode}, expected {check_rc}\n"
                          f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


# RPC address -> the daemon's datadir (its .cookie is read at each request,
# so a restarted daemon's new cookie is used) or a (user, password) pair.
_CREDENTIALS = {}


def register_datadir(addr, datadir):
    """Requests to `addr` authenticate with DATADIR/.cookie from now on."""
    _CREDENTIALS[addr] = datadir


def credentials(addr):
    """(user, password) for addr, or None if unknown or no cookie yet."""
    c = _CREDENTIALS.get(addr)
    if c is None or isinstance(c, tuple):
        return c
    try:
        with open(os.path.join(c, ".cookie")) as f:
            user, _, password = f.read().strip().partition(":")
        return user, password
    except FileNotFoundError:
        return None


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def cli_auth(addr):
    """blockcloud-cli arguments that authenticate to the daemon at addr
    (none for a daemon that writes no cookie, such as an older build a
    benchmark compares against)."""
    c = _CREDENTIALS.get(addr)
    return ["--datadir", c] if isinstance(c, str) and os.path.exists(os.path.join(c, ".cookie")) else []


def http(addr, method, path, body=None, timeout=10, auth=True, headers=None):
    """Returns (status, body text). Sends the daemon's credentials when known
    and `auth`; `headers` adds or replaces headers."""
    req = urllib.request.Request(f"http://{addr}{path}", data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    c = credentials(addr) if auth else None
    if c:
        req.add_header("Authorization", basic_auth(*c))
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def rpc_raw(addr, method, params=None, timeout=30):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    status, text = http(addr, "POST", "/rpc", body, timeout)
    return json.loads(text)


def rpc(addr, method, params=None, timeout=30):
    r = rpc_raw(addr, method, params, timeout)
    if "error" in r:
        raise TestFailure(f"{method} on {addr} failed: {r['error']}")
    return r["result"]


def wait_rpc(addr, proc, what, limit_s=20):
    """Waits until the daemon `proc` answers `status` on addr; returns it.
    Fails naming `what` if the process exits or the limit passes."""
    deadline = time.time() + limit_s
    while True:
        try:
            return rpc(addr, "status", timeout=2)
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                raise TestFailure(f"{what} did not start (RPC {addr})")
            time.sleep(0.05)


def metric_values(text):
    """Prometheus text -> {name{labels}: value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def write_random(path, mib):
    """Writes mib MiB of random bytes to path; returns their SHA-256 hex."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            b = os.urandom(1 << 20)
            h.update(b)
            f.write(b)
    return h.hexdigest()


def sha_file(path):
    """SHA-256 hex of a file, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):  # gone: no file, or reaped between open and read (ESRCH)
        return False


class Devnet:
    """A blockcloud-devnet in `dir`; stop() always kills what is left."""

    def __init__(self, bins, dir, nodes, base_ip, base_port, extra=()):
        self.bins, self.dir = bins, dir
        self.nodes_n, self.base_ip, self.base_port, self.extra = nodes, base_ip, base_port, list(extra)
        self.nodes = []
        self.kill_leftovers()

    def kill_leftovers(self):
        # A previous run that was killed hard may have left daemons behind.
        for pid in self.pids():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def pids(self):
        try:
            with open(os.path.join(self.dir, "devnet.json")) as f:
                return [n["pid"] for n in json.load(f)["nodes"] if n["pid"] > 0]
        except (FileNotFoundError, ValueError, KeyError):
            return []

    def up(self):
        args = [self.bins.devnet, "up", "--nodes", str(self.nodes_n), "--dir", self.dir,
                "--base-ip", self.base_ip, "--base-port", str(self.base_port), "--bin", self.bins.dir] + self.extra
        t0 = time.time()
        rc, out, err = run(args, timeout=300)
        if rc != 0:
            raise TestFailure(f"devnet up failed ({rc}):\n{out}\n{err}")
        with open(os.path.join(self.dir, "devnet.json")) as f:
            self.nodes = json.load(f)["nodes"]
        for n in self.nodes:
            register_datadir(n["rpc"], n["datadir"])
        print(f"  devnet of {len(self.nodes)} nodes up in {time.time() - t0:.1f} s", flush=True)
        return out

    def wait_routing(self, min_contacts, limit_s=30, nodes=None):
        deadline = time.time() + limit_s
        nodes = nodes if nodes is not None else self.nodes
        while True:
            low = []
            for n in nodes:
                try:
                    c = rpc(n["rpc"], "status", timeout=5)["contacts"][0]
                except Exception:
                    c = -1
                if c < min_contacts:
                    low.append((n["index"], c))
            if not low:
                return
            if time.time() > deadline:
                raise TestFailure(f"routing tables did not fill within {limit_s} s: (node, contacts) {low}")
            time.sleep(0.3)

    def stop(self):
        try:
            run([self.bins.devnet, "down", "--dir", self.dir, "--timeout", "5"], timeout=60)
        except Exception as e:
            print(f"  devnet down failed: {e}", flush=True)
        self.kill_leftovers()


# Lines of a daemon log that say a node broke: an assertion, a sanitizer
# report, an uncaught exception, or an error-level log line.
_BROKE = ("assertion", "AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error", "terminate called",
          " error ", " fatal ")


def print_daemon_trouble(workdir, per_log=6):
    """After a failure: each daemon log under workdir that reports a crash
    or an error, with its last such lines, so a CI log shows why."""
    for root, _, files in sorted(os.walk(workdir)):
        if "log" not in files:
            continue
        path = os.path.join(root, "log")
        try:
            with open(path, errors="replace") as f:
                hits = [line.rstrip() for line in f if any(b in line for b in _BROKE)]
        except OSError:
            continue
        if hits:
            print(f"  {path}: {len(hits)} trouble line(s), the last {min(per_log, len(hits))}:", flush=True)
            for line in hits[-per_log:]:
                print(f"    {line[:300]}", flush=True)


def main(test_fn, time_limit_s):
    """Runs test_fn(bins, workdir) with a hard internal deadline so cleanup
    runs before CTest would kill us; exits 0 on success, 1 on failure."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory holding blockcloudd, blockcloud-cli, blockcloud-devnet")
    ap.add_argument("--workdir", required=True, help="scratch directory for this test")
    a = ap.parse_args()
    # Each run starts empty (a previous run's chain would not match a changed
    # genesis); its logs stay until the next run.
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)

    def on_alarm(signum, frame):
        raise TestFailure(f"test exceeded its {time_limit_s} s limit")

    def on_term(signum, frame):
        raise TestFailure(f"test interrupted by signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(time_limit_s)
    try:
        test_fn(Bins(a.bin), a.workdir)
    except TestFailure as e:
        print(f"FAILED: {e}", flush=True)
        print_daemon_trouble(a.workdir)
        sys.exit(1)
    print("PASSED", flush=True)
