#!/usr/bin/env bash
# The ceiling benchmark: starts the one-Redis-GET reference server on a free port and
# drives it and query-api (of a store already running, from deploy/up.sh) with wrk, 3
# runs each, reporting medians, the ratio query-api/ceiling and who was saturated.
# Reports go to loadtests/reports/ceiling-<time>.{md,json}. Extra arguments go to
# ceiling-bench (see `--help`), e.g. `--duration 5 --repeat 1`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. deploy/env.sh

if ! command -v wrk >/dev/null; then
  echo "ceiling-bench: installing wrk"
  apt-get install -y -q wrk >/dev/null
fi
cargo build --release -q -p loadtests --bin ceiling --bin ceiling-bench
exec "$CARGO_TARGET_DIR/release/ceiling-bench" \
  --store-url "http://127.0.0.1:$NGINX_PORT" \
  --query-api-url "http://127.0.0.1:$(bash deploy/scale.sh ports query-api | cut -d, -f1)" \
  --redis-url "$REDIS_URL" \
  "$@"
