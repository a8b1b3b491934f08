#!/usr/bin/env bash
# Monitoring on the running store (deploy/monitoring.sh, started by deploy/up.sh):
# Prometheus scrapes every running instance of every program (the targets follow what
# runs: deploy/scale.sh's ports), all targets are up, the recording rules answer for
# every program, and every metric the dashboards, rules and status page read is in the
# live scrape.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. deploy/env.sh
PROM="http://127.0.0.1:$PROMETHEUS_PORT"
q() { curl -sfG "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -r "$2"; }
curl -sf -o /dev/null "$PROM/-/ready" || { echo "40-monitoring: Prometheus does not answer on $PROM" >&2; exit 1; }

# Targets: one per live instance, all healthy (file_sd is reread within seconds).
deadline=$((SECONDS + 60))
for prog in command-api query-api projector; do
  want=$(bash deploy/scale.sh ports "$prog" | tr ',' '\n' | sed '/^$/d' | sed 's/^/127.0.0.1:/' | sort | paste -sd' ')
  while :; do
    have=$(curl -sf "$PROM/api/v1/targets?state=active" |
      jq -r --arg job "$prog" '[.data.activeTargets[] | select(.labels.job == $job and .health == "up") | .labels.instance] | sort | join(" ")')
    [ "$have" = "$want" ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "40-monitoring: $prog: Prometheus scrapes [$have] (up), running: [$want]" >&2; exit 1; }
    sleep 1
  done
  echo "40-monitoring: $prog: $(wc -w <<<"$want") instances, each scraped and up"
done
# The exporters answer and reach their service (each needs its first scrape).
deadline=$((SECONDS + 60))
for up in 'up{job="redis"}' 'redis_up' 'up{job="postgres"}' 'pg_up' 'up{job="pgbouncer"}' 'pgbouncer_up'; do
  until [ "$(q "$up" '.data.result[0].value[1]')" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "40-monitoring: $up is not 1 (deploy/monitoring.sh, ~/.vitrine/logs/*-exporter.log)" >&2; exit 1; }
    sleep 1
  done
done
echo "40-monitoring: the Redis, PostgreSQL and PgBouncer exporters are up and reach their services"

# The recording rules answer for every program (the rate rules need two scrapes).
deadline=$((SECONDS + 90))
check_rule() { # expression, jq filter that must print true, what
  while :; do
    [ "$(q "$1" "$2")" = true ] && { echo "40-monitoring: $3: $(q "$1" '[.data.result[] | (.metric.job // "store") + "=" + .value[1]] | join(" ")')"; return 0; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "40-monitoring: no answer for $1 ($3)" >&2; exit 1; }
    sleep 2
  done
}
check_rule 'job:vitrine_http_requests:rate1m' '[.data.result[].metric.job] | (index("command-api") != null and index("query-api") != null)' "requests/s per program"
check_rule 'job:vitrine_http_request_duration_seconds:p99' '[.data.result[].metric.job] | (index("command-api") != null and index("query-api") != null)' "p99 per program"
check_rule 'job:vitrine_db_pool_connections:utilization' '[.data.result[].metric.job] | (index("command-api") != null and index("query-api") != null and index("projector") != null)' "pool utilization per program"
check_rule 'vitrine:projector_lag_events:max' '.data.result | length == 1' "projector lag (events)"
check_rule 'vitrine:projector_lag_seconds:max' '.data.result | length == 1' "projector lag (seconds)"
check_rule 'vitrine:projector_stalled:bool' '.data.result | length == 1' "projector stalled"
check_rule 'vitrine:cache_hit:ratio_rate5m' '.data.result | length == 1' "cache hit rate"
check_rule 'vitrine:relay_leaders:sum' '.data.result[0].value[1] == "1"' "relay leaders"
check_rule 'vitrine:pgbouncer_pool:utilization' '.data.result | length == 1' "PgBouncer pool utilization"
check_rule 'vitrine:pg_connections:utilization' '.data.result | length == 1' "PostgreSQL connections"
check_rule 'vitrine:redis_memory:utilization' '.data.result | length == 1' "Redis memory"

# Every name read by the dashboards, rules and status page is scraped now.
/usr/bin/python3 .ci/lib/promql_names.py check-live "$PROM"
