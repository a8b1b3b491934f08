#!/usr/bin/env bash
# Brings the whole store up on localhost: installs what is missing, starts PostgreSQL,
# Redis, the broker and PgBouncer, builds and starts command-api, the projector,
# QUERY_API_INSTANCES query-api instances and nginx on 127.0.0.1:$NGINX_PORT, and seeds
# the demo catalog when the store is empty. Running it again restarts the programs and
# keeps the data. `deploy/down.sh` stops everything it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/env.sh"
RUN_DIR="$VITRINE_HOME/run"
mkdir -p "$RUN_DIR"
fail() { echo "up: FAILED: $*" >&2; exit 1; }
trap 'echo "up: FAILED at line $LINENO (logs in $VITRINE_LOGS)" >&2' ERR

bash "$here/install.sh"
bash "$here/services.sh" start

echo "up: building release binaries"
(cd "$root" && cargo build --release -q -p command-api -p projector -p query-api -p loadtests) || fail "cargo build"
BIN="$CARGO_TARGET_DIR/release"

# The store's own database (tests use their own).
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At \
  -c "SELECT 1 FROM pg_database WHERE datname = 'vitrine'" | grep -q 1 ||
  createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres vitrine
DIRECT_URL="postgres://postgres@127.0.0.1:$PG_PORT/vitrine"
POOLED_URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/vitrine"

# PgBouncer. It refuses to run as root: as root it drops to the postgres user, with its
# files where that user can write them.
PGB_DIR=$RUN_DIR
pgb_user=()
if [ "$(id -u)" = 0 ]; then
  PGB_DIR=${PGBOUNCER_DIR:-/var/lib/postgresql/vitrine-pgbouncer}
  pgb_user=(-u postgres)
fi
if ! port_open "$PGBOUNCER_PORT"; then
  mkdir -p "$PGB_DIR"
  sed -e "s|@PG_PORT@|$PG_PORT|; s|@PGBOUNCER_PORT@|$PGBOUNCER_PORT|; s|@RUN_DIR@|$PGB_DIR|g; s|@LOG_DIR@|$PGB_DIR|" \
    "$here/pgbouncer/pgbouncer.ini.template" >"$PGB_DIR/pgbouncer.ini"
  echo '"postgres" ""' >"$PGB_DIR/userlist.txt"
  [ "$(id -u)" = 0 ] && chown -R postgres "$PGB_DIR"
  "$PGBOUNCER_BIN" -d "${pgb_user[@]}" "$PGB_DIR/pgbouncer.ini" || fail "pgbouncer (see $PGB_DIR/pgbouncer.log)"
  wait_port "$PGBOUNCER_PORT" 10 || fail "pgbouncer did not listen on $PGBOUNCER_PORT (see $PGB_DIR/pgbouncer.log)"
fi
echo "$PGB_DIR" >"$RUN_DIR/pgbouncer.dir"
echo "up: pgbouncer on $PGBOUNCER_PORT (transaction pooling)"

# Migrations take a session-level lock: run them on the direct connection.
DATABASE_URL="$DIRECT_URL" "$BIN/command-api" migrate >"$VITRINE_LOGS/migrate.log" 2>&1 || fail "migrations (see $VITRINE_LOGS/migrate.log)"

# (Re)start the programs.
bash "$here/down.sh" --programs-only
common_env=(
  DATABASE_URL="$POOLED_URL" DATABASE_DIRECT_URL="$DIRECT_URL" REDIS_URL="$REDIS_URL" KAFKA_BROKERS="$KAFKA_BROKERS"
  SESSION_SECRET="${SESSION_SECRET:-dev-session-secret}" ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
  RUST_LOG="${RUST_LOG:-info}"
)
start() { # name port command...
  local name=$1 port=$2; shift 2
  env "${common_env[@]}" LISTEN_ADDR="127.0.0.1:$port" setsid nohup "$@" >"$VITRINE_LOGS/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
  wait_port "$port" 30 || fail "$name did not listen on $port (see $VITRINE_LOGS/$name.log)"
  echo "up: $name on 127.0.0.1:$port"
}
start command-api "$COMMAND_API_PORT" "$BIN/command-api" serve
start projector "$PROJECTOR_PORT" "$BIN/projector" run
query_addrs=()
for i in $(seq 0 $((QUERY_API_INSTANCES - 1))); do
  port=$((QUERY_API_PORT + i))
  start "query-api-$i" "$port" "$BIN/query-api"
  query_addrs+=("127.0.0.1:$port")
done

# nginx, the front door (reloaded with the new upstreams when it already runs).
mkdir -p "$RUN_DIR/nginx"
PREFIX="$RUN_DIR/nginx" bash "$here/nginx/render.sh" "$NGINX_PORT" "127.0.0.1:$COMMAND_API_PORT" "${query_addrs[@]}" \
  >"$RUN_DIR/nginx/vitrine.conf"
nginx_pid="$RUN_DIR/nginx/nginx.pid"
if [ -f "$nginx_pid" ] && kill -0 "$(cat "$nginx_pid")" 2>/dev/null; then
  /usr/sbin/nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/vitrine.conf" -s reload || fail "nginx reload"
else
  /usr/sbin/nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/vitrine.conf" || fail "nginx (see $RUN_DIR/nginx/error.log)"
fi
wait_port "$NGINX_PORT" 10 || fail "nginx did not listen on $NGINX_PORT"
echo "up: nginx on 127.0.0.1:$NGINX_PORT"

"$BIN/seed" --command-url "http://127.0.0.1:$COMMAND_API_PORT" --query-url "http://127.0.0.1:$NGINX_PORT" ||
  fail "seeding the demo catalog"

cat <<INFO

Vitrine is up.
  storefront (nginx)   http://127.0.0.1:$NGINX_PORT/api/v1/products/
  command-api          http://127.0.0.1:$COMMAND_API_PORT   (admin token: \$ADMIN_TOKEN, default dev-admin-token)
  query-api            ${query_addrs[*]}
  projector metrics    http://127.0.0.1:$PROJECTOR_PORT/metrics
  PostgreSQL           $DIRECT_URL (pooled: $POOLED_URL)
  Redis / broker       $REDIS_URL / $KAFKA_BROKERS
  logs                 $VITRINE_LOGS
Stop it with: bash deploy/down.sh
INFO
