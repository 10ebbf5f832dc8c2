#!/bin/sh
# Builds and runs bc-bench-sal-tls (bench/sal/tls_baseline.cpp) against an
# existing build tree: our node-key-bound TLS vs plain OpenSSL TLS 1.3.
#   bench/sal/tls_baseline.sh [build-dir] [--quick]
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$ROOT/build}
shift 2>/dev/null || true
ninja -C "$B" bc_layers sal/CMakeFiles/bc_sal.dir/records/node_cert.cpp.o sal/CMakeFiles/bc_sal.dir/host/tls_channel.cpp.o >/dev/null
c++ -std=c++20 -O2 -g -DNDEBUG -I"$ROOT" "$ROOT/bench/sal/tls_baseline.cpp" \
  "$B/sal/CMakeFiles/bc_sal.dir/records/node_cert.cpp.o" "$B/sal/CMakeFiles/bc_sal.dir/host/tls_channel.cpp.o" \
  "$B/layers/libbc_layers.a" -lssl -lcrypto -lsecp256k1 -o "$B/bc-bench-sal-tls"
exec "$B/bc-bench-sal-tls" "$@"
