#!/usr/bin/python3
"""The README's main job: `blockcloud-devnet demo` (what scripts/demo runs)
starts a network, stores and finds records, watches a key, reaches a service
by ID and follows it to a new address, stores a file on storage providers
and reads it back, has a transfer finalised by a committee of 4 validators,
has the validators' miners audit an honest and a cheating provider (pay,
bond burn and report fees read from the chain),
survives a crash (the chain going on without the killed validator) and shuts down; it
exits 0 only if every step worked."""
import json
import os
import shutil
import time

from bcnet import check, main, pid_alive, run


def test(bins, workdir):
    d = os.path.join(workdir, "demo")
    shutil.rmtree(d, ignore_errors=True)
    t0 = time.time()
    rc, out, err = run([bins.devnet, "demo", "--nodes", "8", "--dir", d, "--base-ip", "127.0.10.2",
                        "--base-port", "9900", "--bin", bins.dir], timeout=150)
    tail = (out + err)[-1500:]
    check(rc == 0, f"the demo exits 0 ({time.time() - t0:.1f} s)" + ("" if rc == 0 else f"\n{tail}"))
    check('got "HELLO, SERVICE"' in out, "the service is reached by ID")
    check('got "STILL THERE?"' in out, "the open connection follows the provider to its new address")
    check("got it back: identical" in out, "a file is stored on the storage providers and read back whole")
    check("in a block carrying a commit certificate" in out, "a transfer is finalised by the committee")
    check('"honest": graded ok' in out and '"cheater": graded unstable' in out and "of its bond burned" in out
          and "report fees minted to the auditors" in out and "(get_supply)" in out,
          "miners audit two providers: the honest one graded ok and paid, the cheater's bond burned, fees, supply conserved")
    check("without validator 0 the others finalised" in out, "the chain goes on after a validator is killed")
    check("a crash lost nothing" in out, "the summary reports every step worked")
    with open(os.path.join(d, "devnet.json")) as f:
        pids = [n["pid"] for n in json.load(f)["nodes"] if n["pid"] > 0]
    check("Shutting the network down" in out and pids and not any(pid_alive(p) for p in pids),
          "the network is shut down: no daemon left running")


if __name__ == "__main__":
    main(test, 170)
