#!/bin/bash
# OpenDHT side of one benchmark run: N dhtnode processes on loopback plus the
# Python client node. Meant to run inside its own network and PID namespace
# (dht_vs_opendht.sh starts it under `unshare --net --pid --fork`), so the
# nodes, which bind to the wildcard address, can only reach loopback and all
# die with the namespace. Usage:
#   opendht_side.sh NODES FIRST_PORT LOG_DIR OUT_JSON -- <client args>
set -euo pipefail
nodes=$1 first_port=$2 log_dir=$3 out=$4
shift 4; [[ ${1:-} == -- ]] && shift
here=$(cd "$(dirname "$0")" && pwd)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${BC_BENCH_NETNS:-} ]]; then ip link set lo up; fi
mkdir -p "$log_dir"
for ((i = 0; i < nodes; i++)); do
  port=$((first_port + i))
  if ((i == 0)); then
    dhtnode -s -p "$port" >"$log_dir/dhtnode-$i.log" 2>&1 &
  else
    dhtnode -s -p "$port" -b "127.0.0.1:$first_port" >"$log_dir/dhtnode-$i.log" 2>&1 &
  fi
  pids+=($!)
done
sleep 1
for p in "${pids[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "opendht side: a dhtnode exited at start; see $log_dir" >&2; exit 1; }
done
echo "[opendht] $nodes dhtnode processes on 127.0.0.1:$first_port..$((first_port + nodes - 1))" >&2
rc=0
/usr/bin/python3 "$here/opendht_client.py" --bootstrap "127.0.0.1:$first_port" \
  --port $((first_port + nodes)) --nodes "$nodes" --out "$out" "$@" || rc=$?
# UDP counters of this namespace (RcvbufErrors: datagrams lost to a full
# socket receive buffer), when the side runs isolated.
if [[ -n ${BC_BENCH_NETNS:-} ]]; then grep '^Udp:' /proc/net/snmp >"$log_dir/udp-snmp.txt" || true; fi
exit "$rc"
