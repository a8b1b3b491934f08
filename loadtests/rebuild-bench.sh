#!/usr/bin/env bash
# Rebuild benchmark: writes a history of EVENTS events (default 1,000,000) into a
# database of its own, then runs `projector rebuild` REPEAT times (default 3) and
# prints each report and the median history rate (events/s into both stores).
#   bash loadtests/rebuild-bench.sh [EVENTS] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/env.sh"
EVENTS=${1:-1000000}
REPEAT=${2:-3}
DB=vitrine_rebuild_bench
URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
(cd "$root" && cargo build --release -q -p projector -p loadtests --bin history)
dropdb -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$DB" 2>/dev/null
createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB"
"$CARGO_TARGET_DIR/release/history" --database-url "$URL" --events "$EVENTS" 2>/dev/null
rates=()
for i in $(seq 1 "$REPEAT"); do
  line=$(RUST_LOG=warn "$CARGO_TARGET_DIR/release/projector" --database-url "$URL" --redis-prefix "rebuild-bench:" \
    rebuild --grace-seconds 0 --handoff-seconds 0 | tail -1)
  echo "run $i: $line"
  rates+=("$(echo "$line" | grep -oE '\(([0-9]+) events/s' | grep -oE '[0-9]+')")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "rebuild: median history rate over $REPEAT runs: $median events/s into both stores ($EVENTS events)"
dropdb -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$DB"
redis-cli -p "$REDIS_PORT" --scan --pattern 'rebuild-bench:*' | xargs -r -n 1000 redis-cli -p "$REDIS_PORT" unlink >/dev/null
