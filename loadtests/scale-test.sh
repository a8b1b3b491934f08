#!/usr/bin/env bash
# Scaling under load, as an operator would do it, against the running store (brought up
# by deploy/up.sh when it is not; .ci/run runs this after loadtests/smoke.sh):
#   1. deploy/scale.sh refuses, with a clear message, a port of its range that another
#      process holds, and changes nothing;
#   2. query-api 2 -> 6 -> 2 while wrk (-t2 -c32) reads through nginx: 0 non-2xx answers,
#      0 socket errors;
#   3. command-api 2 -> 4 -> 2, then kill -9 of one command-api instance (its supervisor
#      restarts it), while writers add to carts through nginx, each add with its own
#      Idempotency-Key (a transport error is retried with the same key): 0 non-2xx answers,
#      and PostgreSQL holds exactly one event per acknowledged cart write (nothing written twice,
#      nothing acknowledged and lost).
# Prints one table and exits non-zero on any breach. Brings the store down at the end
# unless SCALE_TEST_KEEP_UP=1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. deploy/env.sh
ME=scale-test
. deploy/lib.sh

WRITERS=${SCALE_TEST_WRITERS:-4}
work=$(mktemp -d)
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
  if [ "${SCALE_TEST_KEEP_UP:-0}" != 1 ]; then
    echo "scale-test: stopping the store"
    bash deploy/down.sh >/dev/null || echo "scale-test: deploy/down.sh failed" >&2
  fi
}
trap cleanup EXIT

results=()
breaches=0
record() { # phase measured verdict(ok|FAIL)
  results+=("$(printf '| %-46s | %-52s | %-4s |' "$1" "$2" "$3")")
  [ "$3" = ok ] || breaches=$((breaches + 1))
  echo "scale-test: $1: $2 -> $3"
}
# Polls a command until it succeeds, at most $1 seconds.
wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

if [ -z "$(nginx_master)" ] || [ ! -f "$STORE_ENV" ]; then
  echo "scale-test: bringing the store up"
  bash deploy/up.sh
fi
set -a; . "$STORE_ENV"; set +a
base="http://127.0.0.1:$NGINX_PORT"
bash deploy/scale.sh query-api 2 >/dev/null
bash deploy/scale.sh command-api 2 >/dev/null

# 1. A port of the range held by another process is refused, loudly, and nothing changes.
n=$(instance_count query-api)
port=$(next_port query-api)
socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" SYSTEM:'echo squatter' &
squat=$!
bg_pids+=("$squat")
wait_for 10 port_open "$port" || { echo "scale-test: could not occupy port $port" >&2; exit 1; }
rc=0
out=$(bash deploy/scale.sh query-api $((n + 1)) 2>&1) || rc=$?
kill "$squat"; wait "$squat" 2>/dev/null || true
echo "$out" | sed 's/^/    | /'
if [ "$rc" -ne 0 ] && grep -q "port $port.*already in use by socat" <<<"$out" &&
  [ "$(instance_count query-api)" -eq "$n" ] && ! grep -q "127.0.0.1:$port" "$NGINX_DIR/vitrine.conf"; then
  record "scale.sh onto a taken port ($port)" "refused (exit $rc), still $n query-api, nginx unchanged" ok
else
  record "scale.sh onto a taken port ($port)" "exit $rc, $(instance_count query-api) query-api" FAIL
fi

# wrk's summary line (loadtests/wrk/count.lua) -> "requests non2xx socket_errors"
wrk_numbers() {
  local line
  line=$(grep '^WRK_RESULT' "$1" || true)
  [ -n "$line" ] || { echo "0 -1 -1"; return; }
  eval "$(echo "${line#WRK_RESULT }" | tr ' ' '\n' | sed 's/^/local w_/')"
  echo "$w_requests $w_non2xx $((w_connect + w_read + w_write + w_timeout))"
}

# 2. query-api 2 -> 6 -> 2 under wrk.
wrk -t2 -c32 -d600s -H "X-Vitrine-Edge: bypass" -s loadtests/wrk/count.lua "$base/api/v1/products/" >"$work/wrk-read.txt" 2>&1 &
wrk_pid=$!
bg_pids+=("$wrk_pid")
sleep 2
bash deploy/scale.sh query-api 6 | tail -n 4
sleep 2
bash deploy/scale.sh query-api 2 | tail -n 4
sleep 2
kill -INT "$wrk_pid"; wait "$wrk_pid" || true
read -r reqs non2xx errs < <(wrk_numbers "$work/wrk-read.txt")
grep -E 'Requests/sec|Socket errors|Non-2xx' "$work/wrk-read.txt" | sed 's/^/    | /' || true
verdict=FAIL
[ "$reqs" -gt 1000 ] && [ "$non2xx" -eq 0 ] && [ "$errs" -eq 0 ] && [ "$(instance_count query-api)" -eq 2 ] && verdict=ok
record "query-api 2->6->2 under wrk -t2 -c32 (reads)" "$reqs requests, $non2xx non-2xx, $errs socket errors" "$verdict"

# 3. command-api 2 -> 4 -> 2 and a kill -9, with writes in flight.
products=$(curl -sf "$base/api/v1/products/?limit=20" | jq -r '.. | objects | select(has("id") and has("price_cents")) | .id' | head -20 | tr '\n' ' ')
[ -n "$products" ] || products=$(curl -sf "$base/api/v1/products/" | jq -r '.. | objects | .id? // empty' | head -20 | tr '\n' ' ')
[ -n "$products" ] || { echo "scale-test: no product ids from $base/api/v1/products/" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/cart-write.sh"
writer() { # index: writes to its own cart until $work/stop exists
  local i=$1 session token n=0 ok=0 bad=0 retries=0 key product code rc try
  local -a ids=($products)
  read -r session token < <(curl -sf -X POST "$base/api/v1/sessions/" | jq -r '"\(.session_id) \(.token)"')
  while [ ! -e "$work/stop" ]; do
    key="scale-test-$$-$i-$n"
    code=000
    for try in 1 2 3 4 5; do
      rc=0
      code=$(cart_write "$base" "$token" "$key" "$n" 20 "${ids[@]}") || rc=$?
      [ "$rc" -eq 0 ] && break
      retries=$((retries + 1))   # no answer (reset, refused, timeout): the same key again
      echo "writer $i: curl exit $rc on key $key, retrying" >>"$work/writer-errors"
    done
    case $code in 2??) ok=$((ok + 1)) ;; *) bad=$((bad + 1)); echo "writer $i: $code on key $key" >>"$work/writer-errors" ;; esac
    n=$((n + 1))
    echo "$n" >"$work/progress-$i"
  done
  echo "$session $ok $bad $retries" >"$work/writer-$i"
}
for i in $(seq 1 "$WRITERS"); do
  writer "$i" &
  bg_pids+=("$!")
done
writes_after() { local i; for i in $(seq 1 "$WRITERS"); do [ "$(cat "$work/progress-$i" 2>/dev/null || echo 0)" -ge "$1" ] || return 1; done; }
wait_for 30 writes_after 5 || { echo "scale-test: the writers made no progress" >&2; exit 1; }
bash deploy/scale.sh command-api 4 | tail -n 4
bash deploy/scale.sh command-api 2 | tail -n 4
victim_port=$(instance_ports command-api | head -1)
victim=$(cat "$INST_DIR/command-api-$victim_port.child")
echo "scale-test: kill -9 of command-api pid $victim (port $victim_port)"
kill -KILL "$victim"
restarted() {
  local now
  now=$(cat "$INST_DIR/command-api-$victim_port.child" 2>/dev/null || echo "$victim")
  [ "$now" != "$victim" ] && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$victim_port/readyz")" = 200 ]
}
if wait_for 30 restarted; then
  record "kill -9 of a command-api instance" "supervisor restarted it, ready on $victim_port" ok
else
  record "kill -9 of a command-api instance" "not restarted within 30 s" FAIL
fi
progress_now=$(cat "$work/progress-1")
wait_for 30 writes_after $((progress_now + 5)) || true
touch "$work/stop"
for i in $(seq 1 "$WRITERS"); do wait_for 60 test -e "$work/writer-$i" || { echo "scale-test: writer $i did not finish" >&2; exit 1; }; done
total_ok=0 total_bad=0 total_retries=0 mismatches=""
for i in $(seq 1 "$WRITERS"); do
  read -r session ok bad retries <"$work/writer-$i"
  events=$(psql -X -At "$DATABASE_DIRECT_URL" -c "SELECT count(*) FROM events WHERE stream_id = 'cart-$session' AND event_type IN ('cart_item_added', 'cart_item_removed')")
  [ "$events" -eq "$ok" ] || mismatches="$mismatches writer $i: $ok acknowledged, $events events;"
  total_ok=$((total_ok + ok)) total_bad=$((total_bad + bad)) total_retries=$((total_retries + retries))
done
[ -s "$work/writer-errors" ] && sed 's/^/    | /' "$work/writer-errors" | head -20
verdict=FAIL
[ "$total_bad" -eq 0 ] && [ -z "$mismatches" ] && [ "$total_ok" -gt 0 ] && [ "$(instance_count command-api)" -eq 2 ] && verdict=ok
record "command-api 2->4->2 + kill -9, writes in flight" "$total_ok cart writes acknowledged, $total_bad non-2xx, $total_retries client retries" "$verdict"
if [ -z "$mismatches" ]; then
  record "events in PostgreSQL per acknowledged cart write" "exactly one each ($total_ok events)" ok
else
  record "events in PostgreSQL per acknowledged cart write" "$mismatches" FAIL
fi

echo
echo "| check                                          | measured                                             |      |"
echo "|---|---|---|"
printf '%s\n' "${results[@]}"
if [ "$breaches" -gt 0 ]; then
  echo "scale-test: FAILED ($breaches breaches)" >&2
  exit 1
fi
echo "scale-test: passed"
