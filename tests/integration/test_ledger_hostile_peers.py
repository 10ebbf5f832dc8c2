#!/usr/bin/python3
"""Ledger sync against hostile TCP peers on a 3-node devnet.

1. On every node an attacker keeps open one connection that sends a single
   Hello claiming a head far ahead and then stays silent, and 50 connections
   (from 50 source addresses) that send nothing. Blocks must keep being
   produced, and a follower killed with SIGKILL and restarted under the same
   attack must reach its configured peers and catch up with the producer.
2. Then 70 more connections per node, from 70 addresses, that speak the
   protocol (a Hello every 4 s) and so are never dropped: every node's
   inbound slots are full. A follower restarted now must still connect to the
   peers it knows and catch up."""
import os
import socket
import struct
import threading
import time

from bcnet import Devnet, TestFailure, check, main, rpc
from ledgernet import LedgerNet

BASE_IP, PORT = "127.0.41.2", 9410  # this test's own range: nodes 127.0.41.2-4
ATTACK_NET = "127.0.42."             # attacker sources 127.0.42.10-60 and .100-169
INTERVAL_MS = 200
SILENT = 50
CHATTY = 70                          # more than a node's 64 inbound slots
FAR_HEAD = 1 << 60


def hello_frame(genesis_hex, height):
    body = bytes([1]) + bytes.fromhex(genesis_hex) + struct.pack(">Q", height) + bytes(32)
    return struct.pack(">I", len(body)) + body


class Attacker:
    """Keeps connections open to every target, reopening any the node closes
    (at most every 0.5 s per slot). Each slot: (target, source address, a
    frame sent on connect or None, whether that frame is repeated every 4 s)."""

    def __init__(self, slots):
        self.slots = slots
        self.socks = [None] * len(self.slots)
        self.next_try = [0.0] * len(self.slots)
        self.next_say = [0.0] * len(self.slots)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @staticmethod
    def endpoint(text):
        host, port = text.rsplit(":", 1)
        return host, int(port)

    @classmethod
    def liar_and_mutes(cls, targets, genesis_hex):
        slots = []
        for t in targets:
            slots.append((cls.endpoint(t), ATTACK_NET + "10", hello_frame(genesis_hex, FAR_HEAD), False))
            slots += [(cls.endpoint(t), ATTACK_NET + str(11 + i), None, False) for i in range(SILENT)]
        return cls(slots)

    @classmethod
    def chatty(cls, targets, genesis_hex):
        hello = hello_frame(genesis_hex, 0)
        return cls([(cls.endpoint(t), ATTACK_NET + str(100 + i), hello, True) for t in targets for i in range(CHATTY)])

    def open(self, i):
        target, source, first, _ = self.slots[i]
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
            self.next_say[i] = time.time() + 4
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
                elif s is not None and self.slots[i][3] and now >= self.next_say[i]:
                    self.next_say[i] = now + 4
                    try:
                        s.send(self.slots[i][2])
                    except OSError:
                        pass
            time.sleep(0.05)
        for s in self.socks:
            if s:
                s.close()

    def open_now(self):
        return sum(1 for s in self.socks if s is not None)


def restart_and_catch_up(ln, victim):
    ln.kill(victim)
    time.sleep(2)
    t0 = time.time()
    ln.restart(victim)
    target = ln.head(0)["height"] + 5
    ln.wait_heads(target, 25, nodes=[victim])
    took = time.time() - t0
    st = rpc(ln.nodes[victim]["rpc"], "ledger_status")
    linked = [p for p in st["peers"] if p["hello"] and p["height"] > 0]
    check(len(linked) >= 1, f"the restarted node {victim} is linked to honest peers ({len(linked)}; "
                            f"{len(st['peers'])} connections in all)")
    check(True, f"the restarted node {victim} caught up to height {target} in {took:.1f} s under attack")
    hashes = {rpc(ln.nodes[n]["rpc"], "get_block", {"height": target})["hash"] for n in range(len(ln.nodes))}
    check(len(hashes) == 1, f"all nodes agree on the block at height {target}")


def heights(ln):
    return [ln.head(n)["height"] for n in range(len(ln.nodes))]


def test(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net"), 3, BASE_IP, PORT,
                 extra=["--validators", "0", "--accounts", "2", "--block-interval-ms", str(INTERVAL_MS)])
    ln = None
    attackers = []
    try:
        net.up()
        ln = LedgerNet(bins, net)
        ln.wait_heads(3, 20)
        genesis = rpc(ln.nodes[0]["rpc"], "ledger_status")["genesis_hash"]
        targets = [n["listen"] for n in ln.nodes]
        attacker = Attacker.liar_and_mutes(targets, genesis)
        attackers.append(attacker)
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
        restart_and_catch_up(ln, 2)
        st0 = rpc(ln.nodes[0]["rpc"], "ledger_status")["sync"]
        print(f"  producer's sync counters: {st0}", flush=True)
        check(st0.get("request_timeouts", 0) + st0.get("hello_timeouts", 0) > 0,
              "the producer dropped hostile connections for missing their deadlines")

        flood = Attacker.chatty(targets, genesis)
        attackers.append(flood)
        flood.thread.start()
        # The flood fills every node's slots within seconds; a loaded machine
        # (an ASan build beside other work) takes longer, so wait for it.
        deadline = time.time() + 30
        while True:
            conns = [rpc(n["rpc"], "ledger_status")["connections"] for n in ln.nodes]
            if min(conns) >= 64 or time.time() > deadline:
                break
            time.sleep(0.5)
        check(min(conns) >= 64, f"inbound slots full of protocol-speaking strangers: connections per node {conns}")
        h2 = heights(ln)
        time.sleep(3)
        h3 = heights(ln)
        check(h3[0] - h2[0] >= 5, f"blocks keep coming with every slot taken ({h2} -> {h3})")
        restart_and_catch_up(ln, 1)
    finally:
        for a in attackers:
            a.stop.set()
            a.thread.join(timeout=5)
        if ln:
            ln.kill_all()
        net.stop()


if __name__ == "__main__":
    main(test, 150)
