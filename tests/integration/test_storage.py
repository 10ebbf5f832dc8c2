#!/usr/bin/python3
"""Storage through the network (issue 11, tests 1 and 2) on a devnet of 9
storage providers: `blockcloud-cli storage put` a random file (48 MiB; 1 GiB
with BC_LONG=1), kill the providers of two data shards and get it back
byte-identical (parity decoded); `storage verify` names the lost shards,
`storage repair` rebuilds them on two spare providers. A provider that
silently deletes 10% of its shard files is caught by `storage verify` and its
shard is rebuilt on the last spare. Then two more providers are killed and
the file is still byte-identical. A put killed mid-way is finished by
`put --resume`, which sends only what is missing. Figures (put and get MiB/s
through the CLI) are printed."""
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import time

from bcnet import Devnet, TestFailure, check, cli_auth, main, rpc, run, sha_file, write_random

BASE_IP, PORT = "127.0.31.2", 9310  # this test's own range: 127.0.31.2-10, the client on 127.0.31.100
CLIENT_IP = "127.0.31.100"
NODES = 9
MIB = 1024 if os.environ.get("BC_LONG") == "1" else 48


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class Storage:
    def __init__(self, bins, net, workdir):
        self.bins, self.net = bins, net
        self.dir = os.path.join(workdir, "client")
        self.killed = set()  # node indexes

    def args(self, *a):
        # Joins through any live node (the daemon's RPC says its DHT address).
        rpc_node = next(n for n in self.net.nodes if n["index"] not in self.killed)
        return [self.bins.cli, "--rpc", rpc_node["rpc"], *cli_auth(rpc_node["rpc"]), "--rpc-timeout", "60", "storage",
                "--storage-dir",
                self.dir, "--bind", CLIENT_IP] + list(a)

    def cli(self, *a, rc=0, timeout=600):
        return run(self.args(*a), timeout=timeout, check_rc=rc)

    def entry(self, cid):
        with open(os.path.join(self.dir, "files", cid + ".json")) as f:
            return json.load(f)


def get_identical(st, cid, out, digest, what, mib=MIB):
    if os.path.exists(out):
        os.remove(out)
    t0 = time.time()
    _, _, err = st.cli("get", cid, "-o", out)
    dt = time.time() - t0
    check(sha_file(out) == digest, f"{what}: get is byte-identical ({mib / dt:.1f} MiB/s through the CLI)")
    for line in err.splitlines():  # what the get read instead of data shards, if anything
        if "decoded" in line or line.startswith("  provider "):
            print(f"  get: {line.strip()}", flush=True)
    return err


def kill_providers(st, services, victims):
    for s in victims:
        n = services[s]
        os.kill(n["pid"], signal.SIGKILL)
        st.killed.add(n["index"])
        print(f"  killed node {n['index']} (provider {s[:12]}...)", flush=True)


def delete_tenth_of_shards(node):
    """What a dishonest provider does behind the client's back: unlinks 10%
    of its shard files (at least one) while it keeps running and answering."""
    shards = sorted(glob.glob(os.path.join(node["datadir"], "storage", "shards", "**", "*"), recursive=True))
    shards = [f for f in shards if os.path.isfile(f)]
    check(len(shards) >= 1, f"node {node['index']} holds shard files ({len(shards)})")
    victims = shards[::10]
    for f in victims:
        os.remove(f)
    print(f"  node {node['index']} silently deleted {len(victims)} of its {len(shards)} shard files", flush=True)
    return len(victims)


def cheater_caught_and_repaired(st, services, cid):
    """A provider deleting 10% of its shards fails `storage verify`; `storage
    repair` moves its shard to a spare and verify passes again."""
    before = st.entry(cid)["providers"]
    cheater = before[5]
    deleted = delete_tenth_of_shards(services[cheater])
    rc, out, _ = st.cli("verify", cid, rc=1)
    row = next(line for line in out.splitlines() if line.split()[:2] == ["5", cheater])
    failed = int(row.split()[2])
    check(failed >= deleted and "1 of 6 shards failed" in out and "recoverable" in out,
          f"verify caught the provider that deleted 10%: shard 5 failed {failed} segment audits")
    _, out, _ = st.cli("repair", cid)
    check("repaired 1 shard(s)" in out, "repair rebuilt the cheater's shard")
    after = st.entry(cid)["providers"]
    check(after[5] != cheater and after[5] not in before and after[:5] == before[:5],
          "the cheater's shard lives on a spare provider now; the others did not move")
    st.cli("verify", cid)
    check(True, "verify after the cheater's repair: every shard passes")


def resume_after_kill(st, workdir):
    """Kills a put once its journal holds a few segments; --resume finishes it."""
    path = os.path.join(workdir, "resume.bin")
    digest = write_random(path, 64)
    p = subprocess.Popen(st.args("put", path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        journals = glob.glob(os.path.join(st.dir, "puts", "*.journal"))
        if journals and os.path.getsize(journals[0]) > 700:  # the header and 2 segments (~250 bytes each)
            p.kill()
            break
        time.sleep(0.005)
    p.wait()
    check(p.returncode == -signal.SIGKILL, "a put was killed mid-way (its journal held confirmed segments)")
    _, out, _ = st.cli("--json", "put", path, "--resume")
    r = json.loads(out)
    check(r["segments_resumed"] > 0 and r["segments_resumed"] + r["segments"] == 16,
          f"put --resume sent only the missing segments ({r['segments_resumed']} kept, {r['segments']} sent)")
    get_identical(st, r["id"], os.path.join(workdir, "resume.out"), digest, "the resumed file", 64)


def scenario(bins, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    net = Devnet(bins, os.path.join(workdir, "net"), NODES, BASE_IP, PORT,
                 ["--no-ledger", "--storage-providers", str(NODES), "--storage-capacity", "4GiB"])
    try:
        net.up()
        net.wait_routing(NODES - 1)
        services = {rpc(n["rpc"], "storage_status")["service"]: n for n in net.nodes}
        check(len(services) == NODES, f"{NODES} nodes serve storage, each under its own service ID")
        st = Storage(bins, net, workdir)
        deadline = time.time() + 30
        while True:
            _, out, _ = st.cli("--json", "providers")
            listed = {p["service"] for p in json.loads(out)}
            if listed == set(services) or time.time() > deadline:
                break
            time.sleep(0.5)
        check(listed == set(services), f"the storage directory lists all {NODES} providers")

        src = os.path.join(workdir, "file.bin")
        digest = write_random(src, MIB)
        t0 = time.time()
        _, out, _ = st.cli("--json", "put", src)
        dt = time.time() - t0
        cid = json.loads(out)["id"]
        check(cid.startswith("f"), f"put {MIB} MiB as {cid[:16]}... ({MIB / dt:.1f} MiB/s through the CLI)")
        placement = st.entry(cid)["providers"]
        check(len(placement) == 6, "4+2 shards on 6 distinct providers")
        get_identical(st, cid, os.path.join(workdir, "out0.bin"), digest, "all providers up")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if sanitized(bins.cli):  # ASan's shadow memory and quarantine, not ours
            print(f"  the CLI's peak RSS (ASan build, not checked): {peak:.0f} MiB", flush=True)
        else:
            check(peak < 128, f"the CLI's peak RSS over the put and get of {MIB} MiB: {peak:.0f} MiB (< 128 MiB)")

        kill_providers(st, services, placement[0:2])  # two data shards: every segment needs parity
        err = get_identical(st, cid, os.path.join(workdir, "out1.bin"), digest, "2 providers killed")
        check("segments decoded" in err, "the get read parity shards in place of the lost ones")
        rc, out, _ = st.cli("verify", cid, rc=1)
        check("2 of 6 shards failed" in out and "recoverable" in out, "verify names 2 failed shards, recoverable")
        _, out, _ = st.cli("repair", cid)
        check("repaired 2 shard(s)" in out, "repair rebuilt the 2 lost shards")
        new = st.entry(cid)["providers"]
        check(set(new[0:2]).isdisjoint(placement) and new[2:] == placement[2:],
              "the rebuilt shards live on 2 spare providers; the others did not move")
        st.cli("verify", cid)
        check(True, "verify after repair: every shard passes")
        cheater_caught_and_repaired(st, services, cid)

        new = st.entry(cid)["providers"]
        kill_providers(st, services, new[2:4])
        get_identical(st, cid, os.path.join(workdir, "out2.bin"), digest, "2 more providers killed after repair")
        st.cli("rm", cid)
        check(not os.path.exists(os.path.join(st.dir, "files", cid + ".json")), "rm forgets the file")
    finally:
        net.stop()


def resume_scenario(bins, workdir):
    net = Devnet(bins, os.path.join(workdir, "net-resume"), 6, "127.0.31.20", PORT,
                 ["--no-ledger", "--storage-providers", "6", "--storage-capacity", "1GiB"])
    try:
        net.up()
        net.wait_routing(5)
        st = Storage(bins, net, workdir)
        st.dir = os.path.join(workdir, "client-resume")
        deadline = time.time() + 30
        while len(json.loads(st.cli("--json", "providers")[1])) < 6 and time.time() < deadline:
            time.sleep(0.5)
        resume_after_kill(st, workdir)
    finally:
        net.stop()


def test(bins, workdir):
    scenario(bins, workdir)
    resume_scenario(bins, workdir)


if __name__ == "__main__":
    main(test, 3000 if MIB > 100 else 400)
