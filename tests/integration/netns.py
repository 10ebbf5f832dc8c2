"""Network namespaces for the multi-process tests.

in_namespace() re-runs the test inside a user + network namespace of its own
(unshare -rn), where it may add addresses, links and routes without
privileges on the host, and nothing it sends can leave the namespace.

Hosts gives nodes namespaces of their own inside that one, each joined to a
bridge by a veth pair, so a test can cut the links between groups of nodes
(a partition) and heal them while it still reaches every node itself."""
import os
import shutil
import subprocess
import sys
import time

from bcnet import TestFailure, run

SKIP = 77


def in_namespace():
    """Re-runs this script in a new user + network namespace (once)."""
    if os.environ.get("BC_IN_NETNS") == "1":
        return
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode != 0:
        print("skipped: this machine does not allow user network namespaces (unshare -rn)", flush=True)
        sys.exit(SKIP)
    env = dict(os.environ, BC_IN_NETNS="1")
    sys.exit(subprocess.run([unshare, "-rn", sys.executable, *sys.argv], env=env).returncode)


def ip(*args):
    run(["ip", *args], check_rc=0)


def _net_ns(pid):
    return os.readlink(f"/proc/{pid}/ns/net")


class Hosts:
    """`count` namespaces on one bridge: host i has PREFIX.(i + 1)/24, this
    namespace PREFIX.254. A host's namespace lives as long as its holder
    process (`unshare -n sleep`); close() ends them, and so does the death
    of the process that made them."""

    def __init__(self, prefix, count):
        self.prefix = prefix
        self.holders = []
        self.cuts = []  # (host, address) blackhole routes in place
        ip("link", "set", "lo", "up")
        ip("link", "add", "bc-br", "type", "bridge")
        ip("link", "set", "bc-br", "up")
        ip("addr", "add", f"{prefix}.254/24", "dev", "bc-br")
        try:
            for i in range(count):
                self._add(i)
        except BaseException:
            self.close()
            raise

    def address(self, i):
        return f"{self.prefix}.{i + 1}"

    def _add(self, i):
        holder = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "-n", "sleep", "infinity"],
                                  stdin=subprocess.DEVNULL)
        self.holders.append(holder)
        deadline = time.time() + 5
        while _net_ns(holder.pid) == _net_ns("self"):  # until unshare has made its namespace
            if holder.poll() is not None or time.time() > deadline:
                raise TestFailure(f"`unshare -n` did not make a namespace for host {i}")
            time.sleep(0.01)
        ip("link", "add", f"bc-h{i}", "type", "veth", "peer", "name", f"bc-n{i}")
        ip("link", "set", f"bc-n{i}", "netns", str(holder.pid))
        ip("link", "set", f"bc-h{i}", "master", "bc-br")
        ip("link", "set", f"bc-h{i}", "up")
        self.inside(i, "ip", "link", "set", "lo", "up")
        self.inside(i, "ip", "addr", "add", f"{self.address(i)}/24", "dev", f"bc-n{i}")
        self.inside(i, "ip", "link", "set", f"bc-n{i}", "up")

    def enter(self, i):
        """The command prefix that runs a program in host i's namespace. The
        program gets SIGKILL when the process that started it dies, so a test
        killed hard leaves no daemon behind in a namespace nothing reaches."""
        return ["nsenter", "-t", str(self.holders[i].pid), "-n", "--", "setpriv", "--pdeathsig", "KILL", "--"]

    def inside(self, i, *cmd):
        run(self.enter(i) + list(cmd), check_rc=0)

    def cut(self, side_a, side_b):
        """Silently drops every packet between the two groups, both ways (a
        blackhole route to each address across), as a failed link would."""
        for a, b in [(a, b) for a in side_a for b in side_b] + [(b, a) for a in side_a for b in side_b]:
            self.inside(a, "ip", "route", "add", "blackhole", f"{self.address(b)}/32")
            self.cuts.append((a, self.address(b)))

    def heal(self):
        for host, addr in self.cuts:
            self.inside(host, "ip", "route", "del", "blackhole", f"{addr}/32")
        self.cuts = []

    def close(self):
        for h in self.holders:
            h.kill()
            h.wait()
        self.holders = []
