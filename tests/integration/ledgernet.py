"""Helpers for the ledger tests: CLI transfers, restarting a killed node with
its recorded arguments, and comparing chains across nodes."""
import contextlib
import json
import os
import signal
import subprocess
import time

from bcnet import Devnet, TestFailure, check, cli_auth, pid_alive, rpc, run


class LedgerNet:
    def __init__(self, bins, net):
        self.bins, self.net = bins, net
        with open(os.path.join(net.dir, "devnet.json")) as f:
            d = json.load(f)
        self.nodes = d["nodes"]
        self.accounts = d["accounts"]
        self.wallet = os.path.join(net.dir, "accounts")
        self.pids = {n["index"]: n["pid"] for n in self.nodes}
        self.launch = {}  # node -> command prefix its daemon runs under (e.g. nsenter into a namespace)

    def cli(self, node, *args, timeout=60):
        return run([self.bins.cli, "--rpc", self.nodes[node]["rpc"], *cli_auth(self.nodes[node]["rpc"]), "--wallet-dir", self.wallet] + list(args),
                   timeout=timeout)

    def head(self, node, timeout=5):
        return rpc(self.nodes[node]["rpc"], "head", timeout=timeout)

    def kill(self, node):
        pid = self.pids[node]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            # It exited on its own: a crash, or a port taken by another run.
            raise TestFailure(f"node {node} (pid {pid}) was already gone before kill -9; "
                              f"see its log under {self.net.dir}") from None
        while pid_alive(pid):
            time.sleep(0.01)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def restart(self, node, wait_s=30, args=(), env=None):
        """Starts node's daemon again with its recorded arguments (and `args`,
        under `env` when given); returns its head once it answers."""
        n = self.nodes[node]
        log = open(os.path.join(n["datadir"], "log"), "ab")
        p = subprocess.Popen(self.launch.get(node, []) + [self.bins.daemon] + n["args"] + list(args), stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        log.close()
        self.pids[node] = p.pid
        deadline = time.time() + wait_s
        while True:
            try:
                return self.head(node, timeout=2)
            except Exception:
                if p.poll() is not None:
                    raise TestFailure(f"node {node} exited with {p.returncode} on restart; see {n['datadir']}/log")
                if time.time() > deadline:
                    raise TestFailure(f"node {node} did not answer within {wait_s} s of its restart")
                time.sleep(0.05)

    def kill_all(self):
        for pid in self.pids.values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def wait_heads(self, at_least, limit_s, nodes=None):
        """Waits until every node's head height >= at_least; returns the heads."""
        nodes = nodes if nodes is not None else range(len(self.nodes))
        deadline = time.time() + limit_s
        while True:
            heads = {}
            for i in nodes:
                try:
                    heads[i] = self.head(i)["height"]
                except Exception:
                    heads[i] = -1
            if min(heads.values()) >= at_least:
                return heads
            if time.time() > deadline:
                raise TestFailure(f"nodes did not reach height {at_least} within {limit_s} s: {heads}")
            time.sleep(0.1)

    def check_same_chain(self, nodes, target, limit_s):
        """Waits until `nodes` reach `target`, then checks that they hold the
        same block at every height 1..target."""
        nodes = list(nodes)
        self.wait_heads(target, limit_s, nodes)
        hashes = {}
        for n in nodes:
            for h, (block_hash, _) in enumerate(self.chain(n, target), start=1):
                if hashes.setdefault(h, block_hash) != block_hash:
                    raise TestFailure(f"height {h} has two blocks: {hashes[h]} and {block_hash} (node {n})")
        check(True, f"nodes {nodes} hold the same block at every height 1..{target}")

    def chain(self, node, upto):
        """[(hash, state_root)] for heights 1..upto."""
        out = []
        for h in range(1, upto + 1):
            b = rpc(self.nodes[node]["rpc"], "get_block", {"height": h})
            out.append((b["hash"], b["state_root"]))
        return out


def committee_args(validators, interval_ms, accounts=4):
    """blockcloud-devnet up arguments for a certified chain made by `validators`."""
    return ["--validators", str(validators), "--accounts", str(accounts), "--block-interval-ms", str(interval_ms)]


@contextlib.contextmanager
def running_devnet(bins, workdir, nodes, base_ip, port, extra):
    """Yields (Devnet, LedgerNet) of a devnet up in WORKDIR/net; afterwards
    every daemon it started is killed, whatever happened."""
    net = Devnet(bins, os.path.join(workdir, "net"), nodes, base_ip, port, extra=extra)
    ln = None
    try:
        net.up()
        ln = LedgerNet(bins, net)
        yield net, ln
    finally:
        if ln:
            ln.kill_all()
        net.stop()
