#!/usr/bin/env bash
# Rebuild benchmark: writes a history of EVENTS events (default 1,000,000) into a
# database of its own, then runs `projector rebuild` REPEAT times (default 3) and
# prints each report, its peak memory (`/usr/bin/time -v`: maximum resident set size)
# and the medians: history rate (events/s into both stores), total time with the gate,
# and peak memory. The machine's load average and whether the store runs beside it are
# printed with them (the figures are only comparable on the same footing).
#   bash loadtests/rebuild-bench.sh [EVENTS] [REPEAT]
# PART_EVENTS sets `--part-events` (what bounds the rebuild's memory).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/env.sh"
EVENTS=${1:-1000000}
REPEAT=${2:-3}
PART_EVENTS=${PART_EVENTS:-}
DB=vitrine_rebuild_bench
URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
(cd "$root" && cargo build --release -q -p projector -p loadtests --bin history)
dropdb -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$DB" 2>/dev/null
createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB"
started=$(date +%s)
"$CARGO_TARGET_DIR/release/history" --database-url "$URL" --events "$EVENTS" 2>/dev/null
echo "rebuild: history of $EVENTS events written in $(( $(date +%s) - started )) s"
if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$NGINX_PORT/api/v1/categories/" 2>/dev/null; then
  beside="the store running beside it (nginx :$NGINX_PORT answers)"
else
  beside="no store running beside it"
fi
part_args=()
[ -n "$PART_EVENTS" ] && part_args=(--part-events "$PART_EVENTS")
rates=(); totals=(); peaks=()
for i in $(seq 1 "$REPEAT"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  out=$(RUST_LOG=warn /usr/bin/time -v "$CARGO_TARGET_DIR/release/projector" --database-url "$URL" \
    --redis-prefix "rebuild-bench:" rebuild --grace-seconds 0 --handoff-seconds 0 "${part_args[@]}" 2>&1)
  line=$(echo "$out" | grep '^rebuilt version' | tail -1)
  peak_kb=$(echo "$out" | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')
  echo "run $i (load average before: $load): $line; max RSS $((peak_kb / 1024)) MiB"
  rates+=("$(echo "$line" | grep -oE '\(([0-9]+) events/s' | grep -oE '[0-9]+')")
  totals+=("$(echo "$line" | grep -oE 'total [0-9.]+' | grep -oE '[0-9.]+')")
  peaks+=("$((peak_kb / 1024))")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "rebuild: $EVENTS events, $REPEAT runs, $beside, $(nproc) cores:" \
  "median history rate $(median "${rates[@]}") events/s into both stores," \
  "median total with the gate $(median "${totals[@]}") s, median max RSS $(median "${peaks[@]}") MiB"
dropdb -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$DB"
redis-cli -p "$REDIS_PORT" --scan --pattern 'rebuild-bench:*' | xargs -r -n 1000 redis-cli -p "$REDIS_PORT" unlink >/dev/null
