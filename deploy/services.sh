#!/usr/bin/env bash
# Starts (or stops) the services Vitrine runs on: PostgreSQL, Redis and the Kafka-API
# broker. A service already running is reused; running `start` twice is harmless.
#   deploy/services.sh start | stop-broker | status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

start_postgres() {
  if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then echo "postgresql: running on $PG_PORT"; return; fi
  local v
  v=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$v" main start
  for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
  pg_isready -h 127.0.0.1 -p "$PG_PORT" >/dev/null || { echo "postgresql: did not start" >&2; exit 1; }
  echo "postgresql: started on $PG_PORT"
}

# Parallel tests each hold a few pools: make room once (needs a restart to take effect).
# Autovacuum must run: the outbox is a queue (every row inserted, then deleted), and
# without vacuum its dead index entries make every relay poll slower (some machine
# images ship with it off).
tune_postgres() {
  local max autovacuum
  autovacuum=$(psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'SHOW autovacuum')
  if [ "$autovacuum" != "on" ]; then
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'ALTER SYSTEM SET autovacuum = on' -c 'SELECT pg_reload_conf()' >/dev/null
    echo "postgresql: autovacuum turned on"
  fi
  max=$(psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'SHOW max_connections')
  if [ "$max" -lt 400 ]; then
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'ALTER SYSTEM SET max_connections = 400'
    local v
    v=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$v" main restart
    for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
    echo "postgresql: max_connections raised from $max to 400"
  fi
}

# Bounded memory (docs/security.md): at REDIS_MAXMEMORY Redis evicts, least recently used
# first, only keys that have a lifetime (volatile-lru): negative-cache entries, cached
# search pages and carts, which anonymous traffic can multiply and which come back from
# PostgreSQL on the next read. Documents and the store marker (projector/src/redis_repair.rs:
# without it the projector would refill everything) have none and are never evicted.
# Also applied to a Redis that already runs.
limit_redis() {
  redis-cli -p "$REDIS_PORT" CONFIG SET maxmemory "$REDIS_MAXMEMORY" >/dev/null &&
    redis-cli -p "$REDIS_PORT" CONFIG SET maxmemory-policy volatile-lru >/dev/null ||
    { echo "redis: could not set maxmemory" >&2; exit 1; }
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    limit_redis
    echo "redis: running on $REDIS_PORT (maxmemory $REDIS_MAXMEMORY, volatile-lru)"
    return
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy volatile-lru \
    --dir /var/lib/redis --logfile "$VITRINE_LOGS/redis.log"
  wait_port "$REDIS_PORT" 10 || { echo "redis: did not start (see $VITRINE_LOGS/redis.log)" >&2; exit 1; }
  echo "redis: started on $REDIS_PORT (maxmemory $REDIS_MAXMEMORY, volatile-lru)"
}

start_broker() {
  if port_open "$KAFKA_PORT"; then echo "broker: running on $KAFKA_PORT"; return; fi
  [ -x "$TANSU_BIN" ] || { echo "broker: $TANSU_BIN is missing: run deploy/install.sh" >&2; exit 1; }
  # tansu resolves the SQLite path against its working directory.
  mkdir -p "$VITRINE_HOME/broker"
  (
    cd "$VITRINE_HOME/broker"
    setsid nohup "$TANSU_BIN" broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine "sqlite://tansu.db" >"$VITRINE_LOGS/broker.log" 2>&1 &
    echo $! >"$VITRINE_HOME/broker/pid"
  )
  wait_port "$KAFKA_PORT" 30 || { echo "broker: did not start (see $VITRINE_LOGS/broker.log)" >&2; exit 1; }
  echo "broker: tansu started on $KAFKA_PORT"
}

stop_broker() {
  local pidfile="$VITRINE_HOME/broker/pid" pid
  if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill "$pid" 2>/dev/null; then
    # gone only when the process has exited and the port is free (a start right after
    # must not find the old one still listening)
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do port_open "$KAFKA_PORT" || break; sleep 0.1; done
    echo "broker: stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-start}" in
  start) start_postgres; tune_postgres; start_redis; start_broker ;;
  stop-broker) stop_broker ;;
  status)
    pg_isready -h 127.0.0.1 -p "$PG_PORT" || true
    redis-cli -p "$REDIS_PORT" ping || true
    port_open "$KAFKA_PORT" && echo "broker: up" || echo "broker: down" ;;
  *) echo "usage: $0 start|stop-broker|status" >&2; exit 2 ;;
esac
