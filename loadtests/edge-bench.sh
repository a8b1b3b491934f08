#!/usr/bin/env bash
# Static delivery and edge hits through the front door (docs/performance.md, "The edge"):
# wrk -t2 -c64 for DURATION seconds (default 10) against
#   static-css     a fingerprinted stylesheet, gzip, an edge hit
#   static-image   a product image (SVG), gzip, an edge hit
#   page           the storefront page (no-cache: passed to the static origin every time)
#   api-edge       a product document as an anonymous visitor reads it (edge hit, refreshed
#                  every 2 s from query-api)
#   api-origin     the same document with min_version=1: past the edge, to query-api
# and prints requests/s and the latency percentiles wrk reports. Needs the store up.
#   bash loadtests/edge-bench.sh [DURATION]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/env.sh"
D=${1:-10}
base="http://127.0.0.1:$NGINX_PORT"
manifest="$EDGE_DIR/site/manifest.json"
css="$base/static/$(jq -r '."app.css"' "$manifest")"
img="$base/static/$(jq -r '."products/vt-00001.svg"' "$manifest")"
id=$(curl -fsS "$base/api/v1/products/?sort=name" | jq -r '.items[0].id')
printf '%-13s %10s %9s %9s %9s %9s\n' target "req/s" p50 p90 p99 max
run() { # name url [header]
  local out
  out=$(wrk -t2 -c64 -d"${D}s" --latency -H 'Accept-Encoding: gzip' "$2" 2>&1)
  local rps p50 p90 p99 max non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p90=$(awk '$1=="90%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  max=$(awk '/Latency/ && !done {print $4; done=1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-13s %10s %9s %9s %9s %9s%s\n' "$1" "$rps" "$p50" "$p90" "$p99" "$max" "${non2xx:+  non-2xx: $non2xx}"
}
curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "$css"; curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' "$img"
echo "# $(date -u +%FT%TZ), wrk -t2 -c64 -d${D}s, Accept-Encoding: gzip; cache status of each target:"
for u in "$css" "$img" "$base/api/v1/products/$id/" "$base/api/v1/products/$id/?min_version=1"; do
  curl -sS -o /dev/null -D - -H 'Accept-Encoding: gzip' "$u" | awk -v u="$u" 'tolower($1)=="x-cache-status:" {printf "#   %s %s", $2, u; print ""}'
done
run static-css "$css"
run static-image "$img"
run page "$base/"
run api-edge "$base/api/v1/products/$id/"
run api-origin "$base/api/v1/products/$id/?min_version=1"
