#!/usr/bin/env bash
# Fails when a test source (tests/**/test_*.cpp) is not named in any
# tests/ CMakeLists.txt: with explicit source lists, a forgotten file would
# silently never run.
#   tests/sources_listed.sh [REPO_ROOT]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
bad=0
while read -r f; do
  name=$(basename "$f")
  if ! grep -qs -- "$name" tests/CMakeLists.txt tests/*/CMakeLists.txt; then
    echo "$f is not listed in any tests/ CMakeLists.txt; add it to its suite's SOURCES"
    bad=1
  fi
done < <(find tests -name 'test_*.cpp' | sort)
[ $bad -eq 0 ] && echo "sources_listed: ok"
exit $bad
