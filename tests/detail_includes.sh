#!/usr/bin/env bash
# Fails when a header in some folder's detail/ is included from outside that
# folder: `#include "A/B/detail/x.hpp"` is allowed only in files under A/B/
# and in that folder's own white-box unit tests under tests/A/B/.
#   tests/detail_includes.sh [REPO_ROOT]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
bad=0
while IFS=: read -r file _ line; do
  header=$(sed -n 's/.*#include *"\([^"]*\/detail\/[^"]*\)".*/\1/p' <<<"$line")
  owner=${header%%/detail/*}/
  if [[ "$file" != "$owner"* && "$file" != "tests/$owner"* ]]; then
    echo "$file includes $header, which is private to $owner"
    bad=1
  fi
done < <(grep -rn --include='*.cpp' --include='*.hpp' --include='*.h' --include='*.cc' \
           --exclude-dir='build*' --exclude-dir=.git '#include *"[^"]*/detail/' . | sed 's|^\./||' || true)
[ $bad -eq 0 ] && echo "detail_includes: ok"
exit $bad
