#!/usr/bin/env bash
# The store's monitoring (docs/operations.md): Prometheus and the Redis, PostgreSQL and
# PgBouncer exporters, all from Debian (deploy/install.d/40-monitoring.sh), on loopback:
#   bash deploy/monitoring.sh start    start what is not running; reload Prometheus when
#                                      its configuration, rules or consoles changed
#   bash deploy/monitoring.sh stop
#   bash deploy/monitoring.sh status
# deploy/up.sh starts it (deploy/up.d/40-monitoring.sh; VITRINE_MONITORING=0 leaves it
# off), deploy/down.sh stops it. Ports: deploy/env.sh. The program instances are found
# from what runs: deploy/lib.sh keeps one file_sd file per program up to date.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
ME=monitoring
. "$here/lib.sh"

PROM_DIR="$RUN_DIR/prometheus"
MON_PIDS="$RUN_DIR/monitoring"

alive() { local pid; pid=$(cat "$1" 2>/dev/null || true); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# Starts one daemon in the background with its log and pid file, unless it runs; refuses
# when someone else holds its port.
daemon() { # name port command...
  local name=$1 port=$2 holder; shift 2
  if alive "$MON_PIDS/$name.pid"; then return 0; fi
  holder=$(port_holder "$port")
  [ -z "$holder" ] || die "$name: port $port is already in use by $holder (move ${name^^}_PORT in deploy/env.sh)"
  setsid nohup "$@" </dev/null >>"$VITRINE_LOGS/$name.log" 2>&1 9>&- &
  echo $! >"$MON_PIDS/$name.pid"
  wait_port "$port" 20 || { tail -n 15 "$VITRINE_LOGS/$name.log" >&2; die "$name did not listen on $port (log: $VITRINE_LOGS/$name.log)"; }
  say "$name on 127.0.0.1:$port"
}

# Renders the configuration into $PROM_DIR with the rules and consoles beside it, so the
# running Prometheus does not depend on the checkout it came from.
render() {
  local next="$PROM_DIR/next"
  rm -rf "$next"; mkdir -p "$next"
  cp -r "$here/prometheus/rules" "$here/prometheus/consoles" "$next/"
  sed -e "s|@RUN@|$PROM_DIR|g; s|@RULES@|$PROM_DIR/rules|g; s|@PROMETHEUS_PORT@|$PROMETHEUS_PORT|g" \
    -e "s|@REDIS_EXPORTER_PORT@|$REDIS_EXPORTER_PORT|g; s|@POSTGRES_EXPORTER_PORT@|$POSTGRES_EXPORTER_PORT|g" \
    -e "s|@PGBOUNCER_EXPORTER_PORT@|$PGBOUNCER_EXPORTER_PORT|g" \
    "$here/prometheus/prometheus.yml.template" >"$next/prometheus.yml"
  # promtool checks the rendered file against the rules as they will be installed.
  sed -e "s|$PROM_DIR/rules|$next/rules|g" "$next/prometheus.yml" >"$next/check.yml"
  promtool check config --syntax-only "$next/check.yml" >/dev/null 2>"$PROM_DIR/check.err" ||
    { cat "$PROM_DIR/check.err" >&2; die "the rendered Prometheus configuration does not pass promtool"; }
  rm -f "$next/check.yml"
  local changed=0 part
  for part in prometheus.yml rules consoles; do
    diff -rq "$next/$part" "$PROM_DIR/$part" >/dev/null 2>&1 || changed=1
  done
  if [ "$changed" = 1 ]; then
    rm -rf "$PROM_DIR/rules" "$PROM_DIR/consoles"
    mv "$next/rules" "$next/consoles" "$next/prometheus.yml" "$PROM_DIR/"
  fi
  rm -rf "$next"
  echo "$changed"
}

start() {
  mkdir -p "$PROM_DIR/data" "$PROM_TARGETS_DIR" "$MON_PIDS"
  local changed prog
  [ -f "$STORE_ENV" ] || die "$STORE_ENV is missing: bring the store up with 'bash deploy/up.sh'"
  changed=$(render)
  for prog in command-api query-api projector; do write_targets "$prog"; done
  daemon redis-exporter "$REDIS_EXPORTER_PORT" prometheus-redis-exporter \
    -redis.addr "redis://127.0.0.1:$REDIS_PORT" -web.listen-address "127.0.0.1:$REDIS_EXPORTER_PORT"
  DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$PG_PORT/vitrine?sslmode=disable" \
    daemon postgres-exporter "$POSTGRES_EXPORTER_PORT" prometheus-postgres-exporter \
    --web.listen-address "127.0.0.1:$POSTGRES_EXPORTER_PORT"
  # Debian's PgBouncer exporter through a wrapper: see deploy/prometheus/pgbouncer_exporter.py.
  daemon pgbouncer-exporter "$PGBOUNCER_EXPORTER_PORT" /usr/bin/python3 "$here/prometheus/pgbouncer_exporter.py" \
    127.0.0.1 "$PGBOUNCER_EXPORTER_PORT" 127.0.0.1 "$PGBOUNCER_PORT" postgres
  if alive "$MON_PIDS/prometheus.pid" && [ "$changed" = 1 ]; then
    kill -HUP "$(cat "$MON_PIDS/prometheus.pid")"
    say "prometheus reloaded (configuration, rules or consoles changed)"
  fi
  daemon prometheus "$PROMETHEUS_PORT" prometheus \
    --config.file "$PROM_DIR/prometheus.yml" \
    --storage.tsdb.path "$PROM_DIR/data" --storage.tsdb.retention.time 7d \
    --web.listen-address "127.0.0.1:$PROMETHEUS_PORT" \
    --web.console.templates "$PROM_DIR/consoles" --web.console.libraries "$PROM_DIR/consoles"
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; do
    [ "$SECONDS" -lt "$deadline" ] || die "prometheus not ready within 30s (log: $VITRINE_LOGS/prometheus.log)"
    sleep 0.5
  done
  say "prometheus ready: http://127.0.0.1:$PROMETHEUS_PORT (status page: /consoles/vitrine.html)"
}

stop() {
  local f pid
  for f in "$MON_PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      say "$(basename "$f" .pid) stopped"
    fi
    rm -f "$f"
  done
}

status() {
  local f
  for f in prometheus redis-exporter postgres-exporter pgbouncer-exporter; do
    if alive "$MON_PIDS/$f.pid"; then echo "  $f: running (pid $(cat "$MON_PIDS/$f.pid"))"; else echo "  $f: not running"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
