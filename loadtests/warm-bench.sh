#!/usr/bin/env bash
# Cache warming under the goose scenario (loadtests/warm_bench.py; docs/caching.md).
#   bash loadtests/warm-bench.sh [USERS]      (store up: deploy/up.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/env.sh"
exec python3 "$root/loadtests/warm_bench.py" "$@"
