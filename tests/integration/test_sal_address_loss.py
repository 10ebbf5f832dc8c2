#!/usr/bin/python3
"""A provider's address disappears mid-transfer (issue 3: an address change
"also detected when a local address disappears"). Runs in a network namespace
of its own (unshare -rn), where addresses can be added to and removed from lo
without privileges on the host:
  - a seed, a provider on 10.9.0.1 (--address-fallback 10.9.0.2) and a client
    on 10.9.0.3; RPC and SOCKS on loopback;
  - 64 MiB go through a flow; a quarter in, `ip addr del 10.9.0.1` removes the
    provider's address; it notices within a second, moves to 10.9.0.2, the
    client finds it there, and the backend's SHA-256 matches.
Exits 77 (ctest: skipped) where user namespaces are not allowed."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bcnet import check, main, register_datadir, rpc, wait_rpc  # noqa: E402
from netns import in_namespace, ip  # noqa: E402
import test_sal_flows as flows  # noqa: E402

ADDRS = ["10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"]


def test(bins, workdir):
    ip("link", "set", "lo", "up")
    for a in ADDRS:
        ip("addr", "add", f"{a}/32", "dev", "lo")
    procs = []

    def daemon(name, listen, rpc_addr, *extra):
        d = os.path.join(workdir, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        log = open(os.path.join(d, "log"), "w")
        p = subprocess.Popen([bins.daemon, "--datadir", d, "--listen", listen, "--rpc", rpc_addr, *extra],
                             stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        register_datadir(rpc_addr, d)
        return {"rpc": rpc_addr, "dir": d, "status": wait_rpc(rpc_addr, p, f"{name} (see {d}/log)")}

    try:
        seed = daemon("seed", "10.9.0.4:9000", "127.0.0.4:9100")
        prov = daemon("provider", "10.9.0.1:9000", "127.0.0.2:9100", "--bootstrap", "10.9.0.4:9000",
                      "--address-fallback", "10.9.0.2")
        client = daemon("client", "10.9.0.3:9000", "127.0.0.3:9100", "--bootstrap", "10.9.0.4:9000")
        del seed
        backend = flows.ShaBackend("127.0.0.50")
        keys = os.path.join(workdir, "owner-keys")
        shutil.rmtree(keys, ignore_errors=True)
        time.sleep(0.5)  # the provider's and client's joins settle
        sid = flows.make_service(bins, keys, "moving", [prov], backend.addr)
        nbytes = 64 << 20
        t0 = time.time()

        def drop_address():
            ip("addr", "del", "10.9.0.1/32", "dev", "lo")

        local, remote = flows.transfer(bins, client, sid, nbytes, during=drop_address)
        check(remote == f"{local} {nbytes}",
              f"the provider's address disappears mid-transfer: {nbytes >> 20} MiB arrive with an identical "
              f"SHA-256 in {time.time() - t0:.2f} s, longest stall {backend.max_gap * 1000:.0f} ms")
        with open(os.path.join(prov["dir"], "log")) as f:
            log = f.read()
        check("10.9.0.1 disappeared from this host: moving to 10.9.0.2" in log,
              "the provider logs that it noticed and where it moved")
        st = rpc(prov["rpc"], "status")
        check(st["listen"].startswith("10.9.0.2:"), f"the provider now listens on {st['listen']}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    in_namespace()
    main(test, 150)
