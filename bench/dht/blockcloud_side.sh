#!/bin/bash
# Blockcloud side of one benchmark run: a devnet of N blockcloudd processes
# (blockcloud-devnet up) plus the bc-bench-dht-client node. Meant to run
# inside its own network and PID namespace (dht_vs_opendht.sh starts it under
# `unshare --net --pid --fork`), so it cannot collide with another devnet on
# this machine and every process dies with the namespace. Usage:
#   blockcloud_side.sh NODES BASE_PORT BIN_DIR WORK_DIR OUT_JSON MODE -- <client args>
set -euo pipefail
nodes=$1 base_port=$2 bin=$3 work=$4 out=$5 mode=$6
shift 6; [[ ${1:-} == -- ]] && shift

devnet_dir=$work/devnet
cleanup() {
  if [[ -f $devnet_dir/devnet.json ]]; then
    "$bin/blockcloud-devnet" down --dir "$devnet_dir" --timeout 3 >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${BC_BENCH_NETNS:-} ]]; then ip link set lo up; fi
rm -rf "$devnet_dir"
mkdir -p "$work"
echo "[blockcloud] starting $nodes blockcloudd on 127.0.0.2.. port $base_port ($mode)" >&2
# BC_BENCH_DHT: space-separated KEY=VALUE overrides for nodes and client.
dht_nodes=() dht_client=()
for kv in ${BC_BENCH_DHT:-}; do dht_nodes+=(--dht "$kv"); dht_client+=(--dht "$kv"); done
"$bin/blockcloud-devnet" up --nodes "$nodes" --dir "$devnet_dir" --base-ip 127.0.0.2 \
  --base-port "$base_port" --mode "$mode" --bin "$bin" --log-level warn "${dht_nodes[@]}" >"$work/devnet-up.log" 2>&1 || {
  echo "blockcloud side: blockcloud-devnet up failed; last lines of $work/devnet-up.log:" >&2
  tail -20 "$work/devnet-up.log" >&2
  exit 1
}
# Bootstrap the client from up to four devnet nodes listed in devnet.json.
mapfile -t seeds < <(/usr/bin/python3 -c '
import json, sys
net = json.load(open(sys.argv[1]))
for n in net["nodes"][:4]:
    print(n["listen"])' "$devnet_dir/devnet.json")
boot=()
for s in "${seeds[@]}"; do boot+=(--bootstrap "$s"); done
echo "[blockcloud] devnet up; client joins via ${seeds[*]}" >&2
rc=0
"$bin/bc-bench-dht-client" "${boot[@]}" --bind 127.0.0.1:$((base_port + 1)) --nodes "$nodes" \
  --mode "$mode" --out "$out" --metrics-out "$work/client-metrics.txt" "${dht_client[@]}" "$@" || rc=$?
# Sum of the nodes' bc_dht_*/bc_udp_* counters (drops, rate limiting, store
# outcomes): where to look first when our figures are poor.
/usr/bin/python3 - "$devnet_dir/devnet.json" >"$work/nodes-metrics-sum.txt" 2>/dev/null <<'PY' || true
import collections, json, sys, urllib.request
total = collections.Counter()
for n in json.load(open(sys.argv[1]))["nodes"]:
    try:
        text = urllib.request.urlopen(f"http://{n['rpc']}/metrics", timeout=2).read().decode()
    except OSError:
        continue
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            total[name] += float(value)
        except ValueError:
            pass
for name, value in sorted(total.items()):
    if value:
        print(name, int(value))
PY
# UDP counters of this namespace (RcvbufErrors: datagrams lost to a full
# socket receive buffer), when the side runs isolated.
if [[ -n ${BC_BENCH_NETNS:-} ]]; then grep '^Udp:' /proc/net/snmp >"$work/udp-snmp.txt" || true; fi
exit "$rc"
