#!/usr/bin/env bash
# The load test's smoke run (.ci/run calls it after the tests): brings the store up with
# deploy/up.sh (which builds the release binaries and seeds the demo catalog), runs the
# plan's scenario briefly with --fail-on-error, and brings the store down again, also
# when something failed. Exits non-zero on any failure. Bounded: the scenario gets
# SMOKE_USERS users for SMOKE_SECONDS seconds and is stopped after SMOKE_TIMEOUT.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. deploy/env.sh

USERS=${SMOKE_USERS:-50}
SECONDS_=${SMOKE_SECONDS:-20}
RATE=${SMOKE_SPAWN_RATE:-25}
TIMEOUT=${SMOKE_TIMEOUT:-150}
REPORTS=${SMOKE_REPORTS:-$VITRINE_HOME/reports/smoke}

# SMOKE_KEEP_UP=1 (.ci/run): leave the store running for loadtests/scale-test.sh when
# the smoke run passed; it is brought down on any failure either way.
stop_store() { echo "smoke: stopping the store"; bash deploy/down.sh || echo "smoke: deploy/down.sh failed" >&2; }
trap stop_store EXIT

echo "smoke: bringing the store up"
bash deploy/up.sh

query_ports=$(bash deploy/scale.sh ports query-api)
[ -n "$query_ports" ] || { echo "smoke: no query-api instance runs" >&2; exit 1; }
scenario="$CARGO_TARGET_DIR/release/scenario"
if [ ! -x "$scenario" ]; then
  cargo build --release -q -p loadtests --bin scenario
fi

# The scenario pays its orders through the fake provider, signing with the store's secret.
PAYMENT_WEBHOOK_SECRET=$(env -i bash -c ". '$STORE_ENV'; printf '%s' \"\$PAYMENT_WEBHOOK_SECRET\"")
export PAYMENT_WEBHOOK_SECRET
echo "smoke: $USERS users for ${SECONDS_}s against http://127.0.0.1:$NGINX_PORT (reports in $REPORTS)"
timeout --signal=INT --kill-after=20 "$TIMEOUT" "$scenario" \
  --host "http://127.0.0.1:$NGINX_PORT" \
  --users "$USERS" --spawn-rate "$RATE" --run-time "$SECONDS_" \
  --query-metrics "$query_ports" \
  --redis-url "$REDIS_URL" \
  --reports-dir "$REPORTS" \
  --no-compare --fail-on-error \
  --notes "smoke run (.ci/run)"
echo "smoke: passed"
if [ "${SMOKE_KEEP_UP:-0}" = 1 ]; then trap - EXIT; echo "smoke: the store stays up (SMOKE_KEEP_UP=1)"; fi
