#!/bin/sh
# A node's DHT answers and SAL flows while it commits 10,000-transaction
# blocks, for two builds in the same run (docs/benchmarks.md):
#   bench/node/commit_interference.sh BEFORE_BIN AFTER_BIN [--tools DIR] [options]
# BEFORE_BIN and AFTER_BIN hold blockcloudd, blockcloud-cli and
# blockcloud-devnet. The chain loader and the DHT probe (bc-bench-load-chain,
# bc-bench-dht-probe) come from --tools (default: AFTER_BIN). Options
# (see --help of commit_interference.py): --runs N --blocks N --txs N
# --accounts N --baseline S --limit S --work DIR. Runs on 127.0.23.0/24 and
# 127.0.24.0/24; stops everything it started.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
  echo "usage: $0 BEFORE_BIN AFTER_BIN [--tools DIR] [--runs N] [--blocks N] [--txs N] ..." >&2
  exit 2
fi
BEFORE=$1 AFTER=$2
shift 2
TOOLS=$AFTER
if [ "$1" = "--tools" ]; then TOOLS=$2; shift 2; fi
for d in "$BEFORE" "$AFTER"; do
  for p in blockcloudd blockcloud-cli blockcloud-devnet; do
    [ -x "$d/$p" ] || { echo "commit-interference: $d/$p is missing; build it (scripts/build release)" >&2; exit 2; }
  done
done
for p in bc-bench-load-chain bc-bench-dht-probe; do
  [ -x "$TOOLS/$p" ] || { echo "commit-interference: $TOOLS/$p is missing; build it (cmake --build build --target $p) or pass --tools DIR" >&2; exit 2; }
done
exec /usr/bin/python3 "$HERE/commit_interference.py" --before "$BEFORE" --after "$AFTER" --tools "$TOOLS" "$@"
