#!/usr/bin/env bash
# The status page an operator opens without Grafana (Prometheus's console template
# deploy/prometheus/consoles/vitrine.html) renders in headless Chromium with its charts
# drawn from data: projector lag, cache hit rate, p99. The screenshot is kept as a test
# artifact: $CI_ARTIFACTS_DIR/status-page.png (default ~/.vitrine/artifacts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. deploy/env.sh
ARTIFACTS=${CI_ARTIFACTS_DIR:-$VITRINE_HOME/artifacts}
mkdir -p "$ARTIFACTS"
URL="http://127.0.0.1:$PROMETHEUS_PORT/consoles/vitrine.html"
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
chrome() { # the flags this machine needs (no network but loopback); a fresh profile
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-quic \
    --user-data-dir="$profile" --virtual-time-budget=10000 "$@" 2>/dev/null
}
# The charts must show data: the page marks each figure with the series it drew.
dom=$(chrome --dump-dom "$URL")
grep -q 'data-ready="1"' <<<"$dom" || { echo "41-status-page: the page's script did not finish" >&2; exit 1; }
for expr in 'vitrine:projector_lag_events:max' 'route:vitrine_cache_hit:ratio_rate1m' 'job:vitrine_http_request_duration_seconds:p99'; do
  drawn=$(grep -oE "<figure data-expr=\"$expr\"[^>]*data-drawn=\"[0-9]+\"" <<<"$dom" | grep -oE 'data-drawn="[0-9]+"' | grep -oE '[0-9]+' || echo 0)
  [ "${drawn:-0}" -gt 0 ] || { echo "41-status-page: the chart of $expr shows no data" >&2; exit 1; }
  echo "41-status-page: $expr: $drawn series drawn"
done
chrome --window-size=1280,1100 --screenshot="$ARTIFACTS/status-page.png" "$URL" >/dev/null
[ "$(stat -c %s "$ARTIFACTS/status-page.png")" -gt 10000 ] || { echo "41-status-page: no screenshot" >&2; exit 1; }
echo "41-status-page: screenshot in $ARTIFACTS/status-page.png"
