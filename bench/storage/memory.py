#!/usr/bin/python3
"""Issue 11, test 3: putting and getting a large file keeps the client's peak
RSS under 128 MiB.

Starts a devnet of 6 storage providers on loopback, writes a random file of
--gib GiB (default 10), runs `blockcloud-cli storage put` and `storage get`
each under /usr/bin/time -v, checks the file comes back byte-identical and
that each command's "Maximum resident set size" is under 128 MiB, prints the
figures and removes every file it wrote (source, output, the devnet's shards).

Long (10 GiB: about 10 minutes and 35 GiB of disk), so it runs only with
BC_LONG=1 and is not part of CI; the CI bound is checked on 48 MiB by
tests/integration/test_storage.py.

  BC_LONG=1 bench/storage/memory.py --bin build/bin --workdir /tmp/bc-storage-memory [--gib 10]
"""
import argparse
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from bcnet import Bins, Devnet, TestFailure, check, cli_auth, run, sha_file, write_random  # noqa: E402

BASE_IP, PORT = "127.0.36.2", 9360  # this script's own range: 127.0.36.2-7, the client on 127.0.36.100
CLIENT_IP = "127.0.36.100"
PROVIDERS = 6
LIMIT_MIB = 128


def timed_cli(bins, net, client_dir, *args):
    """Runs one CLI command under /usr/bin/time -v: (stdout, seconds, peak RSS in MiB)."""
    node = net.nodes[0]
    cmd = ["/usr/bin/time", "-v", bins.cli, "--rpc", node["rpc"], *cli_auth(node["rpc"]), "--rpc-timeout", "60",
           "storage", "--storage-dir", client_dir, "--bind", CLIENT_IP, *args]
    t0 = time.time()
    _, out, err = run(cmd, timeout=7200, check_rc=0)
    dt = time.time() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    check(m is not None, "/usr/bin/time reported the peak RSS")
    return out, dt, int(m.group(1)) / 1024


def measure(bins, workdir, gib):
    mib = gib * 1024
    per_provider = (mib * 3 // 2) // PROVIDERS + 1024  # 4+2 spreads 1.5x the file over 6 providers
    net = Devnet(bins, os.path.join(workdir, "net"), PROVIDERS, BASE_IP, PORT,
                 ["--no-ledger", "--storage-providers", str(PROVIDERS), "--storage-capacity", f"{per_provider}MiB"])
    src, dst = os.path.join(workdir, "file.bin"), os.path.join(workdir, "file.out")
    client_dir = os.path.join(workdir, "client")
    try:
        net.up()
        net.wait_routing(PROVIDERS - 1)
        deadline = time.time() + 60
        while True:
            out, _, _ = timed_cli(bins, net, client_dir, "--json", "providers")
            if len(json.loads(out)) >= PROVIDERS or time.time() > deadline:
                break
            time.sleep(0.5)
        check(len(json.loads(out)) >= PROVIDERS, f"the storage directory lists {PROVIDERS} providers")
        t0 = time.time()
        digest = write_random(src, mib)
        print(f"  wrote {gib} GiB of random bytes in {time.time() - t0:.0f} s", flush=True)
        out, put_s, put_rss = timed_cli(bins, net, client_dir, "--json", "put", src)
        cid = json.loads(out)["id"]
        print(f"  put {gib} GiB in {put_s:.0f} s ({mib / put_s:.1f} MiB/s), peak RSS {put_rss:.1f} MiB", flush=True)
        os.remove(src)
        _, get_s, get_rss = timed_cli(bins, net, client_dir, "get", cid, "-o", dst)
        print(f"  get {gib} GiB in {get_s:.0f} s ({mib / get_s:.1f} MiB/s), peak RSS {get_rss:.1f} MiB", flush=True)
        check(sha_file(dst) == digest, f"get of {gib} GiB is byte-identical")
        check(put_rss < LIMIT_MIB, f"put's peak RSS {put_rss:.1f} MiB < {LIMIT_MIB} MiB")
        check(get_rss < LIMIT_MIB, f"get's peak RSS {get_rss:.1f} MiB < {LIMIT_MIB} MiB")
        timed_cli(bins, net, client_dir, "rm", cid)
    finally:
        net.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # the source, the output and every provider's shards


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory holding blockcloudd, blockcloud-cli, blockcloud-devnet")
    ap.add_argument("--workdir", required=True, help="scratch directory (removed at the end)")
    ap.add_argument("--gib", type=int, default=10, help="file size in GiB (default 10)")
    a = ap.parse_args()
    if os.environ.get("BC_LONG") != "1":
        print("skipped: a long run (set BC_LONG=1)")
        return
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    try:
        measure(Bins(a.bin), a.workdir, a.gib)
    except TestFailure as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(1)
    print("PASSED", flush=True)


if __name__ == "__main__":
    main()
