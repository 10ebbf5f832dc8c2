#!/bin/bash
# DHT benchmark: Blockcloud's DHT against OpenDHT on this machine, same run.
# See docs/benchmarks.md. Run with --help for the options.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

nodes=32 puts=10000 gets=10000 inflight=64 runs=3 value_size=200
mode=coral get_mode=first settle=3 only="" netns=auto bc_dht=() bc_rcvbuf=0
bin_dir="" out="" work=""
opendht_port=41000 bc_port=42000

usage() {
  cat <<EOF
Usage: bench/dht_vs_opendht.sh [options]

Measures, on loopback and in one run, a network of N OpenDHT nodes (dhtnode)
and a network of N Blockcloud nodes (blockcloudd via blockcloud-devnet). On
each side one client that is itself a DHT node joins the network and runs:
PUTS puts of distinct keys with VALUE_SIZE-byte values, then GETS gets of
random stored keys, INFLIGHT operations in flight. Prints p50/p99 latency,
throughput and failures per system (medians over RUNS runs, plus every run)
and the ratios ours/OpenDHT; writes the same to a JSON file.

Options:
  --nodes N           nodes per system (default $nodes)
  --puts N            puts per run (default $puts)
  --gets N            gets per run (default $gets)
  --inflight N        operations in flight (default $inflight)
  --runs N            runs; medians are reported (default $runs)
  --value-size N      value bytes (default $value_size)
  --mode M            Blockcloud DHT mode: coral or kademlia (default $mode)
  --opendht-get-mode M  first: an OpenDHT get completes at its first value
                      (its fastest use, default); all: at the end of the search
  --settle S          seconds to wait after a client's table is stable (default $settle)
  --bc-dht KEY=VALUE  experiment: override a Blockcloud [dht] setting on every node
                      and the client (request_timeout_ms, max_retries, alpha,
                      search_width, replicas, k); repeatable. Headline figures
                      use the defaults.
  --bc-rcvbuf BYTES   experiment: enlarge the Blockcloud client's socket receive
                      buffer (what a larger buffer in AsioUdpDriver would buy)
  --only SYSTEM       run only opendht or only blockcloud
  --bin DIR           where blockcloudd, blockcloud-devnet and bc-bench-dht-client
                      are (default: build-bench/bin, else build/bin)
  --out FILE          result JSON (default WORK/result.json)
  --work DIR          logs and per-run files (default: a new /tmp/bc-dht-bench.*)
  --no-netns          do not isolate each side in its own network namespace
                      (then dhtnode binds the wildcard address)
  -h, --help          this text

Needs: dhtnode and python3-opendht (Debian packages; the client runs under
/usr/bin/python3), the three Blockcloud programs built, and root or
unprivileged user namespaces for the network namespaces (else --no-netns).
EOF
}

die() { echo "dht_vs_opendht: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) need_value "$@"; nodes=$2; shift 2 ;;
    --puts) need_value "$@"; puts=$2; shift 2 ;;
    --gets) need_value "$@"; gets=$2; shift 2 ;;
    --inflight) need_value "$@"; inflight=$2; shift 2 ;;
    --runs) need_value "$@"; runs=$2; shift 2 ;;
    --value-size) need_value "$@"; value_size=$2; shift 2 ;;
    --mode) need_value "$@"; mode=$2; shift 2 ;;
    --opendht-get-mode) need_value "$@"; get_mode=$2; shift 2 ;;
    --settle) need_value "$@"; settle=$2; shift 2 ;;
    --bc-dht) need_value "$@"; [[ $2 =~ ^[a-z_]+=[0-9]+$ ]] || die "--bc-dht needs KEY=INTEGER, got '$2'"
      bc_dht+=("$2"); shift 2 ;;
    --bc-rcvbuf) need_value "$@"; bc_rcvbuf=$2; shift 2 ;;
    --only) need_value "$@"; only=$2; shift 2 ;;
    --bin) need_value "$@"; bin_dir=$2; shift 2 ;;
    --out) need_value "$@"; out=$2; shift 2 ;;
    --work) need_value "$@"; work=$2; shift 2 ;;
    --no-netns) netns=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ $bc_rcvbuf =~ ^[0-9]+$ ]] || die "--bc-rcvbuf must be a byte count, got '$bc_rcvbuf'"
for v in nodes puts gets inflight runs value_size; do
  [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} > 0)) || die "--${v//_/-} must be a positive integer, got '${!v}'"
done
((nodes >= 2 && nodes <= 200)) || die "--nodes must be between 2 and 200, got $nodes"
((value_size <= 1024)) || die "--value-size must be at most 1024 (Blockcloud's record payload limit)"
[[ $mode == coral || $mode == kademlia ]] || die "--mode must be coral or kademlia, got '$mode'"
[[ $get_mode == first || $get_mode == all ]] || die "--opendht-get-mode must be first or all"
[[ -z $only || $only == opendht || $only == blockcloud ]] || die "--only must be opendht or blockcloud"

want_opendht=1 want_bc=1
[[ $only == blockcloud ]] && want_opendht=0
[[ $only == opendht ]] && want_bc=0

if ((want_opendht)); then
  command -v dhtnode >/dev/null || die "dhtnode not found: install the Debian package dhtnode (scripts/bootstrap)"
  /usr/bin/python3 -c 'import opendht' 2>/dev/null ||
    die "/usr/bin/python3 cannot import opendht: install python3-opendht (scripts/bootstrap)"
fi
if ((want_bc)); then
  if [[ -z $bin_dir ]]; then
    for d in "$repo/build-bench/bin" "$repo/build/bin"; do
      [[ -x $d/bc-bench-dht-client ]] && { bin_dir=$d; break; }
    done
  fi
  for p in blockcloudd blockcloud-devnet bc-bench-dht-client; do
    [[ -n $bin_dir && -x $bin_dir/$p ]] ||
      die "$p not found${bin_dir:+ in $bin_dir}: build it (ninja -C build-bench blockcloudd blockcloud-devnet bc-bench-dht-client) or pass --bin DIR"
  done
fi

if [[ $netns == auto ]]; then
  if unshare --net --pid --mount-proc --fork --kill-child true 2>/dev/null; then netns=yes
  elif unshare --user --map-root-user --net --pid --mount-proc --fork --kill-child true 2>/dev/null; then netns=user
  else
    echo "dht_vs_opendht: cannot create network namespaces; running without (see --no-netns)" >&2
    netns=no
  fi
fi
isolate=()
case $netns in
  yes) isolate=(unshare --net --pid --mount-proc --fork --kill-child env BC_BENCH_NETNS=1) ;;
  user) isolate=(unshare --user --map-root-user --net --pid --mount-proc --fork --kill-child env BC_BENCH_NETNS=1) ;;
esac

[[ -n $work ]] || work=$(mktemp -d /tmp/bc-dht-bench.XXXXXX)
mkdir -p "$work"
[[ -n $out ]] || out=$work/result.json

# Every side runs as one child (a PID namespace when isolated): killing it
# ends all its processes. Ctrl-C, errors and normal exit all come here.
child=""
cleanup() {
  local rc=$?
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$child" 2>/dev/null || true
  fi
  if [[ $netns == no && -f $work/bc-current/devnet/devnet.json ]]; then
    "$bin_dir/blockcloud-devnet" down --dir "$work/bc-current/devnet" --timeout 3 >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "dht_vs_opendht: interrupted; stopping every node" >&2; exit 130' INT TERM

run_side() {  # run_side LOGFILE CMD...: runs one side in the background and waits
  local log=$1; shift
  # Load average before and after: other work on this machine skews figures.
  cut -d' ' -f1 /proc/loadavg >"${log%.log}.load"
  "${isolate[@]}" "$@" 2> >(tee -a "$log" >&2) &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  cut -d' ' -f1 /proc/loadavg >>"${log%.log}.load"
  return "$rc"
}

common=(--puts "$puts" --gets "$gets" --inflight "$inflight" --value-size "$value_size" --settle "$settle")
specs=()
failed=0
echo "dht_vs_opendht: $nodes nodes per system, $puts puts + $gets gets, $inflight in flight, $runs run(s); files in $work" >&2
for ((r = 1; r <= runs; r++)); do
  seed=$((1000 + r))
  if ((want_opendht)); then
    echo "dht_vs_opendht: run $r/$runs: OpenDHT" >&2
    f=$work/opendht-run$r.json
    rm -f "$f"
    if run_side "$work/opendht-run$r.log" "$here/dht/opendht_side.sh" "$nodes" "$opendht_port" \
        "$work/opendht-run$r-nodes" "$f" -- "${common[@]}" --seed "$seed" --get-mode "$get_mode"; then
      specs+=("opendht:$r:$f")
    else
      echo "dht_vs_opendht: OpenDHT run $r failed; see $work/opendht-run$r.log" >&2; failed=1
    fi
  fi
  if ((want_bc)); then
    echo "dht_vs_opendht: run $r/$runs: Blockcloud" >&2
    f=$work/blockcloud-run$r.json
    rm -f "$f"
    rm -rf "$work/bc-current"
    if BC_BENCH_DHT="${bc_dht[*]}" run_side "$work/blockcloud-run$r.log" "$here/dht/blockcloud_side.sh" "$nodes" "$bc_port" \
        "$bin_dir" "$work/bc-current" "$f" "$mode" -- "${common[@]}" --seed "$seed" \
        $( ((bc_rcvbuf > 0)) && echo "--rcvbuf $bc_rcvbuf"); then
      specs+=("blockcloud:$r:$f")
    else
      echo "dht_vs_opendht: Blockcloud run $r failed; see $work/blockcloud-run$r.log and $work/bc-current" >&2
      failed=1
    fi
    # Keep the last run's devnet logs and client metrics for inspection.
    [[ -d $work/bc-current ]] && { rm -rf "$work/blockcloud-run$r-files"; mv "$work/bc-current" "$work/blockcloud-run$r-files"; }
  fi
done

((${#specs[@]} > 0)) || die "no run produced a result; see the logs in $work"

/usr/bin/python3 - "$work/meta.json" <<EOF
import json, os, platform, subprocess, sys, time
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "machine": f"{os.cpu_count()} vCPU {cpu}".strip(),
    "loadavg_at_end": os.getloadavg(),
    "kernel": platform.release(),
    "opendht": sh("dpkg-query -W -f '\${Version}' dhtnode"),
    "repo_head_at_report": sh("git -C '$repo' rev-parse --short HEAD"),
    "network_namespaces": "$netns",
    "params": {"nodes": $nodes, "puts": $puts, "gets": $gets, "inflight": $inflight,
               "runs": $runs, "value_size": $value_size, "blockcloud_mode": "$mode",
               "opendht_get_mode": "$get_mode", "blockcloud_dht_overrides": "${bc_dht[*]}",
               "blockcloud_client_rcvbuf": $bc_rcvbuf},
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
rc=0
/usr/bin/python3 "$here/dht/report.py" --meta "$work/meta.json" --out "$out" "${specs[@]}" || rc=$?
((failed == 0)) || rc=1
exit "$rc"
