#!/bin/sh
# SAL benchmarks beside their baselines, same run (docs/sal-bench.md):
# connect by ID (cold, cached) vs TCP + TLS 1.3; bulk through two daemons vs
# two stunnels; memory per idle connection. Builds what it needs, runs on
# 127.0.20.0/24, prints a table, stops everything.
#   bench/sal/run.sh [--build DIR] [--quick] [run.py options: --runs N --mib N --idle N --only connect,bulk,idle]
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build-bench
if [ "$1" = "--build" ]; then B=$2; shift 2; fi
QUICK=""
if [ "$1" = "--quick" ]; then QUICK="--runs 3 --mib 64 --connect-runs 7 --idle 300"; shift; fi
command -v stunnel4 >/dev/null || { echo "sal-bench: stunnel4 missing; run scripts/bootstrap" >&2; exit 2; }
[ -f "$B/build.ninja" ] || cmake -S "$ROOT" -B "$B" -G Ninja >/dev/null
ninja -C "$B" -j2 blockcloudd blockcloud-cli blockcloud-devnet bc-bench-sal-connect >/dev/null
exec /usr/bin/python3 "$ROOT/bench/sal/run.py" --bin "$B/bin" $QUICK "$@"
