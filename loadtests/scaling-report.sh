#!/usr/bin/env bash
# The figures of docs/scaling.md, measured on the running store (deploy/up.sh):
#   1. RPS and CPU per request of product-list reads through nginx (wrk -t2 -c32) with
#      1, 2, 4 and 10 query-api instances;
#   2. query-api 2 -> 10 and 10 -> 2 under the same wrk load, with failed requests;
#   3. the pools at peak: adds to carts through nginx at saturation (wrk -c64, each add
#      with its own Idempotency-Key) while PgBouncer's SHOW POOLS and every program's
#      vitrine_db_pool_connections gauges are sampled;
#   4. a rolling restart (deploy/up.sh re-run) under the goose scenario, with its count of
#      failed requests.
# Prints markdown and keeps it in loadtests/reports/scaling-<time>.md.
# REPORT_SECONDS (default 15) per wrk run; REPORT_USERS (default 200) goose users.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. deploy/env.sh
ME=scaling-report
. deploy/lib.sh
[ -n "$(nginx_master)" ] && [ -f "$STORE_ENV" ] || die "the store is not up: bash deploy/up.sh"
set -a; . "$STORE_ENV"; set +a
# Built now, so that the rolling restart's deploy/up.sh (section 4) finds nothing to build.
cargo build --release -q -p command-api -p projector -p query-api -p loadtests
D=${REPORT_SECONDS:-15}
USERS=${REPORT_USERS:-200}
base="http://127.0.0.1:$NGINX_PORT"
work=$(mktemp -d)
bg=()
trap 'for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
mkdir -p loadtests/reports
out="loadtests/reports/scaling-$(date -u +%Y%m%dT%H%M%SZ).md"
emit() { echo "$*" | tee -a "$out"; }
tck=$(getconf CLK_TCK)

# CPU ticks (user+system) of the given pids, summed.
ticks() { local p s=0; for p in "$@"; do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$s"; }
busy_total() { awk '/^cpu /{b=$2+$3+$4+$7+$8; t=b+$5+$6; print b, t}' /proc/stat; }
children() { local p f; for p in $(instance_ports "$1"); do f="$INST_DIR/$1-$p.child"; [ -f "$f" ] && cat "$f"; done; }
wrk_field() { grep '^WRK_RESULT' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

emit "# Scaling figures ($(date -u +%FT%TZ), $(nproc) cores, wrk ${D}s runs)"
emit ""
emit "## 1. Reads through nginx with 1, 2, 4 and 10 query-api instances"
emit ""
emit "wrk -t2 -c32 -d${D}s on /api/v1/products/ (a Redis hit). CPU is user+system time from /proc."
emit ""
emit "| query-api | RPS | p99 ms | non-2xx | socket errors | query-api CPU µs/request | nginx (both) CPU µs/request | machine busy |"
emit "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in 1 2 4 10; do
  bash deploy/scale.sh query-api "$n" >/dev/null
  q=$(children query-api)
  ng=$(ps -o pid= --ppid "$(nginx_master)" | tr -d ' '; ps -o pid= --ppid "$(nginx_master "$FRONT_DIR")" | tr -d ' ')
  q0=$(ticks $q) n0=$(ticks $ng)
  read -r b0 t0 < <(busy_total)
  wrk -t2 -c32 -d"${D}s" -H "X-Vitrine-Edge: bypass" -s loadtests/wrk/count.lua "$base/api/v1/products/" >"$work/r$n.txt" 2>&1
  read -r b1 t1 < <(busy_total)
  q1=$(ticks $q) n1=$(ticks $ng)
  reqs=$(wrk_field "$work/r$n.txt" requests)
  dur=$(wrk_field "$work/r$n.txt" duration_us)
  errs=$(( $(wrk_field "$work/r$n.txt" connect) + $(wrk_field "$work/r$n.txt" read) + $(wrk_field "$work/r$n.txt" write) + $(wrk_field "$work/r$n.txt" timeout) ))
  emit "$(awk -v n="$n" -v r="$reqs" -v d="$dur" -v p99="$(wrk_field "$work/r$n.txt" p99_us)" -v bad="$(wrk_field "$work/r$n.txt" non2xx)" -v e="$errs" \
    -v qc=$((q1 - q0)) -v nc=$((n1 - n0)) -v tck="$tck" -v bb=$((b1 - b0)) -v tt=$((t1 - t0)) \
    'BEGIN { printf "| %d | %.0f | %.1f | %d | %d | %.0f | %.0f | %.0f %% |", n, r / (d / 1e6), p99 / 1000, bad, e, qc / tck * 1e6 / r, nc / tck * 1e6 / r, 100 * bb / tt }')"
done
emit ""

scale_under_load() { # from to
  bash deploy/scale.sh query-api "$1" >/dev/null
  wrk -t2 -c32 -d600s -H "X-Vitrine-Edge: bypass" -s loadtests/wrk/count.lua "$base/api/v1/products/" >"$work/s$1-$2.txt" 2>&1 &
  local w=$! t0
  bg+=("$w")
  sleep 3
  t0=$SECONDS
  bash deploy/scale.sh query-api "$2" >/dev/null
  local took=$((SECONDS - t0))
  sleep 3
  kill -INT "$w"; wait "$w" || true
  local f="$work/s$1-$2.txt"
  emit "| $1 → $2 | ${took} s | $(wrk_field "$f" requests) | $(wrk_field "$f" non2xx) | $(( $(wrk_field "$f" connect) + $(wrk_field "$f" read) + $(wrk_field "$f" write) + $(wrk_field "$f" timeout) )) | $(bash deploy/scale.sh ports query-api | tr ',' '\n' | wc -l) |"
}
emit "## 2. Scaling query-api under load"
emit ""
emit "wrk -t2 -c32 on /api/v1/products/ from 3 s before the scale.sh call to 3 s after it returned."
emit ""
emit "| change | scale.sh took | requests | non-2xx | socket errors | instances after |"
emit "|---|---:|---:|---:|---:|---:|"
scale_under_load 2 10
scale_under_load 10 2
emit ""

# 3. Pools at peak.
emit "## 3. Pools at peak: adds to carts at saturation"
emit ""
products=$(curl -sf "$base/api/v1/products/" | jq -r '.. | objects | select(has("id")) | .id' | sort -u | head -20)
: >"$work/lines"
for s in $(seq 1 64); do
  tok=$(curl -sf -X POST "$base/api/v1/sessions/" | jq -r .token)
  for p in $products; do echo "$tok $p" >>"$work/lines"; done
done
sample_pools() { # every 0.5 s until killed: PgBouncer pools and the programs' pool gauges
  local prog p
  while :; do
    # By column name (the columns differ between PgBouncer versions).
    psql -X -A -F' ' -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres pgbouncer -c 'SHOW POOLS' 2>/dev/null |
      awk 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
           $1 == "vitrine" { print "POOL", $c["cl_active"], $c["cl_waiting"], $c["sv_active"], $c["sv_idle"], $c["maxwait"] + $c["maxwait_us"] / 1e6 }'
    for prog in command-api query-api projector; do
      for p in $(instance_ports "$prog"); do
        curl -s -m 1 "http://127.0.0.1:$p/metrics" | awk -v prog="$prog" -v port="$p" \
          '/^vitrine_db_pool_connections\{/ { match($0, /state="[a-z_]+"/); s = substr($0, RSTART + 7, RLENGTH - 8); v[s] = $2 }
           END { print "GAUGE", prog, port, v["in_use"] + 0, v["max"] + 0 }'
      done
    done
    sleep 0.5
  done
}
psql -X -q -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres pgbouncer -At -c 'SHOW STATS' >"$work/stats0" 2>/dev/null || true
sample_pools >"$work/pools" &
sp=$!
bg+=("$sp")
wrk -t2 -c64 -d"${D}s" -s loadtests/wrk/add-to-cart.lua "$base" -- "$work/lines" >"$work/w.txt" 2>&1
kill "$sp"; wait "$sp" 2>/dev/null || true
psql -X -q -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres pgbouncer -A -c 'SHOW STATS' >"$work/stats1" 2>/dev/null || true
pool_size=$(psql -X -At -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres pgbouncer -c 'SHOW CONFIG' | awk -F'|' '$1 == "default_pool_size" { print $2 }')
wreqs=$(wrk_field "$work/w.txt" requests) wdur=$(wrk_field "$work/w.txt" duration_us)
emit "wrk -t2 -c64 -d${D}s POST /api/v1/cart/ (every 4th write per line a PUT back to 1: the line limit is 10; 64 sessions × 20 products), 2 command-api, $(bash deploy/scale.sh ports query-api | tr ',' '\n' | wc -l) query-api, 2 projector instances."
emit ""
emit "| measure | value |"
emit "|---|---:|"
emit "| adds to cart per second (the plan: 50; with checkout 70 writes/s) | $(awk -v r="$wreqs" -v d="$wdur" 'BEGIN { printf "%.0f", r / (d / 1e6) }') |"
emit "| non-2xx / socket errors | $(wrk_field "$work/w.txt" non2xx) / $(( $(wrk_field "$work/w.txt" connect) + $(wrk_field "$work/w.txt" read) + $(wrk_field "$work/w.txt" write) + $(wrk_field "$work/w.txt" timeout) )) |"
emit "| p99 ms | $(awk -v p="$(wrk_field "$work/w.txt" p99_us)" 'BEGIN { printf "%.1f", p / 1000 }') |"
emit "| PgBouncer default_pool_size (server connections to vitrine) | $pool_size |"
emit "| PgBouncer max cl_active / max cl_waiting (client connections) | $(awk '$1 == "POOL" { if ($2 > a) a = $2; if ($3 > w) w = $3 } END { print a + 0 " / " w + 0 }' "$work/pools") |"
emit "| PgBouncer max maxwait (s, the oldest waiting client) | $(awk '$1 == "POOL" { if ($6 > m) m = $6 } END { print m + 0 }' "$work/pools") |"
emit "| PgBouncer server connections in use at peak / pool size | $(awk -v size="$pool_size" '$1 == "POOL" { if ($4 > m) m = $4 } END { printf "%d / %d (%.0f %%)", m, size, 100 * m / size }' "$work/pools") |"
for prog in command-api query-api projector; do
  emit "| $prog pool: max in_use / max of one instance (vitrine_db_pool_connections) | $(awk -v prog="$prog" '$1 == "GAUGE" && $2 == prog { if ($4 > m) m = $4; x = $5 } END { print m + 0 " / " x + 0 }' "$work/pools") |"
done
emit ""
emit "PgBouncer SHOW STATS for vitrine after the run (totals since PgBouncer started):"
emit ""
emit '```'
head -1 "$work/stats1" >/dev/null 2>&1 && grep -E '^(database|vitrine)\|' "$work/stats1" | tee -a "$out" || true
emit '```'
emit ""

# 4. Rolling restart under the goose scenario.
emit "## 4. Rolling restart (deploy/up.sh re-run) under the goose scenario"
emit ""
scenario="$CARGO_TARGET_DIR/release/scenario"
run_time=$((D * 8))
[ "$run_time" -lt 100 ] && run_time=100
timeout --signal=INT --kill-after=30 $((run_time + 120)) "$scenario" --host "$base" --users "$USERS" --spawn-rate 50 \
  --run-time "$run_time" --query-metrics "$(bash deploy/scale.sh ports query-api)" --redis-url "$REDIS_URL" \
  --reports-dir "$work/scenario" --no-compare --notes "rolling restart (scaling-report.sh)" >"$work/scenario.txt" 2>&1 &
sc=$!
bg+=("$sc")
sleep 15
t0=$SECONDS
bash deploy/up.sh >"$work/up.txt" 2>&1 || { tail -20 "$work/up.txt" >&2; die "deploy/up.sh failed during the rolling restart"; }
took=$((SECONDS - t0))
wait "$sc" || true
summary_json=$(ls "$work"/scenario/scenario-*-summary.json 2>/dev/null | head -1)
[ -n "$summary_json" ] || { tail -30 "$work/scenario.txt" >&2; die "the scenario wrote no summary"; }
emit "scenario --users $USERS --run-time $run_time; deploy/up.sh started 15 s in and took $took s (rolling restart of 2 command-api, 2 projector, $(bash deploy/scale.sh ports query-api | tr ',' '\n' | wc -l) query-api)."
emit ""
emit "| endpoint | requests | failed |"
emit "|---|---:|---:|"
jq -r '.endpoints[] | "| \(.name) | \(.requests) | \(.errors) |"' "$summary_json" | tee -a "$out"
emit "| **all (plus write → readable probes)** | | **$(jq -r .errors_total "$summary_json")** |"
emit ""
emit "(report: $out)"
