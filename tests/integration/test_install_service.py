"""scripts/install-service: stages the unit, binaries and a starting config
under a DESTDIR; the unit has the options the operator guide promises, and
the config it writes starts a real blockcloudd. Refuses bad input clearly."""
import os
import re
import shutil
import subprocess
import tempfile

import bcnet
from bcnet import check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "install-service")
LISTEN = "127.0.12.2:9800"  # this test's own loopback address
RPC = "127.0.12.2:10800"


def install(*args):
    p = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def check_unit(unit_text, prefix, config):
    check(f"ExecStart={prefix}/bin/blockcloudd --config {config}" in unit_text, "unit starts the installed daemon with the config")
    for option in ("Restart=on-failure", "User=blockcloud", "StateDirectoryMode=0700", "UMask=0077",
                   "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "CapabilityBoundingSet=\n"):
        check(option in unit_text, f"unit has {option.strip()}")
    check(not re.search(r"@[A-Z]+@", unit_text), "every @NAME@ of the template is filled")


def verify_with_systemd(unit_path, staged_daemon, workdir):
    """systemd-analyze checks the unit's syntax and rates its sandboxing; the
    staged copy points ExecStart at the staged binary so verify can find it."""
    with open(unit_path) as f:
        text = f.read().replace("ExecStart=/opt/bc/bin/blockcloudd", f"ExecStart={staged_daemon}")
    copy = os.path.join(workdir, "blockcloudd.service")
    with open(copy, "w") as f:
        f.write(text)
    p = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and "blockcloudd.service" not in p.stderr,
          f"systemd-analyze verify accepts the unit {p.stderr.strip()}")
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", copy],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for blockcloudd.service: ([0-9.]+)", p.stdout)
    check(m is not None and float(m.group(1)) <= 2.5,
          f"systemd-analyze security rates the sandbox exposure {m.group(1) if m else '?'} (<= 2.5)")


def start_with_config(bins, config, datadir):
    """Starts the daemon from the staged config (datadir and addresses moved
    into this test's scratch space) and waits until it answers."""
    proc = subprocess.Popen([bins.daemon, "--config", config, "--datadir", datadir, "--listen", LISTEN,
                             "--rpc", RPC, "--socks", "off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0))
    bcnet.register_datadir(RPC, datadir)
    try:
        bcnet.wait_rpc(RPC, proc, "blockcloudd from the installed config")
        check(True, "blockcloudd starts from the config install-service wrote")
        check(oct(os.stat(datadir).st_mode & 0o777) == "0o700", "under umask 000 the new datadir is still 0700")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test(bins, workdir):
    dest = tempfile.mkdtemp(prefix="stage-", dir=workdir)
    rc, out = install("--bin-dir", bins.dir, "--destdir", dest, "--prefix", "/opt/bc")
    check(rc == 0, f"staging succeeds ({out.strip().splitlines()[-1] if out.strip() else ''})")
    unit = os.path.join(dest, "etc/systemd/system/blockcloudd.service")
    config = os.path.join(dest, "etc/blockcloud/blockcloudd.toml")
    check(os.access(os.path.join(dest, "opt/bc/bin/blockcloudd"), os.X_OK), "daemon installed under the prefix")
    check(os.access(os.path.join(dest, "opt/bc/bin/blockcloud-cli"), os.X_OK), "CLI installed under the prefix")
    check(oct(os.stat(config).st_mode & 0o777) == "0o640", "config is 0640 (not world-readable)")
    with open(unit) as f:
        check_unit(f.read(), "/opt/bc", "/etc/blockcloud/blockcloudd.toml")
    if not shutil.which("systemd-analyze"):
        raise bcnet.TestFailure("systemd-analyze is missing: run scripts/bootstrap (it installs systemd)")
    verify_with_systemd(unit, os.path.join(dest, "opt/bc/bin/blockcloudd"), workdir)
    start_with_config(bins, config, os.path.join(workdir, "fresh", "data"))

    bad = os.path.join(workdir, "bad-ledger.toml")
    with open(config) as f, open(bad, "w") as out:
        out.write(f.read() + "[ledger]\nproducr = true\n")
    p = subprocess.run([bins.daemon, "--config", bad, "--datadir", os.path.join(workdir, "bad")],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "ledger.producr" in p.stderr and "known keys: genesis, producer" in p.stderr,
          "a misspelt [ledger] key stops the daemon naming it and the known keys")

    with open(config, "a") as f:
        f.write("# edited by the operator\n")
    rc, out = install("--bin-dir", bins.dir, "--destdir", dest, "--prefix", "/opt/bc")
    with open(config) as f:
        check(rc == 0 and "edited by the operator" in f.read(), "a second install keeps the operator's config")

    rc, out = install("--bin-dir", os.path.join(workdir, "nowhere"), "--destdir", dest)
    check(rc != 0 and "run scripts/build release first" in out, "missing binaries: says to build first")
    rc, out = install("--user", "Bad User", "--destdir", dest, "--bin-dir", bins.dir)
    check(rc != 0 and "not a valid user name" in out, "a bad --user is refused with the expected form")
    rc, out = install("--frobnicate")
    check(rc == 2 and "unknown option '--frobnicate'" in out, "an unknown option is named")
    rc, out = install("--uninstall", "--destdir", dest, "--prefix", "/opt/bc")
    check(rc == 0 and not os.path.exists(unit) and os.path.exists(config), "uninstall removes the unit, keeps the config")


if __name__ == "__main__":
    bcnet.main(test, 120)
