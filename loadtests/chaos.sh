#!/usr/bin/env bash
# The chaos suite: the plan's scenario (goose) and acknowledged writers run against the
# whole store while, one at a time, each fault an operator meets is injected:
#   kill -9 of a command-api, of a query-api, of the projector twice within 30 s,
#   Redis unreachable (SIGSTOP) for CHAOS_OUTAGE seconds, Redis restarted empty,
#   the broker stopped for CHAOS_OUTAGE seconds, PostgreSQL restarted.
# After each fault it waits for the projection to catch up (lag 0, no Redis write owed)
# and runs `projector verify`. At the end every acknowledged write must be in `events`
# (each writer adds to its own cart with its own Idempotency-Key per add, retrying a
# transport error with the same key: the cart stream holds exactly one event per 2xx).
# Prints one table and exits non-zero on a breach: recovery slower than CHAOS_RECOVERY
# seconds after the fault ended, verify not clean, an acknowledged write missing or
# doubled, or a failed request where a second instance exists (only PostgreSQL, of
# which there is one, may fail requests while it restarts).
#
#   bash loadtests/chaos.sh            # the full run (30 s outages, 100 users)
#   CHAOS_SHORT=1 bash loadtests/chaos.sh   # the short run CI does (8 s outages, 20 users)
# Brings the store up when it is not; leaves it up (CHAOS_DOWN=1 stops it at the end).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. deploy/env.sh
ME=chaos
. deploy/lib.sh

if [ "${CHAOS_SHORT:-0}" = 1 ]; then
  OUTAGE=${CHAOS_OUTAGE:-8} USERS=${CHAOS_USERS:-20} SECOND_KILL=${CHAOS_SECOND_KILL:-8}
else
  OUTAGE=${CHAOS_OUTAGE:-30} USERS=${CHAOS_USERS:-100} SECOND_KILL=${CHAOS_SECOND_KILL:-25}
fi
RECOVERY=${CHAOS_RECOVERY:-30}
WRITERS=${CHAOS_WRITERS:-3}
REPORT=${CHAOS_REPORT:-$VITRINE_HOME/reports/chaos-$(date -u +%Y%m%dT%H%M%SZ).md}
mkdir -p "$(dirname "$REPORT")"
work=$(mktemp -d)
touch "$work/failed-writes"
bg_pids=()
cleanup() {
  local p
  touch "$work/stop"
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # a fault left half-done by an interrupted run is undone
  [ -n "${redis_pid:-}" ] && kill -CONT "$redis_pid" 2>/dev/null || true
  bash deploy/services.sh start >/dev/null 2>&1 || true
  rm -rf "$work"
  if [ "${CHAOS_DOWN:-0}" = 1 ]; then bash deploy/down.sh >/dev/null || true; fi
}
trap cleanup EXIT

if [ -z "$(nginx_master)" ] || [ ! -f "$STORE_ENV" ]; then
  echo "chaos: bringing the store up"
  bash deploy/up.sh
fi
set -a; . "$STORE_ENV"; set +a
base="http://127.0.0.1:$NGINX_PORT"
PROJECTOR="$BIN/projector"
psql_store() { psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d vitrine "$@"; }
now() { date +%s.%N; }

rows=()
breaches=0
row() { # fault recovery_s verify failed_writes failed_reads verdict
  rows+=("$(printf '| %-40s | %12s | %-28s | %13s | %s |' "$1" "$2" "$3" "$4" "$5")")
  [ "$5" = ok ] || breaches=$((breaches + 1))
  echo "chaos: $1: recovered in $2 s, verify $3, failed writes $4 -> $5"
}

# --- load: goose scenario for the whole run, plus acknowledged writers ---------------
scenario="$BIN/scenario"
[ -x "$scenario" ] || cargo build --release -q -p loadtests --bin scenario
first_q=$(instance_ports query-api | head -1)
last_q=$(instance_ports query-api | tail -1)
"$scenario" --host "$base" --users "$USERS" --spawn-rate "$USERS" --run-time 3600 \
  --query-metrics "$first_q-$last_q" --redis-url "$REDIS_URL" \
  --reports-dir "$work/goose" --no-compare --notes "chaos suite" >"$work/goose.log" 2>&1 &
goose_pid=$!
bg_pids+=("$goose_pid")

products=$(curl -sf "$base/api/v1/products/" | jq -r '.. | objects | select(has("id") and has("price_cents")) | .id' | head -20 | tr '\n' ' ')
[ -n "$products" ] || { echo "chaos: no products at $base/api/v1/products/" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/cart-write.sh"
writer() { # index: writes to its own cart until $work/stop exists; logs failures with a time
  local i=$1 session token n=0 ok=0 key product code rc try
  local -a ids=($products)
  read -r session token < <(curl -sf -X POST "$base/api/v1/sessions/" | jq -r '"\(.session_id) \(.token)"')
  while [ ! -e "$work/stop" ]; do
    key="chaos-$$-$i-$n"
    code=000
    for try in 1 2 3 4 5 6 7 8 9 10; do
      rc=0
      code=$(cart_write "$base" "$token" "$key" "$n" 15 "${ids[@]}") || rc=$?
      # no answer at all (reset, refused): the client retries with the same key
      [ "$rc" -eq 0 ] && break
      sleep 0.5
    done
    case $code in
      2??) ok=$((ok + 1)) ;;
      *) echo "$(now) $code $key" >>"$work/failed-writes" ;;
    esac
    n=$((n + 1))
    echo "$session $ok" >"$work/writer-$i"
    sleep 0.05
  done
}
for i in $(seq 1 "$WRITERS"); do
  writer "$i" &
  bg_pids+=("$!")
done

# --- helpers ----------------------------------------------------------------------
# Waits (at most $1 s) until the projection has caught up with the fault's end: every
# event recorded by then is applied in the live version (per stream, whatever partition
# it is in) and no Redis write owed since before then is left. Under load "lag 0" is
# rarely seen at an instant; this asks exactly what an operator means by recovered.
caught_up() {
  local deadline=$(($(date +%s) + $1)) mark="" left
  while :; do
    [ -n "$mark" ] || mark=$(psql_store -c "SELECT coalesce(max(position), 0) || ' ' || now() FROM events" 2>/dev/null || true)
    if [ -n "$mark" ]; then
      left=$(psql_store -c "
        SELECT (SELECT count(*) FROM (
                  SELECT stream_id, max(version) AS v FROM events
                  WHERE position <= ${mark%% *} GROUP BY stream_id) e
                LEFT JOIN rm_entities r
                  ON r.rm_version = (SELECT version FROM rm_live) AND r.stream_id = e.stream_id
                WHERE coalesce(r.version, 0) < e.v)
             + (SELECT count(*) FROM rm_redis_owed WHERE at <= '${mark#* }')" 2>/dev/null || echo x)
      [ "$left" = 0 ] && return 0
    fi
    [ "$(date +%s)" -ge "$deadline" ] && { echo "${left:-?} streams or owed batches behind" >"$work/last-status"; return 1; }
    sleep 0.5
  done
}
verify_store() {
  local out rc=0
  out=$("$PROJECTOR" verify --sample 3000 2>&1) || rc=$?
  echo "$out" >"$work/verify.log"
  case $rc in
    0) echo "clean ($(awk '$1 == "total" {print $2}' <<<"$out") docs)" ;;
    1) echo "DIFFERENT: $(grep -E '^[0-9]+ difference' <<<"$out")" ;;
    *) echo "could not check (exit $rc): $(tail -1 <<<"$out")" ;;
  esac
}
failed_writes_since() { awk -v t="$1" '$1 >= t' "$work/failed-writes" 2>/dev/null | wc -l; }
# Runs fault $1 (a function name) labelled $2; $3 = failures allowed (yes/no).
fault() {
  local fn=$1 label=$2 allowed=$3 t0 t_end t_ok rec verdict verify fails
  t0=$(now)
  echo "chaos: --- $label"
  "$fn"
  t_end=$(now)
  if caught_up "$RECOVERY"; then
    t_ok=$(now)
    rec=$(awk -v a="$t_end" -v b="$t_ok" 'BEGIN {printf "%.1f", b - a}')
  else
    rec="> $RECOVERY ($(cat "$work/last-status"))"
  fi
  verify=$(verify_store)
  fails=$(failed_writes_since "$t0")
  verdict=ok
  [[ $rec == ">"* ]] && verdict=FAIL
  [[ $verify == clean* ]] || verdict=FAIL
  [ "$allowed" = no ] && [ "$fails" -gt 0 ] && verdict=FAIL
  row "$label" "$rec" "$verify" "$fails" "$verdict"
  sleep 2
}
child_of() { cat "$INST_DIR/$1-$2.child"; }
# Waits until the supervisor of $1-$2 runs a program other than pid $3 that is ready.
restarted() {
  local deadline=$(($(date +%s) + 60)) pid
  while :; do
    pid=$(child_of "$1" "$2" 2>/dev/null || echo "$3")
    if [ "$pid" != "$3" ] && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$2/readyz")" = 200 ]; then
      return 0
    fi
    [ "$(date +%s)" -ge "$deadline" ] && { echo "chaos: $1 on $2 was not restarted" >&2; return 1; }
    sleep 0.2
  done
}

kill_command_api() {
  local port pid
  port=$(instance_ports command-api | head -1); pid=$(child_of command-api "$port")
  kill -KILL "$pid"; restarted command-api "$port" "$pid"
}
kill_query_api() {
  local port pid
  port=$(instance_ports query-api | head -1); pid=$(child_of query-api "$port")
  kill -KILL "$pid"; restarted query-api "$port" "$pid"
}
kill_projector_twice() {
  local port pid
  port=$(instance_ports projector | head -1); pid=$(child_of projector "$port")
  kill -KILL "$pid"; restarted projector "$port" "$pid"
  sleep "$SECOND_KILL"
  pid=$(child_of projector "$port")
  kill -KILL "$pid"; restarted projector "$port" "$pid"
}
redis_unreachable() {
  redis_pid=$(pgrep -f "redis-server .*:$REDIS_PORT" | head -1)
  kill -STOP "$redis_pid"; sleep "$OUTAGE"; kill -CONT "$redis_pid"
}
redis_restarted_empty() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do port_open "$REDIS_PORT" || break; sleep 0.1; done
  bash deploy/services.sh start >/dev/null
}
broker_stopped() {
  bash deploy/services.sh stop-broker >/dev/null
  sleep "$OUTAGE"
  bash deploy/services.sh start >/dev/null
}
postgres_restarted() {
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart
}

# --- the run ------------------------------------------------------------------------
# CHAOS_FAULTS picks some (names as below, comma-separated); all by default.
FAULTS=${CHAOS_FAULTS:-command-api,query-api,projector,redis-down,redis-empty,broker,postgres}
want() { [[ ",$FAULTS," == *",$1,"* ]]; }
sleep 5 # the scenario ramps up
want command-api && fault kill_command_api "kill -9 of one command-api (of 2)" no
want query-api && fault kill_query_api "kill -9 of one query-api (of 2)" no
want projector && fault kill_projector_twice "kill -9 of a projector, twice in ${SECOND_KILL}s" no
want redis-down && fault redis_unreachable "Redis unreachable for ${OUTAGE}s" no
want redis-empty && fault redis_restarted_empty "Redis restarted empty" no
want broker && fault broker_stopped "broker stopped for ${OUTAGE}s" no
want postgres && fault postgres_restarted "PostgreSQL restarted" yes

# --- the end: every acknowledged write is in the event store ------------------------
touch "$work/stop"
sleep 1
kill -INT "$goose_pid" 2>/dev/null || true
wait "$goose_pid" 2>/dev/null || true
for i in $(seq 1 "$WRITERS"); do wait "${bg_pids[$i]}" 2>/dev/null || true; done
acked=0 stored=0 lost=""
for i in $(seq 1 "$WRITERS"); do
  read -r session ok <"$work/writer-$i"
  n=$(psql_store -c "SELECT count(*) FROM events WHERE stream_id = 'cart-$session'")
  acked=$((acked + ok)); stored=$((stored + n))
  [ "$n" = "$ok" ] || lost="$lost writer $i: $ok acknowledged, $n stored;"
done
if [ -z "$lost" ]; then
  row "every acknowledged write in events" "-" "$acked acknowledged" "$stored stored" ok
else
  row "every acknowledged write in events" "-" "$lost" "-" FAIL
fi
summary=$(ls "$work"/goose/scenario-*-summary.json 2>/dev/null | head -1 || true)
if [ -n "$summary" ]; then
  goose_reqs=$(jq '[.endpoints[].requests] | add' "$summary")
  goose_errs=$(jq '[.endpoints[].errors] | add' "$summary")
  probe_late=$(jq '.write_to_readable.timeouts + (.write_to_readable.errors | length)' "$summary")
  errs_by=$(jq -r '[.endpoints[] | select(.errors > 0) | "\(.name) \(.errors)"] | join(", ")' "$summary")
  echo "chaos: goose scenario: $goose_reqs requests, $goose_errs failed (${errs_by:-none}); $probe_late write-to-readable probes not readable in time"
  # every fault but PostgreSQL's has a second instance or a fallback: no request may
  # fail. (A write made while the broker is stopped is readable only once it is back:
  # the probes' min_version reads then answer 503 with Retry-After, by design.)
  if ! want postgres && [ "$goose_errs" != 0 ]; then
    row "goose requests without a PostgreSQL restart" "-" "$goose_reqs requests" "$goose_errs" FAIL
  fi
else
  goose_reqs=? goose_errs=? probe_late=?
  echo "chaos: no goose summary (see $work/goose.log)"; tail -5 "$work/goose.log"
fi

{
  echo "# Chaos run $(date -u +%FT%TZ)"
  echo
  echo "Outages ${OUTAGE}s, $USERS goose users, $WRITERS acknowledged writers; recovery = fault end → lag 0 and no Redis write owed."
  echo
  echo "| fault | recovery (s) | projector verify | failed writes | verdict |"
  echo "|---|---:|---|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Goose scenario over the whole run: $goose_reqs requests, $goose_errs failed${errs_by:+ ($errs_by)}; $probe_late write-to-readable probes not readable within their bound."
} | tee "$REPORT"
echo "chaos: report $REPORT"
if [ "$breaches" -gt 0 ]; then
  echo "chaos: FAILED: $breaches breach(es)" >&2
  exit 1
fi
echo "chaos: passed"
