#!/usr/bin/python3
"""Ledger sync against hostile TCP peers on a 3-node devnet. On every node
an attacker keeps open one connection that sends a single Hello claiming a
head far ahead and then stays silent, and 50 connections (from 50 source
addresses) that send nothing. Blocks must keep being produced, and a
follower killed with SIGKILL and restarted under the same attack must reach
its configured peers and catch up with the producer."""
import os
import socket
import struct
import threading
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.41.2", 9410  # this test's own range: nodes 127.0.41.2-4
ATTACK_NET = "127.0.42."             # attacker sources 127.0.42.10-60
INTERVAL_MS = 200
SILENT = 50
FAR_HEAD = 1 << 60


def hello_frame(genesis_hex, height):
    body = bytes([1]) + bytes.fromhex(genesis_hex) + struct.pack(">Q", height) + bytes(32)
    return struct.pack(">I", len(body)) + body


class Attacker:
    """Keeps, per target, one far-head liar and SILENT mute connections open,
    reopening any the node closes (at most every 0.5 s per slot)."""

    def __init__(self, targets, genesis_hex):
        self.slots = []
        for t in targets:
            host, port = t.rsplit(":", 1)
            self.slots.append(((host, int(port)), ATTACK_NET + "10", hello_frame(genesis_hex, FAR_HEAD)))
            for i in range(SILENT):
                self.slots.append(((host, int(port)), ATTACK_NET + str(11 + i), None))
        self.socks = [None] * len(self.slots)
        self.next_try = [0.0] * len(self.slots)
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, i):
        target, source, first = self.slots[i]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(True)
        s.settimeout(1)
        try:
            s.bind((source, 0))
            s.connect(target)
            if first:
                s.sendall(first)
            s.setblocking(False)
            self.socks[i] = s
            self.opened += 1
        except OSError:
            s.close()

    def closed(self, s):
        try:
            data = s.recv(65536)  # drain what the node sends; never answer
            return data == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def run(self):
        while not self.stop.is_set():
            now = time.time()
            for i in range(len(self.slots)):
                s = self.socks[i]
                if s is not None and self.closed(s):
                    s.close()
                    self.socks[i] = s = None
                if s is None and now >= self.next_try[i]:
                    self.next_try[i] = now + 0.5
                    self.open(i)
            time.sleep(0.05)
        for s in self.socks:
            if s:
                s.close()

    def open_now(self):
        return sum(1 for s in self.socks if s is not None)


def heights(ln):
    return [ln.head(n)["height"] for n in range(len(ln.nodes))]


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 3, BASE_IP, PORT,
                 extra=["--accounts", "2", "--block-interval-ms", str(INTERVAL_MS)])
    ln = attacker = None
    try:
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(3, 20)
        genesis = rpc(ln.nodes[0]["rpc"], "ledger_status")["genesis_hash"]
        attacker = Attacker([n["listen"] for n in ln.nodes], genesis)
        attacker.thread.start()
        time.sleep(2)
        check(attacker.open_now() >= len(ln.nodes) * 10,
              f"attack under way: {attacker.open_now()} hostile connections open to {len(ln.nodes)} nodes")
        h0 = heights(ln)
        time.sleep(10)
        h1 = heights(ln)
        made = h1[0] - h0[0]
        check(made >= 20, f"the producer made {made} blocks in 10 s under attack ({h0} -> {h1})")
        check(min(h1) >= h1[0] - 10, f"followers keep up under attack: heads {h1}")

        ln.kill(2)
        time.sleep(2)
        t0 = time.time()
        ln.restart(2)
        target = ln.head(0)["height"] + 5
        ln.wait_heads(target, 25, nodes=[2])
        took = time.time() - t0
        st = rpc(ln.nodes[2]["rpc"], "ledger_status")
        outbound = [p for p in st["peers"] if p.get("outbound") and p["hello"]]
        check(len(outbound) >= 1, f"the restarted node is connected to its configured peers ({len(outbound)} outbound)")
        check(True, f"the restarted node caught up to height {target} in {took:.1f} s under attack")
        roots = {rpc(ln.nodes[n]["rpc"], "get_block", {"height": target})["hash"] for n in range(3)}
        check(len(roots) == 1, f"all nodes agree on the block at height {target}")
        st0 = rpc(ln.nodes[0]["rpc"], "ledger_status")["sync"]
        print(f"  producer's sync counters: {st0}", flush=True)
        check(st0.get("request_timeouts", 0) + st0.get("hello_timeouts", 0) > 0,
              "the producer dropped hostile connections for missing their deadlines")
    finally:
        if attacker:
            attacker.stop.set()
            attacker.thread.join(timeout=5)
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 150)
